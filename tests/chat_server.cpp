#include "tests/chat_server.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "supervisor/sigpipe_block.hpp"

namespace remora::test {

using nlohmann::json;

namespace {

std::string lower_case(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

ChatAction ChatAction::message(json assistant_message, std::uint64_t prompt_tokens, std::uint64_t completion_tokens) {
  const char* finish = assistant_message.contains("tool_calls") ? "tool_calls" : "stop";
  json choice = {{"index", 0}, {"message", std::move(assistant_message)}, {"finish_reason", finish}};
  json reply = {{"id", "chatcmpl-test"},
                {"object", "chat.completion"},
                {"created", 0},
                {"model", "test-model"},
                {"choices", json::array({std::move(choice)})},
                {"usage",
                 {{"prompt_tokens", prompt_tokens},
                  {"completion_tokens", completion_tokens},
                  {"total_tokens", prompt_tokens + completion_tokens}}}};
  return raw(reply.dump());
}

ChatAction ChatAction::text(const std::string& content) {
  return message({{"role", "assistant"}, {"content", content}});
}

ChatAction ChatAction::tool_calls(std::vector<json> calls) {
  return message({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", std::move(calls)}});
}

json tool_call(const std::string& id, const std::string& name, const json& args) {
  return {{"id", id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", args.dump()}}}};
}

ChatTurn chat_turn(const json& request) {
  ChatTurn t;
  for (const auto& m : request.at("messages")) {
    const auto role = m.value("role", "");
    if (role == "user") t.agent = m.value("content", "").substr(std::string("agent ").size());
    if (role == "assistant") ++t.turn;
    if (role == "tool" && m.value("name", "") == "ask_user") t.answer = m.value("content", "");
  }
  return t;
}

ChatAction ChatAction::error(int status, const std::string& message, std::optional<int> retry_after_s) {
  json body = {{"error", {{"message", message}, {"type", "test_error"}, {"code", status}}}};
  ChatAction a = raw(body.dump(), status);
  a.retry_after_s = retry_after_s;
  return a;
}

ChatAction ChatAction::raw(std::string body, int status) {
  ChatAction a;
  a.status = status;
  a.body = std::move(body);
  return a;
}

ChatAction ChatAction::after(std::chrono::milliseconds d) const {
  ChatAction a = *this;
  a.delay = d;
  return a;
}

std::string ChatRequest::header(const std::string& lower_case_name) const {
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? "" : it->second;
}

struct ChatServer::Impl {
  ChatResponder responder;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = 0;

  mutable std::mutex mu;
  std::condition_variable stopping_cv;
  bool stopping = false;
  std::vector<ChatRequest> requests;

  void handle(const httplib::Request& req, httplib::Response& res) {
    ChatRequest r;
    r.body = json::parse(req.body, nullptr, false);
    if (r.body.is_discarded()) {
      res.status = 400;
      res.set_content(R"({"error": {"message": "the request body is not JSON"}})", "application/json");
      return;
    }
    r.remote_port = req.remote_port;
    for (const auto& [name, value] : req.headers) r.headers[lower_case(name)] = value;
    {
      std::lock_guard lock(mu);
      r.index = static_cast<int>(requests.size());
      requests.push_back(r);
    }
    ChatAction action = responder(r.body, r.index);
    if (action.delay.count() > 0) {
      std::unique_lock lock(mu);
      stopping_cv.wait_for(lock, action.delay, [&] { return stopping; });
    }
    res.status = action.status;
    res.set_content(action.body, "application/json");
    if (action.retry_after_s) res.set_header("Retry-After", std::to_string(*action.retry_after_s));
  }
};

ChatServer::ChatServer(ChatResponder responder) : impl_(std::make_unique<Impl>()) {
  impl_->responder = std::move(responder);
  auto& server = impl_->server;
  // Idle kept-alive connections hold a server thread until this timeout: short, so that stopping
  // never waits long for a client that outlives the server.
  server.set_keep_alive_timeout(1);
  server.set_tcp_nodelay(true);  // as real servers do: a reply's header and body writes go out at once
  server.new_task_queue = [] { return new httplib::ThreadPool(16); };
  server.Post("/v1/chat/completions",
              [impl = impl_.get()](const httplib::Request& req, httplib::Response& res) { impl->handle(req, res); });
  impl_->port = server.bind_to_any_port("127.0.0.1");
  if (impl_->port <= 0) throw std::runtime_error("ChatServer: cannot bind a port on 127.0.0.1");
  {
    // The server's threads (started by this one) inherit the blocked SIGPIPE: a client that hung
    // up before its reply must not kill the test process.
    SigpipeBlock no_sigpipe;
    impl_->thread = std::thread([impl = impl_.get()] {
      impl->server.listen_after_bind();
      impl->listen_returned = true;
    });
  }
  // stop() is a no-op until the server runs: wait for it, so that the destructor always stops it.
  for (int i = 0; i < 10000 && !server.is_running() && !impl_->listen_returned; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server.is_running()) {
    server.stop();
    impl_->thread.join();
    throw std::runtime_error("ChatServer: the server on 127.0.0.1:" + std::to_string(impl_->port) + " did not start");
  }
}

ChatServer::~ChatServer() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->stopping_cv.notify_all();
  impl_->server.stop();
  impl_->thread.join();
}

std::string ChatServer::base_url() const { return "http://127.0.0.1:" + std::to_string(impl_->port) + "/v1"; }

std::size_t ChatServer::request_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests.size();
}

std::vector<ChatRequest> ChatServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

std::size_t ChatServer::count_with_header(const std::string& name, const std::string& value) const {
  std::string lower = lower_case(name);
  std::lock_guard lock(impl_->mu);
  return static_cast<std::size_t>(std::count_if(impl_->requests.begin(), impl_->requests.end(),
                                                [&](const ChatRequest& r) { return r.header(lower) == value; }));
}

}  // namespace remora::test
