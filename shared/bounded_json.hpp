// Bounded JSON parsing: every JSON text that comes from outside remora's binaries (a model
// server's reply, a model's tool arguments, a record a worker wrote) is parsed here, refused past
// a nesting depth and a size with an error naming the limit. nlohmann's parser itself is
// iterative, but copying, comparing and dumping a value recurse once per level: a reply nesting
// arrays 100k deep would overflow the stack later, anywhere.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace remora {

struct JsonLimits {
  std::size_t max_depth = 64;          // objects and arrays inside one another; the top level is 1
  std::size_t max_bytes = 16u << 20;   // of the text
};

// Model replies and the tool arguments in them (the bundle's model.max_json_depth and
// model.max_reply_mb override these): depth 64, 16 MiB.
inline constexpr JsonLimits kModelJsonLimits{};
// The most a bundle may raise model.max_json_depth to: records wrap what replies carry (a message
// holds its tool calls' arguments a few levels down), and kRecordJsonLimits must leave room.
inline constexpr std::size_t kMaxModelJsonDepth = 200;
// Records the binaries wrote themselves (messages, requests, events, kv values): deep enough for
// anything a bounded reply becomes, no bound on size (records are already in the workspace).
inline constexpr JsonLimits kRecordJsonLimits{256, static_cast<std::size_t>(-1)};

// Parses text, `what` naming it in errors: "<what> is not JSON: <parser message>",
// "<what> nests deeper than 64 levels", "<what> is 20000000 bytes, over the limit of 16777216".
// Throws Error(invalid_argument).
nlohmann::json parse_bounded(std::string_view text, std::string_view what, const JsonLimits& limits);

// The same, reporting instead of throwing: a discarded value and the error.
struct BoundedJson {
  enum class Refusal { none, too_large, too_deep, not_json };
  nlohmann::json value;  // discarded when refused
  Refusal refusal = Refusal::none;
  std::string error;     // says why, as above; valid UTF-8
  bool ok() const { return refusal == Refusal::none; }
};
BoundedJson try_parse_bounded(std::string_view text, std::string_view what, const JsonLimits& limits);

}  // namespace remora
