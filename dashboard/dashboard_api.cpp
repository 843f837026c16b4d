#include "dashboard/dashboard_api.hpp"

#include <filesystem>
#include <fstream>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/bounded_json.hpp"
#include "shared/checkpoint.hpp"
#include "supervisor/agent_results.hpp"
#include "supervisor/cancel_request.hpp"
#include "supervisor/event_format.hpp"
#include "supervisor/question_answer.hpp"
#include "review/review.hpp"
#include "review/review_json.hpp"
#include "supervisor/run_status.hpp"

namespace remora {

using nlohmann::json;

namespace {

constexpr std::size_t kAgentEventsShown = 500;
constexpr std::size_t kMessagesShown = 500;

std::string string_field(const json& body, const char* name, bool required = true) {
  if (!body.is_object()) throw Error(Errc::invalid_argument, "the request body is not a JSON object");
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) throw Error(Errc::invalid_argument, std::string("the request names no ") + name);
    return "";
  }
  if (!it->is_string()) throw Error(Errc::invalid_argument, std::string(name) + " is not a string");
  return it->get<std::string>();
}

bool bool_field(const json& body, const char* name) {
  if (!body.is_object()) throw Error(Errc::invalid_argument, "the request body is not a JSON object");
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw Error(Errc::invalid_argument, std::string(name) + " is not true or false");
  return it->get<bool>();
}

proto::AgentState find_agent(const Workspace& ws, const std::string& id) {
  const auto key = keys::run_agent(id);
  auto e = ws.get(ws.ns(keys::kBase), key);
  if (!e) throw Error(Errc::not_found, "no agent " + id + " in the run");
  return proto::decode<proto::AgentState>(e->value, key);
}

}  // namespace

json DashboardApi::status() const {
  auto j = to_json(read_run_status(ws_, dir_));
  j["revision"] = ws_.revision();
  j["questions"] = json::array();
  for (const auto& q : pending_questions(ws_)) j["questions"].push_back(to_json(q));
  // The graph's dependencies, from the validated graph the run stored.
  json edges = json::array();
  if (auto run = read_run(ws_)) {
    auto graph = try_parse_bounded(run->graph_json, "the run's graph", kRecordJsonLimits).value;
    if (graph.is_object() && graph.contains("agents") && graph["agents"].is_array())
      for (const auto& a : graph["agents"])
        if (a.is_object() && a.contains("after") && a["after"].is_array())
          for (const auto& before : a["after"]) edges.push_back({before, a.value("id", "")});
  }
  j["edges"] = std::move(edges);
  return j;
}

json DashboardApi::agent(const std::string& id) const {
  const auto a = find_agent(ws_, id);
  json j = {{"id", a.id},           {"bundle", a.bundle},   {"target", a.target},
            {"state", a.state},     {"reason", a.reason},   {"restarts", a.restarts},
            {"review", a.review},   {"duration_ms", agent_ran_ms(a)}, {"result", nullptr},
            {"questions", json::array()}, {"messages", json::array()}, {"events", json::array()}};
  if (auto res = read_result(ws_, a))
    j["result"] = {{"status", res->status}, {"summary", res->summary}, {"changed_files", res->changed_files},
                   {"turns", res->turns}, {"error", res->error}};
  for (const auto& q : pending_questions(ws_))
    if (q.state.agent_id == id) j["questions"].push_back(to_json(q));
  // Its conversation (agent:<id>:message:*), turn by turn: model replies with their tool calls,
  // and tool results.
  if (auto ns = ws_.find_ns(a.ns)) {
    const auto prefix = keys::agent(id, "message:");
    for (auto& [k, e] : ws_.list(*ns, prefix, kMessagesShown)) {
      auto v = proto::decode<proto::JsonValue>(e.value, k);
      auto m = try_parse_bounded(v.json, "a message", kRecordJsonLimits);
      j["messages"].push_back(m.ok() ? m.value : json(v.json));
    }
  }
  std::vector<json> events;
  for (auto& [k, e] : ws_.list(ws_.ns(keys::kBase), keys::kEvent)) {
    auto ev = proto::decode<proto::Event>(e.value, k);
    if (ev.agent_id == id) events.push_back(event_json(ev));
  }
  const auto from = events.size() > kAgentEventsShown ? events.size() - kAgentEventsShown : 0;
  for (auto i = from; i < events.size(); ++i) j["events"].push_back(std::move(events[i]));
  return j;
}

json DashboardApi::diff(const std::string& id) const { return agent_diff_json(ws_, find_agent(ws_, id), false); }

json DashboardApi::log_tail(const std::string& id) const {
  const auto a = find_agent(ws_, id);
  json j = {{"agent", a.id}, {"size", 0}, {"truncated", false}, {"text", ""}};
  std::ifstream in(std::filesystem::path(dir_) / "logs" / (a.id + ".log"), std::ios::binary | std::ios::ate);
  if (!in) return j;  // it has not started (or ran elsewhere)
  const auto size = static_cast<std::uint64_t>(in.tellg());
  const auto from = size > kLogTailBytes ? size - kLogTailBytes : 0;
  std::string text(static_cast<std::size_t>(size - from), '\0');
  in.seekg(static_cast<std::streamoff>(from));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (from > 0) {
    // Cut mid-line: start at the next whole line.
    const auto eol = text.find('\n');
    text.erase(0, eol == std::string::npos ? 0 : eol + 1);
  }
  j["size"] = size;
  j["truncated"] = from > 0;
  j["text"] = std::move(text);
  return j;
}

json DashboardApi::checkpoints() const {
  json j = json::array();
  for (const auto& m : Checkpoints(dir_).list()) j.push_back(m.to_json());
  return j;
}

json DashboardApi::answer(const json& body) {
  auto given = answer_question(ws_, string_field(body, "question"), string_field(body, "answer"), "dashboard");
  return {{"question", given.question_id}, {"agent", given.agent}, {"answer", given.answer}};
}

json DashboardApi::cancel(const json& body) {
  auto c = request_cancel(ws_, dir_, string_field(body, "agent", false), bool_field(body, "all"));
  return {{"cancel", c.target}, {"supervisor", c.supervised ? "running" : "none"}};
}

json DashboardApi::accept(const json& body) {
  const auto agent = string_field(body, "agent");
  const bool force = bool_field(body, "force");
  std::lock_guard lock(review_);
  Review review(ws_);
  return accepted_json(review.accept(agent, force));
}

json DashboardApi::reject(const json& body) {
  const auto agent = string_field(body, "agent");
  std::lock_guard lock(review_);
  Review review(ws_);
  return {{"agent", agent}, {"rejected", true}, {"dropped", review.reject(agent)}};
}

json DashboardApi::undo(const json& body) {
  const bool force = bool_field(body, "force");
  std::lock_guard lock(review_);
  Review review(ws_);
  auto undone = review.undo(force);
  return {{"agent", undone.agent}, {"undone", true}, {"restored", undone.files}};
}

json DashboardApi::take_checkpoint(const json& body) {
  const auto message = string_field(body, "message", false);
  return Checkpoints(dir_).take(ws_, message).manifest.to_json();
}

}  // namespace remora
