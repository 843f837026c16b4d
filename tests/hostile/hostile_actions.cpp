#include "tests/hostile/hostile_actions.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string_view>
#include <vector>


namespace remora::hostile {

using worker::AttemptOutcome;
namespace {

using nlohmann::json;

bool is_denial(int err) { return err == EACCES || err == EPERM; }

AttemptOutcome failed_call(const std::string& what, int err) {
  return {is_denial(err) || err == ENETUNREACH || err == EAGAIN || err == ENOMEM,
          what + ": " + std::strerror(err)};
}

AttemptOutcome read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {is_denial(errno), "open " + path + ": " + std::strerror(errno)};
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  int err = errno;
  ::close(fd);
  if (n < 0) return {is_denial(err), "read " + path + ": " + std::strerror(err)};
  return {false, "read " + std::to_string(n) + " bytes of " + path};
}

AttemptOutcome read_home(const json& a) { return read_file(a.at("path").get<std::string>()); }

AttemptOutcome write_outside(const json& a) {
  const auto path = a.at("path").get<std::string>();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return {is_denial(errno), "create " + path + ": " + std::strerror(errno)};
  ssize_t n = ::write(fd, "escaped\n", 8);
  ::close(fd);
  return {false, "wrote " + std::to_string(n) + " bytes to " + path};
}

AttemptOutcome open_socket(int family, int type, int protocol, const std::string& what) {
  int fd = ::socket(family, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) return failed_call("socket(" + what + ")", errno);
  ::close(fd);
  return {false, "opened a socket(" + what + ")"};
}

AttemptOutcome connect_local(const json& a) {
  const auto port = a.at("port").get<std::uint16_t>();
  const std::string where = "127.0.0.1:" + std::to_string(port);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed_call("socket(AF_INET, SOCK_STREAM)", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  ::close(fd);
  if (rc != 0) return failed_call("connect to " + where, err);
  return {false, "connected to " + where};
}

AttemptOutcome ptrace_parent(const json&) {
  const pid_t parent = ::getppid();
  const std::string what = "ptrace(PTRACE_ATTACH, " + std::to_string(parent) + ")";
  if (::ptrace(PTRACE_ATTACH, parent, nullptr, nullptr) != 0) return failed_call(what, errno);
  ::waitpid(parent, nullptr, __WALL);
  ::ptrace(PTRACE_DETACH, parent, nullptr, nullptr);
  return {false, what + " succeeded"};
}

// Starts processes without end, each waiting to be killed, until fork fails or (when nothing
// stops it) 4096 are running; then kills and reaps them all.
AttemptOutcome fork_bomb(const json&) {
  constexpr std::size_t kCap = 4096;
  std::vector<pid_t> children;
  int err = 0;
  while (children.size() < kCap) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (;;) ::pause();
    }
    if (pid < 0) {
      err = errno;
      break;
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) ::kill(pid, SIGKILL);
  for (pid_t pid : children) ::waitpid(pid, nullptr, 0);
  const std::string started = std::to_string(children.size()) + " processes started";
  if (err != 0) return failed_call("fork (" + started + ")", err);
  return {false, started};
}

AttemptOutcome alloc(const json& a) {
  const auto mb = a.value("mb", std::uint64_t{8192});
  void* p = std::malloc(mb << 20);
  if (!p) return failed_call("allocating " + std::to_string(mb) + " MiB", ENOMEM);
  std::free(p);
  return {false, "allocated " + std::to_string(mb) + " MiB"};
}

[[noreturn]] AttemptOutcome spin(const json&) {
  std::atomic<std::uint64_t> turns{0};  // atomic, so that the loop is not optimised away
  for (;;) turns.fetch_add(1, std::memory_order_relaxed);
}

AttemptOutcome env_secret(const json& a) {
  const auto name = a.at("name").get<std::string>();
  const char* value = std::getenv(name.c_str());
  if (!value) return {true, name + " is not in the worker's environment"};
  return {false, name + " is in the worker's environment (" + std::to_string(std::strlen(value)) + " characters)"};
}

AttemptOutcome raw_socket(const json&) { return open_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP, "AF_INET, SOCK_RAW"); }
AttemptOutcome netlink_socket(const json&) {
  return open_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, "AF_NETLINK, SOCK_RAW");
}
AttemptOutcome read_proc1_environ(const json&) { return read_file("/proc/1/environ"); }

struct Action {
  std::string_view name;
  AttemptOutcome (*run)(const json&);
  std::string_view needs;  // the argument it cannot do without, if any
};
constexpr Action kActions[] = {
    {"read_home", read_home, "path"}, {"write_outside", write_outside, "path"},
    {"connect", connect_local, "port"}, {"raw_socket", raw_socket, ""},
    {"netlink_socket", netlink_socket, ""}, {"ptrace_parent", ptrace_parent, ""},
    {"fork_bomb", fork_bomb, ""}, {"alloc", alloc, ""},
    {"spin", spin, ""}, {"read_proc1_environ", read_proc1_environ, ""},
    {"env_secret", env_secret, "name"},
};

}  // namespace

AttemptOutcome attempt(const json& args) {
  const auto name = args.at("action").get<std::string>();
  auto it = std::ranges::find(kActions, name, &Action::name);
  if (it == std::end(kActions)) throw std::invalid_argument("attempt: unknown action '" + name + "'");
  if (!it->needs.empty() && !args.contains(it->needs))
    throw std::invalid_argument("attempt " + name + ": " + std::string(it->needs) + " is required");
  return it->run(args);
}

}  // namespace remora::hostile
