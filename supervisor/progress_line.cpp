#include "supervisor/progress_line.hpp"

#include <fmt/format.h>

#include "supervisor/terminal_text.hpp"

namespace remora {

void ProgressLine::on_event(const proto::Event& e, const nlohmann::json& payload) {
  const std::string name = e.category + ":" + e.action;
  if (name == "graph:started" || (name == "graph:resumed" && !started_ms_)) {
    started_ms_ = e.timestamp_ms;
    total_ = payload.value("agents", total_);
  }
  if (name == "graph:progress") {
    counts_ = payload;
    std::size_t sum = 0;
    for (const auto& [state, n] : payload.items())
      if (n.is_number_integer() && n.get<long>() > 0) sum += static_cast<std::size_t>(n.get<long>());
    if (sum > total_) total_ = sum;  // a resumed run's graph:resumed does not count its agents
  }
  if (e.agent_id.empty()) return;
  auto wait = [&](std::string what) { waits_[e.agent_id] = std::move(what); };
  if (name == "agent:started" || name == "model:response" || name == "tool:completed" || name == "tool:failed" ||
      name == "agent:resumed")
    wait("working");
  else if (name == "model:request")
    wait("the model");
  else if (name == "tool:called")
    wait("tool " + payload.value("tool", std::string("?")));
  else if (name == "agent:blocked")
    wait("an answer to " + payload.value("question_id", std::string("?")));
  else if (name == "agent:restarting")
    wait(fmt::format("a restart in {:.1f}s", payload.value("delay_ms", 0) / 1000.0));
  else if (name == "agent:completed" || name == "agent:failed" || name == "agent:cancelled" || name == "agent:skipped")
    waits_.erase(e.agent_id);
}

std::string ProgressLine::render(std::int64_t now_ms, std::size_t width) const {
  std::size_t done = 0;
  for (const char* s : {"completed", "failed", "cancelled", "skipped"}) done += counts_.value(s, std::size_t{0});
  std::string line = fmt::format("[{}/{}] {:.1f}s", done, total_, started_ms_ ? (now_ms - started_ms_) / 1000.0 : 0.0);
  for (const auto& [state, n] : counts_.items())
    if (n.is_number_integer() && n.get<long>() > 0) line += "  " + inert_text(state) + " " + std::to_string(n.get<long>());
  std::string sep = "  |  ";
  for (const auto& [agent, what] : waits_) {
    line += sep + inert_text(agent) + ": " + what;
    sep = ", ";
  }
  if (line.size() > width && width > 3) line = line.substr(0, width - 3) + "...";
  return line;
}

}  // namespace remora
