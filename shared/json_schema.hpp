// JSON Schema, the subset tool schemas use: checking that a schema is well formed (when a bundle
// is loaded) and validating a tool call's arguments against it (before the tool runs).
//
// Keywords: type (object, array, string, integer, number, boolean, null, or a list of them),
// properties, required, additionalProperties (true or false), items, enum, const,
// minimum/maximum, minLength/maxLength, minItems/maxItems. Annotations (description, default,
// title, examples, $comment) are accepted and ignored; any other keyword is a schema problem, so
// that a bundle never believes a constraint (pattern, anyOf, ...) is enforced when it is not.
//
// Validation never converts: "3" is not an integer and 3 is not a string. An integer is a number
// with no fractional part (3 and 3.0 both are, as JSON Schema says).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace remora::json_schema {

// Problems with schema itself, each "<path>: <what>" under `path`, e.g.
// "parameters.properties.style.type: unknown type 'strng'". Empty when the schema is good.
std::vector<std::string> check_schema(const nlohmann::json& schema, const std::string& path = "schema");

// Where value breaks schema (assumed well formed), each "<JSON path>: <what>", e.g.
// "$.options[1]: expected a string, got 3". Every problem is reported; empty when value is valid.
std::vector<std::string> validate(const nlohmann::json& schema, const nlohmann::json& value);

}  // namespace remora::json_schema
