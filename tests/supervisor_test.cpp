// The supervisor with real processes: `remora run` as a user runs it, real remora-worker processes
// driven by `steps` bundles, real signals. The test watches the run through the workspace's own
// event log (a Watcher on event:), so every wait is event-driven and bounded by a deadline.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "shared/watcher.hpp"
#include "shared/workspace.hpp"
#include "supervisor/supervisor.hpp"
#include "supervisor/timer_queue.hpp"
#include "graph_project.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::shell;
using test::write_text;

const std::string kRemora = REMORA_BIN;

using Project = test::GraphProject;
using test::alive;
using test::wait_exit;

// Position in the event log (revision, then sequence within it) of each agent's event `name`.
std::map<std::string, std::size_t> positions_of(const std::vector<proto::Event>& events, const std::string& name) {
  std::map<std::string, std::size_t> out;
  for (std::size_t i = 0; i < events.size(); ++i)
    if (events[i].category + ":" + events[i].action == name) out[events[i].agent_id] = i;
  return out;
}

TEST(Supervisor, TwoHundredAgentsRespectTheirDependencies) {
  Project p;
  std::mt19937 rng(20261122);
  std::string g = "config: {max_concurrency: 8}\nagents:\n";
  std::map<std::string, std::vector<std::string>> deps;
  // Written in shuffled order: the graph must not depend on the order of lines.
  std::vector<int> order(200);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int i : order) {
    std::string id = "a" + std::to_string(i);
    g += "  - id: " + id + "\n    bundle: ok\n    after: [";
    std::mt19937 r2(static_cast<unsigned>(i));
    for (int k = 0; i > 0 && k < 2; ++k) {
      std::string d = "a" + std::to_string(r2() % i);
      if (std::find(deps[id].begin(), deps[id].end(), d) == deps[id].end()) deps[id].push_back(d);
    }
    for (std::size_t k = 0; k < deps[id].size(); ++k) g += (k ? ", " : "") + deps[id][k];
    g += "]\n";
  }
  p.graph(g);
  ASSERT_EQ(p.run_to_end(), 0) << p.output().substr(0, 2000);
  auto events = p.events();
  auto started = positions_of(events, "agent:started");
  auto completed = positions_of(events, "agent:completed");
  ASSERT_EQ(completed.size(), 200u);
  for (auto& [id, ds] : deps) {
    for (auto& d : ds) EXPECT_GT(started[id], completed[d]) << id << " started before " << d << " completed";
  }
  EXPECT_EQ(p.overlay_file("a57", "out/a57.txt"), "done by a57");
  // Never more than max_concurrency workers at once.
  int running = 0, peak = 0;
  for (auto& e : events) {
    if (e.category != "agent") continue;
    if (e.action == "started") peak = std::max(peak, ++running);
    if (e.action == "completed" || e.action == "failed" || e.action == "restarting") --running;
  }
  EXPECT_LE(peak, 8);
  EXPECT_GE(peak, 2);
  // Events were appended with the state they report: revision order is the order things happened.
  for (std::size_t i = 1; i < events.size(); ++i) EXPECT_LE(events[i - 1].revision, events[i].revision);
  // --json printed the same events on stdout.
  EXPECT_NE(p.output().find("\"event\":\"graph:completed\""), std::string::npos);
}

TEST(TimerQueue, OneDeadlinePerKeyTakenEarliestFirst) {
  TimerQueue<std::string, int> q;
  EXPECT_FALSE(q.earliest());
  q.set("a", 30);
  q.set("b", 10);
  q.set("c", 20);
  q.set("a", 5);  // replaces a's 30
  q.erase("c");
  EXPECT_EQ(q.earliest(), 5);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.take_due(9), std::vector<std::string>{"a"});
  EXPECT_EQ(q.take_due(9), std::vector<std::string>{});
  q.set("d", 10);
  EXPECT_EQ(q.take_due(10), (std::vector<std::string>{"b", "d"}));
  EXPECT_FALSE(q.earliest());
}

