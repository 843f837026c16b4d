#include "dashboard/dashboard_server.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dashboard/dashboard_api.hpp"
#include "shared/bounded_json.hpp"
#include "supervisor/event_format.hpp"
#include "review/review.hpp"
#include "shared/checkpoint.hpp"
#include "supervisor/checkpoint_commands.hpp"
#include "supervisor/run_lock.hpp"

namespace remora {

using nlohmann::json;

namespace {

constexpr auto kKeepAlive = std::chrono::seconds(15);
// Requests at once: event streams leave the pool for the SseWriter, so a few threads serve the
// page and the API; an idle keep-alive connection gives its thread back after kIdleSeconds.
constexpr std::size_t kThreads = 8;
constexpr time_t kIdleSeconds = 2;

int http_status(Errc c) {
  switch (c) {
    case Errc::not_found: return 404;
    case Errc::invalid_argument: return 400;
    case Errc::conflict:
    case Errc::already_exists:
    case Errc::compacted: return 409;
    case Errc::busy: return 503;
    default: return 500;
  }
}

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message, json extra = json::object()) {
  extra["error"] = message;
  send_json(res, status, extra);
}

}  // namespace

DashboardServer::DashboardServer(std::function<std::unique_ptr<Workspace>()> open, ServeOptions options)
    : DashboardServer(nullptr, std::move(open), std::move(options)) {}

DashboardServer::DashboardServer(Workspace& ws, ServeOptions options) : DashboardServer(&ws, nullptr, std::move(options)) {}

DashboardServer::DashboardServer(Workspace* ws, std::function<std::unique_ptr<Workspace>()> open, ServeOptions options)
    : ws_(ws), open_(std::move(open)), options_(std::move(options)) {
  if (!ws_) {
    owned_ = open_();
    ws_ = owned_.get();
  }
  server_.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  server_.set_payload_max_length(options_.max_body_bytes);
  server_.set_keep_alive_max_count(1000);
  server_.set_keep_alive_timeout(kIdleSeconds);
  if (options_.port == 0) {
    port_ = server_.bind_to_any_port(options_.host);
    if (port_ < 0) throw Error(Errc::busy, "cannot listen on " + options_.host + " (any port)");
  } else {
    if (!server_.bind_to_port(options_.host, options_.port))
      throw Error(Errc::busy, fmt::format("cannot listen on {}:{}: the address is taken or not this machine's",
                                          options_.host, options_.port));
    port_ = options_.port;
  }
  const bool v6 = options_.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + options_.host + "]" : options_.host;
  std::vector<std::string> hosts{fmt::format("{}:{}", host, port_), fmt::format("localhost:{}", port_)};
  if (host != "127.0.0.1") hosts.push_back(fmt::format("127.0.0.1:{}", port_));
  guard_ = std::make_unique<AccessGuard>(std::move(hosts));
  attach();
  add_routes();
}

void DashboardServer::attach() {
  hub_ = std::make_unique<EventHub>(*ws_, options_.queue_limit);
  writer_ = std::make_unique<SseWriter>(*hub_, kKeepAlive, options_.max_streams);
  api_ = std::make_shared<DashboardApi>(*ws_, options_.workspace_dir);
}

DashboardServer::~DashboardServer() {
  stop();
  writer_.reset();
  hub_.reset();
}

std::string DashboardServer::url() const {
  const bool v6 = options_.host.find(':') != std::string::npos;
  return fmt::format("http://{}:{}/?token={}", v6 ? "[" + options_.host + "]" : options_.host, port_, guard_->token());
}

void DashboardServer::serve() {
  serving_ = true;
  if (!stopping_) server_.listen_after_bind();
  serving_ = false;
}

void DashboardServer::stop() {
  stopping_ = true;
  {
    std::shared_lock lock(swap_);
    if (hub_) hub_->close();
    if (writer_) writer_->close();
  }
  // httplib's stop() does nothing before its loop runs: wait for the loop of a serve() under way.
  while (serving_ && !server_.is_running()) std::this_thread::yield();
  server_.stop();
}

