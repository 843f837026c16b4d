// What `remora status` reports, as data: the run, whether its supervisor is alive, and each
// agent with what its worker reported. The CLI prints it; the dashboard serves it as JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora {

struct RunStatus {
  proto::Run run;
  std::string supervisor;  // running | ended | gone (an unfinished run whose supervisor holds no lock)
  std::vector<proto::AgentState> agents;
  std::vector<std::optional<proto::AgentResult>> results;  // one per agent, once it has ended
  std::uint64_t prompt_tokens = 0, completion_tokens = 0;
};

// The workspace's run (in dir); Error(not_found) when it holds none.
RunStatus read_run_status(const Workspace& ws, const std::string& dir);

// The run record of the workspace, if any.
std::optional<proto::Run> read_run(const Workspace& ws);

// How long the agent has run (to now while it runs), 0 before it starts.
std::int64_t agent_ran_ms(const proto::AgentState& a);

// `remora status --json`'s object.
nlohmann::json to_json(const RunStatus& s);

}  // namespace remora
