// The zygote (worker/zygote.hpp): a run's workers are forked by one pre-started remora-worker, are
// the supervisor's own children showing their own arguments, and are confined as exec'd ones are;
// a run whose zygote dies goes on by exec; a launch too large for a request is exec'd while the
// zygote stays; REMORA_NO_ZYGOTE=1 execs every worker. And the
// zygote's protocol (shared/zygote_protocol.hpp) against a real zygote: bad requests get an error
// and the zygote keeps serving; it exits when the supervisor's end closes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "shared/error.hpp"
#include "shared/zygote_protocol.hpp"
#include "graph_project.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

using namespace std::string_literals;
using Project = test::GraphProject;
using test::shell;

const std::string kRemora = REMORA_BIN;
const std::string kWorker = (std::filesystem::path(REMORA_BIN).parent_path() / "remora-worker").string();

std::string cmdline_of(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

long parent_of(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 1));  // after the command name, which may hold spaces
  std::string state;
  long ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

// The supervisor's children whose command line holds `part`.
std::vector<long> children_with(long parent, const std::string& part) {
  std::vector<long> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::stol(name);
    if (parent_of(pid) == parent && cmdline_of(pid).find(part) != std::string::npos) out.push_back(pid);
  }
  return out;
}

// A worker forked by the zygote writes its arguments into the zygote's command line, headed
// `remora-worker` (and NUL-padded to its 4 KiB of room); an exec'd one's starts with the
// executable's path, as the supervisor gave it to exec.
bool forked_by_zygote(long pid) {
  const auto cmd = cmdline_of(pid);
  return cmd.rfind("remora-worker\0--agent\0"s, 0) == 0 && cmd.size() >= 4096;
}

const char* kSlow = "steps:\n  - work: {ms: 60000}\n";

TEST(Zygote, WorkersAreTheSupervisorsChildrenShowingTheirOwnArguments) {
  Project p;
  p.bundle("slow", kSlow);
  p.graph("config: {heartbeat: {interval: 0.05}}\nagents:\n  - {id: s1, bundle: slow}\n  - {id: s2, bundle: slow}\n");
  p.start();
  const long supervisor = p.run().pid();
  for (const std::string id : {"s1", "s2"}) {
    const long pid = p.worker_pid(id);
    EXPECT_EQ(parent_of(pid), supervisor) << id;
    EXPECT_TRUE(forked_by_zygote(pid)) << id;
    const auto cmd = cmdline_of(pid);
    EXPECT_EQ(cmd.rfind("remora-worker\0--agent\0"s + id + '\0', 0), 0u) << id;
    EXPECT_EQ(cmd.find("--zygote"), std::string::npos) << id;
    // A sync run's worker commits with one fsync (worker_durability): the supervisor's synced
    // commits carry its own to disk.
    EXPECT_NE(cmd.find("\0--durability\0meta_nosync\0"s), std::string::npos) << id;
  }
  const auto zygotes = children_with(supervisor, "--zygote");
  ASSERT_EQ(zygotes.size(), 1u);
  // Confined exactly as an exec'd worker is.
  for (const std::string id : {"s1", "s2"})
    EXPECT_NE(p.log(id).find("sandbox: level strict; applied: memory_cgroup, close_fds"), std::string::npos) << p.log(id);
  ::kill(static_cast<pid_t>(supervisor), SIGINT);
  EXPECT_EQ(p.wait(), 1);
  EXPECT_TRUE(test::wait_exit(zygotes[0], 10000)) << "the zygote outlived its supervisor";
  EXPECT_EQ(p.agent("s1").state, "cancelled");
}

