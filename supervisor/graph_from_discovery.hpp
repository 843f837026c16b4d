// Graphs built from discovery: one agent per (code node x bundle that applies to it), as
// `remora run PATHS --bundle B...` and a graph file's `discover:` section ask.
//
// Agent ids are readable and depend only on their node (a re-run of a grown project keeps every
// id): `<bundle>.<path>` for a file node and `<bundle>.<path>.<qualified name>` for the others,
// with '/' in the path written '-' (`lint.src-geo.py.Box.area`). A node whose path or name holds
// a '-' or a character outside [A-Za-z0-9._] (written '_'), whose id could therefore be another's,
// gets the first 8 hex digits of its node id appended (`lint.a-util.py.helper.3f0c9e21`), as do
// nodes of one file with the same name (C++ overloads); an id longer than 200 characters is cut
// to 191 and gets the same suffix.
//
// Orderings `--after A:B` say that on each node the agent of bundle B runs after the agent of
// bundle A. They are transitive and pass over a bundle that does not apply to a node: with
// `a:b` and `b:c`, c runs after b where b applies and after a where it does not. Each agent
// depends only on its nearest predecessors on its node (the transitive reduction).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/discovery.hpp"
#include "shared/bundle.hpp"
#include "supervisor/graph_spec.hpp"

namespace remora {

// `A:B`: on each node, bundle B's agent runs after bundle A's.
struct BundleOrder {
  std::string first, then;
  bool operator==(const BundleOrder&) const = default;
};
// Parses "A:B"; Error(invalid_argument) naming the text otherwise.
BundleOrder parse_bundle_order(std::string_view text);

// What to discover and run: a project root, the parts of it whose nodes get agents, the bundles
// and their orderings.
struct DiscoverSpec {
  std::filesystem::path root;             // absolute: the project directory, imported into base
  std::vector<std::string> paths;         // relative to root, '/'-separated; empty: all of it
  std::vector<std::string> bundles;       // bundle names, in the order given
  std::vector<BundleOrder> after;
  DiscoveryOptions discovery;             // exclude patterns, size limit, ...
};

// The root and paths for PATHS given relative to base_dir (the current directory on the command
// line, a graph file's directory in a graph file): root, when given; else the one PATH when it
// is a directory; else base_dir. Throws Error(invalid_argument) naming a PATH that does not
// exist or lies outside the root.
void resolve_paths(DiscoverSpec& spec, const std::vector<std::filesystem::path>& paths,
                   const std::optional<std::filesystem::path>& root, const std::filesystem::path& base_dir);

// The agents for nodes x bundles (see above), sorted by id. Throws Error(invalid_argument) when
// an ordering names a bundle not among `bundles` (naming it), when orderings form a cycle, or when
// no node matches any bundle.
std::vector<AgentSpec> agents_for_nodes(const std::vector<CodeNode>& nodes, const std::map<std::string, Bundle>& bundles,
                                        const std::vector<BundleOrder>& after, const GraphConfig& config);

// Discovers the nodes of spec.root under spec.paths, loads spec.bundles from the first of
// bundle_dirs holding each, and builds a validated graph named `name` whose project is spec.root.
GraphSpec discovered_graph(const DiscoverSpec& spec, const std::vector<std::filesystem::path>& bundle_dirs,
                           const GraphConfig& config, std::string name);

}  // namespace remora
