#include "supervisor/graph_spec.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <regex>
#include <set>
#include <utility>

#include "shared/error.hpp"
#include "shared/yaml_fields.hpp"
#include "supervisor/graph_from_discovery.hpp"

namespace remora {

std::string_view name_of(ErrorPolicy p) {
  switch (p) {
    case ErrorPolicy::stop_graph: return "stop_graph";
    case ErrorPolicy::skip_downstream: return "skip_downstream";
    case ErrorPolicy::continue_: return "continue";
  }
  return "unknown";
}

std::string_view name_of(RestartMode m) {
  switch (m) {
    case RestartMode::permanent: return "permanent";
    case RestartMode::transient: return "transient";
    case RestartMode::temporary: return "temporary";
  }
  return "unknown";
}

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using namespace yaml_fields;

constexpr std::array kErrorPolicies = {ErrorPolicy::stop_graph, ErrorPolicy::skip_downstream, ErrorPolicy::continue_};
constexpr std::array kRestartModes = {RestartMode::permanent, RestartMode::transient, RestartMode::temporary};

template <class E, std::size_t N> std::optional<E> enum_named(const std::array<E, N>& all, std::string_view name) {
  for (E e : all)
    if (name_of(e) == name) return e;
  return std::nullopt;
}

template <class E, std::size_t N> std::string enum_names(const std::array<E, N>& all) {
  std::vector<std::string_view> names;
  for (E e : all) names.push_back(name_of(e));
  return fmt::format("{}", fmt::join(names, " | "));
}

template <class E, std::size_t N>
void read_enum(Fields& f, const std::string& key, E& out, const std::array<E, N>& all) {
  std::string name;
  if (!f.read(key, name)) return;
  auto e = enum_named(all, name);
  if (f.check(key, e.has_value(), fmt::format("'{}' is not one of {}", name, enum_names(all)))) out = *e;
}

// Reads the fields present over r, so that an agent's override keeps config.restart's others.
void read_restart(const YAML::Node& node, const std::string& path, RestartPolicy& r, Problems& p) {
  Fields f(node, path, p);
  read_enum(f, "policy", r.mode, kRestartModes);
  bool count = f.read("max_restarts", r.max_restarts);
  bool window = f.read("window", r.window_s, at_least(0));
  // Checked only where a backoff is written, so that a bad config.restart is reported once.
  bool initial = f.read("backoff_initial", r.backoff_initial_s, at_least(0));
  bool max = f.read("backoff_max", r.backoff_max_s, at_least(0));
  if (initial || max)
    f.check("backoff_max", r.backoff_max_s >= r.backoff_initial_s,
            fmt::format("{} must be >= backoff_initial ({})", r.backoff_max_s, r.backoff_initial_s));
  // The budget is max_restarts within the window: if the backoffs alone outlast the window, a
  // worker that fails at once is restarted forever.
  if ((count || window || initial || max) && r.mode != RestartMode::temporary) {
    double backoffs = 0;
    for (std::uint32_t k = 0; k < r.max_restarts && backoffs < r.window_s; ++k)
      backoffs += std::min(r.backoff_initial_s * std::pow(2.0, static_cast<double>(k)), r.backoff_max_s);
    f.check("window", r.max_restarts == 0 || backoffs < r.window_s,
            fmt::format("{}s is not longer than the backoffs of {} restarts ({}s and more): a worker failing at once "
                        "would never exhaust its budget; lengthen the window or shorten the backoff",
                        r.window_s, r.max_restarts, backoffs));
  }
}

void read_config(const YAML::Node& node, GraphConfig& c, Problems& p) {
  Fields f(node, "config", p);
  f.read("max_concurrency", c.max_concurrency, at_least(1));
  f.read("timeout", c.timeout_s, above(0));
  read_enum(f, "error_policy", c.error_policy, kErrorPolicies);
  f.read("interactive", c.interactive);
  f.read("cancel_grace", c.cancel_grace_s, at_least(0));
  {
    std::string d;
    if (f.read("durability", d)) {
      auto v = durability_named(d);
      f.check("durability", v && *v != Durability::nosync, "'" + d + "' is not one of sync, meta_nosync");
      if (v && *v != Durability::nosync) c.durability = *v;
    }
  }
  {
    Fields h(f.node("heartbeat"), f.at("heartbeat"), p);
    h.read("interval", c.heartbeat.interval_s, above(0));
    h.read("timeout", c.heartbeat.timeout_s, above(0));
    h.check("timeout", c.heartbeat.timeout_s > c.heartbeat.interval_s,
            fmt::format("{} must be > interval ({})", c.heartbeat.timeout_s, c.heartbeat.interval_s));
  }
  read_restart(f.node("restart"), f.at("restart"), c.restart, p);
  sandbox::read_config(f.node("sandbox"), f.at("sandbox"), c.sandbox, p);
  {
    Fields s(f.node("snapshot"), f.at("snapshot"), p);
    s.read("enabled", c.snapshot.enabled);
    s.read("every_s", c.snapshot.every_s, at_least(0));
    s.read("every_revisions", c.snapshot.every_revisions);
    s.read("keep", c.snapshot.keep, at_least(1));
  }
}

// An agent with its timeout and restart policy resolved; nullopt without an id to know it by.
std::optional<AgentSpec> read_agent(const YAML::Node& node, const std::string& path, const GraphConfig& config,
                                    Problems& p) {
  Fields f(node, path, p);
  AgentSpec a;
  a.timeout_s = config.timeout_s;
  a.restart = config.restart;
  bool has_id = f.read("id", a.id, kRequired);
  if (f.read("bundle", a.bundle, kRequired))
    f.check("bundle", valid_name(a.bundle), "'" + a.bundle + "' is not a valid bundle name ([A-Za-z0-9._-]+)");
  f.read("target", a.target);
  f.read("after", a.after);
  f.read("timeout", a.timeout_s, above(0));
  read_restart(f.node("restart"), f.at("restart"), a.restart, p);
  std::ranges::sort(a.after);
  a.after.erase(std::unique(a.after.begin(), a.after.end()), a.after.end());
  if (!has_id) return std::nullopt;
  return a;
}

// Each dependency cycle met by a depth-first walk along `after`, as a path from its smallest id
// round to that id again ("a -> b" reads "a depends on b"). Unknown ids are reported elsewhere.
std::vector<std::vector<std::string>> cycles(const GraphSpec& spec) {
  std::map<std::string, const std::vector<std::string>*> after;
  for (const AgentSpec& a : spec.agents) after.emplace(a.id, &a.after);
  enum Mark { unseen, on_path, done };
  std::map<std::string, Mark> mark;
  std::vector<std::string> path;
  std::set<std::vector<std::string>> found;
  std::function<void(const std::string&)> visit = [&](const std::string& id) {
    mark[id] = on_path;
    path.push_back(id);
    for (const std::string& dep : *after.at(id)) {
      if (!after.contains(dep)) continue;
      if (mark[dep] == unseen) {
        visit(dep);
      } else if (mark[dep] == on_path) {
        std::vector<std::string> cycle(std::ranges::find(path, dep), path.end());
        std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());  // clang 14 fails ranges::rotate
        cycle.push_back(cycle.front());
        found.insert(std::move(cycle));
      }
    }
    path.pop_back();
    mark[id] = done;
  };
  for (const auto& entry : after)
    if (mark[entry.first] == unseen) visit(entry.first);
  return {found.begin(), found.end()};
}

