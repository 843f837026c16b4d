#include "supervisor/worker_processes.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "shared/error.hpp"

namespace remora {
namespace bp = boost::process::v2;

namespace {
// Runs in the child between fork and exec: the supervisor blocks SIGINT/SIGTERM in its own
// threads (a signal thread takes them), and a worker must not inherit that mask; and the child
// enters its agent's memory cgroup (writing "0" moves the writer).
struct ChildSetup {
  int cgroup_procs = -1;
  bp::error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&, const char* const*) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (cgroup_procs >= 0 && ::write(cgroup_procs, "0", 1) != 1) return {errno, bp::system_category()};
    return {};
  }
};
}  // namespace

WorkerProcesses::WorkerProcesses(ExitFn on_exit) : on_exit_(std::move(on_exit)), reaper_([this] { reap_loop(); }) {}

WorkerProcesses::~WorkerProcesses() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    for (pid_t p : live_) ::kill(p, SIGKILL);
  }
  cv_.notify_all();
  reaper_.join();
}

pid_t WorkerProcesses::start(const std::filesystem::path& exe, const std::vector<std::string>& args,
                             const std::filesystem::path& log_file, const std::vector<std::string>& env,
                             int cgroup_procs) {
  // 0600: a log holds what the agent saw. The worker writes it as nobody through this descriptor.
  const int log_fd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  FILE* log = log_fd < 0 ? nullptr : ::fdopen(log_fd, "a");
  if (log_fd >= 0 && !log) ::close(log_fd);
  if (!log) throw Error(Errc::io, "cannot open worker log " + log_file.string() + ": " + std::strerror(errno));
  boost::asio::io_context ctx;
  pid_t pid = 0;
  {
    // Hold the lock across the launch so the reaper cannot reap the child before it is listed.
    std::lock_guard lk(mu_);
    try {
      bp::process proc(ctx, bp::filesystem::path(exe.string()), args, bp::process_stdio{nullptr, log, log},
                       bp::process_environment(env), ChildSetup{cgroup_procs});
      pid = proc.id();
      proc.detach();  // reaped by reap_loop, not by the handle
    } catch (const std::exception& e) {
      std::fclose(log);
      throw Error(Errc::io, "cannot start " + exe.string() + ": " + e.what());
    }
    live_.insert(pid);
  }
  std::fclose(log);
  cv_.notify_all();
  return pid;
}

void WorkerProcesses::signal(pid_t pid, int sig) {
  std::lock_guard lk(mu_);
  if (live_.count(pid)) ::kill(pid, sig);  // never signal a pid that may have been reused
}

std::size_t WorkerProcesses::live() const {
  std::lock_guard lk(mu_);
  return live_.size();
}

void WorkerProcesses::reap_loop() {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return !live_.empty() || stopping_; });
      if (live_.empty() && stopping_) return;
    }
    // Wait without reaping, then reap under the lock: a launch holds it until its child is
    // listed, and Boost.Process opens the child's pidfd after exec, which fails once the child
    // is reaped (a worker may well have run to its end by then on a loaded machine).
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      // ECHILD: a child listed but already reaped elsewhere cannot happen; clear and go on.
      std::lock_guard lk(mu_);
      live_.clear();
      continue;
    }
    int status = 0;
    bool ours;
    {
      std::lock_guard lk(mu_);
      if (::waitpid(info.si_pid, &status, 0) != info.si_pid) continue;
      ours = live_.erase(info.si_pid) > 0;
    }
    if (ours) on_exit_(info.si_pid, status);
  }
}

std::string describe_wait_status(int st) {
  if (WIFEXITED(st)) return "exited with code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    const char* abbrev = sigabbrev_np(sig);
    return std::string("killed by SIG") + (abbrev ? abbrev : std::to_string(sig).c_str()) + " (" + strsignal(sig) + ")";
  }
  return "ended with wait status " + std::to_string(st);
}

}  // namespace remora
