#include "worker/tool_registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "shared/error.hpp"
#include "shared/json_schema.hpp"
#include "worker/builtin_tools.hpp"
#include "worker/command_tool.hpp"

namespace remora::worker {

std::vector<std::unique_ptr<Tool>> make_tools(const Bundle& bundle) {
  Tools builtins = builtin_tools();
  const auto builtin_names = builtin_tool_names();
  auto known = [&] {
    std::vector<std::string> names = builtin_names;
    for (const auto& c : bundle.command_tools) names.push_back(c.name);
    return fmt::format("{}", fmt::join(names, ", "));
  };
  auto is_command = [&](const std::string& name) {
    return std::ranges::any_of(bundle.command_tools, [&](const CommandToolSpec& c) { return c.name == name; });
  };
  auto builtin = [&](const std::string& name) {
    return std::ranges::find_if(builtins, [&](const auto& t) { return t && t->spec().name == name; });
  };

  std::vector<std::string> wanted = bundle.tools;
  wanted.push_back(bundle.termination_tool);
  Tools out;
  for (const auto& name : wanted) {
    if (auto it = builtin(name); it != builtins.end()) {
      out.push_back(std::move(*it));  // moved out: a name listed twice is made once
    } else if (!is_command(name) && std::ranges::none_of(out, [&](const auto& t) { return t->spec().name == name; })) {
      throw Error(Errc::invalid_argument,
                  fmt::format("bundle '{}': unknown tool '{}' (known: {})", bundle.name, name, known()));
    }
  }
  for (const auto& c : bundle.command_tools) {
    if (std::ranges::count(builtin_names, c.name) > 0)
      throw Error(Errc::invalid_argument,
                  fmt::format("bundle '{}': command tool '{}' has the name of a built-in tool", bundle.name, c.name));
    out.push_back(std::make_unique<CommandTool>(c, bundle.resources));
  }
  return out;
}

std::vector<std::string> builtin_tool_names() {
  std::vector<std::string> names;
  for (const auto& t : builtin_tools()) names.push_back(t->spec().name);
  return names;
}

ToolResult run_tool_call(Tool& tool, const nlohmann::json& args, ToolContext& ctx) {
  const auto& name = tool.spec().name;
  auto problems = json_schema::validate(tool.spec().parameters, args);
  if (!problems.empty())
    return ToolResult::error(fmt::format("invalid arguments for {}:\n{}", name, fmt::join(problems, "\n")));
  try {
    return tool.call(args, ctx);
  } catch (const Error& e) {
    return ToolResult::error(e.what());
  } catch (const std::exception& e) {
    return ToolResult::error(fmt::format("{} failed: {}", name, e.what()));
  }
}

}  // namespace remora::worker
