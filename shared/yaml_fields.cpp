#include "shared/yaml_fields.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <system_error>
#include <yaml-cpp/depthguard.h>

#include "shared/error.hpp"

namespace remora::yaml_fields {

namespace fs = std::filesystem;

void Problems::add(const std::string& path, const std::string& what) {
  lines.push_back(fmt::format("{}{}{}", file.empty() ? "" : file + ": ", path.empty() ? "" : path + ": ", what));
}

void Problems::throw_if_any() const {
  if (!lines.empty()) throw Error(Errc::invalid_argument, fmt::format("{}", fmt::join(lines, "\n")));
}

Rule at_least(double min, Rule r) {
  r.min = min;
  return r;
}

Rule above(double bound, Rule r) {
  r.above = bound;
  return r;
}

Fields::Fields(const YAML::Node& node, std::string path, Problems& problems)
    : node_(node && node.IsMap() ? node : YAML::Node(YAML::NodeType::Map)),
      path_(std::move(path)),
      problems_(problems),
      valid_(!node || node.IsNull() || node.IsMap()) {
  if (!valid_) problems_.add(path_, "expected a map");
}

Fields::~Fields() {
  std::set<std::string> seen;
  for (const auto& kv : node_) {
    const std::string& key = kv.first.Scalar();
    if (!seen.insert(key).second)
      problems_.add(at(key), "duplicate field");
    else if (!known_.contains(key))
      problems_.add(at(key), "unknown field");
  }
}

nlohmann::json to_json(const YAML::Node& node) {
  using nlohmann::json;
  if (!node || node.IsNull()) return nullptr;
  if (node.IsMap()) {
    json j = json::object();
    for (const auto& kv : node) j[kv.first.Scalar()] = to_json(kv.second);
    return j;
  }
  if (node.IsSequence()) {
    json j = json::array();
    for (const auto& v : node) j.push_back(to_json(v));
    return j;
  }
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  long long i = 0;
  if (YAML::convert<long long>::decode(node, i) && s.find_first_of(".eE") == std::string::npos) return i;
  double d = 0;
  if (YAML::convert<double>::decode(node, d) && std::isfinite(d)) return d;
  return s;
}

YAML::Node to_yaml(const nlohmann::json& j) {
  using nlohmann::json;
  switch (j.type()) {
    case json::value_t::null: return YAML::Node(YAML::NodeType::Null);
    case json::value_t::string: {
      YAML::Node n(j.get<std::string>());
      n.SetTag("!");
      return n;
    }
    case json::value_t::object: {
      YAML::Node n(YAML::NodeType::Map);
      for (const auto& [key, value] : j.items()) n[key] = to_yaml(value);
      return n;
    }
    case json::value_t::array: {
      YAML::Node n(YAML::NodeType::Sequence);
      for (const auto& value : j) n.push_back(to_yaml(value));
      return n;
    }
    default: return YAML::Node(j.dump());
  }
}

YAML::Node parse_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw Error(Errc::not_found, file.string() + ": no such file");
  std::ifstream in(file);
  if (!in) throw Error(Errc::io, file.string() + ": cannot be read");
  try {
    return YAML::Load(in);
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp's own guard, else only "bad file"
    throw Error(Errc::invalid_argument, fmt::format("{}: line {}: nests deeper than {} levels", file.string(),
                                                    e.mark.line + 1, e.depth() - 1));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) throw Error(Errc::invalid_argument, file.string() + ": " + e.msg);
    throw Error(Errc::invalid_argument, fmt::format("{}: line {}: {}", file.string(), e.mark.line + 1, e.msg));
  }
}

}  // namespace remora::yaml_fields
