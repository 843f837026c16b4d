// ToolCalls: the tool calls of an assistant message. Native OpenAI `tool_calls` are read first; a
// reply without them may carry calls in its text as `<tool_call>{"name": ..., "arguments": ...}
// </tool_call>` (models served without a tool parser do this). Either way the message is
// normalized so that it lists its calls natively with ids, as the next request must.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "shared/bounded_json.hpp"

namespace remora::worker {

struct ToolCall {
  std::string id;
  std::string name;
  nlohmann::json arguments;       // an object when parse_error is empty
  std::string parse_error;        // the arguments were not a JSON object
};

struct ParsedReply {
  nlohmann::json message;  // normalized assistant message
  std::vector<ToolCall> calls;
};

// fallback_id_prefix names calls found in text ("<prefix>-<k>"). Arguments (and <tool_call> blocks)
// past limits are a call's parse_error, naming the limit. Throws Error(invalid_argument) when the
// message is not an assistant message object.
ParsedReply parse_reply(const nlohmann::json& message, const std::string& fallback_id_prefix,
                        const JsonLimits& limits = kModelJsonLimits);

}  // namespace remora::worker
