// The openai provider against a real chat-completions server on 127.0.0.1 (tests/chat_server).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "shared/error.hpp"
#include "supervisor/openai_provider.hpp"
#include "supervisor/retry_backoff.hpp"
#include "tests/chat_server.hpp"

using namespace remora;
using remora::test::ChatAction;
using remora::test::ChatServer;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

OpenAiConfig config_for(const ChatServer& server) {
  OpenAiConfig c;
  c.base_url = server.base_url();
  c.model = "test-model";
  c.timeout_s = 10;
  c.retries = 3;
  c.backoff = {.initial_s = 0.01, .max_s = 0.05};
  return c;
}

ModelCall user_call(const std::string& text, const std::string& request_id = "req-1") {
  ModelCall call;
  call.request_id = request_id;
  call.agent_id = "agent-1";
  call.conversation = Conversation::of(
      json::array({{{"role", "system"}, {"content", "You fix code."}}, {{"role", "user"}, {"content", text}}}));
  return call;
}

const json kReadFileTool = json::parse(R"({
  "type": "function",
  "function": {
    "name": "read_file",
    "description": "Read a file of the project",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
  }
})");

}  // namespace

TEST(OpenAiProvider, ToolCallsRoundTrip) {
  // The arguments string is kept byte for byte (its spacing, its key order): the kernel parses it.
  const json tool_message = json::parse(R"({
    "role": "assistant",
    "content": null,
    "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":  \"a.py\", \"z\": 1, \"a\": 2}"}},
      {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\": \"b.py\"}"}}
    ]
  })");
  ChatServer server([&](const json&, int) { return ChatAction::message(tool_message, 120, 30); });
  OpenAiProvider provider(config_for(server));

  ModelCall call = user_call("Fix a.py", "req-tools");
  call.tools = json::array({kReadFileTool});
  call.settings = {{"provider", "openai"}, {"model", "qwen-coder"}, {"temperature", 0.2}, {"max_tokens", 512}};
  // A conversation with an earlier tool round: assistant tool_calls and a role:tool reply.
  json messages = call.messages();
  messages.push_back(json::parse(
      R"({"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\": \"c.py\"}"}}]})"));
  messages.push_back({{"role", "tool"}, {"tool_call_id", "call_0"}, {"content", "print(1)\n"}});
  call.conversation = Conversation::of(messages);

  ModelReply reply = provider.complete(call);
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(reply.message, tool_message);
  EXPECT_EQ(reply.message["tool_calls"][0]["function"]["arguments"].get<std::string>(),
            "{\"path\":  \"a.py\", \"z\": 1, \"a\": 2}");
  EXPECT_EQ(reply.prompt_tokens, 120u);
  EXPECT_EQ(reply.completion_tokens, 30u);
  EXPECT_EQ(reply.attempts, 1u);
  EXPECT_GT(reply.duration_ms, 0);

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  json expected = {{"model", "qwen-coder"}, {"messages", call.messages()}, {"tools", call.tools},
                   {"tool_choice", "auto"}, {"temperature", 0.2}, {"max_tokens", 512}};
  EXPECT_EQ(requests[0].body, expected);
  EXPECT_EQ(requests[0].header("x-request-id"), "req-tools");
  EXPECT_EQ(requests[0].header("content-type"), "application/json");
}

TEST(OpenAiProvider, WithoutToolsOrSettingsSendsTheConfigDefaults) {
  // A reply without usage counts no tokens.
  ChatServer server([](const json&, int) {
    return ChatAction::raw(R"({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})");
  });
  OpenAiProvider provider(config_for(server));
  ModelReply reply = provider.complete(user_call("hello"));
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(reply.message, json({{"role", "assistant"}, {"content", "ok"}}));
  EXPECT_EQ(reply.prompt_tokens, 0u);
  EXPECT_EQ(reply.completion_tokens, 0u);

  json body = server.requests().at(0).body;
  EXPECT_FALSE(body.contains("tools"));
  EXPECT_FALSE(body.contains("tool_choice"));
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["temperature"], 0.1);
  EXPECT_EQ(body["max_tokens"], 4096);
}

TEST(OpenAiProvider, RetriesAServerErrorThenSucceeds) {
  ChatServer server([](const json&, int index) {
    return index == 0 ? ChatAction::error(500, "worker crashed") : ChatAction::text("second time lucky");
  });
  OpenAiProvider provider(config_for(server));
  ModelReply reply = provider.complete(user_call("hi", "req-500"));
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(reply.message["content"], "second time lucky");
  EXPECT_EQ(reply.attempts, 2u);
  // Both attempts were the same call: the same body and request id.
  EXPECT_EQ(server.count_with_header("X-Request-Id", "req-500"), 2u);
  auto requests = server.requests();
  EXPECT_EQ(requests[0].body, requests[1].body);
}

