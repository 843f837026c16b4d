// The remora command line as a script or a user meets it: real `remora` processes over real
// workspaces, their output read as the user would (pipes, exit codes, --json).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph_project.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

using Project = test::GraphProject;
using test::shell;
using test::write_text;

// `remora run ... | head -1`: the reader goes away after one line, the run goes on to the end.
TEST(Cli, ARunWhoseOutputNoOneReadsCompletes) {
  Project p;
  std::string graph = "config: {max_concurrency: 4}\nagents:\n";
  for (int i = 0; i < 12; ++i) graph += "  - {id: a" + std::to_string(i) + ", bundle: ok}\n";
  p.graph(graph);
  auto r = shell("bash -c '" + test::kRemoraBin + " -w " + p.ws() + " run " + p.graph_path() +
                 " --json | head -1 >/dev/null; exit ${PIPESTATUS[0]}'");
  EXPECT_EQ(r.code, 0) << r.out;
  for (int i = 0; i < 12; ++i) EXPECT_EQ(p.agent("a" + std::to_string(i)).state, "completed") << i;
}

// A run whose supervisor was killed is not "running": status says the supervisor is gone and how
// to go on, in words and in --json.
TEST(Cli, StatusOfARunWhoseSupervisorDiedSaysSoAndHowToGoOn) {
  Project p;
  p.steps("slow", "  - work: {ms: 60000}\n");
  p.graph("agents:\n  - {id: s, bundle: slow}\n");
  p.start();
  p.wait_event("agent:started", "s");
  auto running = shell(test::kRemoraBin + " -w " + p.ws() + " status --json");
  ASSERT_EQ(running.code, 0) << running.out;
  EXPECT_EQ(nlohmann::json::parse(running.out)["supervisor"], "running");
  p.run().kill9();
  p.wait();
  auto text = shell(test::kRemoraBin + " -w " + p.ws() + " status");
  EXPECT_EQ(text.code, 0) << text.out;
  EXPECT_NE(text.out.find("running, but its supervisor is gone: continue it with remora -w " + p.ws() + " resume"),
            std::string::npos)
      << text.out;
  auto as_json = shell(test::kRemoraBin + " -w " + p.ws() + " status --json");
  ASSERT_EQ(as_json.code, 0) << as_json.out;
  EXPECT_EQ(nlohmann::json::parse(as_json.out)["supervisor"], "gone");
}

// Input that could do nothing is refused with a message naming it, never taken in silence.
TEST(Cli, WrongInputIsAnErrorNotSilence) {
  Project p;
  p.graph("agents:\n  - {id: a, bundle: ok}\n");
  ASSERT_EQ(p.run_to_end(), 0) << p.output();
  const std::string remora = test::kRemoraBin + " -w " + p.ws();
  auto bogus = shell(remora + " bogus");
  EXPECT_EQ(bogus.code, 2);
  EXPECT_NE(bogus.out.find("unknown command 'bogus' (commands: run, resume,"), std::string::npos) << bogus.out;
  for (const std::string pattern : {"bogus", ":", "agent:", ":failed", "a:b:c"}) {
    auto events = shell(remora + " events --pattern '" + pattern + "'");
    EXPECT_EQ(events.code, 2) << pattern;
    EXPECT_NE(events.out.find("event pattern '" + pattern + "' is not * or CATEGORY:ACTION"), std::string::npos)
        << events.out;
  }
  EXPECT_EQ(shell(remora + " events --pattern 'agent:*'").code, 0);
  const std::string missing = p.path("missing").string();
  auto checkpoints = shell(test::kRemoraBin + " -w " + missing + " checkpoints");
  EXPECT_EQ(checkpoints.code, 1);
  EXPECT_NE(checkpoints.out.find("no workspace at " + missing), std::string::npos) << checkpoints.out;
}

// Runs a project of one Python file whose agent asks a question, then edits the file; returns the
// question's id once it is asked.
std::string run_asking_editor(Project& p) {
  write_text(p.path("project/a.py"), "x = 1\n");
  p.steps("edit", "  - ask: {question: \"Go?\", options: [yes, no], timeout: 600}\n"
                  "  - write: {path: a.py, content: \"x = 2  # {answer}\\n\"}\n  - result: {summary: edited}\n");
  p.graph("discover: {bundles: [edit], paths: [project]}\n");
  p.start();
  auto blocked = p.wait_event("agent:blocked", "edit.a.py");
  return nlohmann::json::parse(blocked.payload_json).at("question_id");
}

