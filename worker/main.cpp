// remora-worker: runs one agent of a graph. Started by the supervisor; learns everything from the
// workspace (its run:agent record and its bundle) and reports only through it. It confines itself
// in its sandbox (worker/sandbox.hpp) once it has read its records and before it runs anything
// of the agent's, and logs what it applied.
//
//   remora-worker --workspace DIR --agent ID [--supervisor-pid PID] [--sandbox LEVEL] [limits...]
//   remora-worker --zygote FD --supervisor-pid PID PADDING   (the run's zygote: worker/zygote.hpp)
//
// Exit codes: see worker/step_runner.hpp (0 completed, 1 failed as reported, 2 bad input,
// 3 orphaned, 4 sandbox unavailable, 5 sandbox denied). Logs go to stderr, which the supervisor
// sends to the agent's log file.
#include <csignal>

#include "worker/worker_main.hpp"

#ifdef REMORA_SANITIZED
// The sanitized build (tools/test's build-asan/): LeakSanitizer stops the world with ptrace at
// exit, which the sandbox's seccomp filter forbids; leaks are checked in the other binaries.
// Crashes that steps bundles ask for must end the worker by their own signal, as without ASan.
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
}
#endif

int main(int argc, char** argv) {
  // remora ignores SIGPIPE (its output may go to a closed pipe); what the worker starts gets the default.
  std::signal(SIGPIPE, SIG_DFL);
  return remora::worker::worker_main(argc, argv, nullptr);
}
