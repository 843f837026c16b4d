#include "supervisor/worker_processes.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <utility>

#include "shared/child_start.hpp"
#include "shared/error.hpp"
#include "shared/unique_fd.hpp"
#include "shared/zygote_protocol.hpp"

// Under a sanitizer the child is started with a plain fork: a sanitizer's runtime does not expect
// a child that shares its memory (the ASan build of the test suite runs this path).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REMORA_SPAWN_WITH_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define REMORA_SPAWN_WITH_FORK 1
#endif
#endif

namespace remora {

namespace {

// The process-wide child-subreaper mark, held while any WorkerProcesses' zygote serves (several
// supervisors may share a process, as in the tests).
std::mutex subreaper_mu;
int subreaper_holders = 0;

bool hold_subreaper() {
  std::lock_guard lk(subreaper_mu);
  if (subreaper_holders == 0 && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return false;
  ++subreaper_holders;
  return true;
}

void release_subreaper() {
  std::lock_guard lk(subreaper_mu);
  if (--subreaper_holders == 0) ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// Room in the zygote's command line for each worker's arguments (worker/zygote.hpp).
constexpr std::size_t kTitleRoom = 4096;
// How long a launch waits for the zygote's answer before giving up on it (a fork is a millisecond).
constexpr std::chrono::milliseconds kZygoteAnswer{10000};

// Everything the child needs, made before the fork: between fork and exec the child makes only
// system calls. The supervisor has other threads, whose locks (the allocator's, a sanitizer's,
// a logger's) a child inherits held; a launcher that allocates there can hang for ever, and such
// a child, not yet a worker, would outlive its supervisor.
struct Launch {
  const char* exe;
  char* const* argv;
  char* const* envp;
  int devnull, log, start_w, cgroup_procs;
  int keep_fd;  // a descriptor to pass on (the zygote's socket), or -1
  pid_t parent;
};

// The child: dies with the supervisor (and is gone at once if it already has), stdin /dev/null,
// stdout and stderr the log, in its agent's memory cgroup (writing "0" moves the writer), no
// descriptor beyond 0, 1 and 2 past exec (close_range marks the rest close-on-exec, so that a
// failed exec can still report through start_w), and none of the supervisor's blocked signals
// (its signal thread takes SIGINT and SIGTERM; a worker must get them).
[[noreturn]] void exec_worker(const Launch& l) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) start_failed(l.start_w, "prctl");
  if (::getppid() != l.parent) ::_exit(127);
  if (::dup2(l.devnull, 0) < 0 || ::dup2(l.log, 1) < 0 || ::dup2(l.log, 2) < 0) start_failed(l.start_w, "dup2");
  if (l.cgroup_procs >= 0 && ::write(l.cgroup_procs, "0", 1) != 1) start_failed(l.start_w, "cgroup.procs");
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) start_failed(l.start_w, "close_range");
  if (l.keep_fd >= 0 && ::fcntl(l.keep_fd, F_SETFD, 0) != 0) start_failed(l.start_w, "fcntl");
  // No handler of the supervisor may run here (a child sharing its memory would run it on the
  // supervisor's data) nor survive exec: every caught signal goes back to its default first.
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (::sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
      sa.sa_handler = SIG_DFL;
      sa.sa_flags = 0;
      ::sigaction(sig, &sa, nullptr);
    }
  }
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(l.exe, l.argv, l.envp);
  start_failed(l.start_w, "execve");
}

#ifndef REMORA_SPAWN_WITH_FORK
int exec_worker_cloned(void* launch) { exec_worker(*static_cast<const Launch*>(launch)); }
#endif

// Starts the child. Outside sanitizers it shares the supervisor's memory until it execs
// (CLONE_VM | CLONE_VFORK, as posix_spawn does, on a stack of its own): the cost of a start then
// does not grow with the supervisor's memory, as a fork's copy of its page tables does (a graph of
// 100,000 agents). The child makes only system calls either way (exec_worker); with all signals
// blocked around the clone, none of the supervisor's handlers can run in it.
pid_t spawn(const Launch& launch) {
#ifdef REMORA_SPAWN_WITH_FORK
  const pid_t pid = ::fork();
  if (pid == 0) exec_worker(launch);
  return pid;
#else
  constexpr std::size_t kStack = 64 * 1024;
  std::vector<char> stack(kStack);
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = ::clone(exec_worker_cloned, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD,
                            const_cast<Launch*>(&launch));
  const int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return pid;
#endif
}

