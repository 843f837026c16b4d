// The one ordered event stream of a cluster run: etcd's own history of the run's keys, in etcd
// revision order (every host's agent states, messages between hosts, questions, answers, hosts
// joining and leaving, changes published for review), read as remora events. Nothing is written for it: etcd's MVCC
// history is the log, and a watch from revision 1 replays it (until etcd compacts it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cluster/etcd_client.hpp"
#include "proto/records.hpp"

namespace remora::cluster {

struct ClusterEventsOptions {
  std::int64_t from = 1;   // first etcd revision
  bool follow = false;     // go on as etcd commits more
  bool until_end = false;  // with follow: stop once every agent of the graph has ended
};

// Calls fn with the graph's events in revision order (category:action as a host's own log has
// them: graph:dealt, host:joined|left, agent:<state>, agent:message (between hosts),
// question:asked|answered, review:published;
// the host in the payload). Without follow, ends at the store's current revision. Error(not_found)
// when etcd holds no such graph; Error(compacted) when its history before `from` is gone.
void cluster_events(EtcdClient& etcd, const std::string& graph, const ClusterEventsOptions& opts,
                    const std::function<void(const proto::Event&)>& fn);

}  // namespace remora::cluster