TEST(Zygote, ARunWhoseZygoteIsKilledGoesOnByExec) {
  Project p;
  p.bundle("slow", kSlow);
  p.steps("ask", "  - ask: {question: \"go?\", options: [yes], timeout: 600}\n  - result: {summary: asked}\n");
  p.graph("config: {heartbeat: {interval: 0.05}}\n"
          "agents:\n  - {id: first, bundle: ask}\n  - {id: second, bundle: slow, after: [first]}\n");
  p.start();
  p.wait_event("agent:blocked", "first");
  const long supervisor = p.run().pid();
  const auto zygotes = children_with(supervisor, "--zygote");
  ASSERT_EQ(zygotes.size(), 1u);
  ASSERT_EQ(::kill(static_cast<pid_t>(zygotes[0]), SIGKILL), 0);
  auto answer = shell(kRemora + " -w " + p.ws() + " answer first.0 yes");
  ASSERT_EQ(answer.code, 0) << answer.out;
  const long pid = p.worker_pid("second");
  EXPECT_EQ(parent_of(pid), supervisor);
  EXPECT_FALSE(forked_by_zygote(pid));
  EXPECT_NE(cmdline_of(pid).find("--agent\0second\0"s), std::string::npos);
  EXPECT_NE(p.log("second").find("sandbox: level strict; applied: memory_cgroup, close_fds"), std::string::npos);
  test::Child cancel(kRemora, {"-w", p.ws(), "cancel", "second"});
  EXPECT_EQ(cancel.wait(), 0);
  EXPECT_EQ(p.wait(), 1);
  EXPECT_EQ(p.agent("first").state, "completed");
  EXPECT_EQ(p.agent("second").state, "cancelled");
  EXPECT_NE(p.output().find("worker zygote: "), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("workers are exec'd from here on"), std::string::npos) << p.output();
}

TEST(Zygote, RemoraNoZygoteExecsEveryWorker) {
  Project p;
  p.bundle("slow", kSlow);
  p.graph("config: {heartbeat: {interval: 0.05}}\nagents:\n  - {id: s1, bundle: slow}\n");
  p.start({}, {"/usr/bin/env", "REMORA_NO_ZYGOTE=1"});  // env execs remora: the same pid
  const long supervisor = p.run().pid();
  const long pid = p.worker_pid("s1");
  EXPECT_EQ(parent_of(pid), supervisor);
  EXPECT_FALSE(forked_by_zygote(pid));
  EXPECT_TRUE(children_with(supervisor, "--zygote").empty());
  ::kill(static_cast<pid_t>(supervisor), SIGINT);
  EXPECT_EQ(p.wait(), 1);
}

TEST(Zygote, ALaunchLargerThanARequestCarriesIsExecdAndTheZygoteStays) {
  Project p;
  p.bundle("slow", kSlow);
  // 1,100 read paths of 64 bytes (/usr, spelled long): more than a launch request's 64 KiB.
  std::string paths;
  for (int i = 0; i < 1100; ++i) paths += (i ? ", /usr" : "/usr") + std::string(60, '/');
  p.graph("config: {heartbeat: {interval: 0.05}, sandbox: {read_paths: [" + paths + "]}}\n"
          "agents:\n  - {id: s1, bundle: slow}\n");
  p.start();
  const long supervisor = p.run().pid();
  const long pid = p.worker_pid("s1");
  EXPECT_EQ(parent_of(pid), supervisor);
  EXPECT_FALSE(forked_by_zygote(pid));
  EXPECT_EQ(children_with(supervisor, "--zygote").size(), 1u);  // still serving the launches it can carry
  ::kill(static_cast<pid_t>(supervisor), SIGINT);
  EXPECT_EQ(p.wait(), 1);
  EXPECT_EQ(p.output().find("worker zygote: "), std::string::npos) << p.output();
}

