// The JSON-schema subset: malformed schemas are named by path, and validation reports every
// problem by JSON path without converting types.
#include "shared/json_schema.hpp"

#include <gtest/gtest.h>

namespace remora::json_schema {
namespace {

using nlohmann::json;
using Problems = std::vector<std::string>;

const json kToolSchema = json::parse(R"({
  "type": "object", "additionalProperties": false, "required": ["path", "count"],
  "properties": {
    "path": {"type": "string", "minLength": 1, "description": "a file"},
    "count": {"type": "integer", "minimum": 1, "maximum": 10},
    "ratio": {"type": "number"},
    "dry": {"type": "boolean", "default": false},
    "style": {"type": "string", "enum": ["google", "numpy"]},
    "options": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    "nested": {"type": "object", "properties": {"x": {"type": ["integer", "null"]}}, "required": ["x"]},
    "mode": {"const": "fast"},
    "any": {}
  }})");

TEST(JsonSchemaCheck, AcceptsTheSubset) { EXPECT_EQ(check_schema(kToolSchema, "parameters"), Problems{}); }

// Problems come in key order (JSON objects are read as sorted maps).
TEST(JsonSchemaCheck, NamesEachProblemByPath) {
  auto s = json::parse(R"({
    "type": "object",
    "properties": {
      "style": {"type": "strng"},
      "n": {"type": "integer", "minimum": "1", "maximum": 0},
      "xs": {"type": "array", "items": [{"type": "string"}], "minItems": -1},
      "t": {"type": ["string", "string"]},
      "e": {"type": "integer", "enum": [1, "two"]},
      "p": {"type": "string", "pattern": "^a"},
      "o": {"type": "object", "additionalProperties": {"type": "string"}}
    },
    "required": ["style", "pth"]})");
  EXPECT_EQ(check_schema(s, "parameters"),
            (Problems{
                "parameters.properties.e.enum[1]: this value breaks the schema (expected an integer, got \"two\")",
                "parameters.properties.n.minimum: expected a number, got \"1\"",
                "parameters.properties.o.additionalProperties: expected true or false (schemas here are not supported)",
                "parameters.properties.p.pattern: unsupported keyword 'pattern' (supported: type, properties, required, "
                "additionalProperties, items, enum, const, minimum, maximum, minLength, maxLength, minItems, maxItems, "
                "description, default, title, examples, $comment)",
                "parameters.properties.style.type: unknown type 'strng' (known: array, boolean, integer, null, number, object, string)",
                "parameters.properties.t.type: names a type twice",
                "parameters.properties.xs.items: expected one schema for every item (a JSON object)",
                "parameters.properties.xs.minItems: expected a non-negative integer, got -1",
                "parameters.required: 'pth' is not one of the properties",
            }));
}

TEST(JsonSchemaCheck, RefusesNonObjectsAndEmptyEnumsAndCrossedBounds) {
  EXPECT_EQ(check_schema(json("string"), "p"), Problems{"p: expected a schema (a JSON object), got \"string\""});
  EXPECT_EQ(check_schema(json::parse(R"({"enum": []})"), "p"), Problems{"p.enum: expected a non-empty list of values"});
  EXPECT_EQ(check_schema(json::parse(R"({"minLength": 5, "maxLength": 2})"), "p"),
            Problems{"p: minLength 5 is greater than maxLength 2"});
  EXPECT_EQ(check_schema(json::parse(R"({"type": []})"), "p"), Problems{"p.type: expected at least one type"});
}

TEST(JsonSchemaValidate, AcceptsAValidCall) {
  auto v = json::parse(R"({"path": "a.py", "count": 3, "ratio": 2, "dry": true, "style": "numpy",
                           "options": ["a"], "nested": {"x": null}, "mode": "fast", "any": [1, {"b": 2}]})");
  EXPECT_EQ(validate(kToolSchema, v), Problems{});
  // An integer is a number without a fraction, as JSON Schema says.
  EXPECT_EQ(validate(kToolSchema, json::parse(R"({"path": "a", "count": 3.0})")), Problems{});
}

TEST(JsonSchemaValidate, KeepsTypesAndReportsEveryProblemByPath) {
  auto v = json::parse(R"({"path": "", "count": "3", "ratio": "1.5", "dry": "false", "style": "pep",
                           "options": ["a", 3], "nested": {}, "mode": "slow", "extra": 1})");
  EXPECT_EQ(validate(kToolSchema, v),
            (Problems{
                "$.count: expected an integer, got \"3\"",
                "$.dry: expected true or false, got \"false\"",
                "$.extra: unknown property (allowed: any, count, dry, mode, nested, options, path, ratio, style)",
                "$.mode: expected \"fast\", got \"slow\"",
                "$.nested.x: required property missing",
                "$.options[1]: expected a string, got 3",
                "$.path: must be at least 1 character long, got 0",
                "$.ratio: expected a number, got \"1.5\"",
                "$.style: expected one of [\"google\",\"numpy\"], got \"pep\"",
            }));
}

TEST(JsonSchemaValidate, BoundsAndMissingAndNonObjects) {
  EXPECT_EQ(validate(kToolSchema, json::parse(R"({"count": 11, "options": []})")),
            (Problems{"$.path: required property missing", "$.count: must be <= 10, got 11",
                      "$.options: must have at least 1 item, got 0"}));
  EXPECT_EQ(validate(kToolSchema, json::parse(R"({"path": "a", "count": 2.5})")),
            Problems{"$.count: expected an integer, got 2.5"});
  EXPECT_EQ(validate(kToolSchema, json::array()), Problems{"$: expected an object, got []"});
  EXPECT_EQ(validate(kToolSchema, json::parse(R"({"path": "a", "count": 1, "nested": {"x": 1.5}})")),
            Problems{"$.nested.x: expected an integer or null, got 1.5"});
}

TEST(JsonSchemaValidate, OddKeysAreQuotedAndLongValuesCut) {
  auto s = json::parse(R"({"type": "object", "additionalProperties": false, "properties": {}})");
  EXPECT_EQ(validate(s, json::parse(R"({"a b": 1})")), Problems{"$[\"a b\"]: unknown property (none are allowed)"});
  auto str = json::parse(R"({"type": "string"})");
  EXPECT_EQ(validate(str, json(std::vector<int>(40, 7))),
            Problems{"$: expected a string, got [7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7..."});
  // Length counts characters, not bytes.
  auto two = json::parse(R"({"type": "string", "maxLength": 2})");
  EXPECT_EQ(validate(two, json("éé")), Problems{});
}

}  // namespace
}  // namespace remora::json_schema
