// Sandbox: confines a worker process, and so every program it starts, before it runs any agent
// code. The policy is shared/sandbox_policy.hpp; what it guarantees is in docs/sandbox.md.
//
// Two steps, in this order in main():
//   Sandbox box(config);                 // first thing: closes inherited descriptors
//   ... open the workspace, read the agent's records ...
//   auto what = box.apply(paths, limits);  // still single-threaded: confines the process
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/sandbox_policy.hpp"

namespace remora::worker {

// A mechanism that `strict` requires and this kernel or process does not offer.
class SandboxUnavailable : public std::runtime_error {
 public:
  SandboxUnavailable(sandbox::Mechanism m, const std::string& why);
  sandbox::Mechanism mechanism;
};

struct SandboxPaths {
  std::filesystem::path private_dir;                   // read-write; created, and made the cwd
  std::vector<std::filesystem::path> workspace_files;  // read-write files (already open)
  std::vector<std::string> read_paths;                 // extra read-only paths
  std::filesystem::path memory_cgroup;                 // the agent's, which the supervisor put us in ("" if none)
};

class Sandbox {
 public:
  // Closes every descriptor but stdin, stdout and stderr (at every level).
  explicit Sandbox(sandbox::Config config);

  // Applies, in order: the environment, no_new_privs, the namespaces (the ids mapped to
  // themselves), the private directory's tmpfs, dropped capabilities (all but CAP_SYS_ADMIN in
  // the worker's own user namespace, kept to give each command tool a PID namespace), rlimits,
  // Landlock, seccomp; and prepares tool_confinement(). The process must have a single
  // thread (unshare(CLONE_NEWUSER) requires it). Returns what was applied and what was skipped
  // and why; under `strict` a required mechanism that cannot be applied throws SandboxUnavailable
  // before any agent code can run. Under `none`, only the environment is cleared.
  sandbox::Confinement apply(const SandboxPaths& paths, const sandbox::Rlimits& limits);

 private:
  // Records m as applied (why empty) or skipped; under strict a required m throws SandboxUnavailable.
  void record(sandbox::Mechanism m, const std::string& why);
  // Runs step unless the kernel falls short; records m with the shortfall or the step's error.
  template <class F> void attempt(sandbox::Mechanism m, const std::string& shortfall, F&& step);

  sandbox::Config config_;
  sandbox::Confinement done_;
};

}  // namespace remora::worker
