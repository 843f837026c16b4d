// The sandbox: its policy and config, the kernel probe, how endings are classified, and real runs
// of `remora run` whose agents each attempt one hostile action inside a real sandboxed worker
// (seccomp, Landlock, namespaces and rlimits of this kernel), beside an ordinary agent that
// completes. Runs are observed as a user would: `remora status --json`, `remora events --json`
// and the workers' logs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "shared/bundle.hpp"
#include "shared/error.hpp"
#include "shared/sandbox_probe.hpp"
#include "supervisor/graph_spec.hpp"
#include "supervisor/sandbox_ending.hpp"
#include "graph_project.hpp"
#include "test_support.hpp"
#include "worker/step_runner.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sandbox::Level;
using sandbox::Mechanism;
using test::write_text;

const std::string kRemora = REMORA_BIN;
const std::string kSandboxedExec = REMORA_SANDBOXED_EXEC;
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

std::vector<std::string> names(const std::vector<Mechanism>& ms) {
  std::vector<std::string> out;
  for (Mechanism m : ms) out.emplace_back(sandbox::name_of(m));
  return out;
}

std::vector<std::string> all_mechanisms() {
  return names({sandbox::kMechanisms.begin(), sandbox::kMechanisms.end()});
}

using Project = test::GraphProject;