void DashboardServer::add_routes() {
  // Every route: a Host of ours; the API and the stream: the token; changes: POST, JSON, Origin.
  server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    if (!guard_->host_allowed(req)) {
      send_error(res, 403, "this server does not answer to host '" + req.get_header_value("Host") + "'");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path == "/") return httplib::Server::HandlerResponse::Unhandled;
    if (!guard_->authenticated(req)) {
      send_error(res, 401, "open the link remora serve printed (it carries the access token)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "POST") {
      if (!guard_->origin_allowed(req)) {
        send_error(res, 403, "a change must come from this dashboard's own page (Origin '" +
                                 req.get_header_value("Origin") + "')");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
        send_error(res, 415, "send the request as application/json");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  server_.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    if (guard_->token_in_query(req)) {
      // The link's token becomes the cookie, and the address bar loses it.
      res.set_header("Set-Cookie", guard_->cookie());
      res.set_redirect("/", 303);
      return;
    }
    if (!guard_->authenticated(req)) {
      res.status = 401;
      res.set_content("remora dashboard: open the link remora serve printed (it carries the access token)\n",
                      "text/plain");
      return;
    }
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set_content(std::string(kDashboardPage, kDashboardPageSize), "text/html; charset=utf-8");
  });

  using Read = json (DashboardApi::*)(const std::string&) const;
  using Mutation = json (DashboardApi::*)(const json&);
  auto run = [this](httplib::Response& res, const std::function<json()>& fn) {
    try {
      std::shared_lock lock(swap_);
      if (!api_) throw Error(Errc::io, "the workspace could not be opened again after a restore: restart remora serve");
      send_json(res, 200, fn());
    } catch (const StaleBase& e) {
      json files = json::array();
      for (const auto& f : e.files()) files.push_back({{"path", f.path}, {"why", f.why}});
      send_error(res, 409, e.what(), {{"stale", files}});
    } catch (const Error& e) {
      send_error(res, http_status(e.code()), e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, e.what());
    }
  };
  server_.Get("/api/status", [this, run](const httplib::Request&, httplib::Response& res) {
    run(res, [&] { return api_->status(); });
  });
  server_.Get("/api/checkpoints", [this, run](const httplib::Request&, httplib::Response& res) {
    run(res, [&] { return api_->checkpoints(); });
  });
  for (auto [path, fn] : {std::pair<const char*, Read>{"/api/agent", &DashboardApi::agent},
                          std::pair<const char*, Read>{"/api/diff", &DashboardApi::diff},
                          std::pair<const char*, Read>{"/api/log", &DashboardApi::log_tail}}) {
    server_.Get(path, [this, run, fn = fn](const httplib::Request& req, httplib::Response& res) {
      run(res, [&] {
        if (!req.has_param("id")) throw Error(Errc::invalid_argument, "name the agent: ?id=AGENT");
        return ((*api_).*fn)(req.get_param_value("id"));
      });
    });
  }
  for (auto [path, fn] : {std::pair<const char*, Mutation>{"/api/answer", &DashboardApi::answer},
                          {"/api/cancel", &DashboardApi::cancel},
                          {"/api/accept", &DashboardApi::accept},
                          {"/api/reject", &DashboardApi::reject},
                          {"/api/undo", &DashboardApi::undo},
                          {"/api/checkpoints", &DashboardApi::take_checkpoint}}) {
    server_.Post(path, [this, run, fn = fn](const httplib::Request& req, httplib::Response& res) {
      run(res, [&] {
        auto body = parse_bounded(req.body.empty() ? "{}" : req.body, "the request body", JsonLimits{16, 64 * 1024});
        return ((*api_).*fn)(body);
      });
    });
  }
  // Restore needs the workspace to itself: not under `run`'s shared lock, but exclusively.
  server_.Post("/api/restore", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      auto body = parse_bounded(req.body.empty() ? "{}" : req.body, "the request body", JsonLimits{16, 64 * 1024});
      auto it = body.is_object() ? body.find("checkpoint") : body.end();
      if (it == body.end() || !it->is_string()) throw Error(Errc::invalid_argument, "name the checkpoint: {\"checkpoint\": ID}");
      send_json(res, 200, restore(it->get<std::string>()));
    } catch (const Error& e) {
      send_error(res, http_status(e.code()), e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, e.what());
    }
  });
  server_.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) { stream_events(req, res); });
}