// The rules of a whole graph, shared by load_graph and validate. load_graph reports missing
// bundles itself (it knows where it looked), hence check_bundles.
void check_graph(const GraphSpec& spec, bool check_bundles, Problems& p) {
  std::set<std::string> ids;
  for (const AgentSpec& a : spec.agents) {
    if (!valid_name(a.id)) p.add("", "agent id '" + a.id + "' is not valid ([A-Za-z0-9._-]+)");
    if (!ids.insert(a.id).second) p.add("", "duplicate agent id '" + a.id + "'");
  }
  for (const AgentSpec& a : spec.agents) {
    for (const std::string& dep : a.after)
      if (!ids.contains(dep) && !spec.elsewhere.contains(dep))
        p.add("", "agent '" + a.id + "' depends on unknown agent '" + dep + "'");
    if (check_bundles && !spec.bundles.contains(a.bundle))
      p.add("", "agent '" + a.id + "' uses unknown bundle '" + a.bundle + "'");
  }
  for (const auto& cycle : cycles(spec)) p.add("", fmt::format("dependency cycle: {}", fmt::join(cycle, " -> ")));
}

// The first of dirs holding <name>/bundle.yaml.
std::optional<fs::path> find_bundle(const std::string& name, const std::vector<fs::path>& dirs) {
  auto dir = std::ranges::find_if(dirs, [&](const fs::path& d) {
    std::error_code ec;
    return fs::exists(d / name / "bundle.yaml", ec);
  });
  return dir == dirs.end() ? std::nullopt : std::optional(*dir / name);
}

