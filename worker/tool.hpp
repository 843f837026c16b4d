// Tool: one function an agent's model may call. A tool sees the project only through its
// ToolContext (the agent's overlay); what it writes is staged there and committed by the kernel
// together with the call's result, so a tool's effects and its result land in one transaction.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora::worker {

// The agent's view of the workspace for one tool call: reads fall through the overlay (and see
// this call's staged writes); writes are staged until apply() commits them in the kernel's
// transaction. Keys are workspace keys (file:<path>, agent:<id>:kv:<k>, ...), values are framed
// records (proto::encode).
class ToolContext {
 public:
  using AskFn = std::function<std::string(const proto::Question&)>;  // blocks until answered
  ToolContext(Workspace& ws, Namespace overlay, std::string agent_id, std::string call_id,
              std::filesystem::path scratch_dir, AskFn ask);

  const std::string& agent_id() const { return agent_id_; }
  // Stable across restarts: "<agent>.t<turn>.c<index>" — a re-run call reuses its ids.
  const std::string& call_id() const { return call_id_; }
  // A private directory for this agent (command tools copy files here); created on demand.
  const std::filesystem::path& scratch_dir();

  std::optional<std::string> get(const std::string& key);  // also records a read (conflict check)
  // Visible keys under prefix with their values, in key order, staged writes included.
  std::vector<std::pair<std::string, std::string>> list(const std::string& prefix);
  // Visible keys under prefix, in key order, staged writes included; values are not kept and no
  // read is recorded (listings of a large project stay cheap).
  std::vector<std::string> keys(const std::string& prefix);
  void put(const std::string& key, std::string value);
  void del(const std::string& key);
  std::string ask(const proto::Question& q) { return ask_(q); }

  // Commits the staged writes and reads into t (the kernel calls this once per call).
  void apply(WriteTxn& t) const;
  // Keys this call wrote or deleted, in order of first touch.
  std::vector<std::string> touched() const;

 private:
  Workspace& ws_;
  Namespace ns_;
  std::string agent_id_, call_id_;
  std::filesystem::path scratch_;
  AskFn ask_;
  std::map<std::string, std::optional<std::string>> staged_;  // nullopt: deleted
  std::vector<std::string> order_;
  std::vector<std::string> reads_;
};

// What a call returns to the model. `content` becomes the tool message's text (a JSON string is
// used as is; anything else is dumped). ok=false marks an error the model can see and react to.
struct ToolResult {
  bool ok = true;
  nlohmann::json content;
  bool terminate = false;  // the termination tool: the loop ends after this call
  static ToolResult error(std::string message) { return {false, {{"error", std::move(message)}}, false}; }
};

// An OpenAI function tool: name, description and a JSON schema for the arguments.
struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::json parameters = nlohmann::json{{"type", "object"}, {"properties", nlohmann::json::object()}};
  nlohmann::json to_openai() const {
    return {{"type", "function"},
            {"function", {{"name", name}, {"description", description}, {"parameters", parameters}}}};
  }
};

// Refuses a call with a message the model can act on: run_tool_call (tool_registry.hpp) turns it
// into an error result.
[[noreturn]] inline void refuse(const std::string& message) { throw Error(Errc::invalid_argument, message); }

class Tool {
 public:
  virtual ~Tool() = default;
  virtual const ToolSpec& spec() const = 0;
  // Arguments are already validated against spec().parameters. Throwing is allowed: the kernel
  // turns any exception into an error result.
  virtual ToolResult call(const nlohmann::json& args, ToolContext& ctx) = 0;
};

}  // namespace remora::worker
