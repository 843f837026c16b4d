#include "supervisor/run_lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shared/error.hpp"

namespace remora {

RunLock::RunLock(const std::filesystem::path& dir) {
  auto path = dir / "supervisor.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw Error(Errc::io, "cannot open " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    auto n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    throw Error(Errc::busy, "another supervisor (pid " + std::string(n > 0 ? buf : "?") + ") is running on workspace " +
                                dir.string());
  }
  auto pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only informative; the lock is what matters.
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<pid_t> RunLock::holder(const std::filesystem::path& dir) {
  int fd = ::open((dir / "supervisor.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<pid_t> out;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    char buf[32] = {};
    out = ::pread(fd, buf, sizeof buf - 1, 0) > 0 ? static_cast<pid_t>(std::atol(buf)) : 0;
    // A supervisor killed while it started a worker leaves the child holding the lock's file for
    // the moment before the child's exec closes it: the supervisor that wrote its pid is gone.
    if (*out > 0 && ::kill(*out, 0) != 0 && errno == ESRCH) out.reset();
  }
  ::close(fd);
  return out;
}

}  // namespace remora
