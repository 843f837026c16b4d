// ChildStart: how a process forked to exec a program says why it could not. Between fork (or
// clone) and exec the child makes only system calls; on a failed step it writes a StartError to
// a close-on-exec pipe and exits, and the parent reads that pipe: end-of-file means the exec
// happened.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

namespace remora {

struct StartError {
  const char* step;  // a literal: the same in the parent, whose memory the child copies
  int err;
};

// In the child: reports errno for step through start_w and exits 127.
[[noreturn]] inline void start_failed(int start_w, const char* step) {
  const StartError e{step, errno};
  [[maybe_unused]] auto n = ::write(start_w, &e, sizeof e);
  ::_exit(127);
}

// In the parent, after closing its own copy of the write end: what the child reported, or none
// when it exec'ed. A read that fails or comes up short is reported as step "start pipe".
inline std::optional<StartError> read_start_error(int start_r) {
  StartError e{nullptr, 0};
  ssize_t n;
  do n = ::read(start_r, &e, sizeof e);
  while (n < 0 && errno == EINTR);
  if (n == 0) return std::nullopt;
  if (n != static_cast<ssize_t>(sizeof e)) return StartError{"start pipe", n < 0 ? errno : EPIPE};
  return e;
}

// argv/envp for execve: pointers into strings (which must outlive them), then a null.
inline std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace remora
