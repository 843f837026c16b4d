// ChatServer: a real OpenAI-compatible chat-completions server for tests. It listens on
// 127.0.0.1 (an ephemeral port) on its own threads, answers POST /v1/chat/completions from a
// responder the test writes, and records every request it received. Destroying it stops it
// promptly: delayed replies are cut short (a client still connected then gets its reply early).
//
//   ChatServer server([](const nlohmann::json& request, int index) {
//     if (index == 0) return ChatAction::error(500, "busy");
//     return ChatAction::text("done");
//   });
//   OpenAiConfig config; config.base_url = server.base_url();
//
// The responder runs on the server's threads, several at once when requests overlap.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace remora::test {

// What the server does with one request.
struct ChatAction {
  int status = 200;
  std::string body;                      // sent as is (application/json)
  std::optional<int> retry_after_s;      // a Retry-After header
  std::chrono::milliseconds delay{0};    // waited before replying; cut short when the server stops

  // A chat.completion with this assistant message ({role, content, tool_calls?}) and usage.
  static ChatAction message(nlohmann::json assistant_message, std::uint64_t prompt_tokens = 11,
                            std::uint64_t completion_tokens = 7);
  // A reply with text content only.
  static ChatAction text(const std::string& content);
  // A reply with these tool calls (see tool_call below) and no text.
  static ChatAction tool_calls(std::vector<nlohmann::json> calls);
  // An HTTP error in OpenAI's shape: {"error": {"message": ..., "type": ..., "code": status}}.
  static ChatAction error(int status, const std::string& message, std::optional<int> retry_after_s = std::nullopt);
  // Any body (a malformed reply, say).
  static ChatAction raw(std::string body, int status = 200);
  // The same action, delayed.
  ChatAction after(std::chrono::milliseconds d) const;
};

using ChatResponder = std::function<ChatAction(const nlohmann::json& request, int request_index)>;

// One tool call in OpenAI's shape (arguments are a JSON string, as models write them).
nlohmann::json tool_call(const std::string& id, const std::string& name, const nlohmann::json& args);

// Where a test conversation stands, for responders that play several agents whose user prompt is
// "agent <id>": which agent, which turn (one more than the assistant messages so far), and what
// ask_user returned, if it has.
struct ChatTurn {
  std::string agent;
  int turn = 1;
  std::string answer;
};
ChatTurn chat_turn(const nlohmann::json& request);

// A request as the server received it.
struct ChatRequest {
  int index = 0;                               // 0 for the first request
  int remote_port = 0;                         // the client's end: one port per connection
  nlohmann::json body;                         // the parsed JSON body
  std::map<std::string, std::string> headers;  // names in lower case
  std::string header(const std::string& lower_case_name) const;  // "" when absent
};

class ChatServer {
 public:
  explicit ChatServer(ChatResponder responder);
  ~ChatServer();
  ChatServer(const ChatServer&) = delete;
  ChatServer& operator=(const ChatServer&) = delete;

  std::string base_url() const;  // http://127.0.0.1:<port>/v1

  // Requests to /v1/chat/completions that reached the responder (bodies that were not JSON get
  // a 400 and are not counted).
  std::size_t request_count() const;
  std::vector<ChatRequest> requests() const;
  // How many requests carried this header value (X-Request-Id: one count per model call).
  std::size_t count_with_header(const std::string& name, const std::string& value) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace remora::test
