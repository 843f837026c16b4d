#include "shared/bundle.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <utility>

#include "shared/error.hpp"
#include "shared/yaml_fields.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using namespace yaml_fields;

// A stored bundle as YAML, so that from_json checks it with the very reader that checks files.
// Numbers and booleans become the scalars YAML would read back as the same values.
YAML::Node to_yaml(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return YAML::Node();
    case json::value_t::string: return YAML::Node(j.get<std::string>());
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

// Step kinds, each with the argument a bare scalar stands for (`fail: "broken"`), if any.
const std::map<std::string, std::string> kStepKinds = {
    {"write", ""},       {"delete", ""}, {"ask", ""},  {"work", ""},
    {"fail", "message"}, {"crash", ""},  {"hang", ""}, {"result", "summary"}, {"attempt", "action"},
};
constexpr std::array<std::string_view, 7> kSignals = {"KILL", "SEGV", "ABRT", "TERM", "BUS", "FPE", "ILL"};

// Reads key into args[key]; the value, when present and good.
template <class T> std::optional<T> arg(Fields& f, json& args, const std::string& key, const Rule& rule = {}) {
  T value{};
  if (!f.read(key, value, rule)) return std::nullopt;
  args[key] = value;
  return value;
}

// A step's arguments as an object with its defaults filled in, so that workers need not know them.
json read_args(const std::string& kind, const YAML::Node& node, const std::string& path, Problems& p) {
  Fields f(node, path, p);
  json args = json::object();
  if (kind == "write") {
    arg<std::string>(f, args, "path", kRequired);
    arg<std::string>(f, args, "content", kRequired);
  } else if (kind == "delete") {
    arg<std::string>(f, args, "path", kRequired);
  } else if (kind == "ask") {
    arg<std::string>(f, args, "question", kRequired);
    auto options = arg<std::vector<std::string>>(f, args, "options");
    if (options) f.check("options", !options->empty(), "must not be empty");
    auto fallback = arg<std::string>(f, args, "default");
    if (fallback && options)
      f.check("default", std::ranges::count(*options, *fallback) > 0, "'" + *fallback + "' is not one of the options");
    if (!arg<double>(f, args, "timeout", above(0))) args["timeout"] = 300.0;
  } else if (kind == "work") {
    arg<double>(f, args, "ms", at_least(0, kRequired));
  } else if (kind == "fail") {
    if (!arg<std::string>(f, args, "message")) args["message"] = "failed";
  } else if (kind == "crash") {
    if (auto signal = arg<std::string>(f, args, "signal", kRequired))
      f.check("signal", std::ranges::count(kSignals, *signal) > 0,
              fmt::format("'{}' is not one of {}", *signal, fmt::join(kSignals, ", ")));
    if (auto attempts = arg<std::vector<long long>>(f, args, "attempts"))
      f.check("attempts", std::ranges::all_of(*attempts, [](long long a) { return a >= 0; }), "must not be negative");
  } else if (kind == "result") {
    arg<std::string>(f, args, "summary", kRequired);
  } else if (kind == "attempt") {
    auto action = arg<std::string>(f, args, "action", kRequired);
    if (action && !f.check("action", std::ranges::count(kAttemptActions, *action) > 0,
                           fmt::format("'{}' is not one of {}", *action, fmt::join(kAttemptActions, ", "))))
      action.reset();
    if (action == "read_home" || action == "write_outside") {
      if (auto target = arg<std::string>(f, args, "path", kRequired))
        f.check("path", fs::path(*target).is_absolute(), "'" + *target + "' is not an absolute path");
    } else if (action == "connect") {
      if (auto port = arg<std::uint32_t>(f, args, "port", at_least(1, kRequired)))
        f.check("port", *port <= 65535, "must be <= 65535");
    } else if (action == "alloc") {
      if (!arg<std::uint32_t>(f, args, "mb", at_least(1))) args["mb"] = 8192;
    } else if (action == "env_secret") {
      arg<std::string>(f, args, "name", kRequired);
    }
  }
  return args;
}

enum class Shape { file, stored };  // steps as {kind: args} in bundle.yaml, {kind, args} in JSON

// The kind of a step and the node of its arguments, in either shape.
std::optional<std::pair<std::string, YAML::Node>> split_step(const YAML::Node& node, const std::string& path,
                                                             Shape shape, Problems& p) {
  if (shape == Shape::stored) {
    Fields f(node, path, p);
    std::string kind;
    if (!f.read("kind", kind, kRequired)) return std::nullopt;
    return std::pair(kind, f.node("args"));
  }
  if (node.IsMap() && node.size() == 1) return std::pair(node.begin()->first.Scalar(), node.begin()->second);
  p.add(path, "expected a map with one key, the step kind");
  return std::nullopt;
}

std::optional<Step> read_step(const YAML::Node& node, const std::string& path, Shape shape, Problems& p) {
  auto split = split_step(node, path, shape, p);
  if (!split) return std::nullopt;
  const auto& [name, args] = *split;
  auto kind = kStepKinds.find(name);
  if (kind == kStepKinds.end()) {
    p.add(path, "unknown step kind '" + name + "'");
    return std::nullopt;
  }
  YAML::Node expanded(YAML::NodeType::Map);  // a shorthand scalar as the map it stands for
  if (args && args.IsScalar() && !kind->second.empty()) expanded[kind->second] = args;
  return Step{name, read_args(name, expanded.size() > 0 ? expanded : args, path + "." + name, p)};
}

// dir_name, when known, is what the name field must say.
Bundle read_bundle(const YAML::Node& root, Shape shape, const std::optional<std::string>& dir_name, Problems& p) {
  Bundle b;
  Fields f(root, "", p);
  if (f.read("name", b.name, kRequired) && dir_name)
    f.check("name", b.name == *dir_name, "'" + b.name + "' does not match the directory name '" + *dir_name + "'");
  f.read("description", b.description);
  if (f.read("kind", b.kind, kRequired))
    f.check("kind", b.kind == "steps", "unknown bundle kind '" + b.kind + "' (known: steps)");
  std::vector<YAML::Node> steps;
  if (f.read("steps", steps, kRequired)) f.check("steps", !steps.empty(), "must have at least one step");
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (auto step = read_step(steps[i], fmt::format("steps[{}]", i), shape, p)) b.steps.push_back(std::move(*step));
  return b;
}

std::string directory_name(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "bundles/lint/" or "."
  return p.filename().string();
}

}  // namespace

