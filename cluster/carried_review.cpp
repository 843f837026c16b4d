#include "cluster/carried_review.hpp"

#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "cluster/cluster_keys.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/error.hpp"
#include "supervisor/graph_spec.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora::cluster {

namespace {

using json = nlohmann::json;
using proto::CarriedEntry;

// run:base_file:<rev>:<path> for a file: key, or none when the path is too long to be kept
// (review.cpp's keep_base_version keeps none either).
std::optional<std::string> kept_key(std::uint64_t rev, const std::string& key) {
  auto k = keys::run_base_file(rev, std::string_view(key).substr(keys::kFile.size()));
  return keys::valid_key(k) ? std::optional(std::move(k)) : std::nullopt;
}

}  // namespace

proto::AgentChanges carry_out(const Workspace& ws, const proto::AgentState& agent, const std::string& host) {
  proto::AgentChanges out;
  out.agent = agent;
  out.host = host;
  const auto overlay = ws.find_ns(agent.ns);
  if (!overlay) return out;
  const auto base = ws.ns(keys::kBase);
  const auto parent = ws.find_ns(agent.parent_ns).value_or(base);
  std::vector<Namespace> below;  // the overlays it reads through
  for (const auto& info : ws.namespaces())
    if (info.id != 0 && info.id != overlay->id &&
        std::find(overlay->chain.begin(), overlay->chain.end(), info.id) != overlay->chain.end())
      below.push_back(ws.ns(info.name));
  ws.read([&](const Reader& r) {
    std::set<std::string> decided_below;  // keys an overlay below holds a value or tombstone for
    for (const auto& ns : below)
      for (auto& e : r.own_entries(ns, keys::kFile))
        if (e.kind != OwnEntry::Kind::read) decided_below.insert(std::move(e.key));
    auto entries = r.own_entries(*overlay, keys::kFile);
    for (auto& e : r.own_entries(*overlay, keys::result(agent.id)))  // its summary and counts, for status
      if (e.key == keys::result(agent.id) && e.kind == OwnEntry::Kind::value) entries.push_back(std::move(e));
    for (auto& e : entries) {
      CarriedEntry c;
      c.key = e.key;
      c.kind = static_cast<std::uint8_t>(e.kind);
      c.value.data = std::move(e.value);
      if (e.seen_rev == 0) {
        c.saw = CarriedEntry::saw_nothing;
      } else if (decided_below.count(e.key)) {
        c.saw = CarriedEntry::saw_overlay;  // with what that overlay holds (none: a tombstone), in
        if (auto v = r.get(parent, e.key)) c.ancestor.data = std::move(v->value);  // case it is gone there
      } else if (auto now = r.get(base, e.key); now && now->mod_rev == e.seen_rev) {
        c.saw = CarriedEntry::saw_base;
        c.ancestor.data = std::move(now->value);
      } else if (auto k = kept_key(e.seen_rev, e.key); auto kept = k ? r.get(base, *k) : std::nullopt) {
        c.saw = CarriedEntry::saw_base;  // base moved since; the version it started from was kept
        c.ancestor.data = std::move(kept->value);
      } else {
        c.saw = CarriedEntry::saw_unknown;
      }
      out.entries.push_back(std::move(c));
    }
  });
  return out;
}

bool carry_in(WriteTxn& t, const proto::AgentChanges& c) {
  const auto base = *t.find_ns(keys::kBase);
  auto a = c.agent;
  if (t.get(base, keys::run_agent(a.id))) return false;
  // It reads through the overlay of the agent it builds on when that is here (pulled before it, or
  // this host's own); one rejected (dropped) or never pulled is not: then over base.
  std::optional<Namespace> parent;
  if (a.parent_ns != keys::kBase) {
    if (auto on = keys::agent_of_ns(a.parent_ns); on && t.get(base, keys::run_agent(*on))) parent = t.find_ns(a.parent_ns);
    if (!parent) a.parent_ns = std::string(keys::kBase);
  }
  const auto ns = t.create_ns(a.ns, a.parent_ns);
  // The version of base that holds what the agent started from: base's now when it holds those
  // bytes, else that version kept as of this transaction's revision (one transaction per agent, so
  // never another agent's), for a three-way merge. An empty ancestor: the file was not there.
  auto base_seen = [&](const std::string& key, const std::string& ancestor) -> std::uint64_t {
    if (ancestor.empty()) return 0;
    if (auto now = t.get(base, key); now && now->value == ancestor) return now->mod_rev;
    if (auto k = kept_key(t.revision(), key)) t.put(base, *k, ancestor);
    return t.revision();
  };
  for (const auto& e : c.entries) {
    if ((!e.key.starts_with(keys::kFile) && e.key != keys::result(a.id)) || e.kind > 2)
      throw Error(Errc::corrupt, "agent " + a.id + " from host " + c.host + " carries an entry that is neither a file "
                                 "nor its result: " + e.key);
    OwnEntry o{e.key, static_cast<OwnEntry::Kind>(e.kind), e.value.data, 0};
    switch (e.saw) {
      case CarriedEntry::saw_nothing: o.seen_rev = 0; break;
      case CarriedEntry::saw_overlay:
        // The overlay below still decides the key: it saw that. Accepted (merged into base) or
        // dropped since: what it held is the ancestor in base, as for saw_base.
        if (parent && t.version(*parent, e.key) != t.version(base, e.key))
          o.seen_rev = t.version(*parent, e.key);
        else
          o.seen_rev = base_seen(e.key, e.ancestor.data);
        break;
      case CarriedEntry::saw_base: o.seen_rev = base_seen(e.key, e.ancestor.data); break;
      default: o.seen_rev = t.revision(); break;  // unknown: nothing kept, so a stale base if base differs
    }
    t.put_own(ns, o);
  }
  t.put(base, keys::run_agent(a.id), proto::encode(a));
  return true;
}

