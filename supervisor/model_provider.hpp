// ModelProvider: where the supervisor's model gateway sends a worker's model request. A provider
// turns one chat-completions call (messages, tools, settings) into one assistant message. It is
// called from the gateway's threads, concurrently: implementations are thread-safe, and block
// until they have a reply or have given up (retries included).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "shared/bounded_json.hpp"
#include "supervisor/conversation.hpp"

namespace remora {

struct ModelCall {
  std::string request_id;  // idempotency key (outbox:model:<id>)
  std::string agent_id;
  std::uint32_t turn = 0;
  std::shared_ptr<const Conversation> conversation = std::make_shared<Conversation>();
  const nlohmann::json& messages() const { return conversation->messages; }
  nlohmann::json tools = nlohmann::json::array();     // OpenAI tools
  nlohmann::json settings = nlohmann::json::object(); // model, temperature, max_tokens, ...
  JsonLimits reply_limits = kModelJsonLimits;           // the bundle's model.max_reply_mb, max_json_depth
};

struct ModelReply {
  bool ok = false;
  nlohmann::json message;  // the assistant message: {role, content, tool_calls?}
  std::string error;       // when !ok: what went wrong, naming the server and the cause
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  double duration_ms = 0;
  std::uint32_t attempts = 0;  // HTTP requests made (1 + retries)
};

class ModelProvider {
 public:
  virtual ~ModelProvider() = default;
  virtual ModelReply complete(const ModelCall& call) = 0;
  // Whether it answers at once, without I/O or waiting: the gateway then calls it in the
  // submitting thread instead of handing the call to one of its own.
  virtual bool immediate() const { return false; }
};

}  // namespace remora
