#include "cluster/cluster_events.hpp"

#include <chrono>
#include <set>

#include <nlohmann/json.hpp>

#include "cluster/cluster_keys.hpp"
#include "cluster/shard_plan.hpp"
#include "proto/codec.hpp"
#include "shared/error.hpp"

namespace remora::cluster {

namespace {

using json = nlohmann::json;
const std::set<std::string> kEnded{"completed", "failed", "cancelled", "skipped"};

json object_or_empty(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json::object();
}

}  // namespace

void cluster_events(EtcdClient& etcd, const std::string& graph, const ClusterEventsOptions& opts,
                    const std::function<void(const proto::Event&)>& fn) {
  std::int64_t head = 0;
  auto plan_kv = etcd.get(ckeys::plan(graph));
  if (!plan_kv) throw Error(Errc::not_found, "the etcd cluster holds no run of graph " + graph);
  const auto plan = ShardPlan::from_json(object_or_empty(plan_kv->value));
  etcd.range_prefix(ckeys::plan(graph), &head);  // the store's revision now

  const std::string g = ckeys::graph_prefix(graph), review = ckeys::review_prefix(graph);
  std::set<std::string> ended;  // of the run whose graph:dealt came last
  std::size_t run_agents = plan.slot_of.size();
  std::int64_t last_ms = 0;
  bool all_ended = false;
  auto to_event = [&](const WatchEvent& w) -> std::optional<proto::Event> {
    const auto& kv = w.kv;
    proto::Event e;
    e.revision = static_cast<std::uint64_t>(kv.mod_revision);
    e.graph_id = graph;
    json payload = json::object();
    const json v = w.deleted ? json::object() : object_or_empty(kv.value);
    if (kv.key == ckeys::plan(graph) && !w.deleted) {  // a run begins (an earlier one's history comes first)
      const auto dealt = ShardPlan::from_json(v);
      e.category = "graph", e.action = "dealt";
      payload["hosts"] = dealt.hosts;
      payload["agents"] = dealt.slot_of.size();
      run_agents = dealt.slot_of.size();
      ended.clear();
    } else if (kv.key.starts_with(ckeys::host_prefix(graph))) {
      e.category = "host", e.action = w.deleted ? "left" : "joined";
      payload["slot"] = kv.key.substr(ckeys::host_prefix(graph).size());
      if (!w.deleted) payload["host"] = kv.value;
    } else if (kv.key.starts_with(ckeys::agent_prefix(graph)) && !w.deleted) {
      e.category = "agent", e.action = v.value("state", "unknown");
      e.agent_id = kv.key.substr(ckeys::agent_prefix(graph).size());
      payload["host"] = v.value("host", "");
      if (kEnded.count(e.action)) ended.insert(e.agent_id);
    } else if (kv.key.starts_with(ckeys::answer_prefix(graph)) && !w.deleted) {
      e.category = "question", e.action = "answered";
      payload["question_id"] = kv.key.substr(ckeys::answer_prefix(graph).size());
      payload["answer"] = kv.value;
    } else if (kv.key.starts_with(ckeys::question_prefix(graph)) && !w.deleted) {
      e.category = "question", e.action = "asked";
      e.agent_id = v.value("agent", "");
      payload["question_id"] = kv.key.substr(ckeys::question_prefix(graph).size());
      payload["host"] = v.value("host", "");
      payload["question"] = v.value("question", "");
    } else if (kv.key.starts_with(ckeys::message_prefix(graph)) && !w.deleted) {
      proto::Message m;
      try {
        m = proto::decode<proto::Message>(kv.value, kv.key);
      } catch (const std::exception&) {
        return std::nullopt;  // not one remora wrote
      }
      e.category = "agent", e.action = "message";
      e.agent_id = m.from_agent;
      payload["to"] = m.to_agent;
      payload["message_id"] = m.id;
      last_ms = m.sent_at_ms;
    } else if (kv.key.starts_with(review) && !w.deleted) {
      e.category = "review", e.action = "published";
      e.agent_id = kv.key.substr(review.size());
      payload["host"] = v.value("host", "");
    } else {
      return std::nullopt;  // the spec, slot names, review parts, other graphs, a run cleared
    }
    // etcd keeps no time; the hosts stamp what they put (at_ms), the rest takes the time before it.
    if (v.contains("at_ms") && v["at_ms"].is_number_integer()) last_ms = v["at_ms"].get<std::int64_t>();
    e.timestamp_ms = last_ms;
    e.payload_json = payload.dump(-1, ' ', false, json::error_handler_t::replace);  // etcd's bytes need not be UTF-8
    return e;
  };
  // Without follow the replay ends at the event of the store's revision now, or, when that last
  // write was not the run's (another application's key), once the replay has gone quiet.
  using Clock = std::chrono::steady_clock;
  constexpr auto kQuiet = std::chrono::milliseconds(1000);
  auto progress = Clock::now();
  etcd.watch_prefix("/remora/", std::max<std::int64_t>(opts.from, 1), [&](const std::vector<WatchEvent>& evs) {
    progress = Clock::now();
    for (const auto& w : evs)  // a revision's events come in one batch: all of them, then the checks
      if (auto e = to_event(w)) fn(*e);
    if (!opts.follow && !evs.empty() && evs.back().kv.mod_revision >= head) return false;
    all_ended = ended.size() >= run_agents;
    return !(opts.follow && opts.until_end && all_ended);
  }, [&] { return !opts.follow && Clock::now() - progress > kQuiet; }, opts.follow ? std::chrono::milliseconds(1000) : kQuiet);
}

}  // namespace remora::cluster