std::string looked_in(const std::vector<fs::path>& dirs) {
  std::vector<std::string> names;
  for (const fs::path& d : dirs) names.push_back(d.string());
  return fmt::format("looked in: {}", fmt::join(names, ", "));
}

// Loads each bundle found into `into`; a bad one is reported by its own lines, which name its file.
void load_found(const std::map<std::string, std::optional<fs::path>>& where, std::map<std::string, Bundle>& into,
                Problems& p) {
  for (const auto& [name, dir] : where) {
    if (!dir) continue;
    try {
      into.emplace(name, load_bundle(*dir));
    } catch (const Error& e) {
      p.lines.push_back(e.what());
    }
  }
}

// Loads every bundle the agents name from the first directory holding it.
void load_bundles(GraphSpec& spec, const std::vector<fs::path>& dirs, Problems& p) {
  std::map<std::string, std::optional<fs::path>> where;
  for (const AgentSpec& a : spec.agents) {
    if (!valid_name(a.bundle)) continue;  // reported already
    if (!where.contains(a.bundle)) where[a.bundle] = find_bundle(a.bundle, dirs);
    if (!where[a.bundle])
      p.add("", fmt::format("agent '{}' uses unknown bundle '{}' ({})", a.id, a.bundle, looked_in(dirs)));
  }
  load_found(where, spec.bundles, p);
}

// The discover: section of a graph file; paths are relative to the file's directory.
DiscoverSpec read_discover(const YAML::Node& node, const fs::path& file, Problems& p) {
  Fields f(node, "discover", p);
  DiscoverSpec d;
  std::vector<std::string> paths, after;
  std::string root;
  f.read("bundles", d.bundles, kRequired);
  f.read("paths", paths);
  f.read("root", root);
  f.read("after", after);
  for (const std::string& a : after) {
    try {
      d.after.push_back(parse_bundle_order(a));
    } catch (const Error& e) {
      p.add("discover.after", e.what());
    }
  }
  try {
    resolve_paths(d, {paths.begin(), paths.end()}, root.empty() ? std::nullopt : std::optional<fs::path>(root),
                  file.parent_path());
  } catch (const Error& e) {
    p.add("discover", e.what());
  }
  return d;
}

json restart_json(const RestartPolicy& r) {
  return {{"policy", name_of(r.mode)},
          {"max_restarts", r.max_restarts},
          {"window", r.window_s},
          {"backoff_initial", r.backoff_initial_s},
          {"backoff_max", r.backoff_max_s}};
}

RestartPolicy restart_from_json(const json& j) {
  RestartPolicy r;
  auto mode = enum_named(kRestartModes, j.at("policy").get<std::string>());
  if (!mode) throw Error(Errc::corrupt, "unknown restart policy " + j.at("policy").dump());
  r.mode = *mode;
  r.max_restarts = j.at("max_restarts").get<std::uint32_t>();
  r.window_s = j.at("window").get<double>();
  r.backoff_initial_s = j.at("backoff_initial").get<double>();
  r.backoff_max_s = j.at("backoff_max").get<double>();
  return r;
}

}  // namespace

bool valid_name(const std::string& s) {
  static const std::regex pattern("[A-Za-z0-9._-]+");
  return std::regex_match(s, pattern);
}

const AgentSpec* GraphSpec::agent(std::string_view id) const {
  auto it = std::ranges::find(agents, id, &AgentSpec::id);
  return it == agents.end() ? nullptr : &*it;
}

std::vector<std::string> GraphSpec::topo_order() const {
  std::map<std::string, std::size_t> waiting;  // id -> dependencies not yet ordered
  std::map<std::string, std::vector<std::string>> dependents_of;
  for (const AgentSpec& a : agents) waiting.emplace(a.id, 0);
  for (const AgentSpec& a : agents)
    for (const std::string& dep : a.after)
      if (waiting.contains(dep)) {
        ++waiting[a.id];
        dependents_of[dep].push_back(a.id);
      }
  std::priority_queue<std::string, std::vector<std::string>, std::greater<>> ready;
  for (const auto& [id, n] : waiting)
    if (n == 0) ready.push(id);
  std::vector<std::string> order;
  while (!ready.empty()) {
    std::string id = ready.top();
    ready.pop();
    for (const std::string& d : dependents_of[id])
      if (--waiting[d] == 0) ready.push(d);
    order.push_back(std::move(id));
  }
  return order;
}

