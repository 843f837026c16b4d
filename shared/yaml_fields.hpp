// Fields: reads typed fields of a YAML map, reporting each bad, unknown or duplicate field under
// its path in Problems, so that a file's loader shows the user every problem in one run.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace remora::yaml_fields {

// Every problem in one document, so that the user sees all of them in one run.
struct Problems {
  explicit Problems(std::string file_ = {}) : file(std::move(file_)) {}
  std::string file;  // prefixes every line when set
  // Fields name the line of the field at fault ("file: line 3: model.bogus: unknown field"),
  // for files users write by hand; off where callers match the shorter form.
  bool with_lines = false;
  std::vector<std::string> lines;

  // line: 0-based, as YAML::Mark has it; negative when unknown.
  void add(const std::string& path, const std::string& what, int line = -1);
  // Throws Error(invalid_argument) listing every line, if there are any.
  void throw_if_any() const;
};

// What a field must satisfy beyond its type; min and above apply to numbers.
struct Rule {
  bool required = false;
  std::optional<double> min;    // value >= min
  std::optional<double> above;  // value > above
};
inline const Rule kRequired{true, std::nullopt, std::nullopt};
Rule at_least(double min, Rule r = {});
Rule above(double bound, Rule r = {});

// What a value of type T must look like, for "expected ..."; a type readable by Fields::read has one.
template <class T> inline constexpr const char* kExpected = nullptr;
template <> inline constexpr const char* kExpected<std::string> = "a string";
template <> inline constexpr const char* kExpected<double> = "a number";
template <> inline constexpr const char* kExpected<bool> = "true or false";
template <> inline constexpr const char* kExpected<std::uint32_t> = "a non-negative integer";
template <> inline constexpr const char* kExpected<std::vector<std::string>> = "a list of strings";
template <> inline constexpr const char* kExpected<std::vector<long long>> = "a list of integers";
template <> inline constexpr const char* kExpected<std::vector<YAML::Node>> = "a list";

// One YAML map being read. Every read is typed and reports under the field's path. Keys never
// read are reported as unknown when the reader goes away, so that no map can skip that check.
class Fields {
 public:
  // An absent or null node reads as an empty map (`hang:`, no `config:`); any other non-map is
  // reported once, and its fields are not worth reporting as missing.
  Fields(const YAML::Node& node, std::string path, Problems& problems);
  Fields(const Fields&) = delete;
  Fields& operator=(const Fields&) = delete;
  ~Fields();

  std::string at(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  // The raw value at key (undefined when absent), for a value with a reader of its own.
  YAML::Node node(const std::string& key) {
    known_.insert(key);
    return std::as_const(node_)[key];
  }

  // Reads key into out; out is left alone when the field is absent or bad (bad is reported).
  template <class T> bool read(const std::string& key, T& out, const Rule& rule = {}) {
    static_assert(kExpected<T> != nullptr, "name the type in kExpected");
    YAML::Node n = node(key);
    if (!valid_) return false;
    if (!n || n.IsNull()) return rule.required && check(key, false, "required");
    T value{};
    if (!decode(n, value)) {
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)  // the range says what fits
        return check(key, false, fmt::format("expected an integer from {} to {}",
                                             rule.min ? static_cast<long double>(*rule.min)
                                                      : static_cast<long double>(std::numeric_limits<T>::min()),
                                             std::numeric_limits<T>::max()));
      return check(key, false, std::string("expected ") + kExpected<T>);
    }
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      if (rule.min && !(value >= *rule.min)) return check(key, false, fmt::format("must be >= {}", *rule.min));
      if (rule.above && !(value > *rule.above)) return check(key, false, fmt::format("must be > {}", *rule.above));
    }
    out = std::move(value);
    return true;
  }

  // Reports what at key unless ok; returns ok.
  bool check(const std::string& key, bool ok, const std::string& what) {
    if (!ok) problems_.add(at(key), what, line_of(key));
    return ok;
  }

 private:
  // The line of key's value (of the map when key is absent), when Problems asks for lines.
  int line_of(const std::string& key) const;

  template <class T> static bool decode(const YAML::Node& n, T& out) {
    try {
      if (!YAML::convert<T>::decode(n, out)) return false;
    } catch (const YAML::Exception&) {  // a list holding a map, say
      return false;
    }
    if constexpr (std::is_floating_point_v<T>) return std::isfinite(out);  // JSON cannot hold inf
    return true;
  }

  YAML::Node node_;
  std::string path_;
  Problems& problems_;
  std::set<std::string> known_;
  bool valid_;
  bool from_document_;  // node_ is the caller's map, not an empty one standing for none
};

// A YAML value as JSON: plain scalars are typed (null, true/false, integers, numbers, else
// strings), quoted scalars are strings.
nlohmann::json to_json(const YAML::Node& node);
// The inverse, with strings quoted so that to_json(to_yaml(j)) == j.
YAML::Node to_yaml(const nlohmann::json& j);

// The limits of a YAML file (graph, bundle, config): its size, how deep its collections nest,
// and how many nodes it holds (an alias counts as the nodes it stands for, so that aliases of
// aliases cannot multiply past the limit).
inline constexpr std::uintmax_t kMaxYamlBytes = 16 << 20;  // 16 MiB
inline constexpr std::size_t kMaxYamlDepth = 64;
inline constexpr std::size_t kMaxYamlNodes = 1'000'000;

enum class Links { follow, refuse };  // refuse: a symbolic link as the file itself is an error

// Parses file; a missing file is not_found, a syntax error invalid_argument naming the line, and
// so is a file past one of the limits above (checked before any node is built).
YAML::Node parse_file(const std::filesystem::path& file, Links links = Links::follow);

}  // namespace remora::yaml_fields
