// Fuzz target: a model server's reply as remora reads it. The body is parsed with the reply limits
// (shared/bounded_json), its message's tool calls are read (worker/tool_calls: native calls and the
// `<tool_call>` fallback in text), and everything the kernel then writes is serialized. The same
// bytes are also tried as a message's text content, for the fallback alone.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_input.hpp"
#include "shared/bounded_json.hpp"
#include "shared/error.hpp"
#include "worker/tool_calls.hpp"

namespace {

using nlohmann::json;
using remora::JsonLimits;

constexpr JsonLimits kLimits{64, 1u << 20};

// What the kernel does with a parsed reply: store it and each call's arguments or error.
void read_message(const json& message) {
  try {
    auto parsed = remora::worker::parse_reply(message, "fuzz", kLimits);
    (void)parsed.message.dump(-1, ' ', false, json::error_handler_t::replace);
    for (const auto& call : parsed.calls) {
      (void)call.arguments.dump();
      (void)json(call.parse_error).dump(-1, ' ', false, json::error_handler_t::replace);
    }
  } catch (const remora::Error&) {  // not a message object: the agent fails with that reason
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = remora::fuzz::text_of(data, size);
  auto reply = remora::try_parse_bounded(text, "the reply", kLimits);
  if (reply.ok()) {
    const json& j = reply.value;
    if (j.is_object() && j.contains("choices") && j["choices"].is_array() && !j["choices"].empty() &&
        j["choices"][0].is_object() && j["choices"][0].contains("message"))
      read_message(j["choices"][0]["message"]);
    else
      read_message(j);
  }
  // Content is a JSON string in a real reply, so valid UTF-8: invalid bytes are replaced as the
  // parser would have refused them.
  std::string content = json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
  read_message({{"role", "assistant"}, {"content", json::parse(content).get<std::string>()}});
  return 0;
}
