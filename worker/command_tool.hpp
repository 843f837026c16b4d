// CommandTool: a tool a bundle declares to run a program (a linter, a formatter) over the agent's
// view of some files. The files named by the arguments listed in `files` are copied (the
// overlay's bytes and mode) into a fresh private directory under the agent's scratch directory,
// at their project paths; the program runs there (the cwd) with its argv expanded from the
// call's arguments; then each of those files is read back and the ones the program changed,
// created or deleted are staged into the overlay. Files the program writes anywhere else are
// ignored, and so is a named file it left as anything but a regular file (a symlink, say).
//
// Templates. Each element of `command` is one argument of the program, never split and never
// passed to a shell (unless the bundle's argv itself is `sh -c ...`). In it, {name} (a letter or
// '_' then letters, digits, '_') is replaced by the call's argument `name` in one pass (a
// substituted value is never expanded again); {{ and }} stand for { and }, and braces around
// anything else are kept as they are. A file argument expands to its normalized project path,
// which is also its path relative to the program's cwd.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "shared/bundle.hpp"
#include "worker/bounded_process.hpp"
#include "worker/tool.hpp"

namespace remora::worker {

class CommandTool : public Tool {
 public:
  // spec must pass check_command_template.
  // resources: the bundle's tools/ files, copied beside the files and named by {bundle_dir}.
  explicit CommandTool(CommandToolSpec spec, std::map<std::string, std::string> resources = {},
                       std::size_t max_output = ProcessLimits{}.max_output);
  const ToolSpec& spec() const override { return tool_spec_; }
  // Content: {exit_code | signal, stdout, stderr, changed_files}; an error result when the
  // program ran out of time (with what it printed) or could not start.
  ToolResult call(const nlohmann::json& args, ToolContext& ctx) override;

 private:
  CommandToolSpec spec_;
  ToolSpec tool_spec_;
  std::map<std::string, std::string> resources_;
  std::size_t max_output_;
};

// What is wrong with a command tool's declaration, each "<field>: <what>" relative to the spec
// (the bundle loader puts "command_tools[i]." in front): its name, its parameters schema (which
// must describe an object), its files (string properties), its command (a program that is not a
// placeholder; placeholders that name scalar properties, required or with a default) and its
// timeout.
std::vector<std::string> check_command_template(const CommandToolSpec& spec);

}  // namespace remora::worker
