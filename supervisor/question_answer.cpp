#include "supervisor/question_answer.hpp"

#include <algorithm>
#include <cstdlib>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora {

std::string checked_answer(const std::string& qid, const std::vector<std::string>& options, const std::string& text) {
  if (text.size() > kMaxAnswerBytes)
    throw Error(Errc::invalid_argument, "the answer to question " + qid + " is " + std::to_string(text.size()) +
                                            " bytes; at most " + std::to_string(kMaxAnswerBytes) + " are taken");
  std::string ans = text;
  if (!options.empty()) {
    char* end = nullptr;
    long k = std::strtol(text.c_str(), &end, 10);
    if (!text.empty() && end && *end == '\0' && k >= 1 && k <= static_cast<long>(options.size())) ans = options[k - 1];
    if (std::find(options.begin(), options.end(), ans) == options.end()) {
      std::string opts;
      for (auto& o : options) opts += (opts.empty() ? "" : ", ") + inert_text(o);
      throw Error(Errc::invalid_argument, "question " + qid + " takes one of: " + opts);
    }
  }
  return ans;
}

AnswerGiven answer_question(Workspace& ws, const std::string& qid, const std::string& text, const std::string& source) {
  const auto base = ws.ns("base");
  auto qe = ws.get(base, keys::run_question(qid));
  if (!qe) throw Error(Errc::not_found, "no question " + qid + " in workspace " + ws.dir().string());
  auto qs = proto::decode<proto::QuestionState>(qe->value, keys::run_question(qid));
  // One question, one answer, whoever runs: with no supervisor to mark it answered yet, the
  // answer already in the agent's inbox is what says so.
  auto already = [&](const std::optional<Entry>& given) {
    std::string was;
    if (given) {
      try {
        auto r = proto::decode<proto::Response>(given->value, keys::response(qid));
        was = ": " + inert_text(r.answer) + " (" + inert_text(r.source) + ")";
      } catch (const std::exception&) {
      }
    }
    return Error(Errc::invalid_argument, "question " + qid + " is already answered" + was);
  };
  const auto found = ws.find_ns(qs.ns);
  if (qs.status == "answered") throw already(found ? ws.get(*found, keys::response(qid)) : std::nullopt);
  if (qs.status != "pending" || !found)
    throw Error(Errc::invalid_argument, "question " + qid + " is " + qs.status + ", not pending");
  const auto& ns = *found;
  auto q = proto::decode<proto::Question>(ws.get(ns, keys::question(qid))->value, keys::question(qid));
  const std::string ans = checked_answer(qid, q.options, text);
  proto::Response r;
  r.answer = ans;
  r.responded_at_ms = now_ms();
  r.source = source;
  auto bytes = proto::encode(r);
  ws.write([&](WriteTxn& t) {
    if (auto given = t.get(ns, keys::response(qid))) throw already(given);
    t.put(ns, keys::response(qid), bytes);
  });
  return {qid, qs.agent_id, ans};
}

std::vector<PendingQuestion> pending_questions(const Workspace& ws) {
  std::vector<PendingQuestion> out;
  for (auto& [k, e] : ws.list(ws.ns("base"), keys::kRunQuestion)) {
    auto qs = proto::decode<proto::QuestionState>(e.value, k);
    if (qs.status != "pending") continue;
    auto ns = ws.find_ns(qs.ns);
    if (!ns) continue;
    auto q = ws.get(*ns, keys::question(qs.id));
    if (!q) continue;
    out.push_back({qs, proto::decode<proto::Question>(q->value, keys::question(qs.id))});
  }
  return out;
}

nlohmann::json to_json(const PendingQuestion& q) {
  return {{"id", q.state.id},
          {"agent", q.state.agent_id},
          {"question", q.question.question},
          {"options", q.question.options},
          {"default", q.question.default_answer ? nlohmann::json(*q.question.default_answer) : nlohmann::json(nullptr)},
          {"timeout_s", q.question.timeout_s},
          {"asked_at_ms", q.state.asked_at_ms}};
}

}  // namespace remora
