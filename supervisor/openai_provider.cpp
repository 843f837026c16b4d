#include "supervisor/openai_provider.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <random>
#include <string_view>

#include "shared/bounded_json.hpp"
#include "shared/error.hpp"
#include "supervisor/sigpipe_block.hpp"

namespace remora {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// How much of a server's body an error quotes.
constexpr std::size_t kQuoteBytes = 200;
// Keys shorter than this ("EMPTY", "none") are placeholders, not secrets: scrubbing them from
// messages would only mangle the messages.
constexpr std::size_t kSecretKeyBytes = 8;

// A body fit to quote in a one-line error: line breaks folded, cut at a character boundary.
std::string quote(std::string_view body) {
  if (body.empty()) return "(empty body)";
  std::string out(body.substr(0, kQuoteBytes));
  if (body.size() > kQuoteBytes) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  std::replace_if(out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return out;
}

// What a server said about a failed request: the message of the usual error shapes
// ({"error": {"message"}} from OpenAI and vLLM, {"error": "..."} from Ollama and llama.cpp,
// {"message"} and {"detail"} from older vLLM and FastAPI), else the body itself.
std::string server_error_text(const std::string& body) {
  json j = try_parse_bounded(body, "the error body", kModelJsonLimits).value;
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_string()) return quote(e->get<std::string>());
      if (e->is_object() && e->contains("message") && (*e)["message"].is_string())
        return quote((*e)["message"].get<std::string>());
    }
    for (const char* field : {"message", "detail"})
      if (j.contains(field) && j[field].is_string()) return quote(j[field].get<std::string>());
  }
  return quote(body);
}

// Retry-After in seconds (the HTTP-date form is not honoured: the backoff applies instead).
std::optional<double> retry_after_s(const httplib::Response& res) {
  if (res.status != 429 && res.status != 503) return std::nullopt;
  if (!res.has_header("Retry-After")) return std::nullopt;
  std::string value = res.get_header_value("Retry-After");
  char* end = nullptr;
  double s = std::strtod(value.c_str(), &end);
  if (end == value.c_str() || *end != '\0' || !(s >= 0)) return std::nullopt;
  return s;
}

bool retryable_status(int status) { return status == 408 || status == 429 || status >= 500; }

bool retryable_transport_error(httplib::Error e) {
  // A certificate the server presents, or one we cannot load, will be the same next time.
  return e != httplib::Error::SSLServerVerification && e != httplib::Error::SSLLoadingCerts;
}

// Why a request got no HTTP response at all.
std::string describe(httplib::Error e) {
  using E = httplib::Error;
  switch (e) {
    case E::Connection: return "cannot connect";
    case E::ConnectionTimeout: return "connecting timed out";
    case E::Read: return "the connection broke while reading the reply";
    case E::Write: return "the connection broke while sending the request";
    case E::SSLConnection: return "the TLS handshake failed";
    case E::SSLLoadingCerts: return "cannot load the CA certificates";
    case E::SSLServerVerification: return "the server's TLS certificate does not verify";
    case E::Compression: return "cannot decompress the reply";
    default: return "the request failed: " + httplib::to_string(e);
  }
}

std::string attempts_text(std::uint32_t n) { return n == 1 ? "1 attempt" : fmt::format("{} attempts", n); }

double uniform_draw() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

json request_body(const ModelCall& call, const OpenAiConfig& config) {
  const json& s = call.settings;
  auto setting = [&](const char* name, const auto& fallback) {
    using T = std::decay_t<decltype(fallback)>;
    if (s.is_object() && s.contains(name) && !s[name].is_null()) return s[name].get<T>();
    return fallback;
  };
  json body = json::object();
  std::string model = setting("model", config.model);
  if (!model.empty()) body["model"] = model;
  body["messages"] = call.messages();
  if (call.tools.is_array() && !call.tools.empty()) {
    body["tools"] = call.tools;
    body["tool_choice"] = "auto";
  }
  body["temperature"] = setting("temperature", config.temperature);
  body["max_tokens"] = setting("max_tokens", config.max_tokens);
  return body;
}

}  // namespace

// One HTTP request and what came of it.
struct OpenAiProvider::Attempt {
  bool answered = false;  // an HTTP response arrived (of any status)
  httplib::Error error = httplib::Error::Success;
  bool timed_out = false;
  bool too_large = false;  // the body grew past the reply limit: cut off
  int status = 0;
  std::string body;
  std::optional<double> retry_after_s;

  bool succeeded() const { return answered && status >= 200 && status < 300; }
  bool retryable() const { return answered ? retryable_status(status) : retryable_transport_error(error); }
};

