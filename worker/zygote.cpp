#include "worker/zygote.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "shared/sandbox_policy.hpp"
#include "shared/zygote_protocol.hpp"
#include "worker/seccomp_filter.hpp"
#include "worker/worker_main.hpp"

namespace remora::worker {

namespace {

using zygote::LaunchReply;
using zygote::LaunchRequest;

// The process's argument area, which /proc/PID/cmdline shows: each worker writes its own
// arguments there (setproctitle, as servers that fork workers do).
struct Title {
  char* begin = nullptr;
  std::size_t size = 0;
};

void set_title(Title t, const std::vector<std::string>& args) {
  if (t.size == 0) return;
  std::string title = "remora-worker";
  title.push_back('\0');
  for (const auto& a : args) {
    title += a;
    title.push_back('\0');
  }
  const std::size_t n = std::min(title.size(), t.size);
  std::memcpy(t.begin, title.data(), n);
  std::memset(t.begin + n, 0, t.size - n);
  t.begin[t.size - 1] = '\0';  // a title cut short still ends its last string
}

LaunchReply failure(const char* step, int err) {
  LaunchReply r;
  r.err = err == 0 ? EIO : err;
  std::snprintf(r.step, sizeof r.step, "%s", step);
  return r;
}

bool write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The worker, forked by the intermediate: waits for the supervisor's word (it has this pid among
// its children), then becomes what an exec would have made of it: stdin /dev/null, stdout and
// stderr the agent's log, no other descriptor, the default signal dispositions, exactly the
// requested environment and arguments. Without the word (the supervisor gave up on this launch,
// or the zygote died first) it exits at once, having run nothing.
[[noreturn]] void run_worker(const LaunchRequest& req, int log, int go, int devnull, Title title,
                             const AttemptAction& attempt) noexcept {
  try {
    char byte = 0;
    ssize_t n;
    do n = ::read(go, &byte, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1 || byte != 'g') ::_exit(127);
    if (::dup2(devnull, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0) ::_exit(127);
    if (::close_range(3, ~0U, 0) != 0) ::_exit(127);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM}) ::signal(sig, SIG_DFL);
    sandbox::replace_environment(req.env);
    set_title(title, req.args);
    // glibc's names for this program pointed into the argument area just overwritten.
    program_invocation_name = program_invocation_short_name = const_cast<char*>("remora-worker");
    std::vector<std::string> args{"remora-worker"};
    args.insert(args.end(), req.args.begin(), req.args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::exit(worker_main(static_cast<int>(args.size()), argv.data(), attempt));
  } catch (...) {
    ::_exit(127);
  }
}

// A launch's outcome: the reply, and the write end of the worker's go pipe for the supervisor.
struct Launched {
  LaunchReply reply;
  UniqueFd go;
};

// Forks one worker through an intermediate that exits at once, so that the worker's parent becomes
// the supervisor (the nearest child subreaper); moves it into its memory cgroup before it runs.
Launched launch(const LaunchRequest& req, std::vector<UniqueFd>& fds, int ctl, int devnull, Title title,
                const AttemptAction& attempt) {
  const int log = fds[0].get();
  const int cgroup_procs = fds.size() > 1 ? fds[1].get() : -1;
  Pipe report = Pipe::make(), go = Pipe::make();
  if (!report.r || !go.r) return {failure("pipe2", errno), {}};
  const pid_t intermediate = ::fork();
  if (intermediate < 0) return {failure("fork", errno), {}};
  if (intermediate == 0) {
    // Nothing here may return into the zygote's loop: this process is not the zygote.
    try {
      LaunchReply reply;
      const pid_t worker = ::fork();
      if (worker == 0) {
        ::close(ctl);
        report = Pipe();
        go.w = UniqueFd();
        run_worker(req, log, go.r.get(), devnull, title, attempt);
      }
      if (worker < 0) {
        reply = failure("fork", errno);
      } else if (cgroup_procs >= 0) {
        char pid[16];
        const int len = std::snprintf(pid, sizeof pid, "%d", static_cast<int>(worker));
        if (::write(cgroup_procs, pid, static_cast<std::size_t>(len)) != len) {
          reply = failure("cgroup.procs", errno);
          ::kill(worker, SIGKILL);
        }
      }
      if (reply.err == 0) reply.pid = worker;
      ::_exit(write_all(report.w.get(), &reply, sizeof reply) ? 0 : 1);
    } catch (...) {
      ::_exit(1);
    }
  }
  report.w = UniqueFd();
  int status = 0;
  while (::waitpid(intermediate, &status, 0) < 0 && errno == EINTR) {
  }
  LaunchReply reply;
  ssize_t n;
  do n = ::read(report.r.get(), &reply, sizeof reply);
  while (n < 0 && errno == EINTR);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n != static_cast<ssize_t>(sizeof reply))
    return {failure("intermediate process", ECHILD), {}};  // a worker it forked gets no word and exits
  reply.step[sizeof reply.step - 1] = '\0';
  if (reply.err != 0) return {reply, {}};
  return {reply, std::move(go.w)};
}

bool parse_int(std::string_view s, long& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

int run_zygote(int argc, char** argv, AttemptAction attempt) {
  long ctl = -1, supervisor_pid = 0;
  if (argc < 5 || std::string_view(argv[1]) != "--zygote" || !parse_int(argv[2], ctl) ||
      std::string_view(argv[3]) != "--supervisor-pid" || !parse_int(argv[4], supervisor_pid) || ctl < 3) {
    std::fprintf(stderr, "usage: remora-worker --zygote FD --supervisor-pid PID (started by remora)\n");
    return kBadInput;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != supervisor_pid) return kOrphaned;
  // A Ctrl-C on the terminal reaches the whole process group: the supervisor decides what it
  // means, and the zygote keeps serving (each worker takes the default dispositions back).
  for (int sig : {SIGPIPE, SIGINT, SIGTERM}) ::signal(sig, SIG_IGN);
  ::fcntl(static_cast<int>(ctl), F_SETFD, FD_CLOEXEC);
  const UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  prepare_seccomp_filter();  // made once here: each worker forked after only loads it
  Title title{argv[0], static_cast<std::size_t>(argv[argc - 1] + std::strlen(argv[argc - 1]) + 1 - argv[0])};
  std::vector<char> buffer(zygote::kMaxRequestBytes);
  for (;;) {
    std::vector<UniqueFd> fds;
    Launched launched;
    const auto bytes = zygote::receive_message(static_cast<int>(ctl), buffer, fds);
    if (!bytes) {
      if (errno == 0) return 0;  // the supervisor closed its end: the run is over
      if (errno != EMSGSIZE) {
        std::fprintf(stderr, "remora-worker --zygote: receive: %s\n", std::strerror(errno));
        return kBadInput;
      }
      launched.reply = failure("request larger than the limit", EMSGSIZE);
    } else if (fds.empty()) {
      launched.reply = failure("request without its log descriptor", EINVAL);
    } else {
      try {
        launched = launch(zygote::decode(*bytes), fds, static_cast<int>(ctl), devnull.get(), title, attempt);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "remora-worker --zygote: %s\n", e.what());
        launched.reply = failure("request", EINVAL);
      }
    }
    // The worker's go pipe goes with the reply: the supervisor lets it run once it has listed it.
    std::vector<int> go;
    if (launched.go) go.push_back(launched.go.get());
    if (!zygote::send_message(static_cast<int>(ctl),
                              std::string_view(reinterpret_cast<const char*>(&launched.reply), sizeof launched.reply), go))
      return errno == EPIPE || errno == ECONNRESET ? 0 : kBadInput;
  }
}

}  // namespace remora::worker
