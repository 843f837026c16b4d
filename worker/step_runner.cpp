#include "worker/step_runner.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

#include "shared/bounded_json.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "worker/inbox.hpp"
#include "shared/watcher.hpp"

namespace remora::worker {
namespace {

std::string json_value(const nlohmann::json& j) { return proto::encode(proto::JsonValue{j.dump()}); }

nlohmann::json read_json(const Workspace& ws, const Namespace& ns, const std::string& key) {
  auto e = ws.get(ns, key);
  if (!e) return nullptr;
  return parse_bounded(proto::decode<proto::JsonValue>(e->value, key).json, key, kRecordJsonLimits);
}

int signal_named(const std::string& name) {
  static const std::map<std::string, int> k{{"KILL", SIGKILL}, {"SEGV", SIGSEGV}, {"ABRT", SIGABRT},
                                            {"TERM", SIGTERM}, {"BUS", SIGBUS},   {"FPE", SIGFPE},
                                            {"ILL", SIGILL}};
  auto it = k.find(name);
  return it == k.end() ? SIGKILL : it->second;
}

// Blocks this thread until the deadline (nullopt: forever). Simulated work, not a poll.
void block_until(std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lk(mu);
  if (deadline) {
    cv.wait_until(lk, *deadline, [] { return false; });
  } else {
    cv.wait(lk, [] { return false; });
  }
}

}  // namespace

StepRunner::StepRunner(Workspace& ws, const proto::AgentState& agent, Bundle bundle,
                       std::function<void()> stop_heartbeat, AttemptAction attempt)
    : ws_(ws),
      agent_(agent),
      bundle_(std::move(bundle)),
      ns_(ws.ns(agent.ns)),
      stop_heartbeat_(std::move(stop_heartbeat)),
      attempt_(std::move(attempt)) {}

std::string StepRunner::text(const nlohmann::json& v) const {
  return expand(v.is_string() ? v.get<std::string>() : v.dump(), agent_.id, agent_.target, agent_.attempt, answer_);
}

int StepRunner::run() {
  const auto step_key = keys::agent_step(agent_.id);
  const auto answer_key = keys::agent_kv(agent_.id, "answer");
  const auto summary_key = keys::agent_kv(agent_.id, "summary");
  auto pos_j = read_json(ws_, ns_, step_key);
  std::size_t pos = pos_j.is_number_unsigned() ? pos_j.get<std::size_t>() : 0;
  if (auto a = read_json(ws_, ns_, answer_key); a.is_string()) answer_ = a.get<std::string>();
  if (auto s = read_json(ws_, ns_, summary_key); s.is_string()) summary_ = s.get<std::string>();
  if (pos > 0) spdlog::info("{}: resuming at step {} of {}", agent_.id, pos, bundle_.steps.size());

  // Steps' writes, each with the index of the step after it, in order: committed before a step
  // that acts (waits, asks, crashes, attempts) or fails, or in one transaction with the result.
  // Writing, deleting and summing up act on nothing outside the agent's namespace: a worker
  // killed before their commit does them again.
  std::vector<std::function<void(WriteTxn&)>> pending;
  auto in_order = [&pending](WriteTxn& t) {
    for (const auto& f : pending) f(t);
  };
  for (std::size_t i = pos; i < bundle_.steps.size(); ++i) {
    const Step& step = bundle_.steps[i];
    if (!pending.empty() && step.kind != "write" && step.kind != "delete" && step.kind != "result") {
      ws_.write(in_order);
      pending.clear();
    }
    const auto& a = step.args;
    const auto next = json_value(i + 1);
    auto advance = [this, step_key, next](WriteTxn& t) { t.put(ns_, step_key, next); };
    spdlog::debug("{}: step {} {}", agent_.id, i, step.kind);
    if (step.kind == "write") {
      proto::FileEntry f;
      f.content.data = text(a.at("content"));
      pending.push_back([this, advance, key = keys::file(text(a.at("path"))), bytes = proto::encode(f)](WriteTxn& t) {
        t.put(ns_, key, bytes);
        advance(t);
      });
    } else if (step.kind == "delete") {
      pending.push_back([this, advance, key = keys::file(text(a.at("path")))](WriteTxn& t) {
        t.del(ns_, key);
        advance(t);
      });
    } else if (step.kind == "ask") {
      answer_ = ask(i, step);
      pending.push_back([this, advance, answer_key, ans = json_value(answer_)](WriteTxn& t) {
        t.put(ns_, answer_key, ans);
        advance(t);
      });
    } else if (step.kind == "work") {
      block_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(a.at("ms").get<std::int64_t>()));
      pending.push_back(advance);
    } else if (step.kind == "fail") {
      finish("failed", summary_, text(a.value("message", "failed")));
      return kFailed;
    } else if (step.kind == "crash") {
      bool now = !a.contains("attempts");
      if (!now) {
        for (auto& n : a["attempts"]) now = now || n.get<std::uint32_t>() == agent_.attempt;
      }
      if (now) {
        spdlog::info("{}: crashing with SIG{} as the bundle says (attempt {})", agent_.id, a.at("signal").get<std::string>(),
                     agent_.attempt);
        ::raise(signal_named(a.at("signal").get<std::string>()));
      }
      pending.push_back(advance);
    } else if (step.kind == "hang") {
      spdlog::info("{}: hanging as the bundle says: no more heartbeats", agent_.id);
      stop_heartbeat_();
      block_until(std::nullopt);
    } else if (step.kind == "attempt") {
      if (!attempt_) {
        finish("failed", summary_, "attempt steps run only in the test worker (tests/hostile): this remora-worker has none");
        return kFailed;
      }
      auto outcome = attempt_(a);  // may not return: the sandbox kills the worker
      if (outcome.denied) {
        finish("failed", summary_, "sandbox denied: " + outcome.what);
        return kSandboxDenied;
      }
      spdlog::warn("{}: attempt {} was not stopped by the sandbox: {}", agent_.id, a.at("action").get<std::string>(),
                   outcome.what);
      pending.push_back(advance);
    } else if (step.kind == "result") {
      summary_ = text(a.at("summary"));
      pending.push_back([this, advance, summary_key, s = json_value(summary_)](WriteTxn& t) {
        t.put(ns_, summary_key, s);
        advance(t);
      });
    }
  }
  finish("completed", summary_, "", in_order);
  return kCompleted;
}