// Every command that prints takes --json and then prints JSON only: answer, cancel, diff,
// accept, undo and reject here.
TEST(Cli, JsonOnTheCommandsThatAnswerReviewAndCancel) {
  Project p;
  const std::string qid = run_asking_editor(p);
  const std::string remora = test::kRemoraBin + " -w " + p.ws();
  auto json_of = [&](const std::string& args) {
    auto r = shell(remora + " " + args + " --json");
    EXPECT_EQ(r.code, 0) << args << ": " << r.out;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << args << " printed more than one JSON value: " << r.out;
      return nlohmann::json();
    }
  };
  EXPECT_EQ(json_of("answer " + qid + " 1"),
            (nlohmann::json{{"question", qid}, {"agent", "edit.a.py"}, {"answer", "yes"}}));
  EXPECT_EQ(p.wait(), 0) << p.output();
  // The agent's own question record says answered, as run:question does.
  auto asked = shell(std::string(REMORA_KV) + " -w " + p.ws() + " get --ns agent/edit.a.py outbox:question:" + qid);
  ASSERT_EQ(asked.code, 0) << asked.out;
  EXPECT_EQ(nlohmann::json::parse(asked.out).at("record").at("status"), "answered") << asked.out;

  auto diff = json_of("diff");
  EXPECT_EQ(diff.at("agent"), "edit.a.py");
  ASSERT_EQ(diff.at("files").size(), 1u);
  EXPECT_EQ(diff["files"][0].at("path"), "a.py");
  EXPECT_EQ(diff["files"][0].at("status"), "modified");
  EXPECT_EQ(diff["files"][0].at("added"), 1);
  EXPECT_NE(diff["files"][0].at("diff").get<std::string>().find("+x = 2  # yes\n"), std::string::npos) << diff;

  auto accept = json_of("accept edit.a.py");
  EXPECT_EQ(accept.at("accepted"), true);
  EXPECT_EQ(accept.at("files")[0].at("path"), "a.py");
  EXPECT_EQ(test::read_text(p.path("project/a.py")), "x = 2  # yes\n");
  EXPECT_EQ(json_of("undo"), (nlohmann::json{{"agent", "edit.a.py"}, {"undone", true}, {"restored", {"a.py"}}}));
  EXPECT_EQ(test::read_text(p.path("project/a.py")), "x = 1\n");
  EXPECT_EQ(json_of("reject edit.a.py"), (nlohmann::json{{"agent", "edit.a.py"}, {"rejected", true}}));
  // What the agent reported outlives its rejected overlay.
  auto status = json_of("status");
  ASSERT_EQ(status.at("agents").size(), 1u);
  EXPECT_EQ(status["agents"][0].at("result").at("summary"), "edited") << status;
  EXPECT_EQ(json_of("cancel --all"), (nlohmann::json{{"cancel", "*"}, {"supervisor", "none"}}));
}

