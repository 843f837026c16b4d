// How events look to people (one line) and to scripts (one JSON object), in one place. Both are
// inert on a terminal: the line escapes control characters (supervisor/terminal_text.hpp), the
// JSON line is ASCII (every other character as \uXXXX; bytes that are not UTF-8 as U+FFFD).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "proto/records.hpp"

namespace remora {

nlohmann::json event_json(const proto::Event& e);
// event_json as one line of ASCII.
std::string event_json_line(const proto::Event& e);
// "12:03:04 agent:failed  lint-a  reason=crashed: killed by SIGSEGV"
std::string event_line(const proto::Event& e);

}  // namespace remora
