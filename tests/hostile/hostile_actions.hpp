// Hostile actions: what a compromised or misbehaving agent might try, run by the `attempt` step
// of a steps bundle (shared/bundle.hpp) in the test worker (tests/hostile/hostile_worker.cpp),
// never in the remora-worker users run. tests/sandbox_test.cpp runs one agent per action to show
// that the sandbox stops each one. An action is stopped either by the death of the worker
// (seccomp's SIGSYS, RLIMIT_CPU's SIGXCPU: it does not return) or by a refusal it reports. An
// action the sandbox does not stop leaves no trace beyond its report: what it reads is not shown,
// what it allocates or starts is released, what it connects to is closed at once.
#pragma once

#include <nlohmann/json.hpp>

#include "worker/step_runner.hpp"

namespace remora::hostile {

// Runs the action named by args["action"]: read_home {path: absolute}, write_outside {path:
// absolute}, connect {port: on 127.0.0.1}, raw_socket, netlink_socket, ptrace_parent, fork_bomb,
// alloc {mb, default 8192}, spin, read_proc1_environ, env_secret {name: an environment variable}.
// Throws std::invalid_argument naming an unknown action or a missing argument.
worker::AttemptOutcome attempt(const nlohmann::json& args);

}  // namespace remora::hostile
