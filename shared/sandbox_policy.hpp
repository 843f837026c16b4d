// Sandbox policy: how an agent's worker process is confined, as written in a graph's `sandbox:`
// config, passed to remora-worker on its command line, and reported in agent:started.
//
//   sandbox:
//     level: strict          # strict | standard | none
//     address_space_mb: 4096 # the worker's own memory (the workspace map is added on top, below)
//     cpu: 600               # seconds of CPU time per process (SIGXCPU, then SIGKILL a second later)
//     open_files: 1024
//     file_size_mb: 1024     # largest file a worker or its tools may write (at least the map reserve)
//     processes: 128         # processes and threads of the worker and everything it starts
//     memory_mb: 4096        # memory of the worker and everything it starts, together (a cgroup)
//     private_dir_mb: 1024   # size of the private directory (a tmpfs), tool programs' only writable place
//     read_paths: []         # extra read-only paths (tools installed outside /usr, say)
//
// Levels: `strict` refuses to run an agent when a mechanism it requires is unavailable, naming
// it; `standard` applies what the kernel offers and reports what it skipped; `none` applies
// nothing but the cleared environment (debugging only; the supervisor warns).
//
// The workspace is a memory map of the LMDB file that may double while a worker runs, so the
// address-space and file-size limits leave room for it: the map reserve is 4x the map size when
// the worker starts (at least 1 GiB), added to address_space_mb and taken as the least file size.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace CLI {
class App;
}
namespace YAML {
class Node;
}
namespace remora::yaml_fields {
struct Problems;
}

namespace remora::sandbox {

enum class Level { strict, standard, none };
inline constexpr std::array kLevels = {Level::strict, Level::standard, Level::none};
std::string_view name_of(Level level);
std::optional<Level> level_named(std::string_view name);

struct Limits {
  std::uint32_t address_space_mb = 4096;
  std::uint32_t cpu_s = 600;
  std::uint32_t open_files = 1024;
  std::uint32_t file_size_mb = 1024;
  std::uint32_t processes = 128;
  std::uint32_t memory_mb = 4096;       // the agent's memory cgroup: the worker and all it starts
  std::uint32_t private_dir_mb = 1024;  // the size of the private directory's tmpfs
  bool operator==(const Limits&) const = default;
};

// The least values the config accepts: below them a worker cannot start its own threads and files.
inline constexpr Limits kMinimumLimits{.address_space_mb = 256, .cpu_s = 1, .open_files = 32, .file_size_mb = 1,
                                       .processes = 8, .memory_mb = 64, .private_dir_mb = 1};

struct Config {
  Level level = Level::strict;
  Limits limits;
  std::vector<std::string> read_paths;  // absolute paths, read-only (files or directories)
  bool operator==(const Config&) const = default;