// GET /api/events: the event log from after Last-Event-ID (or ?after=), then live. A client
// whose position is older than the change log reaches gets `event: compacted` first (its view
// may have missed events of a run started over: reload the status); one whose queue overflowed
// gets `event: dropped` with the count (reconnect to replay from the records).
//
// The response is not written by cpp-httplib: the connection's socket goes to the SseWriter,
// which writes the head, the replay and then the live events (until the peer leaves; no
// Content-Length, `Connection: close`). The socket httplib holds is swapped for an unconnected
// one, so its own attempt to answer fails and closes that, not the stream.
void DashboardServer::stream_events(const httplib::Request& req, httplib::Response& res) {
  std::shared_lock lock(swap_);
  if (!writer_) return send_error(res, 500, "the workspace could not be opened again after a restore: restart remora serve");
  std::optional<EventPosition> after;
  const std::string last = req.has_header("Last-Event-ID") ? req.get_header_value("Last-Event-ID")
                           : req.has_param("after")         ? req.get_param_value("after")
                                                            : "";
  if (!last.empty()) {
    after = EventPosition::parse(last);
    if (!after) return send_error(res, 400, "Last-Event-ID '" + last + "' is not an event id");
  }
  if (!writer_->reserve())
    return send_error(res, 503, fmt::format("already {} event streams open", options_.max_streams));
  const int held = connection_socket(req.remote_addr, req.remote_port, req.local_port);
  const int fd = held < 0 ? -1 : ::fcntl(held, F_DUPFD_CLOEXEC, 0);
  const int blank = fd < 0 ? -1 : ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (blank < 0 || ::dup2(blank, held) < 0) {
    if (fd >= 0) ::close(fd);
    if (blank >= 0) ::close(blank);
    writer_->release();
    return send_error(res, 500, "the event stream could not take its connection");
  }
  ::close(blank);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto sub = hub_->subscribe();
  // The replay: the records after the client's position up to where the queue takes over.
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
      "X-Accel-Buffering: no\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
      "Connection: close\r\n\r\nretry: 1000\n\n";
  if (after && after->revision + 1 < ws_->log_start()) {
    head += sse_notice("compacted", {{"last_event_id", last}, {"log_start", ws_->log_start()}});
  } else if (after && ws_->revision() < after->revision) {
    // A position the log has not reached: the workspace was restored to an earlier checkpoint
    // since. The client reloads, and gets the whole log.
    head += sse_notice("compacted", {{"last_event_id", last}, {"reason", "the workspace was restored"}});
    after.reset();
  }
  for (const auto& e : recorded_events(*ws_, after.value_or(EventPosition{}), sub.replay_to)) head += sse_event(e);
  writer_->add(fd, std::move(head), sub.subscriber);
  res.status = 200;  // written to the blank socket, which refuses it: httplib closes that one
}

// POST /api/restore: `remora restore ID` from the page, through the same restore_in_place. The
// server closes the workspace (its event streams end; browsers reconnect and are told to reload),
// restores, and opens it again. Refused (409) beside a run (`run --serve`) and while a supervisor
// runs on the workspace: stopping and resuming a run is `remora restore`'s, at a terminal.
json DashboardServer::restore(const std::string& checkpoint) {
  if (!open_)
    throw Error(Errc::conflict,
                "this dashboard is served by `remora run --serve`, whose supervisor holds the workspace: restore with "
                "`remora restore " + checkpoint + "` (it stops the run, restores and resumes it) or from `remora serve`");
  std::unique_lock lock(swap_);
  const auto& dir = options_.workspace_dir;
  const auto manifest = Checkpoints(dir).find(checkpoint);  // 404 before anything is closed
  if (auto pid = RunLock::holder(dir))
    throw Error(Errc::conflict, fmt::format("a run is going on in this workspace (supervisor pid {}): cancel it first, "
                                            "or `remora restore {}` stops it and resumes it from the checkpoint",
                                            *pid, checkpoint));
  writer_.reset();
  hub_.reset();
  api_.reset();
  owned_.reset();
  ws_ = nullptr;
  std::optional<Restored> restored;
  std::optional<Error> failed;
  try {
    restored = restore_in_place(dir, manifest.id);
  } catch (const Error& e) {
    failed = e;  // another process has the workspace open, say: it is left as it was
  }
  owned_ = open_();
  ws_ = owned_.get();
  attach();
  if (stopping_) {
    hub_->close();
    writer_->close();
  }
  if (failed) throw *failed;
  spdlog::info("dashboard: restored checkpoint {} (revision {}), replacing revision {}", manifest.id, manifest.revision,
               restored->from_revision);
  return {{"restored", manifest.id}, {"from_revision", restored->from_revision}, {"revision", ws_->revision()},
          {"checkpoint", manifest.to_json()}};
}

}  // namespace remora
