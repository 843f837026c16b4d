// run_bounded: runs a program to its end under limits, for command tools. The program gets its
// argv as given (no shell), /dev/null as stdin, no descriptor but 0, 1 and 2, and the Landlock
// domain of tool_confinement() stacked on the worker's (no workspace file). It runs under a tiny
// init of its own, in a PID namespace of its own where the sandbox allows one (else in a session
// of its own): when the program ends, or at the deadline (SIGKILL), the init goes and takes
// everything the program started with it, double-forked and setsid() ones included (without the
// namespace, only what stayed in the session's process group). stdout and stderr are kept up to
// a bound each; the rest is read and counted, never left to block the writer.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace remora::worker {

struct ProcessLimits {
  std::chrono::duration<double> timeout{60};
  std::size_t max_output = 64 * 1024;  // bytes kept of stdout, and of stderr
};

struct ProcessOutcome {
  std::optional<int> exit_code;  // when it exited
  std::optional<int> signal;     // when a signal ended it (SIGKILL after a timeout)
  bool timed_out = false;
  std::string out, err;               // the first max_output bytes of each
  std::size_t out_dropped = 0, err_dropped = 0;  // bytes beyond them
};

// Throws Error(io) when the program cannot be started.
ProcessOutcome run_bounded(const std::filesystem::path& exe, const std::vector<std::string>& args,
                           const std::filesystem::path& cwd, const ProcessLimits& limits);

}  // namespace remora::worker
