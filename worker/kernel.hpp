// Kernel: the tool-calling loop of an `agent` bundle, run inside remora-worker.
//
// Messages start as [system, user] (the bundle's prompts rendered over the agent's code node).
// Each turn commits a model request (outbox:model:<agent>.t<turn>) and sleeps until the
// supervisor's gateway commits the response (inbox:model:<id>); then it runs the reply's tool
// calls one by one. Every step is committed before anything acts on it: the request; each tool's
// effects together with its result message and the position of the next call (agent:<id>:kernel),
// the first call's with the assistant message (the response being committed already) and the last
// call's with the next request (on disk with the supervisor's next synced commit: see
// worker_durability). A worker killed anywhere and started again continues from the
// last commit, and never asks for a turn twice: a request that already has a response is answered
// from the workspace. The loop ends on the termination tool, on a reply without tool calls, or at
// max_turns (a failure); the result goes to agent:<id>:result.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "proto/records.hpp"
#include "shared/bundle.hpp"
#include "shared/template.hpp"
#include "shared/workspace.hpp"
#include "worker/tool.hpp"
#include "worker/tool_calls.hpp"

namespace remora::worker {

class Kernel {
 public:
  Kernel(Workspace& ws, const proto::AgentState& agent, Bundle bundle, std::vector<std::unique_ptr<Tool>> tools,
         std::filesystem::path scratch_dir);
  // Runs from the committed position to the end; returns the worker's exit code.
  int run();

 private:
  void start();
  void request_turn();
  // The next turn's request (its key and record), with next moved to that turn.
  std::pair<std::string, std::string> next_request(proto::KernelState& next) const;
  void take_response();
  // Runs one tool call and commits its effects and result; after the reply's last call, with the
  // next turn's request.
  void run_call(const ToolCall& call, std::size_t index, bool last);
  int finish(const std::string& status, const std::string& summary, const std::string& error);
  // Commits fn's writes together with the records held back (held_), in one transaction; with
  // writes_state, fn writes a newer kernel state than the one held, which is then left out.
  void commit(const std::function<void(WriteTxn&)>& fn, bool writes_state = false);
  static std::string message_record(const nlohmann::json& message);
  const nlohmann::json& last_message() const;
  const std::vector<ToolCall>& calls_of(std::size_t message_index);
  Tool* tool_named(const std::string& name) const;

  Workspace& ws_;
  proto::AgentState agent_;
  Bundle bundle_;
  std::vector<std::unique_ptr<Tool>> tools_;
  std::filesystem::path scratch_;
  Namespace ns_;
  proto::KernelState st_;
  std::vector<nlohmann::json> messages_;  // the conversation, as committed
  std::vector<ToolCall> calls_;           // the tool calls of messages_[calls_for_]
  std::size_t calls_for_ = static_cast<std::size_t>(-1);
  // Records taken but not yet committed (the assistant message and its state, once its reply is
  // taken): the next commit carries them.
  std::vector<std::pair<std::string, std::string>> held_;
};

}  // namespace remora::worker
