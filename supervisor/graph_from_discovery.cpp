#include "supervisor/graph_from_discovery.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <ranges>
#include <set>
#include <tuple>

#include "shared/error.hpp"

namespace remora {

namespace fs = std::filesystem;

BundleOrder parse_bundle_order(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size() ||
      text.find(':', colon + 1) != std::string_view::npos)
    throw Error(Errc::invalid_argument, fmt::format("--after '{}': expected FIRST:THEN (two bundle names)", text));
  return {std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

void resolve_paths(DiscoverSpec& spec, const std::vector<fs::path>& paths, const std::optional<fs::path>& root,
                   const fs::path& base_dir) {
  auto absolute = [&](const fs::path& p) { return fs::weakly_canonical(fs::absolute(base_dir / p)); };
  std::vector<fs::path> abs;
  for (const fs::path& p : paths) {
    std::error_code ec;
    if (!fs::exists(base_dir / p, ec)) throw Error(Errc::invalid_argument, "no such file or directory: " + p.string());
    abs.push_back(absolute(p));
  }
  std::error_code ec;
  if (root)
    spec.root = absolute(*root);
  else if (abs.size() == 1 && fs::is_directory(abs[0], ec))
    spec.root = abs[0];
  else
    spec.root = absolute(".");
  if (!fs::is_directory(spec.root, ec)) throw Error(Errc::invalid_argument, "not a directory: " + spec.root.string());
  spec.paths.clear();
  for (std::size_t i = 0; i < abs.size(); ++i) {
    const std::string rel = abs[i].lexically_relative(spec.root).generic_string();
    if (rel.empty() || rel == ".." || rel.starts_with("../"))
      throw Error(Errc::invalid_argument, fmt::format("{} is outside the project root {} (name the root with --root)",
                                                      paths[i].string(), spec.root.string()));
    if (rel == ".") {  // the whole root
      spec.paths.clear();
      return;
    }
    spec.paths.push_back(rel);
  }
}

namespace {

// A readable id for an agent: bundle, path and qualified name, in [A-Za-z0-9._-], and whether
// writing it lost something: a '-' (which is what '/' becomes) or a character written '_'. Ids
// that lost nothing are told apart by their text alone; the others get a suffix of their own.
std::pair<std::string, bool> readable_id(const std::string& bundle, const CodeNode& n) {
  std::string id = bundle + "." + n.path;
  if (n.type != "file") id += "." + n.qualified_name;
  bool lossy = false;
  for (std::size_t i = bundle.size(); i < id.size(); ++i) {
    char& c = id[i];
    if (c == '/') {
      c = '-';
    } else if (c == '-') {
      lossy = true;
    } else if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_')) {
      c = '_';
      lossy = true;
    }
  }
  return {id, lossy};
}

std::string with_suffix(std::string id, const CodeNode& n) {
  constexpr std::size_t kMax = 200, kSuffix = 9;
  if (id.size() > kMax - kSuffix) id.resize(kMax - kSuffix);
  return id + "." + n.id.substr(0, 8);
}

// The bundles' names, for messages ("a, b, c"). A loop rather than std::views::keys, which clang 14
// cannot compile against libstdc++ 12 (the fuzz build).
std::string bundle_names(const std::map<std::string, Bundle>& bundles) {
  std::string out;
  for (const auto& [name, bundle] : bundles) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// The orderings' transitive closure over the bundles: before[a] holds every bundle a precedes.
std::map<std::string, std::set<std::string>> closure(const std::map<std::string, Bundle>& bundles,
                                                    const std::vector<BundleOrder>& after) {
  std::map<std::string, std::set<std::string>> before;
  for (const BundleOrder& o : after) {
    for (const std::string* name : {&o.first, &o.then})
      if (!bundles.contains(*name))
        throw Error(Errc::invalid_argument,
                    fmt::format("--after {}:{}: bundle '{}' is not one of the bundles run ({})", o.first, o.then, *name,
                                bundle_names(bundles)));
    before[o.first].insert(o.then);
  }
  for (bool grew = true; grew;) {
    grew = false;
    for (auto& [a, later] : before)
      for (const std::string& b : std::set(later))
        if (auto it = before.find(b); it != before.end())
          for (const std::string& c : it->second) grew |= later.insert(c).second;
  }
  std::vector<std::string> cyclic;
  for (const auto& [a, later] : before)
    if (later.contains(a)) cyclic.push_back(a);
  if (!cyclic.empty())
    throw Error(Errc::invalid_argument, fmt::format("--after orderings form a cycle among bundles {}", fmt::join(cyclic, ", ")));
  return before;
}

}  // namespace

std::vector<AgentSpec> agents_for_nodes(const std::vector<CodeNode>& nodes, const std::map<std::string, Bundle>& bundles,
                                        const std::vector<BundleOrder>& after, const GraphConfig& config) {
  const auto before = closure(bundles, after);
  auto precedes = [&](const std::string& a, const std::string& b) {
    auto it = before.find(a);
    return it != before.end() && it->second.contains(b);
  };

  struct Made {
    AgentSpec spec;
    const CodeNode* node;
    std::vector<std::size_t> deps;  // indexes into made, until the ids are final
    bool lossy;                     // its readable id could be another node's
  };
  std::vector<Made> made;
  std::map<std::string, std::size_t> uses;  // readable id -> how many agents want it
  for (const CodeNode& n : nodes) {
    const nlohmann::json node_json = to_json(n);
    std::vector<std::size_t> mine;  // this node's agents
    for (const auto& [name, bundle] : bundles) {
      if (!bundle.applies_to(node_json)) continue;
      AgentSpec a;
      bool lossy = false;
      std::tie(a.id, lossy) = readable_id(name, n);
      a.bundle = name;
      a.target = n.path;
      a.timeout_s = config.timeout_s;
      a.restart = config.restart;
      a.node = node_json;
      if (!lossy) ++uses[a.id];  // a lossy id gets its own suffix whatever else wants its text
      mine.push_back(made.size());
      made.push_back({std::move(a), &n, {}, lossy});
    }
    // The nearest predecessors of each agent on this node, by the orderings' closure.
    for (std::size_t i : mine)
      for (std::size_t j : mine) {
        const std::string &first = made[j].spec.bundle, &then = made[i].spec.bundle;
        if (!precedes(first, then)) continue;
        bool nearest = std::ranges::none_of(mine, [&](std::size_t k) {
          return precedes(first, made[k].spec.bundle) && precedes(made[k].spec.bundle, then);
        });
        if (nearest) made[i].deps.push_back(j);
      }
  }
  if (made.empty())
    throw Error(Errc::invalid_argument,
                fmt::format("nothing to run: no discovered node matches the node types of bundles {}",
                            bundle_names(bundles)));

  for (Made& m : made)
    if (m.lossy || uses[m.spec.id] > 1 || m.spec.id.size() > 200) m.spec.id = with_suffix(m.spec.id, *m.node);
  for (Made& m : made) {
    for (std::size_t dep : m.deps) m.spec.after.push_back(made[dep].spec.id);
    std::ranges::sort(m.spec.after);
  }
  std::vector<AgentSpec> agents;
  for (Made& m : made) agents.push_back(std::move(m.spec));
  std::ranges::sort(agents, {}, &AgentSpec::id);
  return agents;
}

GraphSpec discovered_graph(const DiscoverSpec& spec, const std::vector<fs::path>& bundle_dirs, const GraphConfig& config,
                           std::string name) {
  GraphSpec g;
  g.name = std::move(name);
  g.config = config;
  g.project = spec.root;
  g.bundles = load_bundles(spec.bundles, bundle_dirs);

  Discovery found = discover({spec.root}, spec.discovery);
  std::vector<CodeNode> nodes;
  for (CodeNode& n : found.nodes) {
    bool wanted = spec.paths.empty() || std::ranges::any_of(spec.paths, [&](const std::string& p) {
                    return n.path == p || (n.path.size() > p.size() && n.path.starts_with(p) && n.path[p.size()] == '/');
                  });
    if (wanted) nodes.push_back(std::move(n));
  }
  try {
    g.agents = agents_for_nodes(nodes, g.bundles, spec.after, config);
  } catch (const Error& e) {
    // Files skipped (over the size limit, say) may be why nothing matched: say so.
    if (found.skipped.empty()) throw;
    throw Error(e.code(), std::string(e.what()) + " (discovery " + skipped_summary(found.skipped) + ")");
  }
  // Only the bundles some agent uses: a graph holds every bundle an agent uses, and no other.
  std::erase_if(g.bundles, [&](const auto& entry) {
    return std::ranges::none_of(g.agents, [&](const AgentSpec& a) { return a.bundle == entry.first; });
  });
  validate(g);
  return g;
}

}  // namespace remora
