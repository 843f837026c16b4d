// DashboardServer: `remora serve`, the dashboard of one workspace over HTTP. It serves the page
// (embedded in the binary), a JSON API (api_routes.hpp) and the event log as Server-Sent Events,
// all behind an AccessGuard. It is one more client of the workspace, like `remora events` or
// `remora answer`: it works while a supervisor runs, after it ended, and across resumes.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "dashboard/access_guard.hpp"
#include "dashboard/event_hub.hpp"
#include "shared/workspace.hpp"

namespace remora {

struct ServeOptions {
  std::string workspace_dir;
  std::string host = "127.0.0.1";
  int port = 8600;                     // 0: any free port (url() then names the one taken)
  std::size_t queue_limit = 4096;      // events queued per SSE client before drops
  std::size_t max_streams = 100;       // SSE clients at once; more get 503
  std::size_t max_body_bytes = 64 * 1024;
};

class DashboardServer {
 public:
  // Binds the address; Error(busy) when it is taken.
  DashboardServer(Workspace& ws, ServeOptions options);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  int port() const { return port_; }
  // http://HOST:PORT/?token=TOKEN: the link to print, once.
  std::string url() const;

  void serve();  // until stop()
  void stop();   // from any thread (or a signal handler's thread)

 private:
  void add_routes();
  void stream_events(const httplib::Request& req, httplib::Response& res);

  Workspace& ws_;
  ServeOptions options_;
  httplib::Server server_;
  int port_ = 0;
  std::unique_ptr<AccessGuard> guard_;
  std::unique_ptr<EventHub> hub_;
  std::atomic<std::size_t> streams_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> serving_{false};
};

// The page (dashboard/page.html), embedded at build time.
extern const char kDashboardPage[];
extern const std::size_t kDashboardPageSize;

}  // namespace remora