TEST(OpenAiProvider, RetriesA429WithRetryAfterThenSucceeds) {
  // Retry-After: 1 is capped by the backoff's maximum (50 ms here), which keeps the test short.
  ChatServer server([](const json&, int index) {
    return index == 0 ? ChatAction::error(429, "rate limited", 1) : ChatAction::text("ok");
  });
  OpenAiProvider provider(config_for(server));
  ModelReply reply = provider.complete(user_call("hi"));
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(reply.attempts, 2u);
  EXPECT_EQ(server.request_count(), 2u);
}

TEST(OpenAiProvider, GivesUpAfterItsRetries) {
  ChatServer server([](const json&, int) { return ChatAction::error(503, "model is loading"); });
  OpenAiConfig config = config_for(server);
  config.retries = 2;
  OpenAiProvider provider(config);
  ModelReply reply = provider.complete(user_call("hi"));
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.attempts, 3u);
  EXPECT_EQ(server.request_count(), 3u);
  EXPECT_EQ(reply.error, provider.endpoint() + ": HTTP 503: model is loading (3 attempts)");
  EXPECT_EQ(provider.endpoint(), server.base_url() + "/chat/completions");
}

TEST(OpenAiProvider, TimesOut) {
  // The server would answer after 20 s; it is cut short when the server stops at the test's end.
  ChatServer server([](const json&, int) { return ChatAction::text("too late").after(20s); });
  OpenAiConfig config = config_for(server);
  config.timeout_s = 0.3;
  config.retries = 1;
  OpenAiProvider provider(config);
  ModelReply reply = provider.complete(user_call("hi"));
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, provider.endpoint() + ": timed out after 0.3s (2 attempts)");
  EXPECT_EQ(reply.attempts, 2u);
  EXPECT_EQ(server.request_count(), 2u);
}

TEST(OpenAiProvider, MalformedRepliesAreClearErrorsAndNotRetried) {
  struct Case {
    std::string body;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"<html>Bad Gateway</html>", "not JSON: <html>Bad Gateway</html>"},
      {"", "not JSON: (empty body)"},
      {R"({"foo":1})", R"(no "choices" in {"foo":1})"},
      {R"({"choices":[]})", R"("choices" is not a non-empty array in {"choices":[]})"},
      {R"({"choices":[{"index":0}]})", R"(no "choices"[0]."message" object in {"choices":[{"index":0}]})"},
      {R"({"choices":[{"message":{"role":"assistant","content":5}}]})",
       R"(the message's "content" is neither a string nor null in {"choices":[{"message":{"role":"assistant","content":5}}]})"},
  };
  for (const Case& c : cases) {
    ChatServer server([&](const json&, int) { return ChatAction::raw(c.body); });
    OpenAiProvider provider(config_for(server));
    ModelReply reply = provider.complete(user_call("hi"));
    EXPECT_FALSE(reply.ok);
    EXPECT_EQ(reply.error, "malformed reply from " + provider.endpoint() + ": " + c.error);
    EXPECT_EQ(reply.attempts, 1u);
  }
}

TEST(OpenAiProvider, QuotesOnlyTheStartOfALongBody) {
  ChatServer server([](const json&, int) { return ChatAction::raw(std::string(5000, 'x') + "\nend"); });
  OpenAiProvider provider(config_for(server));
  ModelReply reply = provider.complete(user_call("hi"));
  EXPECT_FALSE(reply.ok);
  EXPECT_LT(reply.error.size(), provider.endpoint().size() + 260);
  EXPECT_EQ(reply.error.substr(reply.error.size() - 3), "...");
  EXPECT_EQ(reply.error.find('\n'), std::string::npos);
}

TEST(OpenAiProvider, DoesNotRetryAClientError) {
  ChatServer server([](const json&, int index) {
    return index == 0 ? ChatAction::error(400, "messages: field required") : ChatAction::raw("no such model", 404);
  });
  OpenAiProvider provider(config_for(server));
  ModelReply first = provider.complete(user_call("hi"));
  EXPECT_FALSE(first.ok);
  EXPECT_EQ(first.attempts, 1u);
  EXPECT_EQ(first.error, provider.endpoint() + ": HTTP 400: messages: field required (1 attempt)");
  // A body that is not an error object is quoted as it is.
  ModelReply second = provider.complete(user_call("hi"));
  EXPECT_EQ(second.error, provider.endpoint() + ": HTTP 404: no such model (1 attempt)");
  EXPECT_EQ(server.request_count(), 2u);
}

