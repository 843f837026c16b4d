#include "tests/etcd_cluster.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace remora::test {
namespace {

// Ports outside the kernel's range for outgoing connections (ip_local_port_range): one of them is
// never taken by a client socket before an etcd member listens on it or while it is down. Below
// the range (up to 12,000 ports) when there is room there, above it otherwise.
std::pair<int, int> ports_outside_the_ephemeral_range() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768, high = 60999;
  in >> low >> high;
  constexpr int kEnough = 1000;
  if (low - 1024 >= kEnough) return {std::max(1024, low - 12000), low};
  if (65535 - high >= kEnough) return {high + 1, 65536};
  throw std::runtime_error("ip_local_port_range " + std::to_string(low) + "-" + std::to_string(high) +
                           " leaves too few ports outside it for the test etcd clusters");
}

bool bindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// The last `bytes` of a member's log, for an error that says why it did not start.
std::string tail(const std::filesystem::path& p, std::size_t bytes = 2000) {
  std::string text = read_text(p);
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace

ReservedPort::ReservedPort() {
  // One directory per user: another user's lock files, in a shared temporary directory, would not
  // open for us.
  static const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("remora-test-ports-" + std::to_string(::getuid()));
  std::filesystem::create_directories(dir);
  static const std::pair<int, int> range = ports_outside_the_ephemeral_range();
  const int low = range.first, end = range.second, span = end - low;
  std::random_device rd;
  const int start = static_cast<int>(rd() % static_cast<unsigned>(span));
  for (int i = 0; i < span; ++i) {
    const int port = low + (start + i) % span;
    int fd = ::open((dir / std::to_string(port)).c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot open " + (dir / std::to_string(port)).string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && bindable(port)) {
      fd_ = fd;
      port_ = port;
      return;
    }
    ::close(fd);
  }
  throw std::runtime_error("no free loopback port in " + std::to_string(low) + "-" + std::to_string(end - 1));
}

ReservedPort::~ReservedPort() {
  if (fd_ >= 0) ::close(fd_);
}

bool EtcdCluster::available() { return ::access(kEtcd, X_OK) == 0; }

EtcdCluster::EtcdCluster(int members, std::chrono::seconds ready_within) {
  if (!available()) throw std::runtime_error(std::string(kEtcd) + " is not installed (Debian's etcd-server)");
  for (int i = 0; i < members; ++i) {
    Member m;
    m.name = "m" + std::to_string(i);
    m.client_port = std::make_unique<ReservedPort>();
    m.peer_port = std::make_unique<ReservedPort>();
    m.data_dir = dir_ / m.name;
    if (!initial_cluster_.empty()) initial_cluster_ += ",";
    initial_cluster_ += m.name + "=" + url(m.peer_port->port());
    members_.push_back(std::move(m));
  }
  try {
    for (auto& m : members_) start(m, false);
    for (int i = 0; i < size(); ++i) wait_healthy(i, ready_within);
  } catch (...) {
    stop();
    throw;
  }
}

EtcdCluster::~EtcdCluster() { stop(); }

void EtcdCluster::stop() {
  for (auto& m : members_) {
    if (!m.proc || !m.proc->running()) continue;
    ::kill(m.proc->pid(), SIGTERM);
    m.proc->wait();
  }
}

void EtcdCluster::start(Member& m, bool existing) {
  std::vector<std::string> args = {
      "--name", m.name, "--data-dir", m.data_dir.string(),
      "--listen-client-urls", url(m.client_port->port()), "--advertise-client-urls", url(m.client_port->port()),
      "--listen-peer-urls", url(m.peer_port->port()), "--initial-advertise-peer-urls", url(m.peer_port->port()),
      "--initial-cluster", initial_cluster_, "--initial-cluster-token", "remora-test",
      "--initial-cluster-state", existing ? "existing" : "new",
      // Faster elections than the defaults (100 ms / 1 s), on loopback where round trips are short.
      "--heartbeat-interval", "50", "--election-timeout", "500"};
  m.proc = std::make_unique<Child>(kEtcd, args, dir_ / (m.name + ".log"));
}

std::string EtcdCluster::client_url(int i) const { return url(members_.at(i).client_port->port()); }

std::string EtcdCluster::urls() const {
  std::string out;
  for (int i = 0; i < size(); ++i) out += (i ? "," : "") + client_url(i);
  return out;
}

bool EtcdCluster::healthy(int i) const {
  httplib::Client c("127.0.0.1", members_.at(i).client_port->port());
  c.set_connection_timeout(std::chrono::milliseconds(500));
  c.set_read_timeout(std::chrono::seconds(2));
  auto r = c.Get("/health");
  return r && r->status == 200 && r->body.find("\"true\"") != std::string::npos;
}

void EtcdCluster::wait_healthy(int i, std::chrono::seconds within) const {
  const auto& m = members_.at(i);
  auto log = dir_ / (m.name + ".log");
  auto deadline = std::chrono::steady_clock::now() + within;
  while (!healthy(i)) {
    if (!m.proc->running())
      throw std::runtime_error("etcd member " + m.name + " exited while starting; the end of " + log.string() +
                               ":\n" + tail(log));
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("etcd member " + m.name + " not healthy within " + std::to_string(within.count()) +
                               " s; the end of " + log.string() + ":\n" + tail(log));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void EtcdCluster::kill(int i) {
  auto& m = members_.at(i);
  if (!m.proc) return;
  m.proc->kill9();
  m.proc->wait();
  m.proc.reset();
}

void EtcdCluster::restart(int i) {
  auto& m = members_.at(i);
  if (m.proc) return;
  start(m, true);
  wait_healthy(i, std::chrono::seconds(30));
}

void EtcdCluster::restart_all() {
  for (auto& m : members_)
    if (!m.proc) start(m, true);
  for (int i = 0; i < size(); ++i) wait_healthy(i, std::chrono::seconds(30));
}

}  // namespace remora::test
