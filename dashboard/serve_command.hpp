// `remora serve` and `remora run --serve`: the dashboard of a workspace, from the command line.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "shared/workspace.hpp"

namespace remora {

class DashboardServer;

struct ServeFlags {
  std::string listen = "127.0.0.1:8600";  // HOST:PORT; port 0 takes any free one
  bool allow_remote = false;              // listen on an address that is not loopback
};

// remora serve: serves the workspace in dir until SIGINT or SIGTERM. Prints the URL (with its
// token) on stdout, once.
int cmd_serve(const std::string& dir, const ServeFlags& flags);

// The dashboard beside a run in this process (remora run --serve), on the run's workspace: serves
// from a thread from construction, prints its URL on stderr, stops when destroyed.
class BackgroundDashboard {
 public:
  BackgroundDashboard(Workspace& ws, const std::string& dir, const ServeFlags& flags);
  ~BackgroundDashboard();

 private:
  std::unique_ptr<DashboardServer> server_;
  std::thread thread_;
};

}  // namespace remora