TEST(OpenAiProvider, KeepsItsConnectionAliveAndReconnectsOnceTheServerClosedIt) {
  ChatServer server([](const json&, int) { return ChatAction::text("ok"); });
  OpenAiProvider provider(config_for(server));
  ASSERT_TRUE(provider.complete(user_call("one")).ok);
  ASSERT_TRUE(provider.complete(user_call("two")).ok);
  // The test server closes a connection idle for 1 s (vLLM's uvicorn: 5 s): the next call opens a
  // new one without a failed attempt.
  std::this_thread::sleep_for(1600ms);
  ModelReply third = provider.complete(user_call("three"));
  ASSERT_TRUE(third.ok) << third.error;
  EXPECT_EQ(third.attempts, 1u);

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].remote_port, requests[1].remote_port);
  EXPECT_NE(requests[1].remote_port, requests[2].remote_port);
}

TEST(OpenAiProvider, RespectsItsConcurrencyLimit) {
  constexpr int kCalls = 6;
  std::atomic<int> in_flight{0}, most_in_flight{0};
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  ChatServer server([&](const json&, int) {
    int now = ++in_flight;
    int seen = most_in_flight.load();
    while (now > seen && !most_in_flight.compare_exchange_weak(seen, now)) {
    }
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, 20s, [&] { return open; });
    }
    --in_flight;
    return ChatAction::text("ok");
  });
  OpenAiConfig config = config_for(server);
  config.concurrency = 2;
  OpenAiProvider provider(config);

  std::vector<std::future<ModelReply>> calls;
  for (int i = 0; i < kCalls; ++i)
    calls.push_back(std::async(std::launch::async, [&, i] { return provider.complete(user_call("hi", "c" + std::to_string(i))); }));
  // Hold the first requests at the server while the other calls have every chance to get through
  // if the limit were not kept; then let everything finish.
  for (int i = 0; i < 2000 && server.request_count() < 2; ++i) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(200ms);
  {
    std::lock_guard lock(mu);
    open = true;
  }
  cv.notify_all();
  for (auto& f : calls) {
    ModelReply reply = f.get();
    EXPECT_TRUE(reply.ok) << reply.error;
    EXPECT_EQ(reply.attempts, 1u);
  }
  EXPECT_EQ(most_in_flight.load(), 2);
  EXPECT_EQ(server.request_count(), static_cast<std::size_t>(kCalls));
}

TEST(OpenAiProvider, SendsTheApiKeyOnlyWhenSet) {
  ChatServer server([](const json&, int) { return ChatAction::text("ok"); });
  OpenAiConfig config = config_for(server);
  OpenAiProvider without_key(config);
  ASSERT_TRUE(without_key.complete(user_call("hi")).ok);
  config.api_key = "sk-test-0123456789abcdef";
  OpenAiProvider with_key(config);
  ASSERT_TRUE(with_key.complete(user_call("hi")).ok);

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_FALSE(requests[0].headers.contains("authorization"));
  EXPECT_EQ(requests[1].header("authorization"), "Bearer sk-test-0123456789abcdef");
}

TEST(OpenAiProvider, NeverQuotesTheApiKey) {
  const std::string key = "sk-secret-0123456789abcdef";
  ChatServer server([&](const json&, int) { return ChatAction::error(401, "Incorrect API key provided: " + key); });
  OpenAiConfig config = config_for(server);
  config.api_key = key;
  OpenAiProvider provider(config);
  ModelReply reply = provider.complete(user_call("hi"));
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, provider.endpoint() + ": HTTP 401: Incorrect API key provided: *** (1 attempt)");
}

TEST(OpenAiProvider, ResolvesTheApiKeyFromTheNamedVariable) {
  EXPECT_EQ(resolve_api_key(""), "");
  ::setenv("REMORA_TEST_OPENAI_KEY", "sk-from-env", 1);
  EXPECT_EQ(resolve_api_key("REMORA_TEST_OPENAI_KEY"), "sk-from-env");
  ModelSettings settings;
  settings.provider = "openai";
  settings.api_key_env = "REMORA_TEST_OPENAI_KEY";
  settings.base_url = "http://127.0.0.1:9/v1";
  settings.retries = 5;
  OpenAiConfig config = OpenAiConfig::from_settings(settings);
  EXPECT_EQ(config.api_key, "sk-from-env");
  EXPECT_EQ(config.base_url, "http://127.0.0.1:9/v1");
  EXPECT_EQ(config.retries, 5u);

  ::unsetenv("REMORA_TEST_OPENAI_KEY");
  try {
    OpenAiConfig::from_settings(settings);
    FAIL() << "an unset key variable was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_EQ(std::string(e.what()),
              "model.api_key_env names the environment variable REMORA_TEST_OPENAI_KEY, which is not set in the "
              "supervisor's environment");
  }
}

