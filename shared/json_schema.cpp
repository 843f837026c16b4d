#include "shared/json_schema.hpp"

#include "shared/counted.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <set>
#include <string_view>

namespace remora::json_schema {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 7> kTypes = {"array", "boolean", "integer", "null", "number", "object", "string"};
constexpr std::array<std::string_view, 5> kAnnotations = {"description", "default", "title", "examples", "$comment"};
constexpr std::array<std::string_view, 4> kCounts = {"minLength", "maxLength", "minItems", "maxItems"};

bool is_integer(const json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool has_type(const json& v, std::string_view type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return is_integer(v);
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  return v.is_null();
}

std::string a_type(std::string_view type) {
  if (type == "integer" || type == "array" || type == "object") return fmt::format("an {}", type);
  if (type == "boolean") return "true or false";
  if (type == "null") return "null";
  return fmt::format("a {}", type);
}

// A value as it appears in a message: compact JSON, cut short when long.
std::string shown(const json& v) {
  constexpr std::size_t kMax = 60;
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

std::string member(const std::string& path, const std::string& key) {
  bool identifier = !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0])) &&
                    std::ranges::all_of(key, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  return identifier ? path + "." + key : path + "[" + json(key).dump(-1, ' ', false, json::error_handler_t::replace) + "]";
}

template <class R> bool contains(const R& range, std::string_view s) { return std::ranges::find(range, s) != std::end(range); }

// ---- check_schema ----

class SchemaChecker {
 public:
  explicit SchemaChecker(std::vector<std::string>& out) : out_(out) {}

  void check(const json& s, const std::string& path) {
    if (!s.is_object()) return add(path, "expected a schema (a JSON object), got " + shown(s));
    for (const auto& [key, v] : s.items()) keyword(s, key, v, path + "." + key);
    bounds(s, path, "minimum", "maximum");
    bounds(s, path, "minLength", "maxLength");
    bounds(s, path, "minItems", "maxItems");
  }

 private:
  void add(const std::string& path, const std::string& what) { out_.push_back(path + ": " + what); }

  void keyword(const json& s, const std::string& key, const json& v, const std::string& path) {
    if (key == "type") return type(v, path);
    if (key == "properties") {
      if (!v.is_object()) return add(path, "expected an object mapping property names to schemas");
      for (const auto& [name, sub] : v.items()) check(sub, path + "." + name);
      return;
    }
    if (key == "required") return required(s, v, path);
    if (key == "additionalProperties") {
      if (!v.is_boolean()) add(path, "expected true or false (schemas here are not supported)");
      return;
    }
    if (key == "items") {
      if (!v.is_object()) return add(path, "expected one schema for every item (a JSON object)");
      return check(v, path);
    }
    if (key == "enum") return enumeration(s, v, path);
    if (key == "minimum" || key == "maximum") {
      if (!v.is_number()) add(path, "expected a number, got " + shown(v));
      return;
    }
    if (contains(kCounts, key)) {
      if (!is_integer(v) || v.get<double>() < 0) add(path, "expected a non-negative integer, got " + shown(v));
      return;
    }
    if (key == "description" || key == "title") {
      if (!v.is_string()) add(path, "expected a string, got " + shown(v));
      return;
    }
    if (key == "const" || contains(kAnnotations, key)) return;
    add(path, fmt::format("unsupported keyword '{}' (supported: type, properties, required, additionalProperties, "
                          "items, enum, const, minimum, maximum, minLength, maxLength, minItems, maxItems, {})",
                          key, fmt::join(kAnnotations, ", ")));
  }

  void type(const json& v, const std::string& path) {
    auto one = [&](const json& t, const std::string& at) {
      if (!t.is_string()) return add(at, "expected a type name, got " + shown(t));
      if (!contains(kTypes, t.get<std::string>()))
        add(at, fmt::format("unknown type '{}' (known: {})", t.get<std::string>(), fmt::join(kTypes, ", ")));
    };
    if (!v.is_array()) return one(v, path);
    if (v.empty()) return add(path, "expected at least one type");
    for (std::size_t i = 0; i < v.size(); ++i) one(v[i], fmt::format("{}[{}]", path, i));
    if (std::set<json>(v.begin(), v.end()).size() != v.size()) add(path, "names a type twice");
  }

  void required(const json& s, const json& v, const std::string& path) {
    if (!v.is_array() || !std::ranges::all_of(v, [](const json& n) { return n.is_string(); }))
      return add(path, "expected a list of property names");
    if (std::set<json>(v.begin(), v.end()).size() != v.size()) add(path, "names a property twice");
    auto props = s.find("properties");
    if (props == s.end() || !props->is_object()) return;
    for (const auto& n : v)
      if (!props->contains(n.get<std::string>()))
        add(path, fmt::format("'{}' is not one of the properties", n.get<std::string>()));
  }

  // An enum whose values the rest of the schema refuses can never be satisfied.
  void enumeration(const json& s, const json& v, const std::string& path) {
    if (!v.is_array() || v.empty()) return add(path, "expected a non-empty list of values");
    json rest = s;
    rest.erase("enum");
    std::vector<std::string> sub;
    SchemaChecker(sub).check(rest, path);
    if (!sub.empty()) return;  // reported where they are
    for (std::size_t i = 0; i < v.size(); ++i)
      for (const auto& p : json_schema::validate(rest, v[i]))
        add(fmt::format("{}[{}]", path, i), "this value breaks the schema (" + p.substr(p.find(": ") + 2) + ")");
  }

