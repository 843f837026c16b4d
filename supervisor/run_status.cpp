#include "supervisor/run_status.hpp"

#include <cmath>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "supervisor/agent_results.hpp"
#include "supervisor/run_lock.hpp"

namespace remora {

std::optional<proto::Run> read_run(const Workspace& ws) {
  auto e = ws.get(ws.ns("base"), std::string(keys::kRunGraph));
  if (!e) return std::nullopt;
  return proto::decode<proto::Run>(e->value, keys::kRunGraph);
}

std::int64_t agent_ran_ms(const proto::AgentState& a) {
  return a.started_at_ms ? (a.ended_at_ms ? a.ended_at_ms : now_ms()) - a.started_at_ms : 0;
}

RunStatus read_run_status(const Workspace& ws, const std::string& dir) {
  auto r = read_run(ws);
  if (!r) throw Error(Errc::not_found, "workspace " + dir + " holds no run");
  RunStatus s;
  s.run = std::move(*r);
  s.supervisor = !proto::Run::unfinished(s.run.state) ? "ended" : RunLock::held(dir) ? "running" : "gone";
  for (auto& [k, e] : ws.list(ws.ns("base"), keys::kRunAgent)) s.agents.push_back(proto::decode<proto::AgentState>(e.value, k));
  for (const auto& a : s.agents) s.results.push_back(read_result(ws, a));
  const auto tokens = token_totals(ws, s.agents);  // as the graph's final event counts them
  s.prompt_tokens = tokens.prompt;
  s.completion_tokens = tokens.completion;
  return s;
}

nlohmann::json to_json(const RunStatus& s) {
  nlohmann::json j{{"graph", s.run.graph_name},  {"graph_id", s.run.graph_id},
                   {"state", s.run.state},       {"supervisor", s.supervisor},
                   {"prompt_tokens", s.prompt_tokens},
                   {"completion_tokens", s.completion_tokens}, {"agents", nlohmann::json::array()}};
  for (std::size_t i = 0; i < s.agents.size(); ++i) {
    const auto& a = s.agents[i];
    nlohmann::json row{{"id", a.id},         {"bundle", a.bundle},     {"target", a.target}, {"state", a.state},
                       {"reason", a.reason}, {"restarts", a.restarts}, {"review", a.review}, {"duration_ms", agent_ran_ms(a)},
                       {"result", nullptr}};
    if (const auto& res = s.results[i])
      row["result"] = {{"status", res->status}, {"summary", res->summary}, {"changed_files", res->changed_files},
                       {"turns", res->turns}, {"prompt_tokens", res->prompt_tokens},
                       {"completion_tokens", res->completion_tokens}, {"duration_ms", std::llround(res->duration_ms)},
                       {"error", res->error}};
    j["agents"].push_back(std::move(row));
  }
  return j;
}

}  // namespace remora