// Execs exe as a child (see exec_worker); throws Error(io) naming the step that failed. The
// caller holds WorkerProcesses::mu_, so that the reaper cannot take the child before it is listed.
pid_t exec_child(const std::filesystem::path& exe, const std::vector<std::string>& args, int log,
                 const std::vector<std::string>& env, int cgroup_procs, int keep_fd) {
  auto fail = [&](const std::string& what, int err) {
    return Error(Errc::io, "cannot start " + exe.string() + ": " + what + ": " + std::strerror(err));
  };
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull) throw fail("/dev/null", errno);
  auto [start_r, start_w] = Pipe::make();
  if (!start_r) throw fail("pipe2", errno);

  const std::string exe_path = exe.string();
  std::vector<std::string> argv_strings{exe_path};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  const auto argv = c_strings(argv_strings);
  const auto envp = c_strings(env);
  const Launch launch{exe_path.c_str(), argv.data(), envp.data(), devnull.get(), log, start_w.get(),
                      cgroup_procs, keep_fd, ::getpid()};
  const pid_t pid = spawn(launch);
  if (pid < 0) throw fail("fork", errno);
  start_w = UniqueFd();
  if (const auto err = read_start_error(start_r.get())) {  // the child could not exec: it is gone
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw fail(err->step, err->err);
  }
  return pid;
}
}  // namespace

WorkerProcesses::WorkerProcesses(ExitFn on_exit) : on_exit_(std::move(on_exit)), reaper_([this] { reap_loop(); }) {}

WorkerProcesses::~WorkerProcesses() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    for (pid_t p : live_) ::kill(p, SIGKILL);
    end_zygote();
  }
  cv_.notify_all();
  reaper_.join();
}

pid_t WorkerProcesses::start(const std::filesystem::path& exe, const std::vector<std::string>& args,
                             const std::filesystem::path& log_file, const std::vector<std::string>& env,
                             int cgroup_procs) {
  // 0600: a log holds what the agent saw. The worker writes it as nobody through this descriptor.
  UniqueFd log(::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!log) throw Error(Errc::io, "cannot open worker log " + log_file.string() + ": " + std::strerror(errno));
  // Hold the lock until the child is listed (or reaped here), so that the reaper cannot take it.
  std::lock_guard lk(mu_);
  if (!zygote_tried_) {
    zygote_tried_ = true;
    // REMORA_NO_ZYGOTE=1 execs every worker (to measure the zygote against, or to debug a start).
    const char* no_zygote = std::getenv("REMORA_NO_ZYGOTE");
    if (!no_zygote || std::string_view(no_zygote) != "1") start_zygote(exe, log_file.parent_path() / "zygote.stderr");
  }
  UniqueFd go;
  pid_t pid = zygote_ctl_ ? start_through_zygote(exe, args, log.get(), env, cgroup_procs, go) : 0;
  if (pid == 0) pid = exec_child(exe, args, log.get(), env, cgroup_procs, -1);
  live_.insert(pid);
  cv_.notify_all();
  // A forked worker waits for this word: it runs only once listed here. (If it has died meanwhile
  // the write fails, and the reaper reports its end as any other.)
  if (go) [[maybe_unused]] auto n = ::write(go.get(), "g", 1);
  return pid;
}

void WorkerProcesses::close_zygote() {
  std::lock_guard lk(mu_);
  end_zygote();
}

void WorkerProcesses::end_zygote() {
  zygote_ctl_ = UniqueFd();  // its end reads end-of-file: it exits
  if (zygote_pid_ != 0) ::kill(zygote_pid_, SIGKILL);  // not reaped yet: that needs mu_, which we hold
  // Workers already handed to us stay our children; nothing else is to come to us.
  let_go_of_subreaper();
}

void WorkerProcesses::let_go_of_subreaper() {
  if (std::exchange(subreaper_held_, false)) release_subreaper();
}

