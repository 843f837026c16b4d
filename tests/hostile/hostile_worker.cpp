// remora-worker-hostile: the test worker. remora-worker with an action for `attempt` steps
// (tests/hostile/hostile_actions.hpp), so that tests can show the worker's own sandbox stopping
// what a compromised agent would try. Tests start it by running remora with REMORA_WORKER naming it.
#include <csignal>

#include "tests/hostile/hostile_actions.hpp"
#include "worker/worker_main.hpp"

#ifdef REMORA_SANITIZED
extern "C" const char* __asan_default_options() {  // as worker/main.cpp's
  return "detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
}
#endif

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_DFL);
  return remora::worker::worker_main(argc, argv, remora::hostile::attempt);
}
