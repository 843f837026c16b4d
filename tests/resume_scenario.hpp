// ResumeScenario: what the crash-recovery tests of `remora resume` share. A seeded graph of
// agents with dependencies, mixing model-driven agents (the `openai` provider pointed at a
// ChatServer in the test process, which outlives every supervisor) and `steps` agents, with
// questions; a driver that runs it to the end through real `remora run` / `remora resume`
// processes, answering each question as it is first asked and killing whatever a kill hook says
// (the supervisor, and with it anything else) at moments chosen from the event log; and what the
// run ended with, comparable between an uninterrupted run and one killed many times.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "chat_server.hpp"
#include "graph_project.hpp"
#include "test_support.hpp"

namespace remora::test {

// The scripted conversation of the model-driven agents, a pure function of the request: the user
// prompt is "agent <id>"; the turn is one more than the assistant messages so far; the answer is
// what ask_user returned. "talk-ask-*" agents write, store a note, ask, then submit; "talk-*"
// agents write, store a note, then submit.
inline ChatAction scripted_reply(const nlohmann::json& request) {
  using nlohmann::json;
  const auto [agent, turn, answer] = chat_turn(request);
  const bool asks = agent.starts_with("talk-ask");
  std::vector<json> calls;
  if (turn == 1) {
    calls.push_back(tool_call("c0", "write_file", {{"path", "out/" + agent + ".txt"}, {"content", "draft by " + agent + "\n"}}));
    calls.push_back(tool_call("c1", "kv_put", {{"key", "note"}, {"value", {{"agent", agent}, {"turn", turn}}}}));
  } else if (turn == 2 && asks) {
    calls.push_back(tool_call("c0", "ask_user",
                              {{"question", "keep " + agent + "'s draft?"}, {"options", {"yes", "no"}}, {"timeout", 600}}));
    calls.push_back(tool_call("c1", "write_file", {{"path", "out/" + agent + ".log"}, {"content", "asked at turn 2\n"}}));
  } else {
    calls.push_back(tool_call("c0", "submit_result",
                              {{"summary", agent + " done; answer '" + answer + "'"},
                               {"changed_files", asks ? json{"out/" + agent + ".txt", "out/" + agent + ".log"}
                                                      : json{"out/" + agent + ".txt"}}}));
  }
  return ChatAction::tool_calls(std::move(calls));
}

// How many model turns each model-driven agent takes.
inline int turns_of(const std::string& agent) { return agent.starts_with("talk-ask") ? 3 : 2; }

// The answer the test gives to a question: a function of its id, so that both runs agree.
inline std::string answer_for(const std::string& qid) { return qid.size() % 2 ? "yes" : "no"; }

// Writes the graph: `n` agents of four kinds in turn (talk-ask, talk, steps-ask, steps-write),
// each after up to two earlier agents chosen with `seed`, or with `chain` after the one before.
inline std::vector<std::string> write_resume_graph(GraphProject& p, const std::string& base_url, int n,
                                                   unsigned seed, bool chain = false) {
  p.bundle("talker",
           "description: does what the test's server says\n"
           "system_prompt: You edit files as asked.\n"
           "user_prompt: \"agent {agent}\"\n"
           "model: {provider: openai, model: test-model, base_url: \"" + base_url + "\", retries: 1, timeout: 30}\n"
           "max_turns: 5\ntools: [write_file, ask_user, kv_put, submit_result]\n",
           "agent");
  p.steps("asker",
          "  - write: {path: \"out/{agent}.txt\", content: \"before the question\"}\n"
          "  - ask: {question: \"go on, {agent}?\", options: [yes, no], timeout: 600}\n"
          "  - write: {path: \"out/{agent}.txt\", content: \"{agent} answered {answer}\"}\n"
          "  - result: {summary: \"{agent}: {answer}\"}\n");
  p.steps("writer",
          "  - write: {path: \"out/{agent}.tmp\", content: \"scratch of {agent}\"}\n"
          "  - write: {path: \"out/{agent}.txt\", content: \"written by {agent}\"}\n"
          "  - work: {ms: 10}\n"
          "  - delete: {path: \"out/{agent}.tmp\"}\n"
          "  - result: {summary: \"{agent} wrote\"}\n");
  static const char* kinds[] = {"talk-ask", "talk", "steps-ask", "steps-write"};
  static const char* bundles[] = {"talker", "talker", "asker", "writer"};
  std::mt19937 rng(seed);
  std::vector<std::string> ids;
  std::string g = "name: resume\nconfig:\n  max_concurrency: 6\n  heartbeat: {interval: 0.5}\nagents:\n";
  for (int i = 0; i < n; ++i) {
    const auto id = fmt::format("{}-{:02}", kinds[i % 4], i);
    std::set<std::string> after;
    if (chain && i > 0) after.insert(ids.back());
    if (!chain && i > 0)
      for (int k = static_cast<int>(rng() % 3); k > 0; --k) after.insert(ids[rng() % ids.size()]);
    std::string deps;
    for (const auto& d : after) deps += (deps.empty() ? "" : ", ") + d;
    g += fmt::format("  - {{id: {}, bundle: {}, after: [{}]}}\n", id, bundles[i % 4], deps);
    ids.push_back(id);
  }
  p.graph(g);
  return ids;
}

// Blocks (in flock, not by polling) until no process holds the workspace's supervisor lock: a
// worker forked by a supervisor killed before the worker's exec holds it for that instant.
inline void wait_lock_free(const GraphProject& p) {
  int fd = ::open((std::filesystem::path(p.ws()) / "supervisor.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::flock(fd, LOCK_SH);
  ::close(fd);
}

// What a run did, as the driver saw it.
struct Drive {
  int exit_code = -1;
  int kills = 0;
  int resumes = 0;                           // `remora resume` started
  std::size_t events = 0;                    // events read
  std::map<std::string, std::uint64_t> answered_at;  // question id -> a revision at or after its answer
  std::string restarts;                      // "<agent>: <payload>" of each agent:restarting, a line each
};

// Decides, for each event read, whether to kill the supervisor now (it may kill more first).
using KillHook = std::function<bool(const proto::Event&)>;

// Runs p's graph to its end: `remora run`, then `remora resume` after each kill, until the run
// has ended. Each question is answered (answer_for) the first time it is asked, after the kill
// hook has seen its agent:blocked (and after_kill has run, if it killed).
inline Drive drive(GraphProject& p, const KillHook& kill_now = {}, const std::function<void()>& after_kill = {}) {
  using nlohmann::json;
  Drive d;
  p.start();
  bool ended = false;
  for (;;) {
    auto e = p.next_event();
    ++d.events;
    const auto name = e.category + ":" + e.action;
    if (name == "agent:restarting") d.restarts += e.agent_id + ": " + e.payload_json + "\n";
    if (name == "graph:completed" || name == "graph:failed" || name == "graph:cancelled") {
      if (!ended) d.exit_code = p.wait();
      return d;
    }
    if (!ended && kill_now && kill_now(e)) {
      p.run().kill9();
      p.wait();
      ++d.kills;
      if (after_kill) after_kill();
      auto status = json::parse(shell(kRemoraBin + " -w " + p.ws() + " status --json").out);
      if (status.at("state") == "running") {
        wait_lock_free(p);
        p.start_cmd({"resume", "--json"});
        ++d.resumes;
      } else {  // it had ended before the kill: its last events are still to be read
        ended = true;
        d.exit_code = status.at("state") == "completed" ? 0 : 1;
      }
    }
    if (name == "agent:blocked") {
      const auto qid = json::parse(e.payload_json).at("question_id").get<std::string>();
      if (!d.answered_at.count(qid)) {
        auto r = shell(kRemoraBin + " -w " + p.ws() + " answer " + qid + " " + answer_for(qid));
        if (r.code != 0) throw std::runtime_error("remora answer " + qid + ": " + r.out);
        d.answered_at[qid] = p.open().revision();
      }
    }
  }
}

// What a run ended with: each agent's row of `remora status --json` without durations, and the
// raw bytes of every file and stored value in each agent's overlay.
struct Outcome {
  std::map<std::string, nlohmann::json> agents;
  std::map<std::string, std::string> data;  // "<agent> <key>" -> record bytes
};
inline Outcome outcome(GraphProject& p) {
  Outcome o;
  for (auto [id, a] : p.agents()) {
    a.erase("duration_ms");
    if (a.at("result").is_object()) a["result"].erase("duration_ms");
    o.agents[id] = a;
  }
  auto& w = p.open();
  for (const auto& [id, a] : o.agents) {
    auto ns = w.find_ns(keys::agent_ns(id));
    if (!ns) continue;
    for (const auto& prefix : {std::string(keys::kFile), keys::agent_kv(id, "")})
      for (auto& [k, e] : w.list(*ns, prefix)) o.data[id + " " + k] = e.value;
  }
  return o;
}

// What the event log and the server say about the run, checked against the rules of a resumed
// run; each broken rule is one line of the result (empty when all hold).
//  - every question asked was answered once, with the test's answer, never asked again after its
//    answer was taken (first agent:resumed), and at most once after the test gave it (by a
//    supervisor starting as it was given);
//  - each model turn reached the server exactly once, except a turn whose request a killed
//    supervisor had sent without recording the response: it may have been sent once more per
//    such kill (no transport can tell whether a dead client's request was processed);
//  - every turn of every model-driven agent reached the server, and nothing else did;
//  - revisions of the log only grow, and there is one graph:resumed per resume.
struct Audit {
  std::vector<std::string> problems;
  int questions = 0;
  int requests_cut_by_a_kill = 0;   // requests a dead supervisor left without a response
  int requests_sent_again = 0;      // of those, how many the server saw twice
};
inline Audit audit(GraphProject& p, const ChatServer& server, const Drive& d, const std::vector<std::string>& ids) {
  using nlohmann::json;
  Audit a;
  auto events = p.events();
  std::map<std::string, std::uint64_t> first_resumed;
  std::map<std::string, std::vector<std::uint64_t>> blocked;
  std::map<std::string, std::map<std::string, std::set<std::string>>> requested, answered;  // id -> session -> ...
  std::map<std::string, int> resumed_answers, asked_after_answer;
  std::uint64_t last_rev = 0;
  int resumes = 0;  // graph:resumed events
  std::vector<std::string> sessions;
  for (const auto& e : events) {
    const auto name = e.category + ":" + e.action;
    const auto payload = json::parse(e.payload_json);
    if (e.revision < last_rev) a.problems.push_back(fmt::format("event {} goes back to revision {}", e.id, e.revision));
    last_rev = e.revision;
    if (sessions.empty() || sessions.back() != e.session_id) sessions.push_back(e.session_id);
    if (name == "graph:resumed") ++resumes;
    if (name == "agent:blocked") blocked[payload.at("question_id")].push_back(e.revision);
    if (name == "agent:resumed") {
      const auto qid = payload.at("question_id").get<std::string>();
      ++resumed_answers[qid];
      if (!first_resumed.count(qid)) first_resumed[qid] = e.revision;
      if (payload.at("answer") != answer_for(qid) || payload.at("source") != "remora answer")
        a.problems.push_back("question " + qid + " resumed with " + payload.dump());
    }
    if (name == "model:request") requested[payload.at("request_id")][e.session_id].insert(e.id);
    if (name == "model:response") answered[payload.at("request_id")][e.session_id].insert(e.id);
  }
  // Each session's first event says how it began (a supervisor killed before its first commit
  // leaves none).
  if (resumes > d.resumes) a.problems.push_back(fmt::format("{} graph:resumed events for {} resumes", resumes, d.resumes));
  std::set<std::string> begun;
  for (const auto& e : events) {
    if (!begun.insert(e.session_id).second) continue;
    const auto name = e.category + ":" + e.action;
    if (name != (begun.size() == 1 ? "graph:started" : "graph:resumed"))
      a.problems.push_back("session " + e.session_id + " begins with " + name);
  }
  for (const auto& [qid, revs] : blocked) {
    ++a.questions;
    if (!first_resumed.count(qid)) {
      a.problems.push_back("question " + qid + " was never resumed");
      continue;
    }
    if (resumed_answers[qid] != 1) a.problems.push_back(fmt::format("question {} resumed {} times", qid, resumed_answers[qid]));
    for (auto r : revs) {
      if (r > first_resumed[qid]) a.problems.push_back(fmt::format("question {} asked again at revision {} after its answer", qid, r));
      // A supervisor that read the question as pending just before the answer was committed
      // asks once more, and takes the answer right after: at most one ask after the answer.
      if (d.answered_at.count(qid) && r > d.answered_at.at(qid)) ++asked_after_answer[qid];
    }
    if (asked_after_answer[qid] > 1)
      a.problems.push_back(fmt::format("question {} asked {} times after remora answer", qid, asked_after_answer[qid]));
  }
  // Expected requests: every turn of every model-driven agent.
  std::set<std::string> expected;
  for (const auto& id : ids)
    if (id.starts_with("talk"))
      for (int t = 1; t <= turns_of(id); ++t) expected.insert(fmt::format("{}.t{}", id, t));
  std::size_t total = 0;
  for (const auto& rid : expected) {
    const auto count = server.count_with_header("x-request-id", rid);
    total += count;
    int cut = 0;  // sessions that sent it and died before its response
    for (const auto& [session, ids_] : requested[rid])
      if (!answered[rid].count(session) && session != sessions.back()) ++cut;
    a.requests_cut_by_a_kill += cut;
    if (count > 1) a.requests_sent_again += static_cast<int>(count) - 1;
    if (count < 1 || count > 1u + static_cast<std::size_t>(cut))
      a.problems.push_back(fmt::format("request {} reached the server {} times ({} kills while it was out)", rid, count, cut));
  }
  if (total != server.request_count())
    a.problems.push_back(fmt::format("the server saw {} requests, {} of them for expected turns", server.request_count(), total));
  return a;
}

// The printed seed of a fault-injection run: REMORA_RESUME_SEED if set, else a random one.
inline unsigned resume_seed() {
  if (const char* s = std::getenv("REMORA_RESUME_SEED")) return static_cast<unsigned>(std::stoul(s));
  return std::random_device{}();
}

inline std::string lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

// Runs a seeded graph of `n` agents uninterrupted, then again with the supervisor SIGKILLed at
// `kills` seeded random moments (after a random number of events of the log) and resumed after
// each, and compares: every agent's state and result, every overlay byte for byte, the
// questions and the model requests (see audit).
inline void fault_injection(int n, int kills, unsigned seed = resume_seed()) {
  using nlohmann::json;
  SCOPED_TRACE(fmt::format("seed {} (REMORA_RESUME_SEED={} runs it again)", seed, seed));
  std::printf("fault injection: seed %u, %d agents, %d kills\n", seed, n, kills);

  ChatServer ref_server([](const json& r, int) { return scripted_reply(r); });
  GraphProject ref;
  const auto ids = write_resume_graph(ref, ref_server.base_url(), n, seed);
  const auto ref_drive = drive(ref);
  ASSERT_EQ(ref_drive.exit_code, 0) << ref.output().substr(0, 3000);
  const auto expected = outcome(ref);
  const auto ref_audit = audit(ref, ref_server, ref_drive, ids);
  EXPECT_TRUE(ref_audit.problems.empty()) << lines(ref_audit.problems);
  EXPECT_EQ(ref_audit.requests_cut_by_a_kill, 0);

  ChatServer server([](const json& r, int) { return scripted_reply(r); });
  GraphProject p;
  write_resume_graph(p, server.base_url(), n, seed);
  std::mt19937 rng(seed ^ 0x5bd1e995u);
  // At most half the events of an uninterrupted run go by between kills in total: every kill
  // happens before the end.
  const auto gap = std::max<std::size_t>(2, ref_drive.events / (2 * static_cast<std::size_t>(kills)));
  int left = kills;
  std::size_t until = 1 + rng() % gap;
  const auto d = drive(p, [&](const proto::Event&) {
    if (left == 0 || --until > 0) return false;
    --left;
    until = 1 + rng() % gap;
    return true;
  });
  ASSERT_EQ(d.exit_code, 0) << p.output().substr(0, 3000);
  EXPECT_EQ(d.kills, kills);
  const auto got = outcome(p);
  for (const auto& [id, row] : expected.agents) {
    ASSERT_TRUE(got.agents.count(id)) << id;
    EXPECT_EQ(got.agents.at(id), row) << id << "\nrestarts:\n" << d.restarts;
    EXPECT_EQ(row.at("state"), "completed") << id;
  }
  EXPECT_EQ(got.agents.size(), expected.agents.size());
  EXPECT_EQ(got.data.size(), expected.data.size());
  for (const auto& [key, bytes] : expected.data) {
    auto it = got.data.find(key);
    ASSERT_NE(it, got.data.end()) << key;
    EXPECT_EQ(it->second, bytes) << key;
  }
  for (const auto& [key, bytes] : got.data) EXPECT_TRUE(expected.data.count(key)) << "not in the reference: " << key;
  const auto a = audit(p, server, d, ids);
  EXPECT_TRUE(a.problems.empty()) << lines(a.problems);
  EXPECT_EQ(a.questions, ref_audit.questions);
  std::printf("fault injection: %d kills, %d resumes, %zu events (uninterrupted: %zu), %d questions, %d model "
              "requests cut by a kill, %d sent again\n",
              d.kills, d.resumes, d.events, ref_drive.events, a.questions, a.requests_cut_by_a_kill,
              a.requests_sent_again);
}

}  // namespace remora::test
