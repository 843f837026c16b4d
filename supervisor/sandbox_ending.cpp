#include "supervisor/sandbox_ending.hpp"

#include <signal.h>
#include <sys/wait.h>

#include "worker/step_runner.hpp"

namespace remora {

std::optional<std::string> sandbox_ending(int wait_status, const std::optional<proto::AgentResult>& result,
                                          const std::string& log_tail, const sandbox::Config& config,
                                          std::uint64_t oom_kills) {
  const bool from_worker = log_tail.starts_with("sandbox ");  // its own words, e.g. "sandbox violation: ..."
  if (WIFEXITED(wait_status)) {
    switch (WEXITSTATUS(wait_status)) {
      case worker::kSandboxUnavailable:
        return from_worker ? log_tail : "sandbox unavailable (the worker's log says which mechanism)";
      case worker::kSandboxDenied:
        if (result && result->status == "failed") return result->error;
        return std::nullopt;
      default: return std::nullopt;
    }
  }
  if (!WIFSIGNALED(wait_status) || config.level == sandbox::Level::none) return std::nullopt;
  switch (WTERMSIG(wait_status)) {
    case SIGSYS:
      return from_worker ? log_tail : "sandbox violation: a forbidden system call (killed by SIGSYS)";
    case SIGXCPU:
      return "sandbox violation: CPU time limit of " + std::to_string(config.limits.cpu_s) + " s reached (SIGXCPU)";
    case SIGXFSZ: return "sandbox violation: file size limit reached (SIGXFSZ)";
    case SIGKILL:
      if (oom_kills == 0) return std::nullopt;
      return "sandbox violation: the agent's memory limit of " + std::to_string(config.limits.memory_mb) +
             " MiB reached (memory_cgroup: the kernel killed " + std::to_string(oom_kills) +
             " of its processes, the worker among them)";
    default: return std::nullopt;
  }
}

}  // namespace remora
