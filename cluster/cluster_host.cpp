#include "cluster/cluster_host.hpp"

#include <spdlog/spdlog.h>

#include "cluster/carried_review.hpp"
#include "cluster/cluster_keys.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "shared/fault_point.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora::cluster {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::set<std::string> kEnded{"completed", "failed", "cancelled", "skipped"};

}  // namespace

ClusterHost::ClusterHost(std::vector<std::string> urls, Options options)
    : opts_(std::move(options)), etcd_(urls, opts_.etcd), watch_etcd_(urls, opts_.etcd) {
  if (opts_.host.empty()) throw Error(Errc::invalid_argument, "a cluster run needs this host's name (--host)");
}

ClusterHost::~ClusterHost() {
  stop_ = true;
  cv_.notify_all();
  watch_etcd_.cancel_watches();
  for (auto* t : {&keep_alive_, &publisher_, &watcher_})
    if (t->joinable()) t->join();
}

GraphSpec ClusterHost::join(const GraphSpec& spec) {
  graph_ = spec.name;
  // The name is a segment of etcd key prefixes: one that held a '/' would overlap another graph's.
  if (!valid_name(graph_))
    throw Error(Errc::invalid_argument, "a cluster run's graph name is letters, digits, '.', '_' and '-'; '" +
                                            inert_text(graph_) + "' is not");
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto plan = ShardPlan::deal(spec, opts_.hosts).to_json();
    plan["at_ms"] = now_ms();  // when the run began, for its event stream (cluster_events.hpp)
    if (etcd_.create(ckeys::spec(graph_), {{ckeys::spec(graph_), spec.to_json().dump()},
                                           {ckeys::plan(graph_), plan.dump()}})) {
      spdlog::info("cluster: graph '{}' dealt over {} hosts", graph_, opts_.hosts);
      return claim(spec);
    }
    // A run of this graph is there. One under way (an agent not ended, or a host in it) is joined;
    // one that has ended gives way to this one: its keys go (unless another host got there first),
    // and the first to put the graph again deals it.
    std::int64_t plan_rev = 0;
    if (!run_ended(&plan_rev)) {
      spdlog::info("cluster: graph '{}' is in etcd already; running its part of that", graph_);
      return rejoin(graph_);
    }
    if (etcd_.erase_if_unchanged(ckeys::plan(graph_), plan_rev,
                                 {ckeys::graph_prefix(graph_), ckeys::question_prefix(graph_), ckeys::review_root(graph_)},
                                 ckeys::host_prefix(graph_)))  // and still no host in it
      spdlog::info("cluster: the previous run of graph '{}' had ended; it is cleared for this one", graph_);
  }
  throw Error(Errc::busy, "graph '" + graph_ + "' in etcd kept changing while this host tried to join it");
}

// Whether the graph's run in etcd has ended: every agent of its plan in an end state and no host
// holding a slot. Sets *plan_rev to the plan's revision (0 when there is none: nothing to join).
bool ClusterHost::run_ended(std::int64_t* plan_rev) {
  std::optional<ShardPlan> plan;
  std::map<std::string, std::string> states;
  bool hosts_in = false;
  const std::string agents = ckeys::agent_prefix(graph_);
  for (const auto& kv : etcd_.range_prefix(ckeys::graph_prefix(graph_))) {
    if (kv.key == ckeys::plan(graph_)) {
      plan = ShardPlan::from_json(json::parse(kv.value, nullptr, false));
      *plan_rev = kv.mod_revision;
    } else if (kv.key.starts_with(ckeys::host_prefix(graph_))) {
      hosts_in = true;
    } else if (kv.key.starts_with(agents)) {
      auto j = json::parse(kv.value, nullptr, false);
      if (j.is_object()) states[kv.key.substr(agents.size())] = j.value("state", "");
    }
  }
  if (!plan) return true;  // a graph put without its plan cannot be joined: it is replaced
  if (hosts_in) return false;
  for (const auto& [id, slot] : plan->slot_of)
    if (auto it = states.find(id); it == states.end() || !kEnded.count(it->second)) return false;
  return true;
}