void publish_changes(EtcdClient& etcd, const std::string& graph, const proto::AgentChanges& c,
                     std::vector<std::pair<std::string, std::string>> with) {
  const std::string bytes = proto::encode(c);
  const std::size_t parts = std::max<std::size_t>(1, (bytes.size() + kPartBytes - 1) / kPartBytes);
  for (std::size_t n = 0; n + 1 < parts; ++n)  // all but the last, each a put of its own
    etcd.put(ckeys::review_part(graph, c.agent.id, n), bytes.substr(n * kPartBytes, kPartBytes));
  const auto manifest = ckeys::review(graph, c.agent.id);
  with.emplace_back(ckeys::review_part(graph, c.agent.id, parts - 1), bytes.substr((parts - 1) * kPartBytes));
  with.emplace_back(manifest, json{{"parts", parts}, {"bytes", bytes.size()}, {"host", c.host},
                                   {"at_ms", c.agent.ended_at_ms}}.dump());
  etcd.create(manifest, with);  // published before (a resumed host): all of it is there already
}

Pulled pull_changes(EtcdClient& etcd, Workspace& ws) {
  const auto base = ws.ns(keys::kBase);
  auto run = ws.get(base, keys::kRunGraph);
  if (!run) throw Error(Errc::not_found, "workspace " + ws.dir().string() + " holds no run to pull a cluster's agents into");
  const std::string graph = proto::decode<proto::Run>(run->value, keys::kRunGraph).graph_name;
  std::map<std::string, proto::AgentChanges> todo;
  for (const auto& m : etcd.range_prefix(ckeys::review_prefix(graph))) {
    const std::string id = m.key.substr(ckeys::review_prefix(graph).size());
    if (!valid_name(id)) throw Error(Errc::corrupt, "etcd key " + inert_text(m.key) + " does not name an agent");
    if (ws.get(base, keys::run_agent(id))) continue;
    auto j = json::parse(m.value, nullptr, false);
    if (!j.is_object() || !j.contains("parts") || !j["parts"].is_number_unsigned() || !j.contains("bytes") ||
        !j["bytes"].is_number_unsigned())
      throw Error(Errc::corrupt, "etcd key " + m.key + " does not say how many parts agent " + id + "'s changes are");
    std::string bytes;
    const auto parts = j["parts"].get<std::size_t>();
    for (std::size_t n = 0; n < parts; ++n) {
      auto part = etcd.get(ckeys::review_part(graph, id, n));
      if (!part) throw Error(Errc::corrupt, "etcd has no part " + std::to_string(n) + " of agent " + id + "'s changes");
      bytes += part->value;
    }
    if (bytes.size() != j["bytes"].get<std::size_t>())
      throw Error(Errc::corrupt, "agent " + id + "'s changes in etcd are " + std::to_string(bytes.size()) +
                                     " bytes, not the " + j["bytes"].dump() + " its key " + m.key + " says");
    auto c = proto::decode<proto::AgentChanges>(bytes, m.key);
    if (c.agent.id != id || c.agent.ns != keys::agent_ns(id))
      throw Error(Errc::corrupt, "etcd key " + m.key + " holds the changes of another agent (" + c.agent.id + ")");
    todo.emplace(id, std::move(c));
  }
  // An agent goes in after the one it builds on, when that is among them; each in a transaction of
  // its own (the ancestors it keeps are of its own revision).
  Pulled out;
  std::set<std::string> done;
  std::function<void(const std::string&)> pull = [&](const std::string& id) {
    if (!done.insert(id).second) return;
    const auto& c = todo.at(id);
    if (auto on = keys::agent_of_ns(c.agent.parent_ns); on && todo.count(*on)) pull(*on);
    bool in = false;
    ws.write([&](WriteTxn& t) { in = carry_in(t, c); });
    if (in) out.agents.push_back(id);
  };
  for (const auto& [id, c] : todo) pull(id);
  return out;
}

}  // namespace remora::cluster
