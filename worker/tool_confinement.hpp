// ToolConfinement: what the worker's sandbox prepared for the programs its command tools run, on
// top of the worker's own confinement, which they inherit: a Landlock ruleset stacked on each of
// them (the worker's, without the workspace's files), whether each may run in a PID namespace of
// its own (the worker keeps CAP_SYS_ADMIN in its user namespace for that alone), and the agent's
// memory cgroup's OOM counter, to tell a program the kernel killed for the agent's memory limit.
// Set once by Sandbox::apply, before any thread starts; read by run_bounded and CommandTool.
#pragma once

#include <cstdint>
#include <memory>

#include "worker/landlock.hpp"

namespace remora::worker {

struct ToolConfinement {
  std::unique_ptr<LandlockRuleset> landlock;  // null where Landlock is not applied
  bool pid_namespace = false;
  int oom_events_fd = -1;  // the agent cgroup's memory.events / memory.oom_control, or -1
  std::uint32_t memory_mb = 0;
};

ToolConfinement& tool_confinement();

}  // namespace remora::worker
