// Carrying a cluster run's completed agents to one review host (docs/scale-out.md): the host that
// ran an agent publishes its overlay's file: entries to etcd, with the version of each file the
// agent started from; `remora diff|accept|reject --cluster` on any host's workspace pulls them in
// as overlays of that workspace, whose seen revisions are mapped onto its own base, so that accept
// there is the same atomic, stale-base-safe merge as for its own agents.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cluster/etcd_client.hpp"
#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora::cluster {

// The agent's overlay file: entries and what each saw below it, and its result (agent:<id>:result),
// read on the host that ran it.
proto::AgentChanges carry_out(const Workspace& ws, const proto::AgentState& agent, const std::string& host);

// Puts them in as agent's overlay and its run:agent record, in t (one agent per transaction: an
// ancestor it keeps is of t's revision). False when the workspace holds that agent already (its
// own, or carried before). Over the overlay of the agent it builds on when that is here, else over
// base (that agent rejected, or not pulled: its edits are then not part of this one's view).
bool carry_in(WriteTxn& t, const proto::AgentChanges& changes);

// Publishes them under /remora/review/<graph>/: parts of at most kPartBytes (a put stays under
// etcd's 1.5 MiB request limit), the last in one txn with the part count and the puts in `with`
// (the agent's state: one raft write for both, for all but large changes), unless that count is
// there already (then all of it is).
inline constexpr std::size_t kPartBytes = std::size_t{768} << 10;
void publish_changes(EtcdClient& etcd, const std::string& graph, const proto::AgentChanges& changes,
                     std::vector<std::pair<std::string, std::string>> with = {});

struct Pulled {
  std::vector<std::string> agents;  // carried in now, in the order they were
};
// Carries in every agent of ws's cluster run that etcd holds and ws does not, one transaction
// each, an agent after the one it builds on.
// Error(not_found) when ws holds no run; Error(corrupt) naming the key of a record that does not decode.
Pulled pull_changes(EtcdClient& etcd, Workspace& ws);

}  // namespace remora::cluster
