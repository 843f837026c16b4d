// The dashboard's HTTP API and event stream, against a real `remora serve` on 127.0.0.1 beside a
// real run: each route through cpp-httplib's client, the 401/403 cases, SSE replay after a
// reconnect with Last-Event-ID, a reconnect after compaction, a client that never reads.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "dashboard/event_hub.hpp"
#include "graph_project.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/event_log.hpp"

namespace remora {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test::GraphProject;

// A project of two Python files and a bundle that asks which word to write, then writes it into
// the file it runs on.
struct ReviewProject : GraphProject {
  ReviewProject() {
    test::write_text(path("project/a.py"), "a = 1\n");
    test::write_text(path("project/b.py"), "b = 1\n");
    bundle("word",
           "steps:\n"
           "  - ask: {question: \"<b>Word</b> for {target}?\", options: [alpha, beta], default: alpha, timeout: 600}\n"
           "  - write: {path: \"{target}\", content: \"{answer} = 2\\n\"}\n"
           "  - result: {summary: \"<script>alert(1)</script>\"}\n");
  }
  void start_run() {
    start_cmd({"run", path("project").string(), "--bundles-dir", path("bundles").string(), "--bundle", "word",
               "--json"});
  }
  // Starts the run and waits until both agents ask.
  void start_until_both_ask() {
    start_run();
    wait_event("agent:blocked", "word.a.py");
    wait_event("agent:blocked", "word.b.py");
  }
};

// `remora serve` on a free port of 127.0.0.1, and the URL it printed.
class Serve {
 public:
  explicit Serve(const GraphProject& p, std::vector<std::string> extra = {}) : out_(p.path("serve.out")) {
    std::vector<std::string> args{"-w", p.ws(), "serve", "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    child_ = std::make_unique<test::Child>(test::kRemoraBin, args, out_);
    static const std::regex url(R"(http://127\.0\.0\.1:(\d+)/\?token=([0-9a-f]+))");
    // The URL is printed once the port is bound; the file is read until then (30 s at most).
    for (auto deadline = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < deadline;) {
      std::smatch m;
      auto text = test::read_text(out_);
      if (std::regex_search(text, m, url)) {
        port = std::stoi(m[1]);
        token = m[2];
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("remora serve printed no URL: " + test::read_text(out_));
  }
  ~Serve() {
    ::kill(child_->pid(), SIGTERM);
    child_->wait();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }
  std::string origin() const { return "http://" + host(); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }
  httplib::Headers bearer() const { return {{"Authorization", "Bearer " + token}}; }

  httplib::Result get(const std::string& path) { return client().Get(path, bearer()); }
  httplib::Result post(const std::string& path, const json& body) {
    return client().Post(path, bearer(), body.dump(), "application/json");
  }

  int port = 0;
  std::string token;

 private:
  std::filesystem::path out_;
  std::unique_ptr<test::Child> child_;
};

json body_of(const httplib::Result& r) { return json::parse(r->body); }

// One frame of an event stream: its id, type ("message" unless named) and data.
struct SseFrame {
  std::string id, type = "message", data;
};

// Reads frames from GET /api/events until `until` says stop (or 60 s pass).
std::vector<SseFrame> read_stream(Serve& s, httplib::Headers headers, const std::function<bool(const SseFrame&)>& until) {
  std::vector<SseFrame> frames;
  std::string buffer;
  auto c = s.client();
  headers.insert({"Authorization", "Bearer " + s.token});
  c.Get("/api/events", headers, [&](const char* data, std::size_t n) {
    buffer.append(data, n);
    for (std::size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      SseFrame f;
      std::istringstream lines(buffer.substr(0, end));
      buffer.erase(0, end + 2);
      bool any = false;
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind("id: ", 0) == 0) f.id = line.substr(4), any = true;
        else if (line.rfind("event: ", 0) == 0) f.type = line.substr(7), any = true;
        else if (line.rfind("data: ", 0) == 0) f.data = line.substr(6), any = true;
      }
      if (!any) continue;  // retry:, keep-alive comments
      frames.push_back(f);
      if (until(f)) return false;
    }
    return true;
  });
  return frames;
}

bool ends_run(const SseFrame& f) {
  return f.type == "message" && json::parse(f.data).at("event") == "graph:completed";
}

TEST(Dashboard, TheTokenGuardsEveryRouteAndChangesNeedOurOrigin) {
  ReviewProject p;
  p.start_run();
  p.wait_event("agent:blocked");
  Serve s(p);
  auto c = s.client();
  EXPECT_EQ(c.Get("/")->status, 401);
  EXPECT_EQ(c.Get("/api/status")->status, 401);
  EXPECT_EQ(c.Get("/api/events")->status, 401);
  EXPECT_EQ(c.Get("/api/status", {{"Authorization", "Bearer wrong"}})->status, 401);
  // The link's token becomes an HttpOnly SameSite=Strict cookie; the page then loads with it.
  auto link = c.Get("/?token=" + s.token);
  ASSERT_EQ(link->status, 303);
  auto cookie = link->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  const std::string jar = cookie.substr(0, cookie.find(';'));
  auto page = c.Get("/", {{"Cookie", jar}});
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<html"), std::string::npos);
  EXPECT_EQ(c.Get("/api/status", {{"Cookie", jar}})->status, 200);
  // A change with the cookie: our Origin only (another page, or none: refused).
  const json answer{{"question", "word.a.py.0"}, {"answer", "beta"}};
  EXPECT_EQ(c.Post("/api/answer", {{"Cookie", jar}, {"Origin", "http://evil.example"}}, answer.dump(), "application/json")->status, 403);
  EXPECT_EQ(c.Post("/api/answer", {{"Cookie", jar}}, answer.dump(), "application/json")->status, 403);
  // A Host that is not ours (DNS rebinding): refused whatever the token.
  EXPECT_EQ(c.Get("/api/status", {{"Host", "evil.example:" + std::to_string(s.port)}, {"Authorization", "Bearer " + s.token}})->status, 403);
  // Changes are POST only, JSON only, with a bounded body.
  EXPECT_EQ(c.Get("/api/answer", s.bearer())->status, 404);
  EXPECT_EQ(c.Post("/api/answer", {{"Cookie", jar}, {"Origin", s.origin()}}, "question=x", "application/x-www-form-urlencoded")->status, 415);
  EXPECT_EQ(c.Post("/api/answer", s.bearer(), std::string(200 * 1024, ' '), "application/json")->status, 413);
  auto ok = c.Post("/api/answer", {{"Cookie", jar}, {"Origin", s.origin()}}, answer.dump(), "application/json");
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(body_of(ok)["answer"], "beta");
  p.run().kill9();
  p.wait();
}

TEST(Dashboard, EachRouteGoesThroughTheCommandsCode) {
  ReviewProject p;
  p.start_until_both_ask();
  Serve s(p);
  auto status = s.get("/api/status");
  ASSERT_EQ(status->status, 200) << status->body;
  auto st = body_of(status);
  EXPECT_EQ(st["graph"], "project");
  ASSERT_EQ(st["questions"].size(), 2u);
  EXPECT_EQ(st["questions"][0]["options"], json({"alpha", "beta"}));
  EXPECT_EQ(st["questions"][0]["default"], "alpha");
  EXPECT_EQ(st["questions"][0]["question"], "<b>Word</b> for a.py?");  // text, escaped by the page
  // Answers are validated as remora answer validates them.
  auto wrong = s.post("/api/answer", {{"question", "word.a.py.0"}, {"answer", "gamma"}});
  EXPECT_EQ(wrong->status, 400);
  EXPECT_NE(body_of(wrong)["error"].get<std::string>().find("takes one of: alpha, beta"), std::string::npos);
  EXPECT_EQ(s.post("/api/answer", {{"question", "word.a.py.0"}, {"answer", std::string(20000, 'x')}})->status, 400);
  EXPECT_EQ(s.post("/api/answer", {{"question", "nope"}, {"answer", "alpha"}})->status, 404);
  EXPECT_EQ(s.post("/api/answer", {{"question", "word.a.py.0"}})->status, 400);
  ASSERT_EQ(s.post("/api/answer", {{"question", "word.a.py.0"}, {"answer", "2"}})->status, 200);  // by number
  auto again = s.post("/api/answer", {{"question", "word.a.py.0"}, {"answer", "alpha"}});
  EXPECT_EQ(again->status, 400);
  EXPECT_NE(body_of(again)["error"].get<std::string>().find("already answered: beta (dashboard)"), std::string::npos);
  ASSERT_EQ(s.post("/api/answer", {{"question", "word.b.py.0"}, {"answer", "alpha"}})->status, 200);
  EXPECT_EQ(p.wait(), 0);

  auto agent = s.get("/api/agent?id=word.a.py");
  ASSERT_EQ(agent->status, 200);
  auto a = body_of(agent);
  EXPECT_EQ(a["state"], "completed");
  EXPECT_EQ(a["result"]["summary"], "<script>alert(1)</script>");
  EXPECT_FALSE(a["events"].empty());
  EXPECT_EQ(s.get("/api/agent?id=nope")->status, 404);
  EXPECT_EQ(s.get("/api/agent?id=../../etc/passwd")->status, 404);

  // The log tail: the end of the worker's log (<ws>/logs/<id>.log), 64 KiB at most, from a
  // line's start; only for the run's agents (no request names a file).
  const auto log_file = std::filesystem::path(p.ws()) / "logs" / "word.a.py.log";
  ASSERT_TRUE(std::filesystem::exists(log_file));
  {
    std::ofstream grow(log_file, std::ios::app);
    for (int i = 0; i < 2000; ++i) grow << "padding line " << i << " " << std::string(60, 'x') << "\n";
    grow << "<script>the last line</script>\n";
  }
  auto log = s.get("/api/log?id=word.a.py");
  ASSERT_EQ(log->status, 200) << log->body;
  auto tail = body_of(log);
  const auto text = tail["text"].get<std::string>();
  EXPECT_TRUE(tail["truncated"].get<bool>());
  EXPECT_EQ(tail["size"].get<std::uintmax_t>(), std::filesystem::file_size(log_file));
  EXPECT_LE(text.size(), 64u * 1024);
  EXPECT_GT(text.size(), 60u * 1024);
  EXPECT_EQ(text.rfind("padding line ", 0), 0u);  // a whole line first
  EXPECT_TRUE(text.ends_with("<script>the last line</script>\n"));  // as text: the page escapes it
  EXPECT_EQ(s.get("/api/log?id=nope")->status, 404);
  EXPECT_EQ(s.get("/api/log?id=../../etc/passwd")->status, 404);
  EXPECT_EQ(s.get("/api/log")->status, 400);

  auto diff = s.get("/api/diff?id=word.a.py");
  ASSERT_EQ(diff->status, 200);
  EXPECT_NE(body_of(diff)["files"][0]["diff"].get<std::string>().find("+beta = 2"), std::string::npos);
  auto accepted = s.post("/api/accept", {{"agent", "word.a.py"}});
  ASSERT_EQ(accepted->status, 200) << accepted->body;
  EXPECT_EQ(test::read_text(p.path("project/a.py")), "beta = 2\n");
  EXPECT_EQ(s.post("/api/accept", {{"agent", "word.a.py"}})->status, 409);  // already reviewed
  auto undone = s.post("/api/undo", json::object());
  ASSERT_EQ(undone->status, 200) << undone->body;
  EXPECT_EQ(test::read_text(p.path("project/a.py")), "a = 1\n");
  auto rejected = s.post("/api/reject", {{"agent", "word.b.py"}});
  ASSERT_EQ(rejected->status, 200) << rejected->body;
  EXPECT_EQ(test::read_text(p.path("project/b.py")), "b = 1\n");

  EXPECT_EQ(s.post("/api/cancel", {{"agent", "nope"}})->status, 404);
  auto cancel = s.post("/api/cancel", {{"all", true}});
  ASSERT_EQ(cancel->status, 200);
  EXPECT_EQ(body_of(cancel)["supervisor"], "none");

  EXPECT_EQ(body_of(s.get("/api/checkpoints")).size(), 0u);
  auto taken = s.post("/api/checkpoints", {{"message", "from the dashboard"}});
  ASSERT_EQ(taken->status, 200) << taken->body;
  auto list = body_of(s.get("/api/checkpoints"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["message"], "from the dashboard");
}

TEST(Dashboard, AReconnectWithLastEventIdReplaysExactlyWhatWasMissed) {
  ReviewProject p;
  p.start_run();
  p.wait_event("agent:blocked", "word.b.py");
  Serve s(p);
  Serve* serve = &s;
  // First connection: everything so far, then live until the run ends.
  std::thread answer([&] {
    serve->post("/api/answer", {{"question", "word.a.py.0"}, {"answer", "alpha"}});
    serve->post("/api/answer", {{"question", "word.b.py.0"}, {"answer", "beta"}});
  });
  auto all = read_stream(s, {}, ends_run);
  answer.join();
  EXPECT_EQ(p.wait(), 0);
  std::vector<std::string> log;
  for (const auto& e : p.events()) log.push_back(e.id);
  std::vector<std::string> streamed;
  for (const auto& f : all) streamed.push_back(f.id);
  EXPECT_EQ(streamed, log);  // each event once, in order, with its id
  // Reconnecting after the third: the rest, exactly.
  auto rest = read_stream(s, {{"Last-Event-ID", log[2]}}, ends_run);
  std::vector<std::string> replayed;
  for (const auto& f : rest) replayed.push_back(f.id);
  EXPECT_EQ(replayed, std::vector<std::string>(log.begin() + 3, log.end()));
  EXPECT_EQ(s.get("/api/events?after=bogus")->status, 400);
}

TEST(Dashboard, AClientBehindCompactionIsToldSo) {
  ReviewProject p;
  p.start_run();
  p.wait_event("agent:blocked", "word.b.py");
  Serve s(p);
  s.post("/api/answer", {{"question", "word.a.py.0"}, {"answer", "alpha"}});
  s.post("/api/answer", {{"question", "word.b.py.0"}, {"answer", "beta"}});
  EXPECT_EQ(p.wait(), 0);
  auto& ws = p.open();
  const auto first = p.events().front().id;
  ws.compact(ws.revision());
  auto frames = read_stream(s, {{"Last-Event-ID", first}}, ends_run);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.front().type, "compacted");
  EXPECT_EQ(frames.back().type, "message");  // and then the replay from the event records
}

// POST /api/restore is `remora restore ID` (the same restore_in_place): the workspace goes back
// to the checkpoint. Refused while a supervisor runs on the workspace (stopping and resuming a run
// is the command's, at a terminal), for an unknown checkpoint, and beside a run (`run --serve`:
// the browser test).
TEST(Dashboard, ARestoreFromThePageIsRemoraRestore) {
  ReviewProject p;
  p.start_until_both_ask();
  Serve s(p);
  auto taken = s.post("/api/checkpoints", {{"message", "both asking"}});
  ASSERT_EQ(taken->status, 200) << taken->body;
  const auto id = body_of(taken)["id"].get<std::string>();
  const auto revision = body_of(taken)["revision"].get<std::uint64_t>();
  auto busy = s.post("/api/restore", {{"checkpoint", id}});
  EXPECT_EQ(busy->status, 409);
  EXPECT_NE(body_of(busy)["error"].get<std::string>().find("remora restore " + id), std::string::npos) << busy->body;
  ASSERT_EQ(s.post("/api/answer", {{"question", "word.a.py.0"}, {"answer", "alpha"}})->status, 200);
  ASSERT_EQ(s.post("/api/answer", {{"question", "word.b.py.0"}, {"answer", "beta"}})->status, 200);
  EXPECT_EQ(p.wait(), 0);
  p.close();  // restore needs every process to have closed the workspace
  auto ended = body_of(s.get("/api/status"));
  EXPECT_TRUE(ended["questions"].empty());
  const auto ended_at = ended["revision"].get<std::uint64_t>();

  EXPECT_EQ(s.post("/api/restore", {{"checkpoint", "nope"}})->status, 404);
  EXPECT_EQ(s.post("/api/restore", json::object())->status, 400);
  auto restored = s.post("/api/restore", {{"checkpoint", id}});
  ASSERT_EQ(restored->status, 200) << restored->body;
  EXPECT_EQ(body_of(restored)["restored"], id);
  EXPECT_EQ(body_of(restored)["from_revision"].get<std::uint64_t>(), ended_at);
  // The checkpoint's state again: both questions pending.
  auto st = body_of(s.get("/api/status"));
  EXPECT_EQ(st["questions"].size(), 2u);
  EXPECT_GT(st["revision"].get<std::uint64_t>(), revision);
  EXPECT_LT(st["revision"].get<std::uint64_t>(), ended_at);
  // A stream from a position the restored log has not reached: told to reload, then the whole log
  // up to the restore's own event.
  auto frames = read_stream(s, {{"Last-Event-ID", std::to_string(ended_at)}}, [](const SseFrame& f) {
    return f.type == "message" && json::parse(f.data).at("event") == "checkpoint:restored";
  });
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(frames.front().type, "compacted");
  EXPECT_EQ(json::parse(frames.back().data).at("event"), "checkpoint:restored");
}

TEST(Dashboard, AClientThatNeverReadsDoesNotDelayTheRun) {
  GraphProject p;
  std::string agents;
  for (int i = 0; i < 40; ++i) agents += "  - {id: a" + std::to_string(i) + ", bundle: ok}\n";
  p.graph("config: {max_concurrency: 4}\nagents:\n" + agents);
  // The workspace exists before serve opens it: a first run.
  ASSERT_EQ(p.run_to_end(), 0);
  Serve s(p);
  // A stalled reader: a tiny receive buffer, connected to the stream, never read.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(s.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "GET /api/events HTTP/1.1\r\nHost: " + s.host() + "\r\nAuthorization: Bearer " + s.token + "\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  // Runs started over while it stalls: each ends, and a reading client then sees the last one end.
  for (int round = 0; round < 3; ++round) EXPECT_EQ(p.run_to_end({"--fresh"}), 0);
  auto frames = read_stream(s, {}, ends_run);
  ASSERT_FALSE(frames.empty());
  EXPECT_TRUE(ends_run(frames.back()));
  ::close(fd);
}

// The hub never waits for a subscriber: a full queue drops events for it and counts them.
TEST(DashboardEventHub, AFullQueueDropsAndCounts) {
  test::TempDir d;
  WorkspaceOptions o;
  o.dir = d.path();
  auto ws = Workspace::open(o);
  EventHub hub(*ws, 2);
  auto sub = hub.subscribe();
  ws->write([&](WriteTxn& t) {
    std::vector<proto::Event> events(5);
    for (auto& e : events) e.category = "test", e.action = "tick";
    append_events(t, ws->ns("base"), events);
  });
  for (auto deadline = std::chrono::steady_clock::now() + 30s; hub.dropped_total() < 3;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::yield();
  }
  auto batch = sub.subscriber->take(std::chrono::steady_clock::now() + 1s);
  EXPECT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.dropped, 3u);
  // What it dropped is still in the records, for a reconnect to replay.
  EXPECT_EQ(recorded_events(*ws, {}, {UINT64_MAX, UINT32_MAX}).size(), 5u);
  hub.unsubscribe(sub.subscriber);
  EXPECT_EQ(hub.dropped_total(), 3u);
}

}  // namespace
}  // namespace remora
