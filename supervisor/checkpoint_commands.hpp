// The checkpoint commands of `remora`: checkpoint, checkpoints, restore. The store itself is
// shared/checkpoint.hpp; these open the workspace, ask, and print. Each returns the exit code
// (see main.cpp) and throws Error for the caller to report.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "shared/checkpoint.hpp"

namespace remora {

// remora checkpoint [-m MESSAGE] [--json]
int cmd_checkpoint(const std::filesystem::path& ws_dir, const std::string& message, bool as_json);

// remora checkpoints [--json]
int cmd_checkpoints(const std::filesystem::path& ws_dir, bool as_json);

// remora restore ID [--fork DIR] [--yes]: a run going on in the workspace is stopped first (asking),
// and goes on from the checkpoint afterwards through `resume` (remora resume's code).
struct RestoreRequest {
  std::string id;
  std::filesystem::path fork_dir;  // empty: restore in place
  bool yes = false;                // do not ask
};
// The restore itself, shared by `remora restore` and the dashboard: checkpoint id over the
// workspace in ws_dir, holding the run lock meanwhile so no supervisor starts. No process may have
// the workspace open and no supervisor may run there: Error(busy) names the one that does.
Restored restore_in_place(const std::filesystem::path& ws_dir, const std::string& id);

int cmd_restore(const std::filesystem::path& ws_dir, const RestoreRequest& request, const std::function<int()>& resume);

}  // namespace remora
