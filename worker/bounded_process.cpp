#include "worker/bounded_process.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/start_dir.hpp>
#include <boost/process/v2/stdio.hpp>
#include <functional>

#include "shared/error.hpp"

namespace remora::worker {
namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;

constexpr std::chrono::seconds kPipeGrace{1};  // after a kill, for the last output to drain

// Runs in the child between fork and exec: a new session (and process group) whose id is the
// child's pid, and no blocked signals inherited from the worker.
struct OwnSession {
  bp::error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&, const char* const*) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::setsid() < 0) return {errno, bp::system_category()};
    return {};
  }
};

// One output stream: keeps the first `max` bytes, counts the rest, reads to the end.
struct Capture {
  Capture(asio::io_context& io, std::size_t max_bytes) : pipe(io), max(max_bytes) {}
  void read(std::function<void()> done) {
    pipe.async_read_some(asio::buffer(buf), [this, done = std::move(done)](const bp::error_code& ec, std::size_t n) mutable {
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
  asio::io_context io;
  Capture out(io, limits.max_output), err(io, limits.max_output);
  std::optional<bp::process> proc;
  try {
    proc.emplace(io, bp::filesystem::path(exe.string()), args, bp::process_stdio{nullptr, out.pipe, err.pipe},
                 bp::process_start_dir{bp::filesystem::path(cwd.string())}, OwnSession{});
  } catch (const std::exception& e) {
    throw Error(Errc::io, "cannot start " + exe.string() + ": " + e.what());
  }
  const pid_t session = proc->id();
  ProcessOutcome r;
  bool exited = false;
  int pending = 3;  // the process and its two streams
  asio::steady_timer timer(io, std::chrono::duration_cast<std::chrono::steady_clock::duration>(limits.timeout));
  auto done = [&] {
    if (--pending == 0) timer.cancel();
  };
  // At the deadline: kill the session, then give the streams a moment. After that (or if the
  // program had exited and something it started still holds the streams): close them.
  std::function<void(const bp::error_code&)> on_timer = [&](const bp::error_code& ec) {
    if (ec) return;  // cancelled: everything ended in time
    if (!exited) {
      r.timed_out = true;
      ::kill(-session, SIGKILL);
      timer.expires_after(kPipeGrace);
      timer.async_wait(on_timer);
      return;
    }
    out.pipe.close();
    err.pipe.close();
  };
  timer.async_wait(on_timer);
  proc->async_wait([&](const bp::error_code&, int) {
    exited = true;
    ::kill(-session, SIGKILL);  // whatever it left running in its session
    done();
  });
  out.read(done);
  err.read(done);
  io.run();

  const int status = proc->native_exit_code();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = std::move(out.text);
  r.err = std::move(err.text);
  r.out_dropped = out.dropped;
  r.err_dropped = err.dropped;
  return r;
}

}  // namespace remora::worker
