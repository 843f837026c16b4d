#include "shared/bundle.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "shared/bundle_tools.hpp"
#include "shared/error.hpp"
#include "shared/json_schema.hpp"
#include "shared/template.hpp"
#include "shared/yaml_fields.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using namespace yaml_fields;

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
    // A hostile action of the test worker (tests/hostile/), which knows the actions and which
    // arguments each needs; the remora-worker users run fails the agent.
    arg<std::string>(f, args, "action", kRequired);
    if (auto target = arg<std::string>(f, args, "path"))
      f.check("path", fs::path(*target).is_absolute(), "'" + *target + "' is not an absolute path");
    if (auto port = arg<std::uint32_t>(f, args, "port", at_least(1))) f.check("port", *port <= 65535, "must be <= 65535");
    arg<std::uint32_t>(f, args, "mb", at_least(1));
    arg<std::string>(f, args, "name");
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

// Placeholders of prompts (the node and the agent) and of scripted replies (those and the
// conversation so far).
const std::set<std::string, std::less<>> kPromptVars = {"agent", "target", "id", "path", "name", "qualified_name",
                                                        "type", "language", "code", "start_line", "end_line",
                                                        "params", "doc"};
std::set<std::string, std::less<>> script_vars() {
  auto v = kPromptVars;
  v.insert({"last_result", "last_result.", "turn"});
  return v;
}
const std::set<std::string> kProviders = {"scripted", "openai"};

void check_template(Fields& f, const std::string& key, const std::string& text,
                    const std::set<std::string, std::less<>>& names) {
  if (auto problem = template_problem(text, names)) f.check(key, false, *problem);
}

void check_templates(const json& value, const std::string& path, const std::set<std::string, std::less<>>& names,
                     Problems& p) {
  if (value.is_string()) {
    if (auto problem = template_problem(value.get<std::string>(), names)) p.add(path, *problem);
  } else if (value.is_object()) {
    for (const auto& [k, v] : value.items()) check_templates(v, path + "." + k, names, p);
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) check_templates(value[i], fmt::format("{}[{}]", path, i), names, p);
  }
}

void read_model(const YAML::Node& node, const std::string& path, ModelSettings& m, Problems& p) {
  Fields f(node, path, p);
  if (f.read("provider", m.provider))
    f.check("provider", kProviders.contains(m.provider),
            fmt::format("unknown provider '{}' (known: {})", m.provider, fmt::join(kProviders, ", ")));
  f.read("model", m.model, m.provider == "openai" ? kRequired : Rule{});
  f.read("temperature", m.temperature, at_least(0));
  f.read("max_tokens", m.max_tokens, at_least(1));
  f.read("base_url", m.base_url);
  f.check("base_url", m.base_url.starts_with("http://") || m.base_url.starts_with("https://"),
          "'" + m.base_url + "' is not an http:// or https:// URL");
  f.read("api_key_env", m.api_key_env);
  f.read("timeout", m.timeout_s, above(0));
  f.read("retries", m.retries);
  f.read("concurrency", m.concurrency, at_least(1));
  f.read("max_reply_mb", m.max_reply_mb, at_least(1));
  if (f.read("max_json_depth", m.max_json_depth, at_least(1)))
    f.check("max_json_depth", m.max_json_depth <= kMaxModelJsonDepth,
            fmt::format("must be <= {}", kMaxModelJsonDepth));
}

void read_command_tool(const YAML::Node& node, const std::string& path, CommandToolSpec& c, Problems& p) {
  Fields f(node, path, p);
  f.read("name", c.name, kRequired);
  f.read("description", c.description);
  c.parameters = yaml_fields::to_json(f.node("parameters"));
  if (c.parameters.is_null()) c.parameters = {{"type", "object"}, {"properties", json::object()}};
  for (const auto& problem : json_schema::check_schema(c.parameters, f.at("parameters"))) p.add("", problem);
  if (c.parameters.is_object() && c.parameters.value("type", json()) != "object")
    p.add(f.at("parameters") + ".type", "must be \"object\": arguments are named");
  if (f.read("command", c.command, kRequired)) f.check("command", !c.command.empty(), "must not be empty");
  std::set<std::string, std::less<>> args;
  if (c.parameters.contains("properties") && c.parameters["properties"].is_object())
    for (const auto& [k, v] : c.parameters["properties"].items()) args.insert(k);
  args.insert("bundle_dir");
  for (std::size_t i = 0; i < c.command.size(); ++i)
    if (auto problem = template_problem(c.command[i], args)) p.add(fmt::format("{}.command[{}]", path, i), *problem);
  if (!f.read("files", c.files) && args.contains("path")) c.files = {"path"};
  for (const auto& file : c.files)
    f.check("files", args.contains(file), "'" + file + "' is not one of the tool's parameters");
  f.read("timeout", c.timeout_s, above(0));
}