GraphSpec ClusterHost::rejoin(const std::string& graph_name) {
  graph_ = graph_name;
  auto s = etcd_.get(ckeys::spec(graph_));
  if (!s) throw Error(Errc::not_found, "the etcd cluster holds no graph '" + graph_ + "'");
  return claim(GraphSpec::from_json(json::parse(s->value)));
}

// Takes this host's slot: the one it held before (by name), else the first free one. A slot is held
// by a key under this host's lease: it frees itself when the host dies and the lease expires.
GraphSpec ClusterHost::claim(const GraphSpec& full) {
  auto p = etcd_.get(ckeys::plan(graph_));
  if (!p) throw Error(Errc::corrupt, "graph '" + graph_ + "' in etcd has no plan");
  plan_ = ShardPlan::from_json(json::parse(p->value));
  const std::string mine = ckeys::graph_prefix(graph_) + "slot-of/" + opts_.host;
  const auto deadline = Clock::now() + std::chrono::seconds(3 * opts_.lease_ttl_s);
  for (;;) {
    // A lease for each attempt: one granted before a wait longer than its TTL has expired
    // (nothing keeps it alive until a slot is held; an unused one holds no key and just lapses).
    lease_ = etcd_.lease_grant(opts_.lease_ttl_s);
    // The slots' revision before this attempt: a slot freed after it (a host's lease expiring
    // deletes its slot key) shows in the watch below, which this host waits on, not a timer.
    std::int64_t seen = 0;
    etcd_.range_prefix(ckeys::host_prefix(graph_), &seen);
    if (auto held = etcd_.get(mine)) {  // this host ran here before: the same slot, its workspace holds its agents
      const int s = std::stoi(held->value);
      auto holder = etcd_.get(ckeys::host_slot(graph_, s));
      if (!holder || holder->value == opts_.host) {
        etcd_.put(ckeys::host_slot(graph_, s), opts_.host, lease_);
        slot_ = s;
        break;
      }
    } else {
      for (int s = 0; s < plan_.hosts && slot_ < 0; ++s)
        if (etcd_.create(ckeys::host_slot(graph_, s), opts_.host, lease_)) slot_ = s;
      if (slot_ >= 0) {
        etcd_.put(mine, std::to_string(slot_));
        break;
      }
    }
    if (Clock::now() > deadline)
      throw Error(Errc::busy, "no host slot of graph '" + graph_ + "' is free for host '" + opts_.host + "' (" +
                                  std::to_string(plan_.hosts) + " slots, each held by a live host)");
    watch_etcd_.watch_prefix(
        ckeys::host_prefix(graph_), seen + 1, [](const std::vector<WatchEvent>&) { return false; },
        [&] { return Clock::now() > deadline; });
  }
  spdlog::info("cluster: host '{}' holds slot {} of {} for graph '{}'", opts_.host, slot_, plan_.hosts, graph_);
  keep_alive_ = std::thread([this] { keep_alive_loop(); });
  return plan_.local(full, slot_);
}

void ClusterHost::keep_alive_loop() {
  const auto every = std::chrono::milliseconds(opts_.lease_ttl_s * 1000 / 3);
  std::unique_lock lk(mu_);
  while (!cv_.wait_for(lk, every, [&] { return stop_.load(); })) {
    lk.unlock();
    try {
      etcd_.lease_keep_alive(lease_);
    } catch (const Error& e) {
      // Expired while etcd was out of reach: a new lease, and the slot taken back under it, unless
      // another host took the slot meanwhile (its agents are that host's now): then this host stops
      // its run rather than run them twice.
      spdlog::warn("cluster: lease of host '{}' lost ({}); taking slot {} again", opts_.host, e.what(), slot_);
      try {
        lease_ = etcd_.lease_grant(opts_.lease_ttl_s);
        const auto key = ckeys::host_slot(graph_, slot_);
        if (!etcd_.create(key, opts_.host, lease_)) {
          auto holder = etcd_.get(key);
          if (holder && holder->value != opts_.host) {
            spdlog::error("cluster: slot {} was taken by host '{}' while this host was out of reach; stopping this "
                          "host's run", slot_, inert_text(holder->value));
            if (auto* sup = sup_.load()) sup->interrupt();
          } else {
            etcd_.put(key, opts_.host, lease_);
          }
        }
      } catch (const Error& again) {
        spdlog::error("cluster: etcd out of reach: {}", again.what());
      }
    }
    lk.lock();
  }
}

