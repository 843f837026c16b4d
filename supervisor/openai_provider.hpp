// OpenAiProvider: the `openai` model provider. It sends each call to an OpenAI-compatible
// chat-completions server (OpenAI, vLLM, llama.cpp's server, Ollama) as
// POST {base_url}/chat/completions, and returns the assistant message as the server sent it.
//
// - Retries connection errors, timeouts, HTTP 408, 429 and 5xx with exponential backoff (jittered;
//   a Retry-After in seconds is honoured, capped at the backoff's maximum); other statuses and
//   malformed replies fail at once. `attempts` counts the HTTP requests made.
// - At most `concurrency` calls are served at a time by one provider (the others wait their turn);
//   each holds one kept-alive connection through its retries.
// - The API key is sent as `Authorization: Bearer` and never appears in a log line or an error.
// - Each request carries the call's request_id as `X-Request-Id` (servers such as vLLM log it).
// Destroy it only once no complete() is running (stop() ends them promptly).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shared/bundle.hpp"
#include "supervisor/model_provider.hpp"
#include "supervisor/retry_backoff.hpp"

namespace httplib {
class Client;
}

namespace remora {

struct OpenAiConfig {
  std::string base_url = "http://localhost:8000/v1";  // the server's /v1 root, http:// or https://
  // Defaults for the request body; a call's settings ("model", "temperature", "max_tokens")
  // override them. An empty model is left out of the request (single-model servers accept that).
  std::string model;
  double temperature = 0.1;
  std::uint32_t max_tokens = 4096;
  std::string api_key;           // the key itself (see resolve_api_key); empty: no Authorization
  double timeout_s = 120;        // one HTTP request: connecting, sending, and the reply
  std::uint32_t retries = 3;     // retries after the first request
  RetryBackoff backoff;          // 1 s doubling up to 30 s
  std::uint32_t concurrency = 8; // calls served at a time

  // The config of a bundle's `model:` settings, the key read from the variable they name.
  // Throws Error(invalid_argument) as resolve_api_key does.
  static OpenAiConfig from_settings(const ModelSettings& settings);
};

// The value of the environment variable holding the API key: "" when no variable is named.
// Throws Error(invalid_argument) naming the variable when it is named but unset or empty.
std::string resolve_api_key(const std::string& env_name);

class OpenAiProvider : public ModelProvider {
 public:
  // Throws Error(invalid_argument) naming the field when base_url is not an http(s) URL, or
  // timeout_s or concurrency is not positive.
  explicit OpenAiProvider(OpenAiConfig config);
  ~OpenAiProvider() override;
  OpenAiProvider(const OpenAiProvider&) = delete;
  OpenAiProvider& operator=(const OpenAiProvider&) = delete;

  ModelReply complete(const ModelCall& call) override;

  // Ends every call promptly: requests in flight are aborted, waits for a turn or a retry end,
  // and later calls fail at once, all with the error "stopped". For a shutdown; not undone.
  void stop();

  // The URL requests go to: {base_url}/chat/completions.
  const std::string& endpoint() const { return endpoint_; }

 private:
  class Lease;
  struct Attempt;

  // The reply's body is cut off (attempt.too_large) past max_bytes.
  Attempt send(httplib::Client& client, const std::string& body, const std::string& request_id, std::size_t max_bytes);
  ModelReply read_reply(const Attempt& attempt, const JsonLimits& limits) const;
  std::string without_key(std::string text) const;
  std::unique_ptr<httplib::Client> make_client() const;

  OpenAiConfig config_;
  std::string origin_;    // scheme://host[:port]
  std::string path_;      // /v1/chat/completions
  std::string endpoint_;  // origin_ + path_

  mutable std::mutex mu_;
  std::condition_variable turn_free_;  // a turn came free, or stop()
  std::condition_variable stopping_;   // stop(): ends retry waits
  std::uint32_t free_turns_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;  // connections kept alive between calls
  std::vector<httplib::Client*> busy_;                  // connections of calls being served
  bool stopped_ = false;
};

}  // namespace remora
