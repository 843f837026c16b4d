// ChatMessage: an agent's conversation is stored one OpenAI chat message per key
// (agent:<id>:message:<seq>); remora's own notes on a message (how a tool call went, whether it
// ends the agent) ride in it under kChatMeta and are taken out before a model sees it.
#pragma once

#include <nlohmann/json.hpp>

namespace remora {

inline constexpr const char* kChatMeta = "_remora";

// The message as the model is to see it: without remora's notes.
inline nlohmann::json for_model(nlohmann::json message) {
  if (message.is_object()) message.erase(kChatMeta);
  return message;
}

}  // namespace remora