// A file in the home directory of the user running the tests, removed afterwards.
class HomeFile {
 public:
  HomeFile() : path_(fs::path(::getpwuid(::getuid())->pw_dir) / (".remora-test-" + std::to_string(::getpid()))) {
    write_text(path_, "secret\n");
  }
  ~HomeFile() { fs::remove(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A TCP socket listening on 127.0.0.1, to see whether anyone connected.
class Listener {
 public:
  Listener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }
  bool connected() const {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) ::close(c);
    return c >= 0;
  }

 private:
  int fd_;
  int port_ = 0;
};

// Sets an environment variable of this process (and so of the supervisor it starts) for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// ---------------------------------------------------------------------------------------------
// Policy and config

TEST(SandboxConfig, DefaultsAreStrictWithSafeLimits) {
  sandbox::Config c;
  EXPECT_EQ(c.level, Level::strict);
  EXPECT_EQ(c.limits.address_space_mb, 4096u);
  EXPECT_EQ(c.limits.cpu_s, 600u);
  EXPECT_EQ(c.limits.open_files, 1024u);
  EXPECT_EQ(c.limits.file_size_mb, 1024u);
  EXPECT_EQ(c.limits.processes, 128u);
  EXPECT_EQ(c.limits.memory_mb, 4096u);
  EXPECT_EQ(c.limits.private_dir_mb, 1024u);
  EXPECT_TRUE(c.read_paths.empty());
}

TEST(SandboxConfig, GraphFilesReadItAndNameEveryBadField) {
  test::TempDir d;
  write_text(d / "bundles/ok/bundle.yaml", "name: ok\nkind: steps\nsteps: [{result: done}]\n");
  write_text(d / "g.yaml",
             "config:\n  sandbox: {level: standard, address_space_mb: 512, cpu: 5, open_files: 64, file_size_mb: 10,\n"
             "            processes: 16, memory_mb: 300, private_dir_mb: 20, read_paths: [/opt/tools]}\nagents: [{id: a, bundle: ok}]\n");
  GraphSpec spec = load_graph(d / "g.yaml");
  const sandbox::Config& c = spec.config.sandbox;
  EXPECT_EQ(c.level, Level::standard);
  EXPECT_EQ(c.limits, (sandbox::Limits{512, 5, 64, 10, 16, 300, 20}));
  EXPECT_EQ(c.read_paths, std::vector<std::string>{"/opt/tools"});

  write_text(d / "bad.yaml",
             "config:\n  sandbox: {level: tight, address_space_mb: 100, cpu: 0, open_files: 8, file_size_mb: 0,\n"
             "            processes: 2, memory_mb: 10, private_dir_mb: 0, read_paths: [relative/dir], memory: 1}\nagents: [{id: a, bundle: ok}]\n");
  std::string msg;
  try {
    load_graph(d / "bad.yaml");
  } catch (const Error& e) {
    msg = e.what();
  }
  const std::string f = (d / "bad.yaml").string() + ": config.sandbox.";
  for (const std::string& line :
       {f + "level: 'tight' is not one of strict | standard | none", f + "address_space_mb: must be >= 256",
        f + "cpu: must be >= 1", f + "open_files: must be >= 32", f + "file_size_mb: must be >= 1",
        f + "processes: must be >= 8", f + "memory_mb: must be >= 64", f + "private_dir_mb: must be >= 1",
        f + "read_paths: 'relative/dir' is not an absolute path",
        f + "memory: unknown field"})
    EXPECT_NE(msg.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << msg;
}

TEST(SandboxConfig, RoundTripsThroughTheStoredSpecAndTheWorkerCommandLine) {
  sandbox::Config c;
  c.level = Level::none;
  c.limits = {300, 7, 99, 12, 20, 100, 3};
  c.read_paths = {"/opt/a", "/srv/b"};
  EXPECT_EQ(sandbox::Config::from_json(json::parse(c.to_json().dump())), c);

  GraphSpec spec;
  spec.name = "g";
  spec.config.sandbox = c;
  AgentSpec a;
  a.id = "a";
  a.bundle = "ok";
  spec.agents.push_back(a);
  spec.bundles.emplace("ok", Bundle::from_json(json::parse(
                                 R"({"name":"ok","kind":"steps","steps":[{"kind":"result","args":{"summary":"x"}}]})")));
  EXPECT_EQ(GraphSpec::from_json(spec.to_json()).config.sandbox, c);

  CLI::App app;
  sandbox::Config parsed;
  parsed.add_options(app);
  auto args = c.to_args();
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
  app.parse(args);
  EXPECT_EQ(parsed, c);
}

TEST(SandboxPolicy, LimitsLeaveRoomForTheWorkspaceMapToDoubleTwice) {
  sandbox::Limits l;  // 4096 MiB of its own, 1024 MiB files
  auto small = sandbox::rlimits_for(l, 64 * kMiB);  // the reserve is at least 1 GiB
  EXPECT_EQ(small.address_space, (4096 + 1024) * kMiB);
  EXPECT_EQ(small.file_size, 1024 * kMiB);
  auto big = sandbox::rlimits_for(l, 2048 * kMiB);  // 4x the map
  EXPECT_EQ(big.address_space, (4096 + 8192) * kMiB);
  EXPECT_EQ(big.file_size, 8192 * kMiB);  // the data file may grow as large as the map
  EXPECT_EQ(big.cpu_s, 600u);
  EXPECT_EQ(big.open_files, 1024u);
  EXPECT_EQ(big.processes, 128u);
  EXPECT_LT(small.address_space, 8192 * kMiB);  // an 8 GiB allocation does not fit by default
}

TEST(SandboxPolicy, TheExpectedConfinementFollowsWhatTheKernelOffers) {
  sandbox::KernelFacts old;  // a kernel with Landlock ABI 3, user namespaces disabled, run as root
  old.landlock_abi = 3;
  old.seccomp = true;
  old.isolation.leave_root = EINVAL;
  old.isolation.user = ENOSPC;
  auto c = sandbox::expected(old, Level::standard);
  json skipped = c.to_json().at("skipped");
  EXPECT_EQ(skipped.at("unprivileged_uid"), "cannot leave root for nobody (uid 65534): Invalid argument");
  EXPECT_EQ(skipped.at("user_namespace"), "unshare(CLONE_NEWUSER): No space left on device");
  EXPECT_EQ(skipped.at("process_limit"), "root is exempt from RLIMIT_NPROC");
  EXPECT_EQ(skipped.at("landlock_tcp"), "needs Landlock ABI 4 (Linux 6.7), the kernel has 3");
  EXPECT_EQ(skipped.at("landlock_scope"), "needs Landlock ABI 6 (Linux 6.12), the kernel has 3");
  EXPECT_EQ(skipped.at("private_tmpfs"), "needs a user namespace of its own: unshare(CLONE_NEWUSER): No space left on device");
  EXPECT_EQ(skipped.at("pid_namespace"), "needs a user namespace of its own: unshare(CLONE_NEWUSER): No space left on device");
  EXPECT_EQ(skipped.size(), 7u);
  EXPECT_EQ(names(c.applied), (std::vector<std::string>{"memory_cgroup", "close_fds", "clear_env", "no_new_privs", "mount_namespace",
                                                        "network_namespace", "ipc_namespace", "uts_namespace",
                                                        "capabilities", "rlimits", "landlock_fs", "seccomp"}));
  EXPECT_FALSE(sandbox::required(Mechanism::landlock_tcp));
  EXPECT_FALSE(sandbox::required(Mechanism::memory_cgroup));
  EXPECT_TRUE(sandbox::required(Mechanism::pid_namespace));
  old.memory_cgroup = "cgroup v2's memory controller is not delegated to /sys/fs/cgroup/x";
  EXPECT_EQ(sandbox::expected(old, Level::standard).to_json().at("skipped").at("memory_cgroup"), old.memory_cgroup);
  EXPECT_TRUE(sandbox::required(Mechanism::user_namespace));

  auto none = sandbox::expected(old, Level::none);
  EXPECT_EQ(names(none.applied), (std::vector<std::string>{"close_fds", "clear_env"}));
  EXPECT_TRUE(none.skipped.empty());
}

TEST(SandboxPolicy, ThisKernelOffersEveryMechanism) {
  // The machines remora is tested on (Linux 6.18, Landlock ABI >= 6, run as root) offer them all.
  auto c = sandbox::expected(sandbox::probe(), Level::strict);
  EXPECT_EQ(names(c.applied), all_mechanisms()) << c.summary();
  EXPECT_TRUE(c.skipped.empty()) << c.summary();
}

TEST(SandboxEnding, ViolationsAndRefusalsAreToldFromCrashes) {
  sandbox::Config strict;
  strict.limits.cpu_s = 3;
  const std::optional<proto::AgentResult> none;
  proto::AgentResult denied;
  denied.status = "failed";
  denied.error = "sandbox denied: open /root/x: Permission denied";
  auto exited = [](int code) { return code << 8; };  // a wait status as waitpid reports it
  EXPECT_EQ(sandbox_ending(SIGSYS, none, "sandbox violation: system call ptrace", strict),
            "sandbox violation: system call ptrace");
  EXPECT_EQ(sandbox_ending(SIGSYS, none, "something else", strict),
            "sandbox violation: a forbidden system call (killed by SIGSYS)");
  EXPECT_EQ(sandbox_ending(SIGXCPU, none, "", strict), "sandbox violation: CPU time limit of 3 s reached (SIGXCPU)");
  EXPECT_EQ(sandbox_ending(SIGXFSZ, none, "", strict), "sandbox violation: file size limit reached (SIGXFSZ)");
  EXPECT_EQ(sandbox_ending(exited(worker::kSandboxDenied), denied, "", strict), denied.error);
  EXPECT_EQ(sandbox_ending(exited(worker::kSandboxUnavailable), none, "sandbox unavailable: seccomp: x", strict),
            "sandbox unavailable: seccomp: x");
  EXPECT_EQ(sandbox_ending(SIGSEGV, none, "", strict), std::nullopt);
  EXPECT_EQ(sandbox_ending(exited(1), denied, "", strict), std::nullopt);
  sandbox::Config off;
  off.level = Level::none;
  EXPECT_EQ(sandbox_ending(SIGXCPU, none, "", off), std::nullopt);  // no sandbox to blame
}

TEST(SandboxBundle, AttemptStepsAreValidated) {
  auto error = [](const std::string& step) {
    try {
      Bundle::from_json(json::parse(R"({"name":"b","kind":"steps","steps":[)" + step + "]}"));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error(R"({"kind":"attempt","args":{"action":"spin"}})"), "");
  EXPECT_EQ(error(R"({"kind":"attempt","args":{}})"), "steps[0].attempt.action: required");
  EXPECT_EQ(error(R"({"kind":"attempt","args":{"action":"connect","port":70000}})"),
            "steps[0].attempt.port: must be <= 65535");
  EXPECT_EQ(error(R"({"kind":"attempt","args":{"action":"write_outside","path":"x"}})"),
            "steps[0].attempt.path: 'x' is not an absolute path");
  EXPECT_EQ(error(R"({"kind":"attempt","args":{"action":"spin","host":1}})"), "steps[0].attempt.host: unknown field");
}

// The remora-worker users run holds no hostile code: an attempt step fails its agent, saying where
// such steps run, and the test worker refuses an action it does not know.
TEST(Sandbox, OnlyTheTestWorkerRunsAttemptSteps) {
  Project p;
  p.steps("bomb", "  - attempt: fork_bomb\n  - result: {summary: \"not stopped\"}\n");
  p.graph("config: {error_policy: continue, restart: {policy: temporary}}\nagents: [{id: bomb, bundle: bomb}]\n");
  EXPECT_EQ(p.run_to_end(), 1) << p.output();
  EXPECT_EQ(p.agents()["bomb"].value("reason", ""),
            "error: attempt steps run only in the test worker (tests/hostile): this remora-worker has none");

  Project q;
  ScopedEnv worker("REMORA_WORKER", REMORA_HOSTILE_WORKER);
  q.steps("fly", "  - attempt: fly\n");
  q.graph("config: {restart: {policy: temporary}}\nagents: [{id: fly, bundle: fly}]\n");
  EXPECT_EQ(q.run_to_end(), 1) << q.output();
  EXPECT_NE(q.log("fly").find("attempt: unknown action 'fly'"), std::string::npos) << q.log("fly");
}

// ---------------------------------------------------------------------------------------------
// Real sandboxed processes

TEST(Sandbox, OrdinaryProgramsRunInsideWithAPrivateWritableTempDir) {
  test::TempDir d;
  const fs::path priv = d / "private";
  auto r = test::shell(kSandboxedExec + " " + priv.string() +
                       " sh -c 'echo hello > \"$TMPDIR/note\" && cat \"$TMPDIR/note\" && id -un && pwd && "
                       "python3 -c \"import subprocess, tempfile; f = tempfile.NamedTemporaryFile(delete=False); "
                       "print(f.name.startswith(\\\"" + priv.string() + "/\\\"), "
                       "subprocess.run([\\\"ls\\\", \\\"/usr\\\"], capture_output=True).returncode)\"; "
                       "ls /root; cat /etc/shadow; ls " + d.path().string() + "; kill -0 $PPID || echo cannot-signal-parent; env'");
  EXPECT_EQ(r.code, 0) << r.out;
  const std::vector<std::string> expected{"hello", "nobody", priv.string(), "True 0",
                                          "ls: cannot open directory '/root': Permission denied",
                                          "cat: /etc/shadow: Permission denied", "HOME=" + priv.string(),
                                          "TMPDIR=" + priv.string(), "PATH=/usr/local/bin:/usr/bin:/bin",
                                          "cannot-signal-parent"};
  for (const std::string& line : expected)
    EXPECT_NE(r.out.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << r.out;
  EXPECT_NE(r.out.find("ls: cannot open directory '" + d.path().string() + "': Permission denied"), std::string::npos)
      << r.out;
  // Written to the private directory's tmpfs, which lived in the sandbox's mount namespace only.
  EXPECT_FALSE(fs::exists(priv / "note"));
  // A program the worker starts inherits the filter and dies by SIGSYS on a network socket.
  auto net = test::shell(kSandboxedExec + " " + priv.string() + " python3 -c 'import socket; socket.socket()'");
  EXPECT_EQ(net.code, 128 + SIGSYS) << net.out;
}

// One agent per hostile action, an ordinary agent, and one that depends on a violator: every
// attempt is stopped and reported as a failure naming what stopped it, nothing is restarted
// (even under `permanent`), and the rest of the graph completes under the error policy.
TEST(Sandbox, EveryHostileAttemptIsStoppedAndReported) {
  Project p;
  ScopedEnv worker("REMORA_WORKER", REMORA_HOSTILE_WORKER);
  HomeFile home;
  Listener listener;
  ScopedEnv secret("REMORA_TEST_API_KEY", "sk-not-for-agents");
  const fs::path outside = p.path("escaped.txt");
  const std::map<std::string, std::string> attempts = {
      {"read_home", "{action: read_home, path: " + home.path().string() + "}"},
      {"write_outside", "{action: write_outside, path: " + outside.string() + "}"},
      {"connect", "{action: connect, port: " + std::to_string(listener.port()) + "}"},
      {"raw_socket", "raw_socket"},
      {"netlink_socket", "netlink_socket"},
      {"ptrace_parent", "ptrace_parent"},
      {"fork_bomb", "fork_bomb"},
      {"alloc", "{action: alloc, mb: 8192}"},
      {"spin", "spin"},
      {"read_proc1_environ", "read_proc1_environ"},
      {"env_secret", "{action: env_secret, name: REMORA_TEST_API_KEY}"},
  };
  std::string g =
      "config:\n  max_concurrency: 4\n  error_policy: continue\n"
      "  restart: {policy: permanent, backoff_initial: 0}\n"
      "  sandbox: {cpu: 1, processes: 32}\nagents:\n"
      "  - {id: ordinary, bundle: ordinary}\n  - {id: after-spin, bundle: ordinary, after: [spin]}\n";
  p.steps("ordinary", "  - write: {path: \"out/{agent}.txt\", content: ok}\n  - result: {summary: fine}\n");
  for (const auto& [action, step] : attempts) {
    p.steps(action, "  - attempt: " + step + "\n  - result: {summary: \"not stopped\"}\n");
    g += "  - {id: " + action + ", bundle: " + action + "}\n";
  }
  p.graph(g);
  EXPECT_EQ(p.run_to_end(), 1) << p.output();

  auto agents = p.agents();
  const std::map<std::string, std::string> reasons = {
      {"read_home", "sandbox denied: open " + home.path().string() + ": Permission denied"},
      {"write_outside", "sandbox denied: create " + outside.string() + ": Permission denied"},
      {"connect", "sandbox violation: system call socket (AF_INET, SOCK_STREAM)"},
      {"raw_socket", "sandbox violation: system call socket (AF_INET, SOCK_RAW)"},
      {"netlink_socket", "sandbox violation: system call socket (AF_NETLINK, SOCK_RAW)"},
      {"ptrace_parent", "sandbox violation: system call ptrace"},
      {"alloc", "sandbox denied: allocating 8192 MiB: Cannot allocate memory"},
      {"spin", "sandbox violation: CPU time limit of 1 s reached (SIGXCPU)"},
      {"read_proc1_environ", "sandbox denied: open /proc/1/environ: Permission denied"},
      {"env_secret", "sandbox denied: REMORA_TEST_API_KEY is not in the worker's environment"},
  };
  for (const auto& [id, reason] : reasons) {
    EXPECT_EQ(agents[id].value("state", ""), "failed") << id;
#ifdef REMORA_SANITIZED
    // Without RLIMIT_AS (AddressSanitizer reserves terabytes of shadow), 8 GiB is mapped and
    // poisoned until the CPU limit or the memory cgroup stops it: stopped all the same.
    if (id == "alloc") {
      EXPECT_EQ(agents[id].value("reason", "").rfind("sandbox ", 0), 0u) << agents[id].value("reason", "");
      continue;
    }
#endif
    EXPECT_EQ(agents[id].value("reason", ""), reason) << id;
    EXPECT_EQ(agents[id].value("restarts", -1), 0) << id;
  }
  // The fork bomb is bounded by the process limit (32 tasks: the worker and its threads count).
  std::smatch m;
  const std::string bomb = agents["fork_bomb"].value("reason", "");
  const std::regex bounded(R"(sandbox denied: fork \((\d+) processes started\): Resource temporarily unavailable)");
  ASSERT_TRUE(std::regex_match(bomb, m, bounded)) << bomb;
  EXPECT_LT(std::stoi(m[1]), 32);
  EXPECT_EQ(agents["fork_bomb"].value("restarts", -1), 0);
  EXPECT_EQ(agents["ordinary"].value("state", ""), "completed");
  EXPECT_EQ(agents["after-spin"].value("state", ""), "completed");  // error_policy: continue

  EXPECT_FALSE(listener.connected());
  EXPECT_FALSE(fs::exists(outside));
  // What was applied is in every agent:started and in each worker's log.
  auto started = p.started();
  EXPECT_EQ(started.size(), agents.size());
  for (const auto& [id, s] : started) {
    EXPECT_EQ(s.at("level"), "strict") << id;
    EXPECT_EQ(s.at("applied").get<std::vector<std::string>>(), all_mechanisms()) << id;
    EXPECT_TRUE(s.at("skipped").empty()) << id;
  }
  EXPECT_NE(p.log("ordinary").find("sandbox: level strict; applied: memory_cgroup, close_fds, clear_env, no_new_privs, "),
            std::string::npos)
      << p.log("ordinary");
  EXPECT_NE(p.log("ptrace_parent").find("\nsandbox violation: system call ptrace\n"), std::string::npos);
  EXPECT_FALSE(fs::exists(sandbox::private_root(p.path("ws"))));  // each private directory is removed after its worker
}

// Inside bubblewrap with user namespaces disabled: strict refuses, naming what it lacks, and is
// not restarted; standard runs and reports what it skipped.
TEST(Sandbox, StrictRefusesWithoutAMechanismAndStandardReportsWhatItSkipped) {
  const std::vector<std::string> no_userns{"/usr/bin/bwrap", "--dev-bind", "/", "/", "--unshare-user",
                                           "--disable-userns", "--die-with-parent", "--"};
  for (Level level : {Level::strict, Level::standard}) {
    Project p;
    p.steps("ordinary", "  - result: {summary: fine}\n");
    p.graph("config:\n  restart: {policy: permanent, backoff_initial: 0}\n  sandbox: {level: " +
            std::string(sandbox::name_of(level)) + "}\nagents: [{id: a, bundle: ordinary}]\n");
    int code = p.run_to_end({}, no_userns);
    auto a = p.agents().at("a");
    auto started = p.started().at("a");
    EXPECT_EQ(started.at("level"), sandbox::name_of(level));
    for (const char* m : {"unprivileged_uid", "user_namespace", "process_limit"})
      EXPECT_TRUE(started.at("skipped").contains(m)) << m << " " << started.dump();
    if (level == Level::strict) {
      EXPECT_EQ(code, 1);
      EXPECT_EQ(a.value("state", ""), "failed");
      EXPECT_EQ(a.value("restarts", -1), 0);
      const std::string reason = a.value("reason", "");
      EXPECT_TRUE(reason.starts_with("sandbox unavailable: unprivileged_uid: cannot leave root for nobody (uid 65534)"))
          << reason;
      EXPECT_TRUE(reason.ends_with("(level strict refuses to run without it; level standard would skip it)")) << reason;
    } else {
      EXPECT_EQ(code, 0) << p.output();
      EXPECT_EQ(a.value("state", ""), "completed");
      const std::string log = p.log("a");
      for (const char* m : {"unprivileged_uid (cannot leave root for nobody (uid 65534): ",
                            "user_namespace (unshare(CLONE_NEWUSER): ", "process_limit (root is exempt from RLIMIT_NPROC)",
                            "landlock_fs, landlock_tcp, landlock_scope, seccomp; skipped: "})
        EXPECT_NE(log.find(m), std::string::npos) << m << "\n" << log;
    }
  }
}

// The default workspace is a relative path: the worker's rules name its files all the same.
TEST(Sandbox, AWorkspaceGivenByARelativePathIsConfinedAlike) {
  Project p;
  p.steps("ordinary", "  - write: {path: a.txt, content: ok}\n  - result: {summary: fine}\n");
  p.graph("agents: [{id: a, bundle: ordinary}]\n");
  auto r = test::shell("cd " + p.path("").string() + " && " + kRemora + " run graph.yaml");
  EXPECT_EQ(r.code, 0) << r.out;
  const std::string log = test::read_text(p.path(".remora/workspace/logs/a.log"));
  EXPECT_NE(log.find("seccomp, pid_namespace; skipped: nothing"), std::string::npos) << log;
}

// A workspace under a directory only its owner may enter (/root, `mktemp -d`): the worker that
// left root for nobody still reaches its files and its private directory.
TEST(Sandbox, AWorkspaceUnderAPrivateDirectoryIsReachedAfterLeavingRoot) {
  Project p;
  p.steps("ordinary", "  - write: {path: a.txt, content: ok}\n  - result: {summary: fine}\n");
  p.graph("agents: [{id: a, bundle: ordinary}]\n");
  fs::permissions(p.path(""), fs::perms::owner_all);
  auto r = test::shell("cd " + p.path("").string() + " && " + kRemora + " run graph.yaml");
  EXPECT_EQ(r.code, 0) << r.out;
  const std::string log = test::read_text(p.path(".remora/workspace/logs/a.log"));
  EXPECT_NE(log.find("seccomp, pid_namespace; skipped: nothing"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(sandbox::private_root(p.path(".remora/workspace"))));
}

TEST(Sandbox, LevelNoneConfinesNothingButTheEnvironmentAndWarns) {
  Project p;
  ScopedEnv worker("REMORA_WORKER", REMORA_HOSTILE_WORKER);
  HomeFile home;
  ScopedEnv secret("REMORA_TEST_API_KEY", "sk-not-for-agents");
  p.steps("reader",
           "  - attempt: {action: read_home, path: " + home.path().string() + "}\n  - result: {summary: read}\n");
  p.steps("secret", "  - attempt: {action: env_secret, name: REMORA_TEST_API_KEY}\n  - result: {summary: leaked}\n");
  p.graph("config: {error_policy: continue, sandbox: {level: none}}\n"
          "agents: [{id: reader, bundle: reader}, {id: secret, bundle: secret}]\n");
  EXPECT_EQ(p.run_to_end(), 1) << p.output();
  auto agents = p.agents();
  EXPECT_EQ(agents["reader"].value("state", ""), "completed");  // unconfined: the home is readable
  EXPECT_EQ(agents["secret"].value("reason", ""),
            "sandbox denied: REMORA_TEST_API_KEY is not in the worker's environment");  // cleared at every level
  EXPECT_EQ(p.started().at("reader").at("applied"), json({"close_fds", "clear_env"}));
  EXPECT_NE(p.log("reader").find("[warning] reader pid"), std::string::npos) << p.log("reader");
  EXPECT_NE(p.log("reader").find("attempt read_home was not stopped by the sandbox: read 7 bytes of"),
            std::string::npos)
      << p.log("reader");
}

}  // namespace
}  // namespace remora