// A zygote started by hand, with its socket pair; the reply to each request.
class ZygoteProcess {
 public:
  ZygoteProcess() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("socketpair");
    ours_ = UniqueFd(sv[0]);
    UniqueFd theirs(sv[1]);
    const std::string fd = std::to_string(sv[1]), parent = std::to_string(::getpid());
    const std::string padding(64, ' ');
    const char* argv[] = {kWorker.c_str(), "--zygote", fd.c_str(), "--supervisor-pid", parent.c_str(), padding.c_str(), nullptr};
    pid_ = ::fork();
    if (pid_ == 0) {
      ::fcntl(sv[1], F_SETFD, 0);
      ::execv(argv[0], const_cast<char* const*>(argv));
      ::_exit(127);
    }
  }
  ~ZygoteProcess() {
    ours_ = UniqueFd();
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }
  // The reply; go receives the worker's go pipe, if one came with it.
  zygote::LaunchReply ask(std::string_view bytes, const std::vector<int>& fds, UniqueFd* go = nullptr) {
    EXPECT_TRUE(zygote::send_message(ours_.get(), bytes, fds)) << std::strerror(errno);
    std::vector<char> buffer(sizeof(zygote::LaunchReply) + 1);
    std::vector<UniqueFd> passed;
    const auto got = zygote::receive_message(ours_.get(), buffer, passed);
    if (go && passed.size() == 1) *go = std::move(passed[0]);
    zygote::LaunchReply r;
    if (!got || got->size() != sizeof r) {
      ADD_FAILURE() << "no reply: " << std::strerror(errno);
      r.err = -1;
      return r;
    }
    std::memcpy(&r, got->data(), sizeof r);
    return r;
  }
  // Closes our end; returns the zygote's exit status.
  int close_and_wait() {
    ours_ = UniqueFd();
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    return status;
  }

 private:
  UniqueFd ours_;
  pid_t pid_ = 0;
};

TEST(Zygote, ABadRequestGetsAnErrorAndTheZygoteKeepsServing) {
  test::TempDir dir;
  const auto log_path = dir.path() / "worker.log";
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  ZygoteProcess z;
  auto garbage = z.ask("not a request", {log.get()});
  EXPECT_EQ(garbage.err, EINVAL);
  EXPECT_STREQ(garbage.step, "request");
  const std::string good = zygote::encode({{"--help"}, {"PATH=/usr/bin:/bin"}});
  auto no_log = z.ask(good, {});
  EXPECT_EQ(no_log.err, EINVAL);
  EXPECT_STREQ(no_log.step, "request without its log descriptor");
  auto too_large = z.ask(std::string(zygote::kMaxRequestBytes + 1, 'x'), {log.get()});
  EXPECT_EQ(too_large.err, EMSGSIZE);
  // Still serving. A worker whose go pipe is closed unwritten (a launch the supervisor gave up on)
  // exits having run nothing; one that gets the word, asked only for its help, prints it into
  // the log it was given.
  UniqueFd go;
  auto abandoned = z.ask(good, {log.get()}, &go);
  ASSERT_EQ(abandoned.err, 0) << abandoned.step;
  ASSERT_TRUE(go);
  go = UniqueFd();
  EXPECT_TRUE(test::wait_exit(abandoned.pid, 10000));
  EXPECT_EQ(test::read_text(log_path), "");
  auto served = z.ask(good, {log.get()}, &go);
  ASSERT_EQ(served.err, 0) << served.step;
  ASSERT_GT(served.pid, 0);
  ASSERT_EQ(::write(go.get(), "g", 1), 1);
  EXPECT_TRUE(test::wait_exit(served.pid, 10000));
  EXPECT_NE(test::read_text(log_path).find("remora-worker: runs one agent"), std::string::npos) << test::read_text(log_path);
  const int status = z.close_and_wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(ZygoteProtocol, ARequestDecodesToWhatWasEncodedAndBadOnesAreNamed) {
  const zygote::LaunchRequest r{{"--agent", "a b", ""}, {"PATH=/bin", "LANG=C.UTF-8"}};
  const auto back = zygote::decode(zygote::encode(r));
  EXPECT_EQ(back.args, r.args);
  EXPECT_EQ(back.env, r.env);
  auto error_of = [](std::string bytes) {
    try {
      zygote::decode(bytes);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::corrupt);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string bytes = zygote::encode(r);
  EXPECT_NE(error_of(bytes.substr(0, 5)).find("shorter than its two counts"), std::string::npos);
  EXPECT_NE(error_of(bytes.substr(0, bytes.size() - 1)).find("string 4 has no end"), std::string::npos);
  EXPECT_NE(error_of(bytes + "x").find("1 bytes after its strings"), std::string::npos);
  std::string many = bytes;
  many[0] = '\xff';
  many[1] = '\xff';
  EXPECT_NE(error_of(many).find("more than 4096 strings"), std::string::npos);
}

}  // namespace
}  // namespace remora