  void bounds(const json& s, const std::string& path, const char* lo, const char* hi) {
    auto a = s.find(lo), b = s.find(hi);
    if (a == s.end() || b == s.end() || !a->is_number() || !b->is_number()) return;
    if (a->get<double>() > b->get<double>())
      add(path, fmt::format("{} {} is greater than {} {}", lo, shown(*a), hi, shown(*b)));
  }

  std::vector<std::string>& out_;
};

// ---- validate ----

class Validator {
 public:
  explicit Validator(std::vector<std::string>& out) : out_(out) {}

  void check(const json& s, const json& v, const std::string& path) {
    if (!s.is_object()) return;
    if (auto t = s.find("type"); t != s.end() && !type_ok(*t, v, path)) return;
    if (auto e = s.find("enum"); e != s.end() && std::ranges::find(*e, v) == e->end())
      return add(path, fmt::format("expected one of {}, got {}", shown(*e), shown(v)));
    if (auto c = s.find("const"); c != s.end() && *c != v)
      return add(path, fmt::format("expected {}, got {}", shown(*c), shown(v)));
    if (v.is_number()) number(s, v, path);
    if (v.is_string()) string(s, v.get_ref<const std::string&>(), path);
    if (v.is_array()) array(s, v, path);
    if (v.is_object()) object(s, v, path);
  }

 private:
  void add(const std::string& path, const std::string& what) { out_.push_back(path + ": " + what); }

  bool type_ok(const json& t, const json& v, const std::string& path) {
    std::vector<std::string> names;
    if (t.is_array()) {
      for (const auto& n : t) names.push_back(n.get<std::string>());
    } else {
      names.push_back(t.get<std::string>());
    }
    if (std::ranges::any_of(names, [&](const std::string& n) { return has_type(v, n); })) return true;
    std::vector<std::string> expected;
    for (const auto& n : names) expected.push_back(a_type(n));
    add(path, fmt::format("expected {}, got {}", fmt::join(expected, " or "), shown(v)));
    return false;
  }

  void number(const json& s, const json& v, const std::string& path) {
    double d = v.get<double>();
    if (auto m = s.find("minimum"); m != s.end() && d < m->get<double>())
      add(path, fmt::format("must be >= {}, got {}", shown(*m), shown(v)));
    if (auto m = s.find("maximum"); m != s.end() && d > m->get<double>())
      add(path, fmt::format("must be <= {}, got {}", shown(*m), shown(v)));
  }

  void string(const json& s, const std::string& v, const std::string& path) {
    // Length in characters (code points), not bytes: JSON strings are UTF-8.
    auto n = static_cast<std::size_t>(std::ranges::count_if(v, [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
    if (auto m = s.find("minLength"); m != s.end() && n < m->get<std::size_t>())
      add(path, fmt::format("must be at least {} long, got {}", counted(m->get<std::size_t>(), "character"), n));
    if (auto m = s.find("maxLength"); m != s.end() && n > m->get<std::size_t>())
      add(path, fmt::format("must be at most {} long, got {}", counted(m->get<std::size_t>(), "character"), n));
  }

  void array(const json& s, const json& v, const std::string& path) {
    if (auto m = s.find("minItems"); m != s.end() && v.size() < m->get<std::size_t>())
      add(path, fmt::format("must have at least {}, got {}", counted(m->get<std::size_t>(), "item"), v.size()));
    if (auto m = s.find("maxItems"); m != s.end() && v.size() > m->get<std::size_t>())
      add(path, fmt::format("must have at most {}, got {}", counted(m->get<std::size_t>(), "item"), v.size()));
    if (auto items = s.find("items"); items != s.end())
      for (std::size_t i = 0; i < v.size(); ++i) check(*items, v[i], fmt::format("{}[{}]", path, i));
  }

  void object(const json& s, const json& v, const std::string& path) {
    static const json kNone = json::object();
    auto p = s.find("properties");
    const json& props = p != s.end() ? *p : kNone;
    if (auto r = s.find("required"); r != s.end())
      for (const auto& name : *r)
        if (!v.contains(name.get<std::string>())) add(member(path, name.get<std::string>()), "required property missing");
    bool closed = s.value("additionalProperties", true) == false;
    for (const auto& [key, value] : v.items()) {
      if (auto sub = props.find(key); sub != props.end()) {
        check(*sub, value, member(path, key));
      } else if (closed) {
        std::vector<std::string> allowed;
        for (const auto& [name, _] : props.items()) allowed.push_back(name);
        add(member(path, key), allowed.empty() ? "unknown property (none are allowed)"
                                               : fmt::format("unknown property (allowed: {})", fmt::join(allowed, ", ")));
      }
    }
  }

  std::vector<std::string>& out_;
};

}  // namespace

std::vector<std::string> check_schema(const json& schema, const std::string& path) {
  std::vector<std::string> out;
  SchemaChecker(out).check(schema, path);
  return out;
}

std::vector<std::string> validate(const json& schema, const json& value) {
  std::vector<std::string> out;
  Validator(out).check(schema, value, "$");
  return out;
}

}  // namespace remora::json_schema