// A turn to be served: while alive, the call counts against the concurrency limit and owns one
// connection. Constructed without a connection once the provider is stopped.
class OpenAiProvider::Lease {
 public:
  explicit Lease(OpenAiProvider& p) : p_(p) {
    std::unique_lock lock(p_.mu_);
    p_.turn_free_.wait(lock, [&] { return p_.stopped_ || p_.free_turns_ > 0; });
    if (p_.stopped_) return;
    --p_.free_turns_;
    if (!p_.idle_.empty()) {
      client_ = std::move(p_.idle_.back());
      p_.idle_.pop_back();
    } else {
      client_ = p_.make_client();
    }
    p_.busy_.push_back(client_.get());
  }
  ~Lease() {
    if (!client_) return;
    std::lock_guard lock(p_.mu_);
    std::erase(p_.busy_, client_.get());
    p_.idle_.push_back(std::move(client_));
    ++p_.free_turns_;
    p_.turn_free_.notify_one();
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  httplib::Client* client() const { return client_.get(); }

  // A fresh connection for the next attempt, after one whose state is unknown (an error mid-way).
  void renew() {
    auto fresh = p_.make_client();
    std::lock_guard lock(p_.mu_);
    std::replace(p_.busy_.begin(), p_.busy_.end(), client_.get(), fresh.get());
    client_ = std::move(fresh);
  }

  // Waits out a retry delay; false when stop() cut it short.
  bool wait(double seconds) {
    std::unique_lock lock(p_.mu_);
    return !p_.stopping_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return p_.stopped_; });
  }

  bool stopped() const {
    std::lock_guard lock(p_.mu_);
    return p_.stopped_;
  }

 private:
  OpenAiProvider& p_;
  std::unique_ptr<httplib::Client> client_;
};

std::string resolve_api_key(const std::string& env_name) {
  if (env_name.empty()) return {};
  const char* value = std::getenv(env_name.c_str());
  if (value == nullptr || *value == '\0')
    throw Error(Errc::invalid_argument,
                fmt::format("model.api_key_env names the environment variable {}, which is not set in the "
                            "supervisor's environment",
                            env_name));
  return value;
}

OpenAiConfig OpenAiConfig::from_settings(const ModelSettings& s) {
  OpenAiConfig c;
  c.base_url = s.base_url;
  c.model = s.model;
  c.temperature = s.temperature;
  c.max_tokens = s.max_tokens;
  c.api_key = resolve_api_key(s.api_key_env);
  c.timeout_s = s.timeout_s;
  c.retries = s.retries;
  c.concurrency = s.concurrency;
  return c;
}

OpenAiProvider::OpenAiProvider(OpenAiConfig config) : config_(std::move(config)), free_turns_(config_.concurrency) {
  std::string url = config_.base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto scheme_end = url.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  auto path_start = scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  origin_ = url.substr(0, path_start);
  path_ = (path_start == std::string::npos ? "" : url.substr(path_start)) + "/chat/completions";
  endpoint_ = origin_ + path_;
  if ((scheme != "http" && scheme != "https") || origin_.size() == scheme.size() + 3)
    throw Error(Errc::invalid_argument,
                fmt::format("model.base_url \"{}\" is not an http:// or https:// URL", config_.base_url));
  if (!(config_.timeout_s > 0))
    throw Error(Errc::invalid_argument, fmt::format("model.timeout must be positive, not {}", config_.timeout_s));
  if (config_.concurrency == 0) throw Error(Errc::invalid_argument, "model.concurrency must be at least 1");
  auto first = make_client();
  if (!first->is_valid())
    throw Error(Errc::invalid_argument,
                fmt::format("model.base_url \"{}\" does not name a host httplib can reach", config_.base_url));
  idle_.push_back(std::move(first));
}

OpenAiProvider::~OpenAiProvider() = default;

std::unique_ptr<httplib::Client> OpenAiProvider::make_client() const {
  auto client = std::make_unique<httplib::Client>(origin_);
  auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::duration<double>(config_.timeout_s));
  client->set_connection_timeout(timeout);
  client->set_read_timeout(timeout);
  client->set_write_timeout(timeout);
  client->set_keep_alive(true);
  // The request goes out in several writes: without this, Nagle's algorithm holds the last one
  // back until the server's delayed ACK (tens of milliseconds per request on a kept-alive connection).
  client->set_tcp_nodelay(true);
  client->enable_server_certificate_verification(true);
  return client;
}

void OpenAiProvider::stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  for (httplib::Client* c : busy_) c->stop();
  turn_free_.notify_all();
  stopping_.notify_all();
}

OpenAiProvider::Attempt OpenAiProvider::send(httplib::Client& client, const std::string& body,
                                             const std::string& request_id, std::size_t max_bytes) {
  httplib::Request req;
  req.method = "POST";
  req.path = path_;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "application/json");
  if (!config_.api_key.empty()) req.set_header("Authorization", "Bearer " + config_.api_key);
  if (!request_id.empty()) req.set_header("X-Request-Id", request_id);
  // The read timeout bounds each wait for the server; this deadline also cuts a reply that
  // trickles in for longer than timeout_s.
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(config_.timeout_s));
  // The body stops at max_bytes: a hostile server cannot fill the supervisor's memory.
  Attempt a;
  req.progress = [deadline, max_bytes, &a](std::uint64_t received, std::uint64_t) {
    if (received > max_bytes) a.too_large = true;
    return !a.too_large && Clock::now() < deadline;
  };

  httplib::Response res;
  {
    SigpipeBlock no_sigpipe;
    a.answered = client.send(req, res, a.error);
  }
  if (a.too_large) return a;  // a bad answer, not retried
  if (!a.answered) {
    a.timed_out = a.error == httplib::Error::ConnectionTimeout || Clock::now() >= deadline;
    return a;
  }
  a.status = res.status;
  a.body = std::move(res.body);
  a.retry_after_s = retry_after_s(res);
  return a;
}

