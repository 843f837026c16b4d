#include "supervisor/terminal_ui.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "shared/bounded_json.hpp"
#include "shared/clock.hpp"
#include "supervisor/event_format.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora {

TerminalUi::TerminalUi(Supervisor& sup, Mode mode, bool prompt)
    : sup_(sup), mode_(mode), prompt_(prompt), sub_(sup.bus().subscribe("*", 1 << 16)) {
  printer_ = std::thread([this] { print_loop(); });
  if (prompt_) {
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    reader_ = std::thread([this] { input_loop(); });
  }
}

TerminalUi::~TerminalUi() {
  printer_.join();  // ends when the bus closes
  if (reader_.joinable()) {
    std::uint64_t one = 1;
    if (::write(stop_fd_, &one, sizeof one) < 0) {
      // The reader also ends at end of input; nothing else to do.
    }
    reader_.join();
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (mode_ == Mode::live) std::cout << "\n";
}

void TerminalUi::progress() {
  if (mode_ != Mode::live || !line_.started()) return;
  winsize ws{};
  const std::size_t width = ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 120;
  std::string prompt;
  if (prompt_ && !questions_.empty() && !questions_.front().sent) prompt = "  |  " + prompt_text(questions_.front());
  // The prompt ends the line whole; the progress takes the columns left.
  const std::size_t room = width > prompt.size() + 20 ? width - prompt.size() - 1 : 20;
  std::cout << "\r\033[K" << line_.render(now_ms(), room) << prompt << std::flush;
}

std::string TerminalUi::prompt_text(const Question& q) {
  std::string s = q.options.empty() ? "answer " + inert_text(q.id) : "choose 1-" + std::to_string(q.options.size());
  return s + (q.default_answer.empty() ? "> " : " [" + inert_text(q.default_answer) + "]> ");
}

void TerminalUi::show(const Question& q) {
  std::string s = (mode_ == Mode::live ? "\r\033[K" : "") + std::string("? [") + inert_text(q.agent) + "] " +
                  inert_text(q.text) + "  (question " + inert_text(q.id) + ")\n";
  for (std::size_t i = 0; i < q.options.size(); ++i) {
    s += "  " + std::to_string(i + 1) + ") " + inert_text(q.options[i]) + (q.options[i] == q.default_answer ? "  (default)" : "") + "\n";
  }
  if (prompt_) {
    if (mode_ != Mode::live) s += prompt_text(q);  // live: the prompt ends the progress line
  } else {
    s += "  answer from another shell: remora answer " + quoted_name(q.id) + " TEXT\n";
  }
  std::cout << s << std::flush;
}

void TerminalUi::print_loop() {
  for (;;) {
    // Live: redrawn every second as well, so that the elapsed time goes on between events.
    auto e = sub_->next(mode_ == Mode::live ? std::optional(Subscription::Clock::now() + std::chrono::seconds(1))
                                           : std::nullopt);
    if (!e) {
      if (sub_->closed() && !sub_->queued()) return;
      std::lock_guard lk(mu_);
      progress();
      continue;
    }
    if (mode_ == Mode::json) {
      std::cout << event_json_line(*e) << "\n" << std::flush;
    }
    auto payload = try_parse_bounded(e->payload_json, "event payload", kRecordJsonLimits).value;
    const std::string name = e->category + ":" + e->action;
    std::lock_guard lk(mu_);
    line_.on_event(*e, payload);
    if (name == "agent:blocked") {
      Question q{payload.value("question_id", ""), e->agent_id, payload.value("question", ""),
                 payload["default"].is_string() ? payload["default"].get<std::string>() : "",
                 payload.value("options", std::vector<std::string>{})};
      questions_.push_back(q);
      if (mode_ != Mode::json && (questions_.size() == 1 || !prompt_)) show(q);
    } else if (name == "agent:resumed" || e->category == "user") {
      auto id = payload.value("question_id", "");
      bool was_head = !questions_.empty() && questions_.front().id == id;
      std::erase_if(questions_, [&](const Question& q) { return q.id == id; });
      if (was_head && !questions_.empty() && prompt_ && mode_ != Mode::json) show(questions_.front());
    }
    // A turn's model call and tools are detail: `remora events` has them, this view has the agents.
    static const std::set<std::string> detail{"graph:progress", "model:request", "model:response", "tool:called",
                                              "tool:completed"};
    if (mode_ == Mode::plain && !detail.count(name)) std::cout << event_line(*e) << "\n" << std::flush;
    if (mode_ == Mode::live) {
      static const std::set<std::string> shown{"agent:failed", "agent:restarting", "agent:cancelled", "agent:resumed",
                                               "graph:completed", "graph:failed", "graph:cancelled", "graph:stopped"};
      if (shown.count(name)) std::cout << "\r\033[K" << event_line(*e) << "\n";
      progress();
    }
  }
}

void TerminalUi::input_loop() {
  std::string buf;
  for (;;) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    char chunk[512];
    auto n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n <= 0) return;  // end of input: questions wait for `remora answer`
    buf.append(chunk, static_cast<std::size_t>(n));
    for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n')) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      std::lock_guard lk(mu_);
      if (questions_.empty() || questions_.front().sent) continue;
      Question& q = questions_.front();
      std::string answer = line;
      if (line.empty()) answer = q.default_answer;
      if (!q.options.empty()) {
        char* end = nullptr;
        long k = std::strtol(line.c_str(), &end, 10);
        if (!line.empty() && end && *end == '\0' && k >= 1 && k <= static_cast<long>(q.options.size())) {
          answer = q.options[static_cast<std::size_t>(k - 1)];
        } else if (std::find(q.options.begin(), q.options.end(), answer) == q.options.end()) {
          answer.clear();
        }
      }
      if (answer.empty()) {
        show(q);  // nothing usable: ask again
        progress();
        continue;
      }
      q.sent = true;
      sup_.answer(q.id, answer);
    }
  }
}

}  // namespace remora
