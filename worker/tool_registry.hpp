// The tools of one agent, made from its bundle, and the one way the kernel calls a tool: with its
// arguments checked against the tool's schema first, and every failure turned into an error
// result the model can read and act on, never an exception out of the loop.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shared/bundle.hpp"
#include "worker/tool.hpp"

namespace remora::worker {

// The built-ins bundle.tools names, then every command tool, each once. The termination tool is
// always among them (added when bundle.tools leaves it out). A name that is neither a built-in
// nor a command tool, or a command tool named like a built-in, is an Error(invalid_argument)
// naming it and listing the known tools.
std::vector<std::unique_ptr<Tool>> make_tools(const Bundle& bundle);

// Names of the built-in tools, sorted (for bundle validation).
std::vector<std::string> builtin_tool_names();

// Validates args against tool.spec().parameters (a result listing every problem when they do not
// fit), then calls the tool; an exception from the tool becomes an error result with its message.
ToolResult run_tool_call(Tool& tool, const nlohmann::json& args, ToolContext& ctx);

}  // namespace remora::worker
