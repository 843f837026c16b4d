// StepRunner: executes a `steps` bundle for one agent (see shared/bundle.hpp). Each step's effects
// are committed together with the index of the next step, before any later step acts (waits,
// asks, crashes, attempts, fails) or with the result, so a worker killed at any point and started
// again continues at the first step whose effects were not committed.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "proto/records.hpp"
#include "shared/bundle.hpp"
#include "shared/workspace.hpp"

namespace remora::worker {

// Exit codes of remora-worker; the supervisor reads them together with agent:<id>:result.
enum ExitCode : int {
  kCompleted = 0,
  kFailed = 1,    // the agent reported an error (agent:<id>:result says which)
  kBadInput = 2,  // wrong arguments, or run records the worker cannot use
  kOrphaned = 3,  // the supervisor was already gone at start-up
  kSandboxUnavailable = 4,  // strict: a required sandbox mechanism is unavailable (the last log line names it)
  kSandboxDenied = 5,       // the sandbox denied an attempt of the agent (agent:<id>:result says which)
};

// What the action of an `attempt` step did: denied by the sandbox, or not stopped by it.
struct AttemptOutcome {
  bool denied = false;
  std::string what;  // "open /root/.netrc: Permission denied", "connected to 127.0.0.1:8080"
};
// Runs the action of an `attempt` step (it may not return: the sandbox may kill the worker). Only
// the test worker (tests/hostile/) has one: the remora-worker users run holds no hostile code
// and fails an agent that has an attempt step.
using AttemptAction = std::function<AttemptOutcome(const nlohmann::json& args)>;

class StepRunner {
 public:
  // stop_heartbeat is called by a `hang` step, which then blocks forever.
  StepRunner(Workspace& ws, const proto::AgentState& agent, Bundle bundle, std::function<void()> stop_heartbeat,
             AttemptAction attempt);
  // Runs from the committed position to the end; returns the exit code.
  int run();

 private:
  std::string ask(std::size_t index, const Step& step);
  // Commits the agent's result, with the last step's writes when given (one transaction).
  void finish(const std::string& status, const std::string& summary, const std::string& error,
              const std::function<void(WriteTxn&)>& last_step = nullptr);
  std::string text(const nlohmann::json& v) const;

  Workspace& ws_;
  proto::AgentState agent_;
  Bundle bundle_;
  Namespace ns_;
  std::function<void()> stop_heartbeat_;
  AttemptAction attempt_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::string answer_;
  std::string summary_;
};

}  // namespace remora::worker
