// What agents reported (agent:<id>:result, in their overlay, or kept in base once the overlay is
// rejected) and the run's token totals counted from it: `remora status` and the graph's final
// event count the same way, so they always agree, resumed or not.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora {

// What the agent's worker reported, if it has ended.
std::optional<proto::AgentResult> read_result(const Workspace& ws, const proto::AgentState& agent);

struct TokenTotals {
  std::uint64_t prompt = 0, completion = 0;
};

// The tokens the agents' results report, summed.
TokenTotals token_totals(const Workspace& ws, const std::vector<proto::AgentState>& agents);

}  // namespace remora