ModelReply OpenAiProvider::read_reply(const Attempt& a, const JsonLimits& limits) const {
  ModelReply reply;
  auto malformed = [&](const std::string& what) {
    reply.error = without_key(fmt::format("malformed reply from {}: {}", endpoint_, what));
    return reply;
  };
  auto parsed = a.too_large ? BoundedJson{json(), BoundedJson::Refusal::too_large, {}}
                            : try_parse_bounded(a.body, "the reply", limits);
  if (parsed.refusal == BoundedJson::Refusal::too_large)
    return malformed(fmt::format("the reply is over the limit of {} bytes (model.max_reply_mb)", limits.max_bytes));
  if (parsed.refusal == BoundedJson::Refusal::too_deep) return malformed(parsed.error + " (model.max_json_depth)");
  if (!parsed.ok()) return malformed("not JSON: " + quote(a.body));
  const json& j = parsed.value;
  if (!j.is_object() || !j.contains("choices")) return malformed("no \"choices\" in " + quote(a.body));
  const json& choices = j["choices"];
  if (!choices.is_array() || choices.empty())
    return malformed("\"choices\" is not a non-empty array in " + quote(a.body));
  if (!choices[0].is_object() || !choices[0].contains("message") || !choices[0]["message"].is_object())
    return malformed("no \"choices\"[0].\"message\" object in " + quote(a.body));
  const json& message = choices[0]["message"];
  if (message.contains("content") && !message["content"].is_string() && !message["content"].is_null())
    return malformed("the message's \"content\" is neither a string nor null in " + quote(a.body));
  if (message.contains("tool_calls") && !message["tool_calls"].is_array() && !message["tool_calls"].is_null())
    return malformed("the message's \"tool_calls\" is neither an array nor null in " + quote(a.body));

  reply.ok = true;
  reply.message = message;
  if (j.contains("usage") && j["usage"].is_object()) {
    const json& usage = j["usage"];
    auto tokens = [&](const char* name) -> std::uint64_t {
      return usage.contains(name) && usage[name].is_number_unsigned() ? usage[name].get<std::uint64_t>() : 0;
    };
    reply.prompt_tokens = tokens("prompt_tokens");
    reply.completion_tokens = tokens("completion_tokens");
  }
  return reply;
}

std::string OpenAiProvider::without_key(std::string text) const {
  const std::string& key = config_.api_key;
  if (key.size() < kSecretKeyBytes) return text;
  for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at)) text.replace(at, key.size(), "***");
  return text;
}

ModelReply OpenAiProvider::complete(const ModelCall& call) {
  const auto started = Clock::now();
  const std::string stopped = endpoint_ + ": stopped";
  ModelReply reply;
  std::string body;
  try {
    body = request_body(call, config_).dump();
  } catch (const json::exception& e) {
    reply.error = fmt::format("model call {}: cannot build the request for {}: {}", call.request_id, endpoint_, e.what());
    return reply;
  }
  std::uint32_t attempts = 0;
  {
    Lease lease(*this);
    if (lease.client() == nullptr) reply.error = stopped;
    while (lease.client() != nullptr) {
      ++attempts;
      Attempt a = send(*lease.client(), body, call.request_id, call.reply_limits.max_bytes);
      if (a.too_large) lease.renew();  // the rest of that body may still be on the connection
      if (a.succeeded() || a.too_large) {
        reply = read_reply(a, call.reply_limits);
        break;
      }
      if (lease.stopped()) {
        reply.error = stopped;
        break;
      }
      if (!a.answered) lease.renew();
      std::string cause = a.answered    ? fmt::format("HTTP {}: {}", a.status, server_error_text(a.body))
                          : a.timed_out ? fmt::format("timed out after {}s", config_.timeout_s)
                                        : describe(a.error);
      cause = without_key(std::move(cause));
      if (!a.retryable() || attempts > config_.retries) {
        reply.error = fmt::format("{}: {} ({})", endpoint_, cause, attempts_text(attempts));
        break;
      }
      double delay = config_.backoff.delay_s(attempts, a.retry_after_s, uniform_draw());
      spdlog::warn("model server {}: {}; retry {} of {} in {:.2f}s", endpoint_, cause, attempts, config_.retries,
                   delay);
      if (!lease.wait(delay)) {
        reply.error = stopped;
        break;
      }
    }
  }
  reply.attempts = attempts;
  reply.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return reply;
}

}  // namespace remora
