// UniqueFd: a file descriptor owned by one object and closed when it goes away; Pipe: both ends of
// a pipe, each a UniqueFd; read_to_end reads what is left of a descriptor.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>

namespace remora {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Gives up ownership: the caller closes what is returned.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// Both ends of a pipe2(O_CLOEXEC | flags). When pipe2 fails both are empty and errno says why.
struct Pipe {
  UniqueFd r, w;
  static Pipe make(int flags = 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | flags) != 0) return {};
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

// Appends what is left to read of fd to out, stopping once out holds more than limit bytes.
// Returns false, with errno set, when a read fails.
inline bool read_to_end(int fd, std::string& out, std::size_t limit = std::numeric_limits<std::size_t>::max()) {
  char buf[1 << 16];
  while (out.size() <= limit) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace remora
