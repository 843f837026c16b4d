// The built-in tools an agent bundle may name, in three groups: files (file_tools.cpp), search
// (search_tools.cpp) and the agent's own channels: the human, other agents, its key-value store
// and its result (agent_tools.cpp). All of them work on the agent's overlay through ToolContext.
//
// Output goes into model prompts, so it is compact and deterministic: file text as is, listings
// and matches one per line in path order, every cut-off announced with how to see the rest.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "worker/tool.hpp"

namespace remora::worker {

// A tool made of its spec and a function: what every built-in is.
class FunctionTool : public Tool {
 public:
  using Fn = std::function<ToolResult(const nlohmann::json& args, ToolContext& ctx)>;
  // parameters: the JSON schema of the arguments, as JSON text.
  FunctionTool(std::string name, std::string description, std::string_view parameters, Fn fn);
  const ToolSpec& spec() const override { return spec_; }
  ToolResult call(const nlohmann::json& args, ToolContext& ctx) override { return fn_(args, ctx); }

 private:
  ToolSpec spec_;
  Fn fn_;
};

using Tools = std::vector<std::unique_ptr<Tool>>;

// read_file, write_file, edit_file, delete_file, list_files
Tools file_tools();

// How much one search may cost and print.
struct SearchLimits {
  std::size_t max_results = 100;       // default for search_content's max_results
  std::size_t max_results_cap = 1000;  // the most a call may ask for
  std::size_t max_bytes = 32 * 1024;   // of printed output
  std::size_t max_line_chars = 200;    // a matching line is cut after this many bytes
  std::size_t max_files = 500;         // search_files results
  std::chrono::milliseconds budget{2000};  // per search_content call, checked between files
};
// search_files, search_content
Tools search_tools(const SearchLimits& limits = {});

// ask_user, send_message, get_messages, kv_get, kv_put, submit_result
Tools agent_tools();

// Every built-in tool, sorted by name.
Tools builtin_tools();

}  // namespace remora::worker
