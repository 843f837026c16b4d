// Fuzz target: a model's tool-call arguments checked against a tool's JSON schema
// (shared/json_schema), as run_tool_call does before a tool runs. The first byte picks a built-in
// tool's schema, the rest are the arguments; past the built-ins, the rest is
// "<schema>\n<arguments>" and the schema is first checked as a bundle's command tool schema is.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_input.hpp"
#include "shared/bounded_json.hpp"
#include "shared/json_schema.hpp"
#include "worker/builtin_tools.hpp"

namespace {

using nlohmann::json;

const std::vector<json>& builtin_schemas() {
  static const std::vector<json> schemas = [] {
    std::vector<json> out;
    for (const auto& tool : remora::worker::builtin_tools()) out.push_back(tool->spec().parameters);
    return out;
  }();
  return schemas;
}

void validate(const json& schema, std::string_view arguments) {
  auto args = remora::try_parse_bounded(arguments, "the arguments", remora::kModelJsonLimits);
  if (!args.ok()) return;
  for (const auto& problem : remora::json_schema::validate(schema, args.value))
    (void)json(problem).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& schemas = builtin_schemas();
  const auto rest = remora::fuzz::text_of(data + 1, size - 1);
  if (data[0] < schemas.size()) {
    validate(schemas[data[0]], rest);
    return 0;
  }
  const auto cut = rest.find('\n');
  if (cut == std::string_view::npos) return 0;
  auto schema = remora::try_parse_bounded(rest.substr(0, cut), "the schema", remora::kModelJsonLimits);
  if (!schema.ok() || !remora::json_schema::check_schema(schema.value).empty()) return 0;
  validate(schema.value, rest.substr(cut + 1));
  return 0;
}
