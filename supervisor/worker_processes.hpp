// WorkerProcesses: starts remora-worker processes and reports how each one ended. The first start
// also starts a zygote (worker/zygote.hpp), a remora-worker that forks every worker, the first
// included, already loaded and linked; the supervisor is a child subreaper meanwhile, so those are
// its own children too, and each runs only once listed here. When the zygote cannot serve (it
// died, or answers nothing sensible), workers are exec'd directly: a vfork-like clone and exec, or
// a fork under sanitizers, the child making only system calls in between. A reaper thread waits
// for children and hands (pid, wait status) to a callback; on destruction every worker still alive
// and the zygote are killed and reaped, so no worker outlives its supervisor object (and
// PR_SET_PDEATHSIG, set in each worker before it runs, covers the supervisor's own death).
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

#include "shared/unique_fd.hpp"

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
  // No more launches: the zygote, if any, is stopped (quietly). Later starts exec.
  void close_zygote();
  std::size_t live() const;

 private:
  void reap_loop();
  // The zygote's part of start (under mu_): the pid, and in go the pipe that lets that worker run;
  // or 0 when the zygote cannot serve this launch (a request larger than the protocol carries:
  // this worker is exec'd) or any more (it is then stopped, and workers are exec'd from here on).
  // Throws like start when it served a failure of the launch itself.
  pid_t start_through_zygote(const std::filesystem::path& exe, const std::vector<std::string>& args, int log,
                             const std::vector<std::string>& env, int cgroup_procs, UniqueFd& go);
  void start_zygote(const std::filesystem::path& exe, const std::filesystem::path& log_file);
  void stop_zygote(const std::string& why);  // says why, then end_zygote
  void end_zygote();                          // under mu_: closes its socket, kills it
  void let_go_of_subreaper();  // once: the mark is shared by every WorkerProcesses of the process
  ExitFn on_exit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<pid_t> live_;
  bool stopping_ = false;
  bool zygote_tried_ = false;
  bool subreaper_held_ = false;
  pid_t zygote_pid_ = 0;  // until reaped
  std::filesystem::path zygote_exe_;
  UniqueFd zygote_ctl_;   // our end of its socket pair; empty once it cannot serve
  std::thread reaper_;
};

// "exited with code 3", "killed by SIGSEGV (Segmentation fault)".
std::string describe_wait_status(int wait_status);

}  // namespace remora
