#include "tests/etcd_cluster.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <stdexcept>
#include <thread>

namespace remora::test {
namespace {

// A port nothing listens on now (the kernel's choice for a socket bound to port 0).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("no free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace

bool EtcdCluster::available() { return ::access(kEtcd, X_OK) == 0; }

EtcdCluster::EtcdCluster(int members, std::chrono::seconds ready_within) {
  if (!available()) throw std::runtime_error(std::string(kEtcd) + " is not installed (Debian's etcd-server)");
  for (int i = 0; i < members; ++i) {
    Member m;
    m.name = "m" + std::to_string(i);
    m.client_port = free_port();
    m.peer_port = free_port();
    m.data_dir = dir_ / m.name;
    if (!initial_cluster_.empty()) initial_cluster_ += ",";
    initial_cluster_ += m.name + "=" + url(m.peer_port);
    members_.push_back(std::move(m));
  }
  for (auto& m : members_) start(m, false);
  for (int i = 0; i < size(); ++i) wait_healthy(i, ready_within);
}

EtcdCluster::~EtcdCluster() {
  for (auto& m : members_) {
    if (!m.proc) continue;
    ::kill(m.proc->pid(), SIGTERM);
    m.proc->wait();
  }
}

void EtcdCluster::start(Member& m, bool existing) {
  std::vector<std::string> args = {
      "--name", m.name, "--data-dir", m.data_dir.string(),
      "--listen-client-urls", url(m.client_port), "--advertise-client-urls", url(m.client_port),
      "--listen-peer-urls", url(m.peer_port), "--initial-advertise-peer-urls", url(m.peer_port),
      "--initial-cluster", initial_cluster_, "--initial-cluster-token", "remora-test",
      "--initial-cluster-state", existing ? "existing" : "new",
      // Faster elections than the defaults (100 ms / 1 s), on loopback where round trips are short.
      "--heartbeat-interval", "50", "--election-timeout", "500"};
  m.proc = std::make_unique<Child>(kEtcd, args, dir_ / (m.name + ".log"));
}

std::string EtcdCluster::client_url(int i) const { return url(members_.at(i).client_port); }

std::string EtcdCluster::urls() const {
  std::string out;
  for (int i = 0; i < size(); ++i) out += (i ? "," : "") + client_url(i);
  return out;
}

bool EtcdCluster::healthy(int i) const {
  httplib::Client c("127.0.0.1", members_.at(i).client_port);
  c.set_connection_timeout(std::chrono::milliseconds(500));
  c.set_read_timeout(std::chrono::seconds(2));
  auto r = c.Get("/health");
  return r && r->status == 200 && r->body.find("\"true\"") != std::string::npos;
}

void EtcdCluster::wait_healthy(int i, std::chrono::seconds within) const {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (!healthy(i)) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("etcd member " + members_.at(i).name + " not healthy within " +
                               std::to_string(within.count()) + " s; see " + (dir_ / (members_.at(i).name + ".log")).string());
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