  nlohmann::json to_json() const;
  static Config from_json(const nlohmann::json& j);  // throws nlohmann::json::exception or std::invalid_argument
  // remora-worker's command-line flags for this config, and the options that read them back.
  std::vector<std::string> to_args() const;
  void add_options(CLI::App& app);
};

// Reads a graph file's `sandbox:` map over c, reporting each bad field under path ("config.sandbox").
void read_config(const YAML::Node& node, const std::string& path, Config& c, yaml_fields::Problems& p);

// Each mechanism a worker may be confined by, in the order it is applied.
enum class Mechanism {
  memory_cgroup,      // the agent's memory cgroup (memory_mb), entered before the worker runs
  close_fds,          // no inherited descriptor but stdin, stdout and stderr
  clear_env,          // only PATH, HOME, TMPDIR and LANG; no API keys
  no_new_privs,       // PR_SET_NO_NEW_PRIVS: exec never grants privileges
  unprivileged_uid,   // a worker started by root runs as nobody (65534)
  user_namespace,     // uid and gid mapped to themselves, no capability outside
  mount_namespace,    //
  network_namespace,  // no interface up: no network at all
  ipc_namespace,      //
  uts_namespace,      //
  private_tmpfs,      // the private directory is a tmpfs of private_dir_mb, in the mount namespace
  capabilities,       // every capability dropped, bounding set included
  rlimits,            // address space, CPU time, open files, file size; no core dumps
  process_limit,      // RLIMIT_NPROC, per worker in its own user namespace (uid 0 is exempt)
  landlock_fs,        // read-write: the private directory and the workspace's files only
  landlock_tcp,       // no TCP bind or connect (Landlock ABI 4)
  landlock_scope,     // no signal or abstract socket beyond the sandbox (Landlock ABI 6)
  seccomp,            // network sockets, ptrace, mount, bpf, keyctl, ... kill the worker
  pid_namespace,      // each command tool's program in a PID namespace of its own, which dies with it
};
inline constexpr std::array kMechanisms = {
    Mechanism::memory_cgroup,   Mechanism::close_fds,       Mechanism::clear_env,         Mechanism::no_new_privs,  Mechanism::unprivileged_uid,
    Mechanism::user_namespace,  Mechanism::mount_namespace,   Mechanism::network_namespace,
    Mechanism::ipc_namespace,   Mechanism::uts_namespace,     Mechanism::private_tmpfs, Mechanism::capabilities,
    Mechanism::rlimits,         Mechanism::process_limit,     Mechanism::landlock_fs,   Mechanism::landlock_tcp,
    Mechanism::landlock_scope,  Mechanism::seccomp,           Mechanism::pid_namespace};
std::string_view name_of(Mechanism m);
// Whether `strict` refuses to run without it. Landlock's TCP rules and scopes are newer than the
// rest (kernels 6.7 and 6.12) and are applied wherever the kernel has them; the network
// namespace and seccomp already cover what the TCP rules add. A memory cgroup needs a cgroup
// hierarchy this process may write (delegated v2, or v1's memory controller), which many
// machines do not give: it is applied wherever there is one, and its absence is said.
bool required(Mechanism m);

// What confines a worker: applied by the worker itself, or expected by the supervisor from its
// probe of the kernel (sandbox_probe.hpp).
struct Confinement {
  Level level = Level::strict;
  std::vector<Mechanism> applied;
  std::vector<std::pair<Mechanism, std::string>> skipped;  // with why

  // {"level": "strict", "applied": [...], "skipped": {"landlock_scope": "why"}}
  nlohmann::json to_json() const;
  // "level strict; applied: ...; skipped: landlock_scope (why)"
  std::string summary() const;
};

// The limits a worker gets, in bytes and counts, given the workspace's map size when it starts.
struct Rlimits {
  std::uint64_t address_space = 0;
  std::uint64_t cpu_s = 0;
  std::uint64_t open_files = 0;
  std::uint64_t file_size = 0;
  std::uint64_t processes = 0;
};
Rlimits rlimits_for(const Limits& limits, std::uint64_t map_bytes);

// Where the private directories of a workspace's agents live:
// <temp dir>/remora-<euid>/<hash of the workspace's absolute path>. Outside the workspace, so that
// a worker that left root for nobody reaches its own directory even when the workspace lies under
// one that only root may enter (/root, a `mktemp -d` directory).
std::filesystem::path private_root(const std::filesystem::path& workspace_dir);
// Creates private_root (mode 0711, owned by us) if missing. Throws, naming the path, when it is
// not a directory of ours that no one else may write (a shared temp dir is anyone's to squat in).
void prepare_private_root(const std::filesystem::path& root);
// The agent's private directory, the only one its worker (and its tools) may write: TMPDIR and
// HOME of the worker. Emptied by the supervisor before and after each worker of the agent.
std::filesystem::path private_dir(const std::filesystem::path& workspace_dir, const std::string& agent_id);

// The whole environment of a worker ("KEY=VALUE"): nothing of the supervisor's reaches it.
std::vector<std::string> worker_environment(const std::filesystem::path& private_dir);
// Makes env ("KEY=VALUE" each) the process's whole environment (clearenv, then setenv each).
void replace_environment(const std::vector<std::string>& env);

}  // namespace remora::sandbox
