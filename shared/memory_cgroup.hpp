// Memory cgroups: one per agent, bounding the memory of its worker and of every program the
// worker starts together, where per-process limits (RLIMIT_AS) let four processes hold four
// times as much. The supervisor makes a directory for its run under its own memory cgroup
// (cgroup v2 where the memory controller is delegated to it, else cgroup v1's memory
// controller), one cgroup per agent in it, and moves each worker into its agent's before exec.
// When the agent's processes together reach the limit, the kernel's OOM killer ends one of them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace remora {

// Why this process cannot make memory cgroups ("" when it can): no memory controller mounted,
// v2's not delegated, the hierarchy not writable.
std::string memory_cgroup_shortfall();

// The number of processes the OOM killer ended in a cgroup, read from an open memory.events (v2)
// or memory.oom_control (v1) file ("oom_kill N" in both); 0 when it cannot be read.
std::uint64_t read_oom_kills(int events_fd);
// That file of the cgroup dir, opened read-only (close-on-exec); -1 when it cannot be.
int open_oom_events(const std::filesystem::path& cgroup_dir);

class MemoryCgroups {
 public:
  // Makes <this process's memory cgroup>/<name>. Throws std::runtime_error saying why not.
  explicit MemoryCgroups(const std::string& name);
  // Kills whatever is left in the agents' cgroups and removes them and the run's directory.
  ~MemoryCgroups();
  MemoryCgroups(const MemoryCgroups&) = delete;
  MemoryCgroups& operator=(const MemoryCgroups&) = delete;

  const std::string& version() const { return version_; }  // "v2" or "v1"
  const std::filesystem::path& dir() const { return dir_; }
  // A fresh cgroup for agent id limited to bytes (swap included where it is accounted); returns
  // its directory. Throws std::system_error naming the file on failure.
  std::filesystem::path make(const std::string& id, std::uint64_t bytes);
  // Kills every process left in agent id's cgroup, waits for each to have left it (a pidfd per
  // process: its exit wakes the wait) and removes the cgroup.
  void remove(const std::string& id);
  // Processes the OOM killer ended in agent id's cgroup.
  std::uint64_t oom_kills(const std::string& id) const;

 private:
  std::string version_;
  std::filesystem::path dir_;
};

}  // namespace remora