// A pass of the loop looks only at agents that changed: with 100,000 agents waiting on one that
// asks two questions, the passes from its first question to its second (answering it, resuming
// it, its heartbeats and its next question) look at a handful of agents, not at the graph.
TEST(Supervisor, APassOverAHundredThousandAgentsLooksOnlyAtWhatChanged) {
  Project p;
  p.steps("asker", "  - ask: {question: one, timeout: 600}\n  - ask: {question: two, timeout: 600}\n"
                   "  - result: {summary: ok}\n");
  constexpr int kAgents = 100000;
  std::string g = "config: {max_concurrency: 4}\nagents:\n  - {id: a0, bundle: asker}\n";
  for (int i = 1; i < kAgents; ++i) g += "  - {id: a" + std::to_string(i) + ", bundle: ok, after: [a0]}\n";
  p.graph(g);
  WorkspaceOptions o;
  o.dir = p.ws();
  auto ws = Workspace::open(o);
  SupervisorOptions opts;
  opts.worker_exe = std::filesystem::path(kRemora).parent_path() / "remora-worker";
  opts.log_dir = p.path("logs");
  Supervisor sup(*ws, load_graph(p.graph_path()), opts);
  auto blocked = sup.bus().subscribe("agent:blocked");
  int rc = -1;
  std::thread loop([&] { rc = sup.run(); });
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  auto first = blocked->next(deadline);
  ASSERT_TRUE(first) << "a0 never asked";
  const auto before = sup.work();
  sup.answer(nlohmann::json::parse(first->payload_json).at("question_id"), "yes");
  auto second = blocked->next(deadline);
  const auto after = sup.work();
  sup.interrupt();  // cancels all 100,000: one pass that looks at every agent, as it must
  loop.join();
  ASSERT_TRUE(second) << "a0 never asked again";
  EXPECT_EQ(rc, 1);
  EXPECT_GE(after.passes - before.passes, 2u);
  EXPECT_LE(after.agents_visited - before.agents_visited, 8u)
      << "over " << after.passes - before.passes << " passes";  // each pass looked at all 100,000 before
}

class ErrorPolicies : public ::testing::TestWithParam<std::string> {};

TEST_P(ErrorPolicies, OneFailingAgent) {
  Project p;
  p.bundle("bad", "steps:\n  - fail: {message: broken on purpose}\n");
  p.bundle("slow", "steps:\n  - work: {ms: 3000}\n");
  p.graph("config: {error_policy: " + GetParam() + ", max_concurrency: 4, restart: {policy: temporary}}\n" +
          "agents:\n"
          "  - {id: a, bundle: bad}\n"
          "  - {id: b, bundle: ok, after: [a]}\n"
          "  - {id: c, bundle: ok, after: [b]}\n"
          "  - {id: d, bundle: slow}\n");
  EXPECT_EQ(p.run_to_end(), 1);
  EXPECT_EQ(p.agent("a").state, "failed");
  EXPECT_EQ(p.agent("a").reason, "error: broken on purpose");
  if (GetParam() == "skip_downstream") {
    EXPECT_EQ(p.agent("b").state, "skipped");
    EXPECT_EQ(p.agent("b").reason, "dependency a failed");
    EXPECT_EQ(p.agent("c").state, "skipped");
    EXPECT_EQ(p.agent("d").state, "completed");
  } else if (GetParam() == "stop_graph") {
    EXPECT_EQ(p.agent("b").state, "cancelled");
    EXPECT_EQ(p.agent("c").state, "cancelled");
    EXPECT_EQ(p.agent("d").state, "cancelled");  // it was running: stopped
    EXPECT_EQ(p.agent("d").reason, "graph stopped: a failed");
  } else {
    EXPECT_EQ(p.agent("b").state, "completed");
    EXPECT_EQ(p.agent("c").state, "completed");
    EXPECT_EQ(p.agent("d").state, "completed");
  }
}
INSTANTIATE_TEST_SUITE_P(Supervisor, ErrorPolicies, ::testing::Values("stop_graph", "skip_downstream", "continue"));

