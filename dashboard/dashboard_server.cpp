#include "dashboard/dashboard_server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "dashboard/dashboard_api.hpp"
#include "shared/bounded_json.hpp"
#include "supervisor/event_format.hpp"
#include "review/review.hpp"

namespace remora {

using nlohmann::json;

namespace {

constexpr auto kKeepAlive = std::chrono::seconds(15);
constexpr std::size_t kThreads = 128;  // each SSE client holds one while connected

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

// One SSE message: `id:` the event's id (its revision, then its sequence in that revision), the
// event as JSON on one line.
std::string sse_event(const proto::Event& e) {
  return "id: " + e.id + "\ndata: " + event_json_line(e) + "\n\n";
}

std::string sse_notice(const char* type, const json& data) { return fmt::format("event: {}\ndata: {}\n\n", type, data.dump()); }

}  // namespace

DashboardServer::DashboardServer(Workspace& ws, ServeOptions options) : ws_(ws), options_(std::move(options)) {
  server_.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  server_.set_payload_max_length(options_.max_body_bytes);
  server_.set_keep_alive_max_count(1000);
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
  hub_ = std::make_unique<EventHub>(ws_, options_.queue_limit);
  add_routes();
}

DashboardServer::~DashboardServer() {
  stop();
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
  hub_->close();
  // httplib's stop() does nothing before its loop runs: wait for the loop of a serve() under way.
  while (serving_ && !server_.is_running()) std::this_thread::yield();
  server_.stop();
}

void DashboardServer::add_routes() {
  auto api = std::make_shared<DashboardApi>(ws_, options_.workspace_dir);
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
  auto run = [](httplib::Response& res, const std::function<json()>& fn) {
    try {
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
  server_.Get("/api/status", [api, run](const httplib::Request&, httplib::Response& res) {
    run(res, [&] { return api->status(); });
  });
  server_.Get("/api/checkpoints", [api, run](const httplib::Request&, httplib::Response& res) {
    run(res, [&] { return api->checkpoints(); });
  });
  for (auto [path, fn] : {std::pair<const char*, Read>{"/api/agent", &DashboardApi::agent},
                          std::pair<const char*, Read>{"/api/diff", &DashboardApi::diff}}) {
    server_.Get(path, [api, run, fn = fn](const httplib::Request& req, httplib::Response& res) {
      run(res, [&] {
        if (!req.has_param("id")) throw Error(Errc::invalid_argument, "name the agent: ?id=AGENT");
        return ((*api).*fn)(req.get_param_value("id"));
      });
    });
  }
  for (auto [path, fn] : {std::pair<const char*, Mutation>{"/api/answer", &DashboardApi::answer},
                          {"/api/cancel", &DashboardApi::cancel},
                          {"/api/accept", &DashboardApi::accept},
                          {"/api/reject", &DashboardApi::reject},
                          {"/api/undo", &DashboardApi::undo},
                          {"/api/checkpoints", &DashboardApi::take_checkpoint}}) {
    server_.Post(path, [api, run, fn = fn](const httplib::Request& req, httplib::Response& res) {
      run(res, [&] {
        auto body = parse_bounded(req.body.empty() ? "{}" : req.body, "the request body", JsonLimits{16, 64 * 1024});
        return ((*api).*fn)(body);
      });
    });
  }
  server_.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) { stream_events(req, res); });
}

// GET /api/events: the event log from after Last-Event-ID (or ?after=), then live. A client
// whose position is older than the change log reaches gets `event: compacted` first (its view
// may have missed events of a run started over: reload the status); one whose queue overflowed
// gets `event: dropped` with the count (reconnect to replay from the records).
void DashboardServer::stream_events(const httplib::Request& req, httplib::Response& res) {
  std::optional<EventPosition> after;
  const std::string last = req.has_header("Last-Event-ID") ? req.get_header_value("Last-Event-ID")
                           : req.has_param("after")         ? req.get_param_value("after")
                                                            : "";
  if (!last.empty()) {
    after = EventPosition::parse(last);
    if (!after) return send_error(res, 400, "Last-Event-ID '" + last + "' is not an event id");
  }
  if (streams_.fetch_add(1) >= options_.max_streams) {
    streams_.fetch_sub(1);
    return send_error(res, 503, fmt::format("already {} event streams open", options_.max_streams));
  }
  auto sub = hub_->subscribe();
  // The replay: the records after the client's position up to where the queue takes over.
  std::string head = "retry: 1000\n\n";
  if (after && after->revision + 1 < ws_.log_start())
    head += sse_notice("compacted", {{"last_event_id", last}, {"log_start", ws_.log_start()}});
  for (const auto& e : recorded_events(ws_, after.value_or(EventPosition{}), sub.replay_to)) head += sse_event(e);
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  auto pending = std::make_shared<std::string>(std::move(head));
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, pending, s = sub.subscriber](std::size_t, httplib::DataSink& sink) {
        if (!pending->empty()) {
          if (!sink.write(pending->data(), pending->size())) return false;
          pending->clear();
        }
        if (stopping_) return false;
        auto batch = s->take(std::chrono::steady_clock::now() + kKeepAlive);
        std::string out;
        if (batch.compacted) out += sse_notice("compacted", {{"reason", "the dashboard fell behind the change log"}});
        for (const auto& e : batch.events) out += sse_event(e);
        if (batch.dropped) out += sse_notice("dropped", {{"count", batch.dropped}});
        if (out.empty()) out = ": keep-alive\n\n";
        if (batch.closed || stopping_) return false;
        return sink.write(out.data(), out.size());
      },
      [this, s = sub.subscriber](bool) {
        hub_->unsubscribe(s);
        streams_.fetch_sub(1);
      });
}

}  // namespace remora