void WorkerProcesses::start_zygote(const std::filesystem::path& exe, const std::filesystem::path& log_file) {
  // Before the zygote exists: it inherits the mark that its orphans come to us.
  if (!hold_subreaper()) {
    spdlog::warn("worker zygote: cannot become a child subreaper ({}); workers are exec'd", std::strerror(errno));
    return;
  }
  subreaper_held_ = true;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    spdlog::warn("worker zygote: socketpair: {}; workers are exec'd", std::strerror(errno));
    let_go_of_subreaper();
    return;
  }
  UniqueFd ours(sv[0]), theirs(sv[1]);
  try {
    UniqueFd log(::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!log) throw Error(Errc::io, "cannot open " + log_file.string() + ": " + std::strerror(errno));
    zygote_pid_ = exec_child(exe,
                             {"--zygote", std::to_string(theirs.get()), "--supervisor-pid", std::to_string(::getpid()),
                              std::string(kTitleRoom, ' ')},
                             log.get(), {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "LD_BIND_NOW=1"}, -1,
                             theirs.get());
  } catch (const Error& e) {
    spdlog::warn("worker zygote: {}; workers are exec'd", e.what());
    let_go_of_subreaper();
    return;
  }
  zygote_exe_ = exe;
  zygote_ctl_ = std::move(ours);
  cv_.notify_all();  // the reaper watches for the zygote's end from now on
  spdlog::debug("worker zygote started: pid {}", zygote_pid_);
}

void WorkerProcesses::stop_zygote(const std::string& why) {
  spdlog::warn("worker zygote: {}; workers are exec'd from here on", why);
  end_zygote();
}

pid_t WorkerProcesses::start_through_zygote(const std::filesystem::path& exe, const std::vector<std::string>& args,
                                            int log, const std::vector<std::string>& env, int cgroup_procs,
                                            UniqueFd& go) {
  if (exe != zygote_exe_) return 0;
  const std::string request = zygote::encode({args, env});
  if (request.size() > zygote::kMaxRequestBytes) return 0;  // more than a launch request holds: exec this one
  const int ctl = zygote_ctl_.get();
  std::vector<int> fds{log};
  if (cgroup_procs >= 0) fds.push_back(cgroup_procs);
  if (!zygote::send_message(ctl, request, fds)) {
    stop_zygote(std::string("cannot send it a request: ") + std::strerror(errno));
    return 0;
  }
  pollfd p{ctl, POLLIN, 0};
  int ready;
  do ready = ::poll(&p, 1, static_cast<int>(kZygoteAnswer.count()));
  while (ready < 0 && errno == EINTR);
  if (ready <= 0) {
    stop_zygote(ready == 0 ? "no answer in " + std::to_string(kZygoteAnswer.count()) + " ms"
                           : std::string("poll: ") + std::strerror(errno));
    return 0;
  }
  std::vector<char> buffer(sizeof(zygote::LaunchReply));
  std::vector<UniqueFd> passed;
  zygote::LaunchReply reply;
  const auto bytes = zygote::receive_message(ctl, buffer, passed);
  if (!bytes || bytes->size() != sizeof reply) {
    stop_zygote(!bytes && errno == 0 ? "it is gone" : "no answer that reads as one");
    return 0;
  }
  std::memcpy(&reply, bytes->data(), sizeof reply);
  reply.step[sizeof reply.step - 1] = '\0';
  if (reply.err != 0)
    throw Error(Errc::io, "cannot start " + exe.string() + ": " + reply.step + ": " + std::strerror(reply.err));
  // Ours to wait for: its intermediate has been reaped, so it was handed to us (a subreaper). A
  // worker that gets no word (its go pipe closed unwritten, here) exits without running anything.
  siginfo_t info{};
  if (reply.pid <= 0 || passed.size() != 1 ||
      ::waitid(P_PID, static_cast<id_t>(reply.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    stop_zygote("its answer (worker pid " + std::to_string(reply.pid) + ") names no child of ours to let go");
    return 0;
  }
  go = std::move(passed[0]);
  return reply.pid;
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
      cv_.wait(lk, [&] { return !live_.empty() || zygote_pid_ != 0 || stopping_; });
      if (live_.empty() && zygote_pid_ == 0 && stopping_) return;
    }
    // Wait without reaping, then reap under the lock: a launch holds it until its child is
    // listed or reaped by the launch itself (a worker may well have run to its end by then on a
    // loaded machine).
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      // ECHILD: a child listed but already reaped elsewhere cannot happen; clear and go on.
      std::lock_guard lk(mu_);
      live_.clear();
      zygote_pid_ = 0;
      if (zygote_ctl_) stop_zygote("it is no child of ours");
      continue;
    }
    int status = 0;
    bool ours;
    {
      std::lock_guard lk(mu_);
      if (::waitpid(info.si_pid, &status, 0) != info.si_pid) continue;
      if (info.si_pid == zygote_pid_) {
        zygote_pid_ = 0;
        if (zygote_ctl_) stop_zygote("it ended (" + describe_wait_status(status) + ")");
        continue;
      }
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
