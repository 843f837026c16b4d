// TerminalUi: what `remora run` shows while a graph runs, fed by the event bus in its own thread
// (a slow terminal never stalls the supervisor).
//   json:  every event as one JSON line on stdout (for scripts)
//   live:  a terminal: one progress line (progress_line.hpp: elapsed time, counts per state, each
//          running agent and what it waits on), redrawn in place at each event and every second,
//          with failures, restarts and questions printed above it; questions are answered at a prompt
//   plain: not a terminal: one line per event, but for each turn's model call and tool calls
//          (`remora events` lists those)
// Questions are asked at the prompt only when `prompt` is set (interactive graph, stdin a
// terminal); otherwise they wait for `remora answer ID TEXT` from another shell, and the UI says so.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "supervisor/progress_line.hpp"
#include "supervisor/supervisor.hpp"

namespace remora {

class TerminalUi {
 public:
  enum class Mode { json, live, plain };
  TerminalUi(Supervisor& sup, Mode mode, bool prompt);
  ~TerminalUi();  // waits for the last event to be printed

 private:
  struct Question {
    std::string id, agent, text, default_answer;
    std::vector<std::string> options;
    bool sent = false;
  };
  void print_loop();
  void input_loop();
  void show(const Question& q);
  static std::string prompt_text(const Question& q);
  void progress();

  Supervisor& sup_;
  Mode mode_;
  bool prompt_;
  std::shared_ptr<Subscription> sub_;
  std::mutex mu_;
  std::deque<Question> questions_;
  ProgressLine line_;
  int stop_fd_ = -1;
  std::thread printer_, reader_;
};

}  // namespace remora