TEST(Supervisor, AWorkerKilledWithSigkillIsRestartedAndResumes) {
  Project p;
  p.bundle("long", "steps:\n  - write: {path: first.txt, content: \"attempt {attempt}\"}\n"
                   "  - work: {ms: 60000}\n  - write: {path: second.txt, content: \"attempt {attempt}\"}\n");
  p.bundle("self", "steps:\n  - crash: {signal: KILL, attempts: [0]}\n  - result: {summary: survived}\n");
  p.graph("config: {heartbeat: {interval: 0.05}, restart: {policy: transient, backoff_initial: 0.05}}\n"
          "agents:\n  - {id: ext, bundle: long, timeout: 120}\n  - {id: self, bundle: self}\n");
  p.start();
  p.wait_event("agent:started", "ext");
  // Wait until the first step is committed (the worker's heartbeat-free progress), then kill it.
  auto pid = p.worker_pid("ext");
  {
    Watcher w(p.open(), keys::agent_step("ext"), 1);
    while (!p.overlay_file("ext", "first.txt")) ASSERT_FALSE(w.next(Watcher::Clock::now() + 60s).empty());
  }
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(pid), SIGKILL), 0);
  auto restarting = p.wait_event("agent:restarting", "ext");
  EXPECT_NE(restarting.payload_json.find("SIGKILL"), std::string::npos) << restarting.payload_json;
  p.wait_event("agent:started", "ext");  // attempt 1
  // The restarted worker resumed at the committed step: first.txt keeps attempt 0's content.
  EXPECT_EQ(p.overlay_file("ext", "first.txt"), "attempt 0");
  Child cancel(kRemora, {"-w", p.ws(), "cancel", "ext"});
  EXPECT_EQ(cancel.wait(), 0);
  EXPECT_EQ(p.wait(), 1);
  EXPECT_EQ(p.agent("self").state, "completed");
  EXPECT_EQ(p.agent("self").restarts, 1u);
  EXPECT_EQ(p.agent("ext").restarts, 1u);
  EXPECT_EQ(p.agent("ext").state, "cancelled");
}

TEST(Supervisor, AWorkerThatKeepsCrashingExhaustsItsBudget) {
  Project p;
  p.bundle("segv", "steps:\n  - crash: {signal: SEGV}\n");
  p.graph("config: {restart: {policy: permanent, max_restarts: 2, window: 60, backoff_initial: 0.02}}\n"
          "agents:\n  - {id: x, bundle: segv}\n");
  EXPECT_EQ(p.run_to_end(), 1);
  auto x = p.agent("x");
  EXPECT_EQ(x.state, "failed");
  EXPECT_EQ(x.restarts, 2u);
  EXPECT_NE(x.reason.find("restart budget exhausted (2 restarts within 60s)"), std::string::npos) << x.reason;
  EXPECT_NE(x.reason.find("SIGSEGV"), std::string::npos) << x.reason;
  int restarting = 0;
  for (auto& e : p.events()) restarting += e.action == "restarting";
  EXPECT_EQ(restarting, 2);
}

