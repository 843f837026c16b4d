// PidFd: a handle on a process that is not our child (a Linux pidfd), to wait for its exit
// without polling and without confusing it with a later process that reuses its pid.
#pragma once

#include <sys/types.h>

#include <chrono>

namespace remora {

class PidFd {
 public:
  explicit PidFd(pid_t pid);  // a process already gone (or pid 0) gives an empty handle
  ~PidFd();
  PidFd(const PidFd&) = delete;
  PidFd& operator=(const PidFd&) = delete;

  // Whether the process existed when the handle was made.
  bool valid() const { return fd_ >= 0; }
  // Sends sig to that very process (pidfd_send_signal: never to a later one that reused its pid).
  // False when it has exited (or the handle is empty).
  bool signal(int sig) const;
  // Blocks until the process has exited (true) or the timeout passes (false). True at once for
  // an empty handle.
  bool wait_exit(std::chrono::milliseconds timeout) const;

 private:
  int fd_ = -1;
};

}  // namespace remora
