// Crash recovery with real processes: `remora resume` after the supervisor is SIGKILLed. A graph
// of 30 agents (model-driven ones talking to a real chat server on 127.0.0.1, and steps ones),
// with questions, killed at 20 seeded random moments and resumed each time, ends exactly like an
// uninterrupted run (states, results, every overlay byte), no question is asked again after its
// answer, and each model turn reached the server once (see resume_scenario.hpp for the one
// exception); a worker and the supervisor killed at once; a question a worker committed as its
// supervisor died is asked on resume; `remora run` on an unfinished run says
// so, `--fresh` starts over, resume on an ended run has nothing to do; a second supervisor is
// refused, and the lock dies with the first; a checkpoint restored over a finished run resumes
// to the same end. The same fault injection with hundreds of kills is in resume_soak_test.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "chat_server.hpp"
#include "graph_project.hpp"
#include "resume_scenario.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::ChatServer;
using test::GraphProject;
using test::shell;

const std::string kRemora = REMORA_BIN;

std::string remora(const GraphProject& p, const std::string& args) { return kRemora + " -w " + p.ws() + " " + args; }

TEST(Resume, FaultInjectionMatchesAnUninterruptedRun) { test::fault_injection(30, 20); }

// A worker and its supervisor SIGKILLed together, three times: while the worker waits for an
// answer (a model-driven agent and a steps agent), and while its model request is held at the
// server (that one request is sent again by the resumed supervisor: its response was never
// recorded). The agents run one after another, so each kill meets the agent it is aimed at.
TEST(Resume, KillingAWorkerAndTheSupervisorAtOnce) {
  const unsigned seed = 3;
  ChatServer ref_server([](const json& r, int) { return test::scripted_reply(r); });
  GraphProject ref;
  const auto ids = test::write_resume_graph(ref, ref_server.base_url(), 6, seed, true);
  const auto ref_drive = test::drive(ref);
  ASSERT_EQ(ref_drive.exit_code, 0) << ref.output().substr(0, 3000);
  const auto expected = test::outcome(ref);

  std::promise<void> arrived, release;
  auto released = release.get_future().share();
  std::atomic<bool> held{false};
  ChatServer server([&](const json& r, int) {
    const auto& m = r.at("messages");
    if (m.size() == 2 && m[1].value("content", "") == "agent talk-05" && !held.exchange(true)) {
      arrived.set_value();
      released.wait_for(60s);  // its supervisor is killed meanwhile
    }
    return test::scripted_reply(r);
  });
  GraphProject p;
  test::write_resume_graph(p, server.base_url(), 6, seed, true);
  const std::set<std::string> targets{"agent:blocked talk-ask-00", "agent:blocked steps-ask-02", "model:request talk-05"};
  std::set<std::string> done, killed_workers;
  auto arrived_f = arrived.get_future();
  bool released_once = false;
  const auto d = test::drive(
      p,
      [&](const proto::Event& e) {
        const auto what = e.category + ":" + e.action + " " + e.agent_id;
        if (!targets.count(what) || !done.insert(what).second) return false;
        if (e.action == "request") {
          EXPECT_EQ(arrived_f.wait_for(60s), std::future_status::ready);
        }
        const long pid = p.agent(e.agent_id).pid;
        EXPECT_TRUE(test::alive(pid)) << what;
        EXPECT_EQ(::kill(static_cast<pid_t>(pid), SIGKILL), 0) << what;
        killed_workers.insert(e.agent_id);
        return true;  // and the supervisor
      },
      [&] {
        if (done.count("model:request talk-05") && !released_once) {
          released_once = true;
          release.set_value();
        }
      });
  if (!released_once) release.set_value();
  ASSERT_EQ(d.exit_code, 0) << p.output().substr(0, 3000);
  EXPECT_EQ(d.kills, 3);
  EXPECT_EQ(killed_workers, (std::set<std::string>{"talk-ask-00", "steps-ask-02", "talk-05"}));
  const auto got = test::outcome(p);
  EXPECT_EQ(got.agents, expected.agents);
  EXPECT_EQ(got.data, expected.data);
  const auto a = test::audit(p, server, d, ids);
  EXPECT_TRUE(a.problems.empty()) << test::lines(a.problems);
  EXPECT_EQ(a.questions, 3);  // talk-ask-00, steps-ask-02, talk-ask-04
  EXPECT_EQ(server.count_with_header("x-request-id", "talk-05.t1"), 2u);
  EXPECT_EQ(a.requests_sent_again, 1);
}