TEST(OpenAiProvider, RetriesConnectionErrors) {
  // A bound socket that does not listen: connecting to it is refused, and no one else gets the port.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  OpenAiConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1/";
  config.retries = 2;
  config.backoff = {.initial_s = 0.01, .max_s = 0.05};
  OpenAiProvider provider(config);
  EXPECT_EQ(provider.endpoint(), "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1/chat/completions");
  ModelReply reply = provider.complete(user_call("hi"));
  ::close(fd);
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.attempts, 3u);
  EXPECT_EQ(reply.error, provider.endpoint() + ": cannot connect (3 attempts)");
}

TEST(OpenAiProvider, StopEndsCallsInFlightAndLater) {
  std::promise<void> arrived;
  ChatServer server([&](const json&, int index) {
    if (index == 0) arrived.set_value();
    return ChatAction::text("too late").after(20s);
  });
  OpenAiConfig config = config_for(server);
  config.timeout_s = 30;
  OpenAiProvider provider(config);
  auto call = std::async(std::launch::async, [&] { return provider.complete(user_call("hi")); });
  ASSERT_EQ(arrived.get_future().wait_for(20s), std::future_status::ready);
  provider.stop();
  ModelReply reply = call.get();
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, provider.endpoint() + ": stopped");
  EXPECT_EQ(reply.attempts, 1u);

  ModelReply later = provider.complete(user_call("again"));
  EXPECT_EQ(later.error, provider.endpoint() + ": stopped");
  EXPECT_EQ(later.attempts, 0u);
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(OpenAiProvider, RejectsABadConfig) {
  auto error_of = [](OpenAiConfig c) -> std::string {
    try {
      OpenAiProvider p(std::move(c));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      return e.what();
    }
    return "";
  };
  OpenAiConfig c;
  c.base_url = "localhost:8000/v1";
  EXPECT_EQ(error_of(c), "model.base_url \"localhost:8000/v1\" is not an http:// or https:// URL");
  c.base_url = "http:///v1";
  EXPECT_EQ(error_of(c), "model.base_url \"http:///v1\" is not an http:// or https:// URL");
  c.base_url = "http://localhost:8000/v1";
  c.concurrency = 0;
  EXPECT_EQ(error_of(c), "model.concurrency must be at least 1");
  c.concurrency = 1;
  c.timeout_s = 0;
  EXPECT_EQ(error_of(c), "model.timeout must be positive, not 0");
  // https is built in (OpenSSL).
  c.timeout_s = 1;
  c.base_url = "https://api.openai.com/v1";
  EXPECT_EQ(error_of(c), "");
}

TEST(RetryBackoff, DoublesUpToItsCapWithJitter) {
  RetryBackoff b{.initial_s = 1, .max_s = 30};
  EXPECT_DOUBLE_EQ(b.delay_s(1, std::nullopt, 1.0), 1);
  EXPECT_DOUBLE_EQ(b.delay_s(2, std::nullopt, 1.0), 2);
  EXPECT_DOUBLE_EQ(b.delay_s(3, std::nullopt, 1.0), 4);
  EXPECT_DOUBLE_EQ(b.delay_s(6, std::nullopt, 1.0), 30);
  EXPECT_DOUBLE_EQ(b.delay_s(5000, std::nullopt, 1.0), 30);
  // Jitter keeps each delay within [50%, 100%] of its exponential value.
  EXPECT_DOUBLE_EQ(b.delay_s(3, std::nullopt, 0.0), 2);
  EXPECT_DOUBLE_EQ(b.delay_s(3, std::nullopt, 0.5), 3);
}

TEST(RetryBackoff, HonoursRetryAfterUpToItsCap) {
  RetryBackoff b{.initial_s = 1, .max_s = 30};
  EXPECT_DOUBLE_EQ(b.delay_s(1, 7.0, 0.0), 7);
  EXPECT_DOUBLE_EQ(b.delay_s(4, 0.0, 0.9), 0);
  EXPECT_DOUBLE_EQ(b.delay_s(1, 3600.0, 0.5), 30);
}
