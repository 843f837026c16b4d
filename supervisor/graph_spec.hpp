// GraphSpec: a graph of agents as written in a YAML graph file, validated before anything runs.
//
//   name: demo                        # optional (default: the file's stem)
//   bundles: [bundles]                # directories holding bundle directories, relative to the
//                                     # graph file (default: [bundles])
//   project: src                      # optional: the project directory, relative to the graph file,
//                                     # imported into base before the run (as `remora run PATHS` does)
//   config:                           # every field optional; defaults as upstream Remora
//     max_concurrency: 4
//     timeout: 300                    # seconds per agent run
//     error_policy: skip_downstream   # stop_graph | skip_downstream | continue
//     interactive: true               # ask the human on a terminal
//     cancel_grace: 5                 # seconds between SIGTERM and SIGKILL
//     durability: sync                # sync (the supervisor's commits: two fsyncs; workers': one,
//                                     # carried by the supervisor's next) | meta_nosync (one each;
//                                     # a machine crash may roll back the last commits, never corrupts)
//     heartbeat: {interval: 2, timeout: 10}
//     restart: {policy: transient, max_restarts: 3, window: 60, backoff_initial: 1, backoff_max: 100}
//     sandbox: {level: strict, address_space_mb: 4096, cpu: 600, open_files: 1024, file_size_mb: 1024,
//               processes: 128, read_paths: []}   # see shared/sandbox_policy.hpp
//     snapshot: {enabled: false, every_s: 300, every_revisions: 0, keep: 5}   # automatic checkpoints
//   agents:
//     - id: lint-a                    # unique; [A-Za-z0-9._-]+
//       bundle: lint                  # a directory bundles/lint/bundle.yaml
//       target: src/a.py              # optional
//       after: [other-id]             # optional dependencies
//       timeout: 30                   # optional override
//       restart: {policy: permanent}  # optional override, fields merged over config.restart
//   discover:                         # instead of agents: one agent per (code node x bundle that
//     bundles: [lint, docstring]      # applies to it), see graph_from_discovery.hpp; required
//     paths: [src]                    # relative to the graph file (default: root)
//     root: .                         # the project, imported into base before the run (default:
//                                     # the one path if it is a directory, else the file's dir)
//     after: ["lint:docstring"]       # docstring's agent of a node runs after its lint agent
//
// Validation reports, in one Error(invalid_argument) with one problem per line: YAML syntax
// (with line), unknown fields, bad values, duplicate ids, unknown ids in `after`, unknown
// bundles (naming where it looked), bundle errors, and dependency cycles (printing the path,
// e.g. "dependency cycle: a -> b -> c -> a"). The spec never depends on the order of lines in
// the file: agents are kept sorted by id and `after` lists sorted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shared/bundle.hpp"
#include "shared/sandbox_policy.hpp"
#include "shared/workspace.hpp"

namespace remora {

enum class ErrorPolicy { stop_graph, skip_downstream, continue_ };
enum class RestartMode { permanent, transient, temporary };
std::string_view name_of(ErrorPolicy p);
std::string_view name_of(RestartMode m);

struct RestartPolicy {
  RestartMode mode = RestartMode::transient;
  std::uint32_t max_restarts = 3;  // at most this many restarts ...
  double window_s = 60;            // ... within this many seconds
  double backoff_initial_s = 1;    // delay before the first restart, doubled each time
  double backoff_max_s = 100;
  bool operator==(const RestartPolicy&) const = default;
};

struct HeartbeatConfig {
  double interval_s = 2;  // a worker refreshes agent:<id>:heartbeat this often
  double timeout_s = 10;  // a worker silent this long is hung and is killed
  bool operator==(const HeartbeatConfig&) const = default;
};

// Automatic checkpoints taken by the supervisor (see supervisor/snapshotter.hpp).
struct SnapshotConfig {
  bool enabled = false;
  double every_s = 300;               // one this often (0: never by time) ...
  std::uint32_t every_revisions = 0;  // ... or after this many revisions (0: never by count)
  std::uint32_t keep = 5;             // the newest automatic checkpoints kept; older ones are pruned
  bool operator==(const SnapshotConfig&) const = default;
};

struct GraphConfig {
  std::uint32_t max_concurrency = 4;
  double timeout_s = 300;
  ErrorPolicy error_policy = ErrorPolicy::skip_downstream;
  bool interactive = true;
  double cancel_grace_s = 5;
  Durability durability = Durability::sync;
  HeartbeatConfig heartbeat;
  RestartPolicy restart;
  sandbox::Config sandbox;
  SnapshotConfig snapshot;
  bool operator==(const GraphConfig&) const = default;
};

struct AgentSpec {
  std::string id;
  std::string bundle;
  std::string target;
  std::vector<std::string> after;  // sorted
  double timeout_s = 0;            // resolved: the override or config.timeout_s
  RestartPolicy restart;           // resolved: config.restart with the override merged over it
  nlohmann::json node = nlohmann::json::object();  // the code node (from discovery), if any
  bool operator==(const AgentSpec&) const = default;
};

struct GraphSpec {
  std::string name;
  GraphConfig config;
  std::vector<AgentSpec> agents;          // sorted by id
  std::map<std::string, Bundle> bundles;  // every bundle an agent uses
  // The project directory `remora run` imports into base before it starts (a graph discovered
  // from it); empty: none.
  std::filesystem::path project;
  // A cluster host's part of a graph (cluster/shard_plan.hpp): the graph's agents that other hosts
  // run, which `after` may name (their states come from the cluster). Empty otherwise.
  std::set<std::string> elsewhere;

  const AgentSpec* agent(std::string_view id) const;  // nullptr if absent
  // Agent ids in a dependency order, ties broken by id (deterministic).
  std::vector<std::string> topo_order() const;
  // Ids of the agents that depend on id, directly or transitively, sorted.
  std::vector<std::string> dependents(std::string_view id) const;
  // The agent whose edits a builds on: the one agent it runs after on the same code node, if
  // exactly one (its overlay then reads through that agent's overlay).
  std::optional<std::string> builds_on(const AgentSpec& a) const;

  // The normalized spec, stored in the workspace so that a resumed run needs no files.
  nlohmann::json to_json() const;
  static GraphSpec from_json(const nlohmann::json& j);  // throws Error(corrupt) on a bad document
  bool operator==(const GraphSpec&) const = default;
};

// Whether s is a valid agent id or graph name: [A-Za-z0-9._-]+ (a segment of workspace and etcd
// keys).
bool valid_name(const std::string& s);

// Loads and validates a graph file (see above). Throws Error(invalid_argument) listing every
// problem, or Error(not_found) when the file does not exist.
GraphSpec load_graph(const std::filesystem::path& file);

// The config: section of a YAML file (see above), for runs whose graph is discovered; a `model:`
// section beside it is left to supervisor/config_layers.hpp (remora.yaml holds both). Throws like
// load_graph.
GraphConfig load_config(const std::filesystem::path& file);

// The named bundles, each from the first of dirs holding <name>/bundle.yaml. Throws
// Error(invalid_argument) naming every bundle missing (and where it looked) or bad.
std::map<std::string, Bundle> load_bundles(const std::vector<std::string>& names,
                                           const std::vector<std::filesystem::path>& dirs);

// Validates an in-memory spec (ids, dependencies, bundles present, cycles); used by load_graph
// and by graphs built from discovery. Throws like load_graph.
void validate(const GraphSpec& spec);

}  // namespace remora