json Bundle::to_json() const {
  json js = json::array();
  for (const Step& s : steps) js.push_back({{"kind", s.kind}, {"args", s.args}});
  return {{"name", name}, {"description", description}, {"kind", kind}, {"steps", js}};
}

Bundle Bundle::from_json(const json& j) {
  Problems p;
  Bundle b = read_bundle(to_yaml(j), Shape::stored, std::nullopt, p);
  p.throw_if_any();
  return b;
}

Bundle load_bundle(const fs::path& dir) {
  const fs::path file = dir / "bundle.yaml";
  YAML::Node root = parse_file(file);
  Problems p{file.string()};
  Bundle b = read_bundle(root, Shape::file, directory_name(dir), p);
  p.throw_if_any();
  return b;
}

std::string expand(std::string s, const std::string& agent, const std::string& target, unsigned attempt,
                   const std::string& answer) {
  // One left-to-right pass, so that text substituted in (an answer, say) is never expanded again.
  const std::pair<std::string_view, std::string> subs[] = {
      {"{agent}", agent}, {"{target}", target}, {"{attempt}", std::to_string(attempt)}, {"{answer}", answer}};
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    auto sub = std::ranges::find_if(subs, [&](const auto& kv) { return s.compare(i, kv.first.size(), kv.first) == 0; });
    if (sub == std::end(subs)) {
      out += s[i++];
    } else {
      out += sub->second;
      i += sub->first.size();
    }
  }
  return out;
}

}  // namespace remora
