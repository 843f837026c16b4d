#include "worker/bounded_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <functional>

#include "shared/child_start.hpp"
#include "shared/error.hpp"
#include "shared/unique_fd.hpp"
#include "worker/tool_confinement.hpp"

extern char** environ;

namespace remora::worker {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

constexpr std::chrono::seconds kPipeGrace{1};  // after a kill, for the last output to drain

// What the children need, made ready before the clone: between clone and exec they only make
// system calls (the worker has other threads, whose locks a child would inherit held).
struct Launch {
  const char* exe;
  char* const* argv;
  const char* cwd;
  int devnull, out_w, err_w, status_w, start_w;
  int landlock_fd;  // stacked on the program: the worker's rules without the workspace's files
};

long raw_clone(unsigned long flags) { return ::syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr); }

// The program: stdin /dev/null, stdout and stderr the worker's pipes, no blocked signals, the
// stacked Landlock domain, and not one descriptor beyond 0, 1 and 2 (close_range marks every
// other one close-on-exec, so that a failed exec can still report through start_w).
[[noreturn]] void run_program(const Launch& l) {
  sigset_t none;
  sigemptyset(&none);
  ::signal(SIGPIPE, SIG_DFL);
  if (::dup2(l.devnull, 0) < 0 || ::dup2(l.out_w, 1) < 0 || ::dup2(l.err_w, 2) < 0) start_failed(l.start_w, "dup2");
  if (::chdir(l.cwd) != 0) start_failed(l.start_w, "chdir");
  if (l.landlock_fd >= 0 && ::syscall(SYS_landlock_restrict_self, l.landlock_fd, 0) != 0)
    start_failed(l.start_w, "landlock_restrict_self");
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) start_failed(l.start_w, "close_range");
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(l.exe, l.argv, environ);
  start_failed(l.start_w, "execve");
}

// The tool's init: PID 1 of the tool's PID namespace (where the worker may make one). It starts
// the program, reaps whatever is left to it, and when the program ends, reports its wait status
// and exits, upon which the kernel kills everything left in the namespace: no program outlives
// its tool call, however it detached itself (double fork, setsid). It dies with the worker
// (PR_SET_PDEATHSIG), and so does the namespace. Without a PID namespace it is the leader of a
// session of its own, and what is left in its process group is killed instead.
[[noreturn]] void tool_init(const Launch& l) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  pollfd worker{l.status_w, 0, 0};  // no reader: the worker died before the death signal was set
  if (::poll(&worker, 1, 0) == 1 && (worker.revents & POLLERR)) ::_exit(1);
  ::setsid();
  const long program = raw_clone(SIGCHLD);
  if (program == 0) run_program(l);
  if (program < 0) start_failed(l.start_w, "clone");
  ::close(l.start_w);
  ::close(l.out_w);
  ::close(l.err_w);
  ::close(l.devnull);
  int status = 0;
  for (;;) {
    int st = 0;
    const pid_t ended = ::waitpid(-1, &st, 0);
    if (ended == program) {
      status = st;
      break;
    }
    if (ended < 0 && errno != EINTR) ::_exit(1);
  }
  [[maybe_unused]] auto n = ::write(l.status_w, &status, sizeof status);
  ::kill(0, SIGKILL);  // our process group; in a PID namespace, init is immune to its own signal
  ::_exit(0);
}

// Both ends of a pipe, or throws naming pipe2's error.
Pipe make_pipe(int flags = 0) {
  auto p = Pipe::make(flags);
  if (!p.r) throw Error(Errc::io, std::string("pipe2: ") + std::strerror(errno));
  return p;
}

// One output stream: keeps the first `max` bytes, counts the rest, reads to the end.
struct Capture {
  Capture(asio::io_context& io, int fd, std::size_t max_bytes) : pipe(io, fd), max(max_bytes) {}
  void read(std::function<void()> done) {
    pipe.async_read_some(asio::buffer(buf), [this, done = std::move(done)](const error_code& ec, std::size_t n) mutable {
      const std::size_t keep = std::min(n, max - std::min(max, text.size()));
      text.append(buf.data(), keep);
      dropped += n - keep;
      if (ec) return done();
      read(std::move(done));
    });
  }
  asio::readable_pipe pipe;
  std::size_t max;
  std::string text;
  std::size_t dropped = 0;
  std::array<char, 16384> buf{};
};

}  // namespace

