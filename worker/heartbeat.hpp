// Heartbeat: a thread that commits agent:<id>:heartbeat into the agent's overlay every interval,
// so that the supervisor can tell a hung worker from a busy one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "shared/workspace.hpp"

namespace remora::worker {

class Heartbeat {
 public:
  Heartbeat(Workspace& ws, Namespace ns, std::string agent_id, std::chrono::milliseconds interval);
  ~Heartbeat();  // stops
  void stop();

 private:
  void loop();
  Workspace& ws_;
  Namespace ns_;
  std::string agent_id_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace remora::worker
