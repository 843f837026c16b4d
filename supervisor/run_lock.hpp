// RunLock: at most one supervisor per workspace. An flock on <workspace>/supervisor.lock, which the
// kernel releases when the holder dies, so a crashed supervisor never blocks the next one.
#pragma once

#include <filesystem>
#include <optional>
#include <sys/types.h>

namespace remora {

class RunLock {
 public:
  // Throws Error(busy) naming the holder's pid when another live process holds it.
  explicit RunLock(const std::filesystem::path& workspace_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  // Whether a live supervisor holds the lock now (for commands that only want to know), and which
  // (its pid as it wrote it; 0 if unreadable). A lock whose writer is dead is not held: for a
  // moment after a supervisor dies, a worker it was starting may still hold the lock's file.
  static std::optional<pid_t> holder(const std::filesystem::path& workspace_dir);
  static bool held(const std::filesystem::path& workspace_dir) { return holder(workspace_dir).has_value(); }

 private:
  int fd_ = -1;
};

}  // namespace remora
