// The live progress line of `remora run`: elapsed time, counts, and each running agent with what
// it waits on, fed the events a run emits.
#include "supervisor/progress_line.hpp"

#include <gtest/gtest.h>

namespace remora {
namespace {

proto::Event event(const std::string& name, const std::string& agent, std::int64_t at_ms) {
  proto::Event e;
  e.category = name.substr(0, name.find(':'));
  e.action = name.substr(name.find(':') + 1);
  e.agent_id = agent;
  e.timestamp_ms = at_ms;
  return e;
}

TEST(ProgressLine, ShowsElapsedTimeAndWhatEachRunningAgentWaitsOn) {
  ProgressLine line;
  EXPECT_FALSE(line.started());
  line.on_event(event("graph:started", "", 1000), {{"agents", 4}});
  line.on_event(event("graph:progress", "", 1000), {{"running", 3}, {"pending", 1}, {"completed", 0}});
  line.on_event(event("agent:started", "lint.a.py", 1001), {});
  line.on_event(event("agent:started", "lint.b.py", 1001), {});
  line.on_event(event("agent:started", "ask.c.py", 1001), {});
  line.on_event(event("model:request", "lint.a.py", 1002), {{"request_id", "r1"}});
  line.on_event(event("tool:called", "lint.b.py", 1003), {{"tool", "check_style"}});
  line.on_event(event("agent:blocked", "ask.c.py", 1004), {{"question_id", "ask.c.py.0"}});
  EXPECT_TRUE(line.started());
  EXPECT_EQ(line.render(13'400, 500),
            "[0/4] 12.4s  pending 1  running 3  |  ask.c.py: an answer to ask.c.py.0, lint.a.py: the model, "
            "lint.b.py: tool check_style");

  line.on_event(event("model:response", "lint.a.py", 1005), {});
  line.on_event(event("agent:completed", "lint.b.py", 1006), {});
  line.on_event(event("agent:restarting", "ask.c.py", 1007), {{"delay_ms", 1500}});
  line.on_event(event("graph:progress", "", 1007), {{"running", 2}, {"pending", 1}, {"completed", 1}});
  EXPECT_EQ(line.render(2'000, 500),
            "[1/4] 1.0s  completed 1  pending 1  running 2  |  ask.c.py: a restart in 1.5s, lint.a.py: working");
  // A narrow terminal: cut, and said so.
  EXPECT_EQ(line.render(2'000, 20), "[1/4] 1.0s  compl...");
}

}  // namespace
}  // namespace remora
