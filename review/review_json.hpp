// Review results as JSON, one shape for `remora diff|accept|undo --json` and the dashboard.
#pragma once

#include <nlohmann/json.hpp>

#include "review/review.hpp"

namespace remora {

// A changed file: path, status (added|deleted|modified), binary, lines added/removed, modes.
nlohmann::json file_json(const FileChange& c);

nlohmann::json accepted_json(const Accepted& a);

// An agent's changes: agent, bundle, target and its files, each with its unified diff unless stat.
nlohmann::json agent_diff_json(const Workspace& ws, const proto::AgentState& a, bool stat);

}  // namespace remora
