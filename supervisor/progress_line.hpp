// ProgressLine: the one line `remora run` redraws on a terminal while a graph runs: agents done of
// all, the time elapsed, the counts per state, and each running agent with what it waits on (the
// model, a tool, a human's answer, a restart), kept from the events as they come.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "proto/records.hpp"

namespace remora {

class ProgressLine {
 public:
  // Takes in one event (its payload already parsed).
  void on_event(const proto::Event& e, const nlohmann::json& payload);
  // The line at now_ms, at most width columns (without the terminal's control sequences).
  std::string render(std::int64_t now_ms, std::size_t width) const;
  bool started() const { return started_ms_ != 0; }

 private:
  std::int64_t started_ms_ = 0;
  std::size_t total_ = 0;
  nlohmann::json counts_ = nlohmann::json::object();
  std::map<std::string, std::string> waits_;  // running agent -> what it waits on
};

}  // namespace remora