// Colour only on a terminal, and never under NO_COLOR: diff run under a pseudo-terminal (script),
// with and without NO_COLOR, and into a pipe.
TEST(Cli, DiffColoursOnlyATerminalWithoutNoColor) {
  Project p;
  const std::string qid = run_asking_editor(p);
  const std::string remora = test::kRemoraBin + " -w " + p.ws();
  ASSERT_EQ(shell(remora + " answer " + qid + " yes").code, 0);
  ASSERT_EQ(p.wait(), 0) << p.output();
  auto on_terminal = [&](const std::string& env) {
    return shell("script -qec '" + env + " " + remora + " diff' /dev/null");
  };
  const std::string escape = "\033[";
  auto tty = on_terminal("");
  ASSERT_EQ(tty.code, 0) << tty.out;
  EXPECT_NE(tty.out.find("x = 2  # yes"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find(escape), std::string::npos) << "a terminal gets colour: " << tty.out;
  auto no_color = on_terminal("NO_COLOR=1");
  ASSERT_EQ(no_color.code, 0) << no_color.out;
  EXPECT_NE(no_color.out.find("x = 2  # yes"), std::string::npos) << no_color.out;
  EXPECT_EQ(no_color.out.find(escape), std::string::npos) << "NO_COLOR: " << no_color.out;
  auto piped = shell(remora + " diff | cat");
  EXPECT_NE(piped.out.find("x = 2  # yes"), std::string::npos) << piped.out;
  EXPECT_EQ(piped.out.find(escape), std::string::npos) << "a pipe: " << piped.out;
}

// The tokens a resumed run's graph:completed reports are the whole run's, as status counts them:
// lint agents (scripted model) complete, the supervisor is killed while steps agents (which, like
// agent bundles, take only file nodes) wait on a question, the questions are answered with no
// supervisor, and the run is resumed to its end.
TEST(Cli, TheTokensOfAResumedRunAreTheWholeRunsAsStatusSays) {
  namespace fs = std::filesystem;
  Project p;
  fs::copy(REMORA_EXAMPLES "/sample_project", p.path("project"), fs::copy_options::recursive);
  fs::copy(REMORA_EXAMPLES "/bundles/lint", p.path("bundles/lint"), fs::copy_options::recursive);
  p.bundle("hold", "node_types: [file]\nsteps:\n  - ask: {question: \"Go on?\", options: [yes], timeout: 600}\n"
                   "  - result: {summary: held}\n");
  p.graph("discover: {bundles: [lint, hold], paths: [project]}\n");
  p.start();
  const std::vector<std::string> files{"greet.py", "legacy.py", "shapes.py"};
  std::vector<std::string> questions;
  for (const auto& f : files) {
    p.wait_event("agent:completed", "lint." + f);
    auto blocked = p.wait_event("agent:blocked", "hold." + f);
    questions.push_back(nlohmann::json::parse(blocked.payload_json).at("question_id"));
  }
  p.run().kill9();
  p.wait();
  const std::string remora = test::kRemoraBin + " -w " + p.ws();
  for (const auto& q : questions) ASSERT_EQ(shell(remora + " answer " + q + " yes").code, 0) << q;
  auto resumed = shell(remora + " resume --json");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  const auto completed = nlohmann::json::parse(resumed.out.substr(resumed.out.rfind("{\"agent_id\"")));
  ASSERT_EQ(completed.at("event"), "graph:completed") << resumed.out;
  auto status = nlohmann::json::parse(shell(remora + " status --json").out);
  EXPECT_EQ(status.at("agents").size(), 6u);  // one agent per file and bundle: no function nodes for hold
  EXPECT_GT(status.at("prompt_tokens").get<std::uint64_t>(), 0u);
  EXPECT_EQ(completed["payload"].at("prompt_tokens"), status.at("prompt_tokens"));
  EXPECT_EQ(completed["payload"].at("completion_tokens"), status.at("completion_tokens"));
}

// A hand-written graph names its project directory: it is imported before the run, and its
// agents' changes are accepted onto it.
TEST(Cli, AHandWrittenGraphNamesItsProject) {
  Project p;
  write_text(p.path("src/a.py"), "x = 1\n");
  p.steps("edit", "  - write: {path: a.py, content: \"x = 2\\n\"}\n  - result: {summary: edited}\n");
  p.graph("project: src\nagents:\n  - {id: e, bundle: edit, target: a.py}\n");
  ASSERT_EQ(p.run_to_end(), 0) << p.output();
  const std::string remora = test::kRemoraBin + " -w " + p.ws();
  auto accept = shell(remora + " accept e");
  ASSERT_EQ(accept.code, 0) << accept.out;
  EXPECT_EQ(test::read_text(p.path("src/a.py")), "x = 2\n");

  p.graph("project: nowhere\nagents:\n  - {id: e, bundle: edit}\n");
  auto bad = shell(remora + " run --fresh " + p.graph_path());
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("project: 'nowhere' is not a directory (relative to the graph file)"), std::string::npos)
      << bad.out;
}

}  // namespace
}  // namespace remora
