// Conversation: an agent's chat messages as a model sees them, kept by the supervisor from one
// turn to the next so that a turn reads only its new messages (a model request names how many
// messages it covers; they are stored one per key by the worker). A model call shares it
// read-only; the supervisor appends to it only when no call holds it any more.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>

namespace remora {

struct Conversation {
  nlohmann::json messages = nlohmann::json::array();  // OpenAI chat messages
  std::size_t bytes = 0;               // of the messages as JSON text: what a prompt is sized by
  std::size_t assistant_messages = 0;  // the model's replies so far

  void append(nlohmann::json message);
  // A conversation of the given messages (an array).
  static std::shared_ptr<const Conversation> of(const nlohmann::json& messages);
};

}  // namespace remora
