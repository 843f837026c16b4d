#include "worker/tool_calls.hpp"

#include "shared/bounded_json.hpp"
#include "shared/error.hpp"

namespace remora::worker {
namespace {

using nlohmann::json;

// Arguments arrive as a JSON string (OpenAI) or, from some servers, as an object.
void read_arguments(const json& raw, ToolCall& call, const JsonLimits& limits) {
  json args = raw;
  if (raw.is_string()) {
    const auto& text = raw.get_ref<const std::string&>();
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      args = json::object();
    } else {
      auto parsed = try_parse_bounded(text, "the arguments", limits);
      if (!parsed.ok()) {
        call.parse_error = parsed.error.substr(0, 300);
        return;
      }
      args = std::move(parsed.value);
    }
  } else if (raw.is_null()) {
    args = json::object();
  }
  if (!args.is_object()) {
    call.parse_error = "the arguments must be a JSON object, got: " + args.dump().substr(0, 200);
    return;
  }
  call.arguments = std::move(args);
}

// j[key] when j is an object holding a string there, else "": a reply's fields are untrusted, and
// json::value() throws on a field of another type.
std::string string_field(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ParsedReply parse_reply(const json& message, const std::string& fallback_id_prefix, const JsonLimits& limits) {
  if (!message.is_object()) throw Error(Errc::invalid_argument, "the model's reply is not a message object");
  ParsedReply out{message, {}};
  out.message["role"] = "assistant";
  if (message.contains("tool_calls") && message["tool_calls"].is_array() && !message["tool_calls"].empty()) {
    std::size_t k = 0;
    for (auto& tc : out.message["tool_calls"]) {
      ToolCall call;
      if (!tc.is_object()) {
        call.parse_error = "a tool call is not a JSON object: " + tc.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 200);
        tc = json::object();
      }
      call.id = string_field(tc, "id");
      if (call.id.empty()) call.id = fallback_id_prefix + "-" + std::to_string(k);
      const json fn = tc.contains("function") && tc["function"].is_object() ? tc["function"] : json::object();
      call.name = string_field(fn, "name");
      if (call.parse_error.empty()) read_arguments(fn.contains("arguments") ? fn["arguments"] : json(), call, limits);
      // Kept in the conversation in the protocol's own shape, whatever types the server sent.
      json args = fn.contains("arguments") && fn["arguments"].is_string()
                      ? fn["arguments"]
                      : json(call.parse_error.empty() ? call.arguments.dump() : std::string("{}"));
      tc = {{"id", call.id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", std::move(args)}}}};
      out.calls.push_back(std::move(call));
      ++k;
    }
    return out;
  }
  out.message.erase("tool_calls");
  const std::string content = message.contains("content") && message["content"].is_string()
                                  ? message["content"].get<std::string>()
                                  : std::string();
  static const std::string open = "<tool_call>", close = "</tool_call>";
  json native = json::array();
  for (std::size_t at = content.find(open); at != std::string::npos; at = content.find(open, at)) {
    auto end = content.find(close, at);
    std::string body = content.substr(at + open.size(), end == std::string::npos ? std::string::npos
                                                                                   : end - at - open.size());
    at = end == std::string::npos ? content.size() : end + close.size();
    ToolCall call;
    call.id = fallback_id_prefix + "-" + std::to_string(out.calls.size());
    auto parsed = try_parse_bounded(body, "a <tool_call> block", limits);
    const json& j = parsed.value;
    if (!parsed.ok()) {
      call.parse_error = parsed.error.substr(0, 300);
    } else if (!j.is_object()) {
      call.parse_error = "a <tool_call> block is not a JSON object: " + body.substr(0, 200);
    } else {
      call.name = string_field(j, "name");
      read_arguments(j.contains("arguments") ? j["arguments"] : j.contains("parameters") ? j["parameters"] : json(), call,
                     limits);
    }
    native.push_back({{"id", call.id},
                      {"type", "function"},
                      {"function", {{"name", call.name}, {"arguments", call.parse_error.empty() ? call.arguments.dump() : "{}"}}}});
    out.calls.push_back(std::move(call));
  }
  if (!native.empty()) out.message["tool_calls"] = native;
  return out;
}

}  // namespace remora::worker
