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

#include "shared/zygote_protocol.hpp"
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

struct Pipe {
  UniqueFd r, w;
  static Pipe make() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return {};
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

// The worker, forked by the intermediate: waits for the zygote's word that it is the supervisor's
// child now (its intermediate has exited and been reaped), then becomes what an exec would have
// made of it: stdin /dev/null, stdout and stderr the agent's log, exactly the requested
// environment and arguments. No descriptor of the zygote's survives (the Sandbox closes every
// one beyond 2 before anything else).
[[noreturn]] void run_worker(const LaunchRequest& req, int log, int go, int devnull, Title title, AttemptAction attempt) {
  char byte = 0;
  ssize_t n;
  do n = ::read(go, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || byte != 'g') ::_exit(127);  // not launched after all: the supervisor does not know this pid
  if (::dup2(devnull, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0) ::_exit(127);
  ::clearenv();
  for (const auto& kv : req.env) {
    const auto eq = kv.find('=');
    if (eq != std::string::npos && eq > 0) ::setenv(kv.substr(0, eq).c_str(), kv.c_str() + eq + 1, 1);
  }
  set_title(title, req.args);
  std::vector<std::string> args{"remora-worker"};
  args.insert(args.end(), req.args.begin(), req.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::exit(worker_main(static_cast<int>(args.size()), argv.data(), std::move(attempt)));
}

// Forks one worker through an intermediate that exits at once, so that the worker's parent becomes
// the supervisor (the nearest child subreaper); moves it into its memory cgroup before it runs.
LaunchReply launch(const LaunchRequest& req, std::vector<UniqueFd>& fds, int ctl, int devnull, Title title,
                   const AttemptAction& attempt) {
  const int log = fds[0].get();
  const int cgroup_procs = fds.size() > 1 ? fds[1].get() : -1;
  Pipe report = Pipe::make(), go = Pipe::make();
  if (!report.r || !go.r) return failure("pipe2", errno);
  const pid_t intermediate = ::fork();
  if (intermediate < 0) return failure("fork", errno);
  if (intermediate == 0) {
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
      const std::string pid = std::to_string(worker);
      if (::write(cgroup_procs, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
        reply = failure("cgroup.procs", errno);
        ::kill(worker, SIGKILL);
      }
    }
    if (reply.err == 0) reply.pid = worker;
    ::_exit(write_all(report.w.get(), &reply, sizeof reply) ? 0 : 1);
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
    return failure("intermediate process", ECHILD);  // a worker it forked gets no word and exits
  reply.step[sizeof reply.step - 1] = '\0';
  if (reply.err == 0 && !write_all(go.w.get(), "g", 1)) return failure("go pipe", errno);
  return reply;
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
  ::fcntl(static_cast<int>(ctl), F_SETFD, FD_CLOEXEC);
  const UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Title title{argv[0], static_cast<std::size_t>(argv[argc - 1] + std::strlen(argv[argc - 1]) + 1 - argv[0])};
  std::vector<char> buffer(zygote::kMaxRequestBytes);
  for (;;) {
    std::vector<UniqueFd> fds;
    LaunchReply reply;
    const auto bytes = zygote::receive_message(static_cast<int>(ctl), buffer, fds);
    if (!bytes) {
      if (errno == 0) return 0;  // the supervisor closed its end: the run is over
      if (errno != EMSGSIZE) {
        std::fprintf(stderr, "remora-worker --zygote: receive: %s\n", std::strerror(errno));
        return kBadInput;
      }
      reply = failure("request larger than the limit", EMSGSIZE);
    } else if (fds.empty() || fds.size() > 2) {
      reply = failure("request without its log descriptor", EINVAL);
    } else {
      try {
        reply = launch(zygote::decode(*bytes), fds, static_cast<int>(ctl), devnull.get(), title, attempt);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "remora-worker --zygote: %s\n", e.what());
        reply = failure("request", EINVAL);
      }
    }
    if (!zygote::send_message(static_cast<int>(ctl), std::string_view(reinterpret_cast<const char*>(&reply), sizeof reply), {}))
      return errno == EPIPE || errno == ECONNRESET ? 0 : kBadInput;
  }
}

}  // namespace remora::worker