// node_types and when: which discovered nodes a bundle of either kind applies to.
void read_applies(Fields& f, Bundle& b) {
  f.read("node_types", b.node_types);
  b.when = yaml_fields::to_json(f.node("when"));
  if (b.when.is_null()) b.when = json::object();
  f.check("when", b.when.is_object(), "expected a map of node fields to values");
}

void read_agent(Fields& f, Bundle& b, Shape shape, Problems& p) {
  if (f.read("system_prompt", b.system_prompt, kRequired)) check_template(f, "system_prompt", b.system_prompt, kPromptVars);
  if (f.read("user_prompt", b.user_prompt, kRequired)) check_template(f, "user_prompt", b.user_prompt, kPromptVars);
  read_model(f.node("model"), f.at("model"), b.model, p);
  f.read("max_turns", b.max_turns, at_least(1));
  f.read("termination_tool", b.termination_tool);
  std::vector<YAML::Node> commands;
  f.read("command_tools", commands);
  std::set<std::string> names;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    CommandToolSpec c;
    read_command_tool(commands[i], fmt::format("command_tools[{}]", i), c, p);
    if (!c.name.empty() && !names.insert(c.name).second)
      p.add(fmt::format("command_tools[{}].name", i), "duplicate tool '" + c.name + "'");
    b.command_tools.push_back(std::move(c));
  }
  if (f.read("tools", b.tools, kRequired)) {
    for (const auto& t : b.tools) {
      bool known = std::ranges::count(kBuiltinTools, t) > 0 || names.contains(t);
      f.check("tools", known,
              fmt::format("unknown tool '{}' (built in: {}; or declare it under command_tools)", t,
                          fmt::join(kBuiltinTools, ", ")));
    }
    f.check("termination_tool", std::ranges::count(b.tools, b.termination_tool) > 0,
            "'" + b.termination_tool + "' is not among the bundle's tools");
  }
  for (const auto& c : b.command_tools)
    if (!c.name.empty() && std::ranges::count(b.tools, c.name) == 0 && std::ranges::count(kBuiltinTools, c.name) > 0)
      p.add("command_tools", "'" + c.name + "' is the name of a built-in tool");

  std::vector<YAML::Node> turns;
  f.read("script", turns);
  const auto vars = script_vars();
  for (std::size_t i = 0; i < turns.size(); ++i) {
    const std::string path = fmt::format("script[{}]", i);
    Fields t(turns[i], path, p);
    ScriptedTurn turn;
    t.read("content", turn.content);
    if (auto problem = template_problem(turn.content, vars)) p.add(t.at("content"), *problem);
    std::vector<YAML::Node> calls;
    t.read("tool_calls", calls);
    for (std::size_t k = 0; k < calls.size(); ++k) {
      const std::string cpath = fmt::format("{}.tool_calls[{}]", path, k);
      Fields c(calls[k], cpath, p);
      std::string name;
      if (c.read("name", name, kRequired))
        c.check("name", std::ranges::count(b.tools, name) > 0, "'" + name + "' is not among the bundle's tools");
      json args = yaml_fields::to_json(c.node("arguments"));
      if (args.is_null()) args = json::object();
      c.check("arguments", args.is_object(), "expected a map");
      check_templates(args, c.at("arguments"), vars, p);
      turn.tool_calls.push_back({{"name", name}, {"arguments", args}});
    }
    if (turn.content.empty() && turn.tool_calls.empty()) t.check("content", false, "a turn needs content or tool_calls");
    b.script.push_back(std::move(turn));
  }
  json resources = yaml_fields::to_json(f.node("resources"));  // stored bundles only
  if (resources.is_object())
    for (const auto& [name, text] : resources.items())
      if (text.is_string()) b.resources[name] = text.get<std::string>();
  if (b.model.provider == "scripted" && b.script.empty())
    f.check("script", false, "required for the scripted provider (the replies it gives, in order)");
  (void)shape;
}

