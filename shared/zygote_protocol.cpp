#include "shared/zygote_protocol.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "shared/error.hpp"

namespace remora::zygote {

namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t get_u32(std::string_view in, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(in[at + i])} << (8 * i);
  return v;
}

constexpr int kMaxFds = 2;

}  // namespace

std::string encode(const LaunchRequest& r) {
  std::string out;
  put_u32(out, static_cast<std::uint32_t>(r.args.size()));
  put_u32(out, static_cast<std::uint32_t>(r.env.size()));
  for (const auto* list : {&r.args, &r.env})
    for (const auto& s : *list) {
      out += s;
      out.push_back('\0');
    }
  return out;
}

LaunchRequest decode(std::string_view bytes) {
  auto bad = [](const std::string& what) { return Error(Errc::corrupt, "launch request: " + what); };
  if (bytes.size() > kMaxRequestBytes) throw bad("larger than " + std::to_string(kMaxRequestBytes) + " bytes");
  if (bytes.size() < 8) throw bad("shorter than its two counts");
  const std::uint32_t nargs = get_u32(bytes, 0), nenv = get_u32(bytes, 4);
  if (std::uint64_t{nargs} + nenv > kMaxStrings) throw bad("more than " + std::to_string(kMaxStrings) + " strings");
  LaunchRequest r;
  std::size_t at = 8;
  for (std::uint32_t i = 0; i < nargs + nenv; ++i) {
    const auto nul = bytes.find('\0', at);
    if (nul == std::string_view::npos) throw bad("string " + std::to_string(i) + " has no end");
    (i < nargs ? r.args : r.env).emplace_back(bytes.substr(at, nul - at));
    at = nul + 1;
  }
  if (at != bytes.size()) throw bad(std::to_string(bytes.size() - at) + " bytes after its strings");
  return r;
}

bool send_message(int sock, std::string_view bytes, const std::vector<int>& fds) {
  if (fds.size() > kMaxFds) {
    errno = EINVAL;
    return false;
  }
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(bytes.size());
}

std::optional<std::string_view> receive_message(int sock, std::vector<char>& buffer, std::vector<UniqueFd>& fds) {
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  fds.clear();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (n < 0) return std::nullopt;
  if (n == 0) {
    errno = 0;
    return std::nullopt;
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    errno = EMSGSIZE;
    return std::nullopt;
  }
  return std::string_view(buffer.data(), static_cast<std::size_t>(n));
}

}  // namespace remora::zygote
