// ShardPlan: which host slot runs which agent of a graph spread over several hosts (Shards,
// docs/scale-out.md), and the part of the graph one slot runs. Agents are dealt round-robin over the
// slots in the graph's dependency order, so consecutive stages of a chain land on different hosts,
// except an agent that builds on another's edits (GraphSpec::builds_on): it goes with that agent.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "supervisor/graph_spec.hpp"

namespace remora::cluster {

struct ShardPlan {
  int hosts = 1;
  std::map<std::string, int> slot_of;  // agent id -> slot in [0, hosts)

  static ShardPlan deal(const GraphSpec& spec, int hosts);
  // This slot's agents, their `after` lists unchanged (a dependency on another slot's agent stays
  // named: the supervisor asks SupervisorOptions::remote_state about it), the other slots' agents
  // as GraphSpec::elsewhere.
  GraphSpec local(const GraphSpec& spec, int slot) const;
  bool remote(const std::string& agent, int slot) const { return slot_of.at(agent) != slot; }

  nlohmann::json to_json() const;
  static ShardPlan from_json(const nlohmann::json& j);
};

}  // namespace remora::cluster