// A small graph whose first agent waits for an answer: q asks, w runs after it.
void question_graph(GraphProject& p) {
  p.steps("asker",
          "  - ask: {question: \"go on?\", options: [yes, no], timeout: 600}\n"
          "  - write: {path: \"out/{agent}.txt\", content: \"{agent} answered {answer}\"}\n"
          "  - result: {summary: \"{agent}: {answer}\"}\n");
  p.graph("name: asking\nagents:\n  - {id: q, bundle: asker}\n  - {id: w, bundle: ok, after: [q]}\n");
}

// Waits for q's agent:blocked from a session other than `not_session`; returns it.
proto::Event blocked_q(GraphProject& p, const std::string& not_session = "") {
  for (;;) {
    auto e = p.wait_event("agent:blocked", "q");
    if (e.session_id != not_session) return e;
  }
}

std::string question_id(const proto::Event& e) { return json::parse(e.payload_json).at("question_id"); }

TEST(Resume, RunOnAnUnfinishedRunSaysSoAndResumeContinues) {
  GraphProject p;
  question_graph(p);
  p.start();
  const auto first = blocked_q(p);
  p.run().kill9();
  ASSERT_EQ(p.wait(), 128 + SIGKILL);
  auto status = json::parse(shell(remora(p, "status --json")).out);
  EXPECT_EQ(status.at("state"), "running");

  // Without a terminal to ask on, `remora run` refuses and says what to do, with or without --json.
  for (const std::string json_flag : {"", " --json"}) {
    auto r = shell(remora(p, "run " + p.graph_path() + json_flag + " < /dev/null"));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("holds an unfinished run of graph 'asking' (its supervisor stopped)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("run `remora resume` to continue it, or `remora run --fresh` to start over"), std::string::npos)
        << r.out;
  }
  // ... and leaves the run as it was.
  EXPECT_EQ(json::parse(shell(remora(p, "status --json")).out).at("graph_id"), status.at("graph_id"));
  EXPECT_EQ(p.agent("q").state, "blocked");

  // --fresh starts over: a new graph id, the question asked again from the start.
  p.close();
  p.start({"--fresh"});
  const auto again = blocked_q(p, first.session_id);
  EXPECT_NE(again.graph_id, first.graph_id);
  EXPECT_EQ(question_id(again), question_id(first));
  ASSERT_EQ(shell(remora(p, "answer " + question_id(again) + " yes")).code, 0);
  ASSERT_EQ(p.wait(), 0) << p.output();
  auto events = p.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().category + ":" + events.front().action, "graph:started");
  for (const auto& e : events) {
    EXPECT_EQ(e.graph_id, again.graph_id) << e.id;  // the old run's log was discarded
    EXPECT_NE(e.category + ":" + e.action, "graph:resumed") << e.id;
  }
  EXPECT_EQ(p.overlay_file("q", "out/q.txt"), "q answered yes");

  // An ended run has nothing to resume.
  auto r = shell(remora(p, "resume"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(r.out, "remora: the run of graph 'asking' is completed: nothing to resume\n");
}

TEST(Resume, ASecondSupervisorIsRefused) {
  GraphProject p;
  question_graph(p);
  p.start();
  const auto first = blocked_q(p);
  const auto busy = fmt::format("remora: another supervisor (pid {}) is running on workspace {}\n", p.run().pid(), p.ws());
  for (const auto& cmd : std::vector<std::string>{"resume", "resume --json", "run " + p.graph_path() + " < /dev/null"}) {
    auto r = shell(remora(p, cmd));
    EXPECT_EQ(r.code, 3) << cmd;
    EXPECT_EQ(r.out, busy) << cmd;
  }
  // The live run did not notice.
  EXPECT_EQ(p.agent("q").state, "blocked");
  for (const auto& e : p.events()) EXPECT_EQ(e.session_id, first.session_id) << e.id;

  // The lock dies with its supervisor: resume takes over and asks the pending question again.
  p.run().kill9();
  ASSERT_EQ(p.wait(), 128 + SIGKILL);
  p.start_cmd({"resume", "--json"});
  const auto again = blocked_q(p, first.session_id);
  EXPECT_EQ(question_id(again), question_id(first));
  EXPECT_EQ(again.graph_id, first.graph_id);
  auto r = shell(remora(p, "run " + p.graph_path() + " < /dev/null"));  // the resumed one holds it now
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find(fmt::format("another supervisor (pid {})", p.run().pid())), std::string::npos) << r.out;
  ASSERT_EQ(shell(remora(p, "answer " + question_id(again) + " no")).code, 0);
  ASSERT_EQ(p.wait(), 0) << p.output();
  auto agents = p.agents();
  EXPECT_EQ(agents.at("q").at("state"), "completed");
  EXPECT_EQ(agents.at("w").at("state"), "completed");
  EXPECT_EQ(agents.at("q").at("result").at("summary"), "q: no");
}

// The supervisor dies after q's worker committed a question and before the supervisor indexed
// it (it is stopped, the worker goes on, then it is killed): the restarted worker finds its
// question already asked and only waits, so the resumed supervisor must find it in the overlay.
// Found by this test: it used to wait for the agent's timeout with nobody asked.
TEST(Resume, AQuestionTheDeadSupervisorNeverSawIsAskedOnResume) {
  GraphProject p;
  p.steps("asker",
          "  - ask: {question: \"first?\", options: [yes, no], timeout: 600}\n"
          "  - ask: {question: \"second?\", options: [yes, no], timeout: 600}\n"
          "  - write: {path: \"out/{agent}.txt\", content: \"{agent} answered {answer}\"}\n");
  p.graph("name: asking\nagents:\n  - {id: q, bundle: asker}\n");
  p.start();
  const auto first = blocked_q(p);
  ASSERT_EQ(question_id(first), "q.0");
  const long worker = p.agent("q").pid;
  ASSERT_EQ(::kill(p.run().pid(), SIGSTOP), 0);
  ASSERT_EQ(shell(remora(p, "answer q.0 yes")).code, 0);
  // The worker takes the answer and asks the second question, unseen by the stopped supervisor.
  auto& w = p.open();
  Watcher watch(w, keys::question("q.1"), 1);
  const auto deadline = Watcher::Clock::now() + 60s;
  while (!w.get(w.ns(keys::agent_ns("q")), keys::question("q.1"))) ASSERT_FALSE(watch.next(deadline).empty());
  p.run().kill9();
  ASSERT_EQ(p.wait(), 128 + SIGKILL);
  EXPECT_TRUE(test::wait_exit(worker, 30000));  // bound to its supervisor's life
  EXPECT_FALSE(w.get(w.ns("base"), keys::run_question("q.1")));

  p.start_cmd({"resume", "--json"});
  const auto second = blocked_q(p, first.session_id);
  EXPECT_EQ(question_id(second), "q.1");
  ASSERT_EQ(shell(remora(p, "answer q.1 no")).code, 0);
  ASSERT_EQ(p.wait(), 0) << p.output();
  EXPECT_EQ(p.overlay_file("q", "out/q.txt"), "q answered no");
  std::map<std::string, int> resumed;
  for (const auto& e : p.events())
    if (e.category + ":" + e.action == "agent:resumed") ++resumed[question_id(e)];
  EXPECT_EQ(resumed, (std::map<std::string, int>{{"q.0", 1}, {"q.1", 1}}));
}

// A checkpoint taken while q waits for its answer; the run finishes; restoring the checkpoint
// brings back the waiting run, and `remora resume` finishes it again the same way.
TEST(Resume, RestoreOnAResumedWorkspaceCompletes) {
  GraphProject p;
  question_graph(p);
  p.start();
  const auto first = blocked_q(p);
  auto cp = shell(remora(p, "checkpoint -m x --json"));
  ASSERT_EQ(cp.code, 0) << cp.out;
  const auto id = json::parse(cp.out).at("id").get<std::string>();
  ASSERT_EQ(shell(remora(p, "answer " + question_id(first) + " yes")).code, 0);
  ASSERT_EQ(p.wait(), 0) << p.output();
  const auto expected = test::outcome(p);
  EXPECT_EQ(expected.agents.at("q").at("result").at("summary"), "q: yes");

  p.close();  // restore needs the workspace to itself
  auto r = shell(remora(p, "restore " + id + " --yes"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto status = json::parse(shell(remora(p, "status --json")).out);
  EXPECT_EQ(status.at("state"), "running");
  EXPECT_EQ(p.agent("q").state, "blocked");
  EXPECT_EQ(p.agent("w").state, "pending");
  EXPECT_EQ(p.overlay_file("q", "out/q.txt"), std::nullopt);

  p.close();
  p.start_cmd({"resume", "--json"});
  const auto again = blocked_q(p, first.session_id);
  EXPECT_EQ(question_id(again), question_id(first));
  ASSERT_EQ(shell(remora(p, "answer " + question_id(again) + " yes")).code, 0);
  ASSERT_EQ(p.wait(), 0) << p.output();
  const auto got = test::outcome(p);
  EXPECT_EQ(got.agents, expected.agents);
  EXPECT_EQ(got.data, expected.data);
  std::vector<std::string> names;
  for (const auto& e : p.events()) names.push_back(e.category + ":" + e.action);
  EXPECT_NE(std::find(names.begin(), names.end(), "checkpoint:restored"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "graph:resumed"), names.end());
  EXPECT_EQ(names.back(), "graph:completed");
}

}  // namespace
}  // namespace remora
