// The remora-worker program: reads its agent's records, confines itself, and runs the agent.
// Shared by the binary users run (worker/main.cpp) and the test worker (tests/hostile/), which
// alone passes an action for `attempt` steps.
#pragma once

#include "worker/step_runner.hpp"

namespace remora::worker {

// The whole program; returns its exit code (worker/step_runner.hpp's ExitCode).
int worker_main(int argc, char** argv, AttemptAction attempt);

}  // namespace remora::worker