std::function<std::string(const std::string&)> ClusterHost::remote_state() {
  return [this](const std::string& id) {
    std::lock_guard lk(mu_);
    auto it = remote_.find(id);
    return it == remote_.end() ? std::string("pending") : it->second;
  };
}

void ClusterHost::attach(Supervisor& sup, Workspace& ws) {
  sup_ = &sup;
  auto sub = sup.bus().subscribe("*");
  catch_up(ws);
  std::int64_t rev = 0;
  for (const auto& kv : etcd_.range_prefix(ckeys::graph_prefix(graph_), &rev)) on_etcd(kv);
  publisher_ = std::thread([this, sub] { publish_loop(sub); });
  watcher_ = std::thread([this, rev] { watch_loop(rev + 1); });
}

void ClusterHost::catch_up(Workspace& ws) {
  ws_ = &ws;
  const auto base = ws.ns("base");
  // Messages to other hosts' agents that a crash kept from etcd, before any sender's end is
  // published again: an addressee that runs after its sender finds the message in etcd first.
  for (const auto& [k, e] : ws.list(base, keys::kRunOutgoing)) carry_message(k);
  // A resumed host publishes again what its workspace holds as ended: a publish its predecessor
  // did not get to is made now (a put of the same state changes nothing for the others).
  for (const auto& [id, slot] : plan_.slot_of) {
    if (slot != slot_) continue;
    auto e = ws.get(base, keys::run_agent(id));
    if (!e) continue;
    auto st = proto::decode<proto::AgentState>(e->value, keys::run_agent(id));
    if (kEnded.count(st.state)) publish_ended(st);
  }
}

// A put retried while etcd is out of reach (each try itself retries for EtcdClient::Options::retry_for).
bool ClusterHost::publish(const std::function<void()>& put) {
  for (int attempt = 1;; ++attempt) {
    try {
      put();
      return true;
    } catch (const Error& e) {
      if (e.code() != Errc::io || attempt == 3) {
        spdlog::error("cluster: could not publish to etcd: {}", e.what());
        publish_failed_ = true;
        return false;
      }
      spdlog::warn("cluster: etcd out of reach ({}); trying again", e.what());
    }
  }
}

// A completed agent's overlay goes to etcd with its state (one txn), so that a host that sees it
// completed finds its changes for the review (carried_review.hpp).
void ClusterHost::publish_ended(const proto::AgentState& st) {
  std::pair<std::string, std::string> state{ckeys::agent(graph_, st.id),
                                            json{{"state", st.state}, {"host", opts_.host}, {"at_ms", st.ended_at_ms}}.dump()};
  if (st.state == "completed")
    publish([&] { publish_changes(etcd_, graph_, carry_out(*ws_, st, opts_.host), {state}); });
  else
    publish([&] { etcd_.put(state.first, state.second); });
}

// A message one of this host's agents sent to another host's (run:outgoing:<from>:<id>, committed
// by the supervisor) into etcd, once (create-if-absent), then gone from the workspace.
void ClusterHost::carry_message(const std::string& key) {
  auto base = ws_->ns(keys::kBase);
  auto e = ws_->get(base, key);
  if (!e) return;  // carried already
  const auto m = proto::decode<proto::Message>(e->value, key);
  fault_point("cluster:message_unsent");  // committed here, not yet in etcd
  if (!publish([&] { etcd_.create(ckeys::message(graph_, m.to_agent, m.from_agent, m.id), e->value); })) return;
  ws_->write([&](WriteTxn& t) { t.del(base, key); });
}

