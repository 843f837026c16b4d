// How events look to people (one line) and to scripts (one JSON object), in one place.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "proto/records.hpp"

namespace remora {

nlohmann::json event_json(const proto::Event& e);
// "12:03:04 agent:failed  lint-a  reason=crashed: killed by SIGSEGV"
std::string event_line(const proto::Event& e);

}  // namespace remora