// dir_name, when known, is what the name field must say.
Bundle read_bundle(const YAML::Node& root, Shape shape, const std::optional<std::string>& dir_name, Problems& p) {
  Bundle b;
  Fields f(root, "", p);
  if (f.read("name", b.name, kRequired) && dir_name)
    f.check("name", b.name == *dir_name, "'" + b.name + "' does not match the directory name '" + *dir_name + "'");
  f.read("description", b.description);
  if (f.read("kind", b.kind) &&
      !f.check("kind", b.kind == "steps" || b.kind == "agent", "unknown bundle kind '" + b.kind + "' (known: agent, steps)")) {
    if (root.IsMap())
      for (const auto& kv : root) f.node(kv.first.Scalar());  // not worth reporting as unknown
    return b;
  }
  if (!root.IsMap()) return b;
  read_applies(f, b);
  if (b.kind == "steps") {
    std::vector<YAML::Node> steps;
    if (f.read("steps", steps, kRequired)) f.check("steps", !steps.empty(), "must have at least one step");
    for (std::size_t i = 0; i < steps.size(); ++i)
      if (auto step = read_step(steps[i], fmt::format("steps[{}]", i), shape, p)) b.steps.push_back(std::move(*step));
  } else if (b.kind == "agent") {
    read_agent(f, b, shape, p);
  }
  return b;
}

std::string directory_name(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "bundles/lint/" or "."
  return p.filename().string();
}

}  // namespace

json Bundle::to_json() const {
  json j = {{"name", name}, {"description", description}, {"kind", kind}, {"node_types", node_types}, {"when", when}};
  if (kind == "steps") {
    json js = json::array();
    for (const Step& s : steps) js.push_back({{"kind", s.kind}, {"args", s.args}});
    j["steps"] = js;
    return j;
  }
  json commands = json::array();
  for (const auto& c : command_tools)
    commands.push_back({{"name", c.name}, {"description", c.description}, {"parameters", c.parameters},
                        {"command", c.command}, {"files", c.files}, {"timeout", c.timeout_s}});
  json turns = json::array();
  for (const auto& t : script) turns.push_back({{"content", t.content}, {"tool_calls", t.tool_calls}});
  j.update({{"system_prompt", system_prompt},
            {"user_prompt", user_prompt},
            {"model",
             {{"provider", model.provider}, {"model", model.model}, {"temperature", model.temperature},
              {"max_tokens", model.max_tokens}, {"base_url", model.base_url}, {"api_key_env", model.api_key_env},
              {"timeout", model.timeout_s}, {"retries", model.retries}, {"concurrency", model.concurrency},
              {"max_reply_mb", model.max_reply_mb}, {"max_json_depth", model.max_json_depth}}},
            {"max_turns", max_turns},
            {"tools", tools},
            {"command_tools", commands},
            {"termination_tool", termination_tool},
            {"script", turns},
            {"resources", resources}});
  return j;
}

bool Bundle::applies_to(const json& node) const {
  if (!node_types.empty() && std::ranges::count(node_types, node.value("type", std::string())) == 0) return false;
  for (const auto& [field, value] : when.items())
    if (!node.contains(field) || node[field] != value) return false;
  return true;
}

Bundle Bundle::from_json(const json& j) {
  Problems p;
  Bundle b = read_bundle(yaml_fields::to_yaml(j), Shape::stored, std::nullopt, p);
  p.throw_if_any();
  return b;
}

Bundle load_bundle(const fs::path& dir) {
  const fs::path file = dir / "bundle.yaml";
  YAML::Node root = parse_file(file, Links::refuse);
  Problems p{file.string()};
  Bundle b = read_bundle(root, Shape::file, directory_name(dir), p);
  if (root.IsMap() && root["resources"]) p.add("resources", "unknown field (put the files in the bundle's tools/ directory)");
  std::vector<std::string> tool_problems;
  b.resources = read_bundle_tools(dir, tool_problems);
  for (const auto& problem : tool_problems) p.add("", problem);
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
