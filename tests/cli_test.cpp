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

}  // namespace
}  // namespace remora
