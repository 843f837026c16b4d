// sandboxed_exec: a test program that confines itself exactly as remora-worker does (strict
// level, default limits, no workspace) and then runs a command, so that tests can check that
// ordinary programs (sh, python3) still run inside the sandbox and what they may touch.
//
//   sandboxed_exec PRIVATE_DIR COMMAND [ARGS...]
//       prints the confinement to stderr, then execs COMMAND (found on the worker's PATH);
//       exits 4 if strict cannot be applied, 127 if COMMAND cannot be run.
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "shared/sandbox_policy.hpp"
#include "worker/sandbox.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: sandboxed_exec PRIVATE_DIR COMMAND [ARGS...]\n");
    return 2;
  }
  try {
    remora::sandbox::Config config;
    remora::worker::Sandbox sandbox(config);
    auto done = sandbox.apply({argv[1], {}, {}, {}}, remora::sandbox::rlimits_for(config.limits, 0));
    std::fprintf(stderr, "sandbox: %s\n", done.summary().c_str());
  } catch (const remora::worker::SandboxUnavailable& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 4;
  }
  std::vector<char*> args(argv + 2, argv + argc);
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  std::perror(args[0]);
  return 127;
}
