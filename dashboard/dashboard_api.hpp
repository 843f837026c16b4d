// DashboardApi: what the dashboard's JSON routes do, each through the code the CLI commands use
// (run_status, question_answer, cancel_request, Review, Checkpoints): no second implementation.
// Bodies are JSON objects; errors are remora::Error, which the server maps to HTTP statuses.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "shared/workspace.hpp"

namespace remora {

class DashboardApi {
 public:
  DashboardApi(Workspace& ws, std::string workspace_dir) : ws_(ws), dir_(std::move(workspace_dir)) {}

  // The run (remora status --json), its pending questions, the graph's edges, the revision.
  nlohmann::json status() const;
  // One agent: its state, result, questions, conversation and events.
  nlohmann::json agent(const std::string& id) const;
  // Its changes with their unified diffs (remora diff --json).
  nlohmann::json diff(const std::string& id) const;
  nlohmann::json checkpoints() const;
  // The end of its worker's log (<workspace>/logs/<id>.log, every attempt's stderr), at most
  // kLogTailBytes, from a line's start: {"agent", "size", "truncated", "text"}. The id must be
  // one of the run's agents (404 otherwise): the path is built from the stored id, never the request.
  nlohmann::json log_tail(const std::string& id) const;
  static constexpr std::size_t kLogTailBytes = 64 * 1024;

  // {"question": ID, "answer": TEXT}
  nlohmann::json answer(const nlohmann::json& body);
  // {"agent": ID} or {"all": true}
  nlohmann::json cancel(const nlohmann::json& body);
  // {"agent": ID, "force": false}
  nlohmann::json accept(const nlohmann::json& body);
  // {"agent": ID}
  nlohmann::json reject(const nlohmann::json& body);
  // {"force": false}
  nlohmann::json undo(const nlohmann::json& body);
  // {"message": TEXT}
  nlohmann::json take_checkpoint(const nlohmann::json& body);

 private:
  Workspace& ws_;
  std::string dir_;
  std::mutex review_;  // the review lock is per process: one review route at a time
};

}  // namespace remora