ProcessOutcome run_bounded(const std::filesystem::path& exe, const std::vector<std::string>& args,
                           const std::filesystem::path& cwd, const ProcessLimits& limits) {
  const std::string exe_s = exe.string(), cwd_s = cwd.string();
  std::vector<std::string> arg_s{exe_s};
  arg_s.insert(arg_s.end(), args.begin(), args.end());
  const auto argv = c_strings(arg_s);
  Pipe out = make_pipe(), err = make_pipe(), status = make_pipe(O_NONBLOCK), start = make_pipe();
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) throw Error(Errc::io, std::string("cannot open /dev/null: ") + std::strerror(errno));
  const auto& confinement = tool_confinement();
  const Launch launch{exe_s.c_str(), argv.data(),    cwd_s.c_str(),  devnull,
                      out.w.get(),   err.w.get(),    status.w.get(), start.w.get(),
                      confinement.landlock ? confinement.landlock->fd() : -1};

  // Every signal blocked across the clone, so that no handler of the worker's runs in a child.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const long pid = raw_clone(SIGCHLD | (confinement.pid_namespace ? CLONE_NEWPID : 0));
  if (pid == 0) tool_init(launch);
  const int clone_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(devnull);
  out.w = UniqueFd();
  err.w = UniqueFd();
  status.w = UniqueFd();
  start.w = UniqueFd();
  if (pid < 0) throw Error(Errc::io, "cannot start " + exe_s + ": clone: " + std::strerror(clone_err));

  // The program's exec closes the last writer of `start`: nothing read means it started.
  if (const auto failed = read_start_error(start.r.get())) {
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
    throw Error(Errc::io, "cannot start " + exe_s + ": " + failed->step + ": " + std::strerror(failed->err));
  }

  asio::io_context io;
  Capture out_text(io, out.r.release(), limits.max_output), err_text(io, err.r.release(), limits.max_output);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
    throw Error(Errc::io, std::string("pidfd_open: ") + std::strerror(errno));
  }
  asio::posix::stream_descriptor init(io, pidfd);
  auto kill_all = [&] {
    ::kill(static_cast<pid_t>(pid), SIGKILL);   // the init: in a PID namespace, everything in it
    ::kill(-static_cast<pid_t>(pid), SIGKILL);  // its process group, where there is no namespace
  };
  ProcessOutcome r;
  bool exited = false;
  int init_status = 0;
  int pending = 3;  // the init and the two streams
  asio::steady_timer timer(io, std::chrono::duration_cast<std::chrono::steady_clock::duration>(limits.timeout));
  auto done = [&] {
    if (--pending == 0) timer.cancel();
  };
  // At the deadline: kill everything, then give the streams a moment. After that (or if the
  // program had ended and something still holds the streams): close them.
  std::function<void(const error_code&)> on_timer = [&](const error_code& ec) {
    if (ec) return;  // cancelled: everything ended in time
    if (!exited) {
      r.timed_out = true;
      kill_all();
      timer.expires_after(kPipeGrace);
      timer.async_wait(on_timer);
      return;
    }
    out_text.pipe.close();
    err_text.pipe.close();
  };
  timer.async_wait(on_timer);
  init.async_wait(asio::posix::descriptor_base::wait_read, [&](const error_code&) {
    while (::waitpid(static_cast<pid_t>(pid), &init_status, 0) < 0 && errno == EINTR) {
    }
    exited = true;
    kill_all();  // whatever is left, where there is no PID namespace to end with the init
    done();
  });
  out_text.read(done);
  err_text.read(done);
  io.run();

  // The program's wait status as its init reported it; none when the init was killed first.
  int program_status = 0;
  if (::read(status.r.get(), &program_status, sizeof program_status) != sizeof program_status)
    program_status = WIFSIGNALED(init_status) ? init_status : SIGKILL;
  if (WIFEXITED(program_status)) r.exit_code = WEXITSTATUS(program_status);
  if (WIFSIGNALED(program_status)) r.signal = WTERMSIG(program_status);
  r.out = std::move(out_text.text);
  r.err = std::move(err_text.text);
  r.out_dropped = out_text.dropped;
  r.err_dropped = err_text.dropped;
  return r;
}

}  // namespace remora::worker