std::optional<std::string> GraphSpec::builds_on(const AgentSpec& a) const {
  if (a.target.empty()) return std::nullopt;
  std::optional<std::string> found;
  for (const auto& dep : a.after)
    if (const auto* d = agent(dep); d && d->target == a.target) {
      if (found) return std::nullopt;
      found = dep;
    }
  return found;
}

std::vector<std::string> GraphSpec::dependents(std::string_view id) const {
  std::map<std::string, std::vector<std::string>, std::less<>> dependents_of;
  for (const AgentSpec& a : agents)
    for (const std::string& dep : a.after) dependents_of[dep].push_back(a.id);
  std::set<std::string> found;
  std::vector<std::string_view> todo{id};
  while (!todo.empty()) {
    auto it = dependents_of.find(todo.back());
    todo.pop_back();
    if (it == dependents_of.end()) continue;
    for (const std::string& d : it->second)
      if (found.insert(d).second) todo.push_back(d);
  }
  found.erase(std::string(id));  // only on a cycle, which validation rejects
  return {found.begin(), found.end()};
}

json GraphSpec::to_json() const {
  json js_agents = json::array();
  for (const AgentSpec& a : agents)
    js_agents.push_back({{"id", a.id},
                         {"bundle", a.bundle},
                         {"target", a.target},
                         {"after", a.after},
                         {"timeout", a.timeout_s},
                         {"restart", restart_json(a.restart)},
                         {"node", a.node}});
  json js_bundles = json::object();
  for (const auto& [bundle_name, b] : bundles) js_bundles[bundle_name] = b.to_json();
  json out = {{"name", name},
          {"config",
           {{"max_concurrency", config.max_concurrency},
            {"timeout", config.timeout_s},
            {"error_policy", name_of(config.error_policy)},
            {"interactive", config.interactive},
            {"cancel_grace", config.cancel_grace_s},
            {"durability", name_of(config.durability)},
            {"heartbeat", {{"interval", config.heartbeat.interval_s}, {"timeout", config.heartbeat.timeout_s}}},
            {"restart", restart_json(config.restart)},
            {"sandbox", config.sandbox.to_json()},
            {"snapshot",
             {{"enabled", config.snapshot.enabled},
              {"every_s", config.snapshot.every_s},
              {"every_revisions", config.snapshot.every_revisions},
              {"keep", config.snapshot.keep}}}}},
          {"agents", js_agents},
          {"bundles", js_bundles},
          {"project", project.string()}};
  if (!elsewhere.empty()) out["elsewhere"] = elsewhere;
  return out;
}

