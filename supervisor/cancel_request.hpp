// Asking the running supervisor to cancel an agent or every agent (a run:control record), from
// another process: what `remora cancel` and the dashboard do.
#pragma once

#include <string>

#include "shared/workspace.hpp"

namespace remora {

struct CancelRequested {
  std::string target;  // an agent id, or "*" for every agent
  bool supervised;     // a supervisor runs now; otherwise it applies when the run resumes
};

// agent empty with all, or one agent of the run (Error not_found otherwise; invalid_argument
// for neither or both). dir: the workspace directory, to see whether a supervisor holds it.
CancelRequested request_cancel(Workspace& ws, const std::string& dir, const std::string& agent, bool all);

}  // namespace remora
