// DashboardServer: `remora serve`, the dashboard of one workspace over HTTP. It serves the page
// (embedded in the binary), a JSON API (dashboard_api.hpp) and the event log as Server-Sent Events,
// all behind an AccessGuard. Requests run on a small fixed pool of threads; an event stream, once
// its request is checked, leaves the pool for the SseWriter's one thread. It is one more client of the workspace, like `remora events` or
// `remora answer`: it works while a supervisor runs, after it ended, and across resumes.
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <memory>
#include <string>
#include <thread>

#include "dashboard/access_guard.hpp"
#include "dashboard/dashboard_api.hpp"
#include "dashboard/event_hub.hpp"
#include "dashboard/sse_writer.hpp"
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
  // `remora serve`: the server opens the workspace with `open`, and can close it to restore a
  // checkpoint (POST /api/restore) and open it again.
  DashboardServer(std::function<std::unique_ptr<Workspace>()> open, ServeOptions options);
  // `remora run --serve`: the run's own workspace, which the run's supervisor holds: a restore
  // from the page is refused (409).
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
  DashboardServer(Workspace* ws, std::function<std::unique_ptr<Workspace>()> open, ServeOptions options);
  void add_routes();
  void attach();  // the hub, the writer and the API, on ws_
  void stream_events(const httplib::Request& req, httplib::Response& res);
  nlohmann::json restore(const std::string& checkpoint);

  // Every route uses the workspace under a shared lock; a restore takes it exclusively, closes
  // the workspace (and the hub and streams on it), restores, and opens it again.
  std::shared_mutex swap_;
  Workspace* ws_ = nullptr;
  std::unique_ptr<Workspace> owned_;                       // `remora serve`'s own
  std::function<std::unique_ptr<Workspace>()> open_;       // empty beside a run
  std::shared_ptr<DashboardApi> api_;
  ServeOptions options_;
  httplib::Server server_;
  int port_ = 0;
  std::unique_ptr<AccessGuard> guard_;
  std::unique_ptr<EventHub> hub_;
  std::unique_ptr<SseWriter> writer_;  // every event stream, from one thread
  std::atomic<bool> stopping_{false};
  std::atomic<bool> serving_{false};
};

// The page (dashboard/page.html), embedded at build time.
extern const char kDashboardPage[];
extern const std::size_t kDashboardPageSize;

}  // namespace remora
