// WorkerProcesses: starts remora-worker processes (a vfork-like clone and exec, or a fork under
// sanitizers; the child makes only system calls in between) and reports how each one ended. A
// reaper thread waits for children and hands (pid, wait status) to a callback; on destruction
// every child still alive is killed and reaped, so no worker outlives its supervisor object (and
// PR_SET_PDEATHSIG, set in the child before exec, covers the supervisor's own death).
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace remora {

class WorkerProcesses {
 public:
  using ExitFn = std::function<void(pid_t pid, int wait_status)>;
  explicit WorkerProcesses(ExitFn on_exit);
  ~WorkerProcesses();

  // Starts exe with args and exactly the environment env ("KEY=VALUE"); its stderr (and stdout)
  // append to log_file, stdin is /dev/null, every other descriptor is closed, and signals are
  // unblocked. With cgroup_procs (an open cgroup.procs file), the child moves itself into that
  // cgroup before exec, so that nothing of the worker ever runs outside it. Throws Error(io) if
  // it cannot start.
  pid_t start(const std::filesystem::path& exe, const std::vector<std::string>& args,
              const std::filesystem::path& log_file, const std::vector<std::string>& env, int cgroup_procs = -1);
  void signal(pid_t pid, int sig);
  std::size_t live() const;

 private:
  void reap_loop();
  ExitFn on_exit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<pid_t> live_;
  bool stopping_ = false;
  std::thread reaper_;
};

// "exited with code 3", "killed by SIGSEGV (Segmentation fault)".
std::string describe_wait_status(int wait_status);

}  // namespace remora
