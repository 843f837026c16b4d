// Hostile actions: what a compromised or misbehaving agent might try, run by the `attempt` step
// of a steps bundle (shared/bundle.hpp). A test mode: tests/sandbox_test.cpp runs one agent per
// action to show that the sandbox stops each one. An action is stopped either by the death of the
// worker (seccomp's SIGSYS, RLIMIT_CPU's SIGXCPU: it does not return) or by a refusal it reports.
// An action the sandbox does not stop leaves no trace beyond its report: what it reads is not
// shown, what it allocates or starts is released, what it connects to is closed at once.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace remora::worker {

struct AttemptOutcome {
  bool denied = false;
  std::string what;  // "open /root/.netrc: Permission denied", "connected to 127.0.0.1:8080"
};

// Runs the action named by args["action"] with its arguments (validated by the bundle loader).
AttemptOutcome attempt_hostile(const nlohmann::json& args);

}  // namespace remora::worker