std::string StepRunner::ask(std::size_t index, const Step& step) {
  const auto& a = step.args;
  // The id is derived from the agent and the step, so a restarted worker asks the same question
  // and receives an answer given while it was down.
  const std::string qid = agent_.id + "." + std::to_string(index);
  proto::Question q;
  q.id = qid;
  q.agent_id = agent_.id;
  q.question = text(a.at("question"));
  if (a.contains("options"))
    for (auto& o : a["options"]) q.options.push_back(text(o));
  if (a.contains("default")) q.default_answer = text(a["default"]);
  q.timeout_s = a.value("timeout", 300.0);
  q.created_at_ms = now_ms();
  return ask_and_wait(ws_, ns_, q);
}

void StepRunner::finish(const std::string& status, const std::string& summary, const std::string& error,
                        const std::function<void(WriteTxn&)>& last_step) {
  proto::AgentResult r;
  r.agent_id = agent_.id;
  r.status = status;
  r.summary = summary;
  r.error = error;
  r.turns = static_cast<std::uint32_t>(bundle_.steps.size());
  r.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
  ws_.write([&](WriteTxn& t) {
    if (last_step) last_step(t);
    r.changed_files.clear();  // the callback may run again (a map growth)
    for (auto& d : t.diff(ns_, keys::kFile)) r.changed_files.push_back(d.key.substr(keys::kFile.size()));
    t.put(ns_, keys::result(agent_.id), proto::encode(r));
  });
}

}  // namespace remora::worker
