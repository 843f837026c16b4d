#include "supervisor/agent_results.hpp"

#include <string>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"

namespace remora {

std::optional<proto::AgentResult> read_result(const Workspace& ws, const proto::AgentState& a) {
  const auto key = keys::result(a.id);
  for (const auto& ns_name : {a.ns, std::string(keys::kBase)}) {
    auto ns = ws.find_ns(ns_name);
    if (!ns) continue;
    if (auto e = ws.get(*ns, key)) return proto::decode<proto::AgentResult>(e->value, key);
  }
  return std::nullopt;
}

TokenTotals token_totals(const Workspace& ws, const std::vector<proto::AgentState>& agents) {
  TokenTotals t;
  for (const auto& a : agents)
    if (auto r = read_result(ws, a)) {
      t.prompt += r->prompt_tokens;
      t.completion += r->completion_tokens;
    }
  return t;
}

}  // namespace remora
