#include "cluster/shard_plan.hpp"

#include "shared/error.hpp"

namespace remora::cluster {

ShardPlan ShardPlan::deal(const GraphSpec& spec, int hosts) {
  if (hosts < 1) throw Error(Errc::invalid_argument, "--hosts must be at least 1");
  ShardPlan p;
  p.hosts = hosts;
  int next = 0;
  for (const auto& id : spec.topo_order()) {
    // An agent that builds on another's edits reads through its overlay: it runs on that host.
    if (auto on = spec.builds_on(*spec.agent(id))) p.slot_of[id] = p.slot_of.at(*on);
    else p.slot_of[id] = next++ % hosts;
  }
  return p;
}

GraphSpec ShardPlan::local(const GraphSpec& spec, int slot) const {
  GraphSpec out = spec;
  std::erase_if(out.agents, [&](const AgentSpec& a) { return slot_of.at(a.id) != slot; });
  for (const auto& [id, s] : slot_of)
    if (s != slot) out.elsewhere.insert(id);
  std::map<std::string, Bundle> used;
  for (const auto& a : out.agents) used.emplace(a.bundle, spec.bundles.at(a.bundle));
  out.bundles = std::move(used);
  return out;
}

nlohmann::json ShardPlan::to_json() const { return {{"hosts", hosts}, {"slot_of", slot_of}}; }

ShardPlan ShardPlan::from_json(const nlohmann::json& j) {
  ShardPlan p;
  try {
    p.hosts = j.at("hosts").get<int>();
    p.slot_of = j.at("slot_of").get<std::map<std::string, int>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(Errc::corrupt, std::string("the cluster's assignment of agents to hosts does not decode: ") + e.what());
  }
  return p;
}

}  // namespace remora::cluster