void ClusterHost::publish_loop(std::shared_ptr<Subscription> sub) {
  while (auto e = sub->next()) {
    if (e->category != "agent" || e->agent_id.empty()) continue;
    const auto payload = json::parse(e->payload_json, nullptr, false);
    if (e->action == "blocked" && payload.is_object() && payload.contains("question_id")) {
      const std::string qid = payload["question_id"];
      std::optional<std::string> answer;
      {
        std::lock_guard lk(mu_);
        local_questions_.insert(qid);
        if (auto it = answers_.find(qid); it != answers_.end() && answered_.insert(qid).second) answer = it->second;
      }
      if (answer) {  // answered in etcd before this supervisor asked it again (a resumed host)
        sup_.load()->answer(qid, *answer);
        continue;
      }
      json q = {{"graph", graph_}, {"host", opts_.host}, {"agent", e->agent_id}, {"at_ms", e->timestamp_ms},
                {"question", payload.value("question", "")}, {"options", payload.value("options", json::array())}};
      publish([&] { etcd_.put(ckeys::question(graph_, qid), q.dump()); });
    } else if (e->action == "message" && payload.is_object() && payload.value("remote", false)) {
      carry_message(keys::run_outgoing(e->agent_id, payload.value("message_id", "")));
    } else if (e->action == "started") {
      publish([&] { etcd_.put(ckeys::agent(graph_, e->agent_id), json{{"state", "running"}, {"host", opts_.host}, {"at_ms", e->timestamp_ms}}.dump()); });
    } else if (kEnded.count(e->action)) {
      const auto key = keys::run_agent(e->agent_id);
      if (auto rec = ws_->get(ws_->ns(keys::kBase), key)) publish_ended(proto::decode<proto::AgentState>(rec->value, key));
    }
  }
}

void ClusterHost::on_etcd(const KeyValue& kv) {
  const std::string agents = ckeys::agent_prefix(graph_), answers = ckeys::answer_prefix(graph_);
  std::optional<std::pair<std::string, std::string>> to_answer;
  std::optional<proto::Message> to_deliver;
  bool changed = false;
  {
    std::lock_guard lk(mu_);
    if (kv.key.starts_with(agents)) {
      const std::string id = kv.key.substr(agents.size());
      if (plan_.slot_of.count(id) && plan_.remote(id, slot_)) {
        auto j = json::parse(kv.value, nullptr, false);
        if (j.is_object()) {
          remote_[id] = j.value("state", "pending");
          changed = true;
        }
      }
    } else if (kv.key.starts_with(ckeys::message_prefix(graph_))) {
      try {
        auto m = proto::decode<proto::Message>(kv.value, kv.key);
        if (plan_.slot_of.count(m.to_agent) && !plan_.remote(m.to_agent, slot_)) to_deliver = std::move(m);
      } catch (const std::exception& err) {
        spdlog::warn("cluster: ignoring a message in etcd that does not decode: {}", err.what());
      }
    } else if (kv.key.starts_with(answers)) {
      const std::string qid = kv.key.substr(answers.size());
      answers_[qid] = kv.value;
      if (local_questions_.count(qid) && answered_.insert(qid).second) to_answer.emplace(qid, kv.value);
    }
  }
  if (to_deliver && sup_) sup_.load()->deliver(std::move(*to_deliver));
  if (changed && sup_) sup_.load()->remote_changed(kv.key.substr(agents.size()));
  if (to_answer && sup_) sup_.load()->answer(to_answer->first, to_answer->second);
}

void ClusterHost::watch_loop(std::int64_t from) {
  try {
    watch_etcd_.watch_prefix(ckeys::graph_prefix(graph_), from, [this](const std::vector<WatchEvent>& evs) {
      for (const auto& e : evs)
        if (!e.deleted) on_etcd(e.kv);
      return true;
    }, [this] { return stop_.load(); });
  } catch (const Error& e) {
    spdlog::error("cluster: stopped following etcd: {}", e.what());
  }
}

bool ClusterHost::finish() {
  if (finished_) return !publish_failed_;
  finished_ = true;
  if (publisher_.joinable()) publisher_.join();  // ends once the supervisor's bus is closed and drained
  stop_ = true;
  cv_.notify_all();
  watch_etcd_.cancel_watches();  // now, not at the watch's next poll
  if (watcher_.joinable()) watcher_.join();
  if (keep_alive_.joinable()) keep_alive_.join();
  try {
    etcd_.lease_revoke(lease_);
  } catch (const Error& e) {
    spdlog::warn("cluster: could not give slot {} up ({}); it frees itself when its lease expires", slot_, e.what());
  }
  return !publish_failed_;
}

}  // namespace remora::cluster
