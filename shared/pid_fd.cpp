#include "shared/pid_fd.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace remora {

PidFd::PidFd(pid_t pid) : fd_(pid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)) : -1) {}

PidFd::~PidFd() {
  if (fd_ >= 0) ::close(fd_);
}

bool PidFd::signal(int sig) const {
  return fd_ >= 0 && ::syscall(SYS_pidfd_send_signal, fd_, sig, nullptr, 0) == 0;
}

bool PidFd::wait_exit(std::chrono::milliseconds timeout) const {
  if (fd_ < 0) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (n > 0) return true;  // readable once the process has exited
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace remora