TEST(Supervisor, WaitingForASlotAfterABackoffDoesNotSpin) {
  Project p;
  p.bundle("once", "steps:\n  - crash: {signal: KILL, attempts: [0]}\n");
  p.bundle("slow", "steps:\n  - work: {ms: 2500}\n");
  // a crashes and waits 50 ms to restart; b holds the only slot for 2.5 s meanwhile.
  p.graph("config: {max_concurrency: 1, restart: {backoff_initial: 0.05}}\n"
          "agents:\n  - {id: a, bundle: once}\n  - {id: b, bundle: slow}\n");
  p.start();
  // The supervisor's own CPU time (a zombie's /proc stat still holds it), from when a waits for
  // the slot b holds until b is done; its workers' time is not in it.
  auto cpu_seconds = [pid = p.run().pid()] {
    std::string stat = test::read_text("/proc/" + std::to_string(pid) + "/stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  };
  const auto restarting = p.wait_event("agent:restarting", "a");
  ASSERT_GE(p.wait_event("agent:started", "b").revision, restarting.revision);  // b took the slot a waits for
  const double before = cpu_seconds();
  p.wait_event("agent:completed", "b");
  const double waiting = cpu_seconds() - before;
  ASSERT_EQ(p.wait(), 0) << p.output();
  EXPECT_LT(waiting, 0.25) << "CPU seconds the supervisor spent while a waited 2.5 s for its slot";  // ~0.01; a spin burns ~2.5
  EXPECT_EQ(p.agent("a").restarts, 1u);
}

// A short agent's worker commits once: its steps (a file and a summary) with its result, and no
// heartbeat before its first interval. Counted in the change log: the revisions that put a key
// into the agent's namespace.
TEST(Supervisor, AShortStepsAgentsWorkerCommitsOnce) {
  Project p;
  p.graph("agents:\n  - {id: a, bundle: ok}\n");
  ASSERT_EQ(p.run_to_end(), 0) << p.output();
  auto& w = p.open();
  std::set<std::uint64_t> revisions;
  std::set<std::string> keys_put;
  for (std::uint64_t from = w.log_start();;) {
    auto page = w.changes(from, "");
    for (const auto& c : page.changes)
      if (c.ns_name == keys::agent_ns("a") && c.op == proto::ChangeOp::put) revisions.insert(c.revision), keys_put.insert(c.key);
    if (page.next_revision == from) break;
    from = page.next_revision;
  }
  EXPECT_EQ(revisions.size(), 1u);
  EXPECT_TRUE(keys_put.contains(keys::result("a")));
  EXPECT_TRUE(keys_put.contains(keys::file("out/a.txt")));
  EXPECT_EQ(p.agent("a").state, "completed");
}

// h commits its first step (which, like a heartbeat, ends its start grace), then hangs.
TEST(Supervisor, AHungWorkerIsDetectedByItsHeartbeat) {
  Project p;
  p.bundle("hang", "steps:\n  - work: {ms: 1}\n  - hang: {}\n");
  p.graph("config: {heartbeat: {interval: 0.05, timeout: 1}, restart: {policy: temporary}}\n"
          "agents:\n  - {id: h, bundle: hang}\n  - {id: fine, bundle: ok}\n");
  EXPECT_EQ(p.run_to_end(), 1);
  EXPECT_EQ(p.agent("h").state, "failed");
  EXPECT_EQ(p.agent("h").reason, "heartbeat lost: none for 1s");
  EXPECT_EQ(p.agent("fine").state, "completed");
}

TEST(Supervisor, AnAgentPastItsTimeoutIsStopped) {
  Project p;
  p.bundle("slow", "steps:\n  - work: {ms: 60000}\n");
  p.graph("config: {restart: {policy: temporary}, cancel_grace: 1}\nagents:\n  - {id: s, bundle: slow, timeout: 0.3}\n");
  EXPECT_EQ(p.run_to_end(), 1);
  EXPECT_EQ(p.agent("s").reason, "timed out after 0.3s");
}

const char* kAsk =
    "steps:\n  - ask: {question: \"Style for {agent}?\", options: [google, numpy], timeout: 600}\n"
    "  - write: {path: \"style-{agent}.txt\", content: \"{answer}\"}\n";

TEST(Supervisor, CancellingABlockedAgentWithdrawsItsQuestion) {
  Project p;
  p.bundle("ask", kAsk);
  p.graph("agents:\n  - {id: q, bundle: ask}\n");
  p.start();
  auto blocked = p.wait_event("agent:blocked", "q");
  EXPECT_NE(blocked.payload_json.find("Style for q?"), std::string::npos);
  EXPECT_EQ(p.agent("q").state, "blocked");
  auto r = shell(kRemora + " -w " + p.ws() + " cancel q");
  EXPECT_EQ(r.code, 0) << r.out;
  p.wait_event("user:question_withdrawn", "q");
  EXPECT_EQ(p.wait(), 1);
  EXPECT_EQ(p.agent("q").state, "cancelled");
  auto late = shell(kRemora + " -w " + p.ws() + " answer q.0 google");
  EXPECT_EQ(late.code, 2);
  EXPECT_NE(late.out.find("withdrawn"), std::string::npos) << late.out;
}

TEST(Supervisor, TwoQuestionsAnsweredOutOfOrder) {
  Project p;
  p.bundle("ask", kAsk);
  p.graph("agents:\n  - {id: one, bundle: ask}\n  - {id: two, bundle: ask}\n");
  p.start();
  p.wait_event("agent:blocked", "one");
  p.wait_event("agent:blocked", "two");
  auto r2 = shell(kRemora + " -w " + p.ws() + " answer two.0 2");  // by number
  EXPECT_EQ(r2.code, 0) << r2.out;
  EXPECT_EQ(r2.out, "answered two.0 (two): numpy\n");
  p.wait_event("agent:resumed", "two");
  EXPECT_EQ(p.agent("one").state, "blocked");
  auto bad = shell(kRemora + " -w " + p.ws() + " answer one.0 epytext");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("takes one of: google, numpy"), std::string::npos) << bad.out;
  EXPECT_EQ(shell(kRemora + " -w " + p.ws() + " answer one.0 google").code, 0);
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(p.overlay_file("one", "style-one.txt"), "google");
  EXPECT_EQ(p.overlay_file("two", "style-two.txt"), "numpy");
}

TEST(Supervisor, AnAnswerGivenWhileTheWorkerIsDownReachesItAfterRestart) {
  Project p;
  p.bundle("ask", kAsk);
  p.graph("config: {heartbeat: {interval: 0.05}, restart: {policy: transient, backoff_initial: 2}}\n"
          "agents:\n  - {id: q, bundle: ask}\n");
  p.start();
  p.wait_event("agent:blocked", "q");
  ASSERT_EQ(::kill(static_cast<pid_t>(p.worker_pid("q")), SIGKILL), 0);
  p.wait_event("agent:restarting", "q");  // down for 2 s of backoff
  EXPECT_EQ(p.agent("q").state, "queued");
  auto r = shell(kRemora + " -w " + p.ws() + " answer q.0 numpy");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(p.overlay_file("q", "style-q.txt"), "numpy");
  int asked = 0;
  for (auto& e : p.events()) asked += e.action == "blocked";
  EXPECT_EQ(asked, 1);  // the restarted worker did not ask again: the answer was there
}

// One question, one answer, whoever is running: with the supervisor dead, the first `remora
// answer` stands and later ones are refused naming it; the resumed run delivers the first.
TEST(Supervisor, OneAnswerPerQuestionEvenWithNoSupervisor) {
  Project p;
  p.bundle("ask", kAsk);
  p.graph("agents:\n  - {id: q, bundle: ask}\n");
  p.start();
  p.wait_event("agent:blocked", "q");
  p.run().kill9();
  EXPECT_EQ(p.wait(), 128 + SIGKILL);
  auto first = shell(kRemora + " -w " + p.ws() + " answer q.0 numpy");
  EXPECT_EQ(first.code, 0) << first.out;
  for (const char* other : {"google", "1", "numpy"}) {
    auto again = shell(kRemora + " -w " + p.ws() + " answer q.0 " + other);
    EXPECT_EQ(again.code, 2) << other << ": " << again.out;
    EXPECT_EQ(again.out, "remora: question q.0 is already answered: numpy (remora answer)\n");
  }
  p.start_cmd({"resume", "--json"});
  EXPECT_EQ(p.wait(), 0) << p.output();
  EXPECT_EQ(p.overlay_file("q", "style-q.txt"), "numpy");
  auto after = shell(kRemora + " -w " + p.ws() + " answer q.0 google");  // the run saw it answered
  EXPECT_EQ(after.code, 2) << after.out;
  EXPECT_EQ(after.out, "remora: question q.0 is already answered: numpy (remora answer)\n");
}

TEST(Supervisor, AQuestionPastItsTimeoutTakesItsDefaultOrFailsTheAgent) {
  Project p;
  p.bundle("withdefault", "steps:\n  - ask: {question: \"Go?\", options: [yes, no], default: no, timeout: 0.2}\n"
                          "  - write: {path: answer.txt, content: \"{answer}\"}\n");
  p.bundle("nodefault", "steps:\n  - ask: {question: \"Go?\", timeout: 0.2}\n");
  p.graph("config: {restart: {policy: permanent}}\nagents:\n  - {id: d, bundle: withdefault}\n"
          "  - {id: n, bundle: nodefault}\n");
  EXPECT_EQ(p.run_to_end(), 1);
  EXPECT_EQ(p.agent("d").state, "completed");
  EXPECT_EQ(p.overlay_file("d", "answer.txt"), "no");
  auto resumed = p.wait_event("agent:resumed", "d");
  EXPECT_NE(resumed.payload_json.find("\"source\":\"timeout: default\""), std::string::npos) << resumed.payload_json;
  EXPECT_EQ(p.agent("n").state, "failed");
  EXPECT_EQ(p.agent("n").restarts, 0u);  // not restarted, even under `permanent`: nobody answered
  EXPECT_EQ(p.agent("n").reason, "question n.0 timed out with no default answer");
}

// A supervisor stopped (SIGSTOP: a laptop lid, a stalled VM) for longer than the heartbeat
// timeout while its workers go on beating: after SIGCONT no healthy worker is killed for a
// heartbeat the supervisor had not read yet, and a worker that really stopped beating still is.
TEST(Supervisor, AStoppedSupervisorKillsNoHealthyWorkerWhenItContinues) {
  Project p;
  p.bundle("slow", "steps:\n  - work: {ms: 8000}\n  - result: {summary: ok}\n");
  p.bundle("hang", "steps:\n  - work: {ms: 1}\n  - hang: {}\n");
  std::string graph = "config: {max_concurrency: 8, heartbeat: {interval: 0.1, timeout: 1}, restart: {policy: temporary}}\n"
                      "agents:\n  - {id: h, bundle: hang}\n";
  for (int i = 0; i < 6; ++i) graph += "  - {id: w" + std::to_string(i) + ", bundle: slow}\n";
  p.graph(graph);
  p.start();
  for (int i = 0; i < 6; ++i) p.wait_event("agent:started", "w" + std::to_string(i));
  p.wait_event("agent:failed", "h");  // a real silence is caught before the pause
  ASSERT_EQ(::kill(p.run().pid(), SIGSTOP), 0);
  // Stopped until every worker has beaten for 2.5 timeouts since: read from the workspace.
  const auto stopped_at = now_ms();
  auto& w = p.open();
  Watcher beats(w, "agent:", w.revision() + 1);
  std::set<std::string> past;
  while (past.size() < 6) {
    auto changes = beats.next(Watcher::Clock::now() + 30s);
    ASSERT_FALSE(changes.empty()) << "the workers stopped beating";
    for (const auto& c : changes) {
      if (!c.key.ends_with(":heartbeat")) continue;
      auto e = w.get(w.ns(c.ns_name), c.key);
      if (e && proto::decode<proto::Heartbeat>(e->value, c.key).at_ms > stopped_at + 2500) past.insert(c.ns_name);
    }
  }
  ASSERT_EQ(::kill(p.run().pid(), SIGCONT), 0);
  EXPECT_EQ(p.wait(), 1);  // h failed
  for (int i = 0; i < 6; ++i) {
    const auto id = "w" + std::to_string(i);
    EXPECT_EQ(p.agent(id).state, "completed") << id << ": " << p.agent(id).reason;
    EXPECT_EQ(p.agent(id).restarts, 0u) << id;
  }
  EXPECT_EQ(p.agent("h").reason, "heartbeat lost: none for 1s");
}

// A record in an agent's namespace that does not decode (a worker's bytes are untrusted) fails
// that agent, naming the key; the rest of the graph completes and the supervisor ends normally.
TEST(Supervisor, AForgedRecordFailsItsAgentAndNothingElse) {
  Project p;
  p.bundle("slow", "steps:\n  - work: {ms: 60000}\n");
  p.graph("config: {heartbeat: {interval: 0.05}, restart: {policy: permanent}}\n"
          "agents:\n  - {id: bad, bundle: slow}\n  - {id: fine, bundle: ok}\n");
  p.start();
  p.wait_event("agent:started", "bad");
  auto& w = p.open();
  const auto ns = w.ns(keys::agent_ns("bad"));
  for (const auto& key : {keys::agent("bad", "message:1"), keys::outbox_message("2")})
    w.write([&](WriteTxn& t) { t.put(ns, key, std::string("\xff\x00garbage", 9)); });
  EXPECT_EQ(p.wait(), 1) << p.output();
  EXPECT_EQ(p.agent("bad").state, "failed");
  EXPECT_EQ(p.agent("bad").restarts, 0u);  // not restarted, even under `permanent`
  EXPECT_NE(p.agent("bad").reason.find("wrote a bad record at key 'agent:bad:message:1'"), std::string::npos)
      << p.agent("bad").reason;
  EXPECT_EQ(p.agent("fine").state, "completed");
}

TEST(Supervisor, NoWorkerOutlivesTheSupervisor) {
  for (int sig : {SIGINT, SIGKILL}) {
    Project p;
    p.bundle("slow", "steps:\n  - work: {ms: 60000}\n");
    p.graph("config: {heartbeat: {interval: 0.05}}\nagents:\n  - {id: s1, bundle: slow}\n  - {id: s2, bundle: slow}\n");
    p.start();
    p.wait_event("agent:started", "s1");
    p.wait_event("agent:started", "s2");
    std::vector<long> pids;
    for (auto id : {"s1", "s2"}) pids.push_back(p.worker_pid(id));
    for (long pid : pids) EXPECT_TRUE(alive(pid));
    ::kill(p.run().pid(), sig);
    int code = p.wait();
    EXPECT_EQ(code, sig == SIGINT ? 1 : 128 + SIGKILL);
    // SIGINT: the run cancels its workers and reaps them; SIGKILL: PR_SET_PDEATHSIG kills them.
    for (long pid : pids) {
      EXPECT_TRUE(wait_exit(pid, 10000)) << "worker " << pid << " still running";
      // Gone, or a zombie waiting for init to reap it: either way not running.
      auto ps = shell("ps -o stat= -p " + std::to_string(pid));
      EXPECT_TRUE(ps.out.empty() || ps.out[0] == 'Z') << "worker " << pid << " outlived: " << ps.out;
    }
    if (sig == SIGINT) {
      EXPECT_EQ(p.agent("s1").state, "cancelled");
    }
  }
}

TEST(Supervisor, BadGraphsExitWithCodeTwoAndTheirMessage) {
  Project p;
  struct Case {
    std::string yaml, message;
  } cases[] = {
      {"agents:\n  - {id: a, bundle: ok, after: [zz]}\n", "depends on unknown agent 'zz'"},
      {"agents:\n  - {id: a, bundle: nope}\n", "unknown bundle 'nope'"},
      {"agents:\n  - {id: a, bundle: ok}\n  - {id: a, bundle: ok}\n", "duplicate"},
      {"agents:\n  - {id: a, bundle: ok, after: [b]}\n  - {id: b, bundle: ok, after: [a]}\n",
       "dependency cycle: a -> b -> a"},
  };
  for (auto& c : cases) {
    p.graph(c.yaml);
    auto r = shell(kRemora + " -w " + p.ws() + " run " + p.graph_path());
    EXPECT_EQ(r.code, 2) << c.yaml << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << r.out;
  }
  auto missing = shell(kRemora + " -w " + p.ws() + " run " + p.path("nope.yaml").string());
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("nope.yaml"), std::string::npos) << missing.out;
}

TEST(Supervisor, StatusAndEventsCommands) {
  Project p;
  p.graph("name: tiny\nagents:\n  - {id: only, bundle: ok}\n");
  ASSERT_EQ(p.run_to_end(), 0);
  auto st = shell(kRemora + " -w " + p.ws() + " status");
  EXPECT_EQ(st.code, 0);
  EXPECT_NE(st.out.find("graph tiny"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("only   completed"), std::string::npos) << st.out;
  auto js = nlohmann::json::parse(shell(kRemora + " -w " + p.ws() + " status --json").out);
  EXPECT_EQ(js["agents"][0]["state"], "completed");
  auto ev = shell(kRemora + " -w " + p.ws() + " events --pattern 'agent:*'");
  EXPECT_NE(ev.out.find("agent:started  only"), std::string::npos) << ev.out;
  EXPECT_EQ(ev.out.find("graph:"), std::string::npos) << ev.out;
  auto again = shell(kRemora + " -w " + p.ws() + " run " + p.graph_path());
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.out.find("--fresh"), std::string::npos);
  EXPECT_EQ(shell(kRemora + " -w " + p.ws() + " run --fresh " + p.graph_path()).code, 0);
}

}  // namespace
}  // namespace remora
