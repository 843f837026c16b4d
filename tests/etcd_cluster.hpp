// EtcdCluster: a real 3-member etcd cluster on loopback ports for the tests and benchmarks labelled
// `cluster`; each member has its own data directory in a temporary directory, all stopped and removed
// when it is destroyed. Members can be killed and restarted, to test failover.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/test_support.hpp"

namespace remora::test {

// A loopback port held for this object's life: outside the kernel's range for outgoing connections
// (so no client socket takes it before its server listens or while it is down) and locked in a
// file under the temporary directory (so no concurrent test process picks it too).
class ReservedPort {
 public:
  ReservedPort();
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class EtcdCluster {
 public:
  static constexpr const char* kEtcd = "/usr/bin/etcd";
  // Whether etcd is installed (Debian's etcd-server); tests skip with a message when it is not.
  static bool available();

  // Starts `members` members and waits (bounded) until each answers /health; throws, with the end of
  // its log, if one exits or does not answer in time.
  explicit EtcdCluster(int members = 3, std::chrono::seconds ready_within = std::chrono::seconds(30));
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  std::string client_url(int i) const;
  std::string urls() const;  // every member's client URL, comma-separated (what --cluster takes)

  void kill(int i);     // SIGKILL, as a crash
  void restart(int i);  // after kill(): the same member with its data directory, rejoining
  void restart_all();   // after every member was killed: all started again, then waited for (one alone has no quorum)
  bool healthy(int i) const;

 private:
  struct Member {
    std::string name;
    std::unique_ptr<ReservedPort> client_port, peer_port;
    std::filesystem::path data_dir;
    std::unique_ptr<Child> proc;
  };
  void start(Member& m, bool existing);
  void stop();  // every running member, terminated and waited for
  void wait_healthy(int i, std::chrono::seconds within) const;

  TempDir dir_;
  std::vector<Member> members_;
  std::string initial_cluster_;
};

}  // namespace remora::test
