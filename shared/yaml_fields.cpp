#include "shared/yaml_fields.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <system_error>

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

YAML::Node parse_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw Error(Errc::not_found, file.string() + ": no such file");
  std::ifstream in(file);
  if (!in) throw Error(Errc::io, file.string() + ": cannot be read");
  try {
    return YAML::Load(in);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) throw Error(Errc::invalid_argument, file.string() + ": " + e.msg);
    throw Error(Errc::invalid_argument, fmt::format("{}: line {}: {}", file.string(), e.mark.line + 1, e.msg));
  }
}

}  // namespace remora::yaml_fields
