// ClusterHost: one host's part in a graph spread over several hosts through etcd (Shards,
// docs/scale-out.md). It puts the graph and its plan in etcd (first writer wins), claims a host slot
// under a lease kept alive while it runs, and, beside the host's own supervisor: publishes the states
// of its agents and the questions they ask, and follows the other hosts' agent states and the answers
// given from anywhere (one watch, resumed from its last revision across etcd members); and carries
// messages between its agents and other hosts' both ways.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd_client.hpp"
#include "cluster/shard_plan.hpp"
#include "shared/workspace.hpp"
#include "supervisor/graph_spec.hpp"
#include "supervisor/supervisor.hpp"

namespace remora::cluster {

class ClusterHost {
 public:
  struct Options {
    std::string host;   // this host's name (--host)
    int hosts = 1;      // how many hosts the graph is dealt over (--hosts), if this host deals it
    int lease_ttl_s = 5;
    EtcdClient::Options etcd;
  };
  ClusterHost(std::vector<std::string> urls, Options options);
  ~ClusterHost();

  // Puts spec and its plan in etcd unless a run of that graph is under way there (then those
  // stand; a run that has ended is cleared first), claims this host's slot and returns the part of
  // the graph it runs.
  GraphSpec join(const GraphSpec& spec);
  // The same for a host that resumes: the graph is read from etcd.
  GraphSpec rejoin(const std::string& graph_name);

  int slot() const { return slot_; }
  const ShardPlan& plan() const { return plan_; }
  // For SupervisorOptions::remote_state: what etcd last said of another host's agent.
  std::function<std::string(const std::string&)> remote_state();

  // Before sup.run(): catches up (below), then follows sup's events and etcd until finish().
  void attach(Supervisor& sup, Workspace& ws);
  // What a host killed after its supervisor's commits may have left undone, done now: messages to
  // other hosts' agents (run:outgoing:) carried into etcd, and the states ws holds as ended
  // published again. `remora resume` of a run that had ended does this alone, with no supervisor.
  void catch_up(Workspace& ws);
  // After sup.run() returned: waits until every state is published (bounded by the etcd client's
  // retry time), stops following etcd and gives the slot up. False if something was not published.
  // Called again, it only says the same.
  bool finish();

 private:
  GraphSpec claim(const GraphSpec& full);
  bool run_ended(std::int64_t* plan_rev);
  void keep_alive_loop();
  void publish_loop(std::shared_ptr<Subscription> sub);
  void watch_loop(std::int64_t from);
  void on_etcd(const KeyValue& kv);
  bool publish(const std::function<void()>& put);
  void publish_ended(const proto::AgentState& st);
  void carry_message(const std::string& outgoing_key);

  Options opts_;
  EtcdClient etcd_;       // requests of the joining and publishing threads
  EtcdClient watch_etcd_; // the watch's own connection
  std::string graph_;
  ShardPlan plan_;
  int slot_ = -1;
  std::atomic<std::int64_t> lease_{0};
  std::atomic<Supervisor*> sup_{nullptr};  // set by attach; the keep-alive thread runs before it
  Workspace* ws_ = nullptr;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> remote_;    // agent -> state, from etcd
  std::set<std::string> local_questions_;        // asked by this host's agents
  std::map<std::string, std::string> answers_;   // qid -> answer, from etcd
  std::set<std::string> answered_;               // handed to the supervisor
  std::atomic<bool> stop_{false};
  std::atomic<bool> publish_failed_{false};
  bool finished_ = false;
  std::thread keep_alive_, publisher_, watcher_;
};

}  // namespace remora::cluster
