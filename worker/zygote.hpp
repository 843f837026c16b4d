// The zygote: a remora-worker started once per run, already loaded and linked, that forks each
// worker on the supervisor's request (shared/zygote_protocol.hpp) instead of the supervisor
// exec'ing a new one: exec and dynamic linking were most of a short agent's cost. It holds no
// workspace handle and runs nothing of any agent's; each worker it forks runs worker_main from
// the start, confining itself exactly as an exec'd one does, and is the supervisor's own child
// (the supervisor is a child subreaper, and the fork goes through a short-lived intermediate).
//
//   remora-worker --zygote FD --supervisor-pid PID PADDING
//
// FD is its end of the socket pair; PADDING (spaces) reserves room in the process's command line
// for each worker's own arguments (`ps` shows them, and a resumed supervisor's check of a stale
// worker reads them).
#pragma once

#include "worker/step_runner.hpp"

namespace remora::worker {

// Serves launch requests until the supervisor closes its end; returns the exit code.
int run_zygote(int argc, char** argv, AttemptAction attempt);

}  // namespace remora::worker
