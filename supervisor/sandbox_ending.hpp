// Sandbox endings: tells a worker stopped by its sandbox from one that crashed or failed, so that
// the supervisor fails its agent for good (a violation is never restarted) with a reason that
// names it: the system call seccomp trapped, the limit it reached, the denial the agent met, or
// the mechanism strict mode could not apply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "proto/records.hpp"
#include "shared/sandbox_policy.hpp"

namespace remora {

// The reason for the agent's failure if the sandbox ended its worker, nullopt otherwise.
// log_tail is the worker's last log line (where the worker names what stopped it); oom_kills,
// the processes the OOM killer ended in the agent's memory cgroup.
std::optional<std::string> sandbox_ending(int wait_status, const std::optional<proto::AgentResult>& result,
                                          const std::string& log_tail, const sandbox::Config& config,
                                          std::uint64_t oom_kills = 0);

}  // namespace remora