GraphSpec GraphSpec::from_json(const json& j) {
  try {
    GraphSpec s;
    s.name = j.at("name").get<std::string>();
    const json& c = j.at("config");
    s.config.max_concurrency = c.at("max_concurrency").get<std::uint32_t>();
    s.config.timeout_s = c.at("timeout").get<double>();
    auto policy = enum_named(kErrorPolicies, c.at("error_policy").get<std::string>());
    if (!policy) throw Error(Errc::corrupt, "unknown error policy " + c.at("error_policy").dump());
    s.config.error_policy = *policy;
    s.config.interactive = c.at("interactive").get<bool>();
    s.config.cancel_grace_s = c.at("cancel_grace").get<double>();
    auto durability = durability_named(c.at("durability").get<std::string>());
    if (!durability) throw Error(Errc::corrupt, "unknown durability " + c.at("durability").dump());
    s.config.durability = *durability;
    s.config.heartbeat.interval_s = c.at("heartbeat").at("interval").get<double>();
    s.config.heartbeat.timeout_s = c.at("heartbeat").at("timeout").get<double>();
    s.config.restart = restart_from_json(c.at("restart"));
    s.config.sandbox = sandbox::Config::from_json(c.at("sandbox"));
    if (c.contains("snapshot")) {  // absent from runs recorded before checkpoints existed
      const json& snap = c.at("snapshot");
      s.config.snapshot.enabled = snap.at("enabled").get<bool>();
      s.config.snapshot.every_s = snap.at("every_s").get<double>();
      s.config.snapshot.every_revisions = snap.at("every_revisions").get<std::uint32_t>();
      s.config.snapshot.keep = snap.at("keep").get<std::uint32_t>();
    }
    for (const json& a : j.at("agents"))
      s.agents.push_back({.id = a.at("id").get<std::string>(),
                          .bundle = a.at("bundle").get<std::string>(),
                          .target = a.at("target").get<std::string>(),
                          .after = a.at("after").get<std::vector<std::string>>(),
                          .timeout_s = a.at("timeout").get<double>(),
                          .restart = restart_from_json(a.at("restart")),
                          .node = a.value("node", json::object())});
    for (const auto& [name, b] : j.at("bundles").items()) s.bundles.emplace(name, Bundle::from_json(b));
    s.project = j.value("project", "");
    s.elsewhere = j.value("elsewhere", std::set<std::string>{});
    validate(s);
    return s;
  } catch (const json::exception& e) {
    throw Error(Errc::corrupt, std::string("stored graph spec: ") + e.what());
  } catch (const Error& e) {
    throw Error(Errc::corrupt, std::string("stored graph spec: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw Error(Errc::corrupt, std::string("stored graph spec: ") + e.what());
  }
}

GraphSpec load_graph(const fs::path& file) {
  YAML::Node root = parse_file(file);
  Problems p(file.string());
  GraphSpec spec;
  spec.name = file.stem().string();
  std::vector<std::string> bundle_dirs{"bundles"};
  std::optional<DiscoverSpec> discovering;
  {
    Fields f(root, "", p);
    f.read("name", spec.name);
    if (f.read("bundles", bundle_dirs)) f.check("bundles", !bundle_dirs.empty(), "must name at least one directory");
    read_config(f.node("config"), spec.config, p);
    std::string project;
    if (f.read("project", project)) {
      spec.project = fs::weakly_canonical(fs::absolute(file.parent_path() / project));
      std::error_code ec;
      f.check("project", fs::is_directory(spec.project, ec), "'" + project + "' is not a directory (relative to the graph file)");
    }
    if (const YAML::Node d = f.node("discover"); d && !d.IsNull()) {
      discovering = read_discover(d, file, p);
      f.check("agents", !f.node("agents"), "a graph lists its agents or discovers them, not both");
      f.check("project", project.empty(), "a graph that discovers its agents names its project as discover.root");
    } else {
      std::vector<YAML::Node> agents;
      if (f.read("agents", agents, kRequired)) f.check("agents", !agents.empty(), "must have at least one agent");
      for (std::size_t i = 0; i < agents.size(); ++i)
        if (auto a = read_agent(agents[i], fmt::format("agents[{}]", i), spec.config, p)) spec.agents.push_back(*a);
    }
  }
  std::vector<fs::path> dirs;
  for (const std::string& d : bundle_dirs) dirs.push_back(file.parent_path() / d);
  if (discovering) {
    p.throw_if_any();
    try {
      return discovered_graph(*discovering, dirs, spec.config, spec.name);
    } catch (const Error& e) {
      throw Error(e.code(), file.string() + ": discover: " + e.what());
    }
  }
  // Sorted, so that the spec does not depend on the order of lines in the file.
  std::ranges::stable_sort(spec.agents, {}, &AgentSpec::id);
  load_bundles(spec, dirs, p);
  check_graph(spec, false, p);
  p.throw_if_any();
  return spec;
}

GraphConfig load_config(const fs::path& file) {
  YAML::Node root = parse_file(file);
  Problems p(file.string());
  GraphConfig config;
  {
    Fields f(root, "", p);
    read_config(f.node("config"), config, p);
    f.node("model");  // a project's remora.yaml: the model server (supervisor/config_layers.hpp)
  }
  p.throw_if_any();
  return config;
}

std::map<std::string, Bundle> load_bundles(const std::vector<std::string>& names, const std::vector<fs::path>& dirs) {
  Problems p;
  std::map<std::string, std::optional<fs::path>> where;
  for (const std::string& name : names) {
    if (!valid_name(name)) {
      p.add("", "'" + name + "' is not a valid bundle name ([A-Za-z0-9._-]+)");
      continue;
    }
    where[name] = find_bundle(name, dirs);
    if (!where[name]) p.add("", fmt::format("unknown bundle '{}' ({})", name, looked_in(dirs)));
  }
  std::map<std::string, Bundle> bundles;
  load_found(where, bundles, p);
  p.throw_if_any();
  return bundles;
}

void validate(const GraphSpec& spec) {
  Problems p;
  check_graph(spec, true, p);
  p.throw_if_any();
}

}  // namespace remora
