// dashboard_bench: how soon a committed event reaches the dashboard's event stream (SSE), with 1
// and with 100 clients connected, beside `remora events --follow` on the same events, in one run.
//
//   build/dashboard_bench [--events N]
//
// A real `remora serve` on 127.0.0.1 and a real `remora events --follow --json`, both started
// here on one workspace; this process commits N events (default 300, a few milliseconds apart),
// each holding the CLOCK_MONOTONIC time of its commit, and every client notes when each arrives.
// Target (issue 12): p99 under 5 ms with 100 clients on 2 cores.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <istream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "shared/event_log.hpp"
#include "shared/workspace.hpp"

namespace fs = std::filesystem;
namespace bp = boost::process::v2;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

fs::path g_bin;  // the build directory holding remora

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

// Latencies (microseconds) of the bench's events, from their commit to their arrival, as one
// client saw them; `seen` counts the bench's events that arrived.
struct Arrivals {
  std::mutex mu;
  std::vector<double> us;
  std::atomic<std::size_t> seen{0};
  void note(const json& event) {
    if (event.value("event", "") != "bench:tick") return;
    const auto t = event.at("payload").at("t").get<std::int64_t>();
    const double us_since = static_cast<double>(now_ns() - t) / 1000.0;
    std::lock_guard lk(mu);
    us.push_back(us_since);
    ++seen;
  }
};

// A child process whose stdout is read line by line.
struct Child {
  asio::io_context ctx;
  asio::readable_pipe out{ctx};
  std::unique_ptr<bp::process> proc;
  asio::streambuf buf;
  Child(const std::vector<std::string>& args) {
    proc = std::make_unique<bp::process>(ctx, bp::filesystem::path((g_bin / "remora").string()), args,
                                         bp::process_stdio{nullptr, out, nullptr});
  }
  bool line(std::string& l) {
    boost::system::error_code ec;
    asio::read_until(out, buf, '\n', ec);
    if (ec) return false;
    std::istream is(&buf);
    std::getline(is, l);
    return true;
  }
  ~Child() {
    boost::system::error_code ec;
    proc->terminate(ec);
    proc->wait(ec);
  }
};

// One SSE client on /api/events from after revision `after`: connects, signals `ready` once the
// stream is open, notes the bench's events until `stop`.
void sse_client(int port, const std::string& token, std::uint64_t after, Arrivals& a, std::atomic<int>& ready,
                std::atomic<bool>& stop) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  std::string pending;
  bool counted = false;
  const httplib::Headers headers{{"Authorization", "Bearer " + token}, {"Last-Event-ID", std::to_string(after)}};
  auto accepted = [&](const httplib::Response& r) {
    if (r.status != 200) std::fprintf(stderr, "dashboard_bench: an event stream was refused: HTTP %d\n", r.status);
    return r.status == 200;
  };
  auto receive = [&](const char* data, std::size_t n) {
    if (!counted) {
      counted = true;
      ++ready;
    }
    pending.append(data, n);
    for (std::size_t end; (end = pending.find("\n\n")) != std::string::npos;) {
      const std::string block = pending.substr(0, end);
      pending.erase(0, end + 2);
      for (std::size_t at = 0; at < block.size();) {
        auto eol = block.find('\n', at);
        if (eol == std::string::npos) eol = block.size();
        if (block.compare(at, 6, "data: ") == 0) {
          auto j = json::parse(block.substr(at + 6, eol - at - 6), nullptr, false);
          if (j.is_object() && j.contains("payload")) a.note(j);
        }
        at = eol + 1;
      }
    }
    return !stop;
  };
  c.Get("/api/events", headers, accepted, receive);
}

struct Row {
  double p50 = 0, p99 = 0, max = 0;
  std::size_t samples = 0;
};

Row row_of(Arrivals& a) {
  std::lock_guard lk(a.mu);
  return {percentile(a.us, 0.5), percentile(a.us, 0.99), percentile(a.us, 1.0), a.us.size()};
}

// Commits n bench events, 3 ms apart, and waits (60 s at most) until every client saw them all.
void commit_events(remora::Workspace& ws, int n, std::vector<Arrivals*> clients) {
  for (int i = 0; i < n; ++i) {
    remora::commit_event(ws, "bench", "tick", json{{"t", now_ns()}, {"i", i}});
    std::this_thread::sleep_for(std::chrono::milliseconds(3));  // pacing: events a run commits apart
  }
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  for (auto* c : clients)
    while (c->seen < static_cast<std::size_t>(n) && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace

int main(int argc, char** argv) {
  int events = 300;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--events" && i + 1 < argc) events = std::stoi(argv[++i]);
  g_bin = fs::read_symlink("/proc/self/exe").parent_path();
  const auto dir = fs::temp_directory_path() / ("remora-dbench-" + std::to_string(::getpid()));
  remora::WorkspaceOptions o;
  o.dir = dir / "ws";
  o.durability = remora::Durability::meta_nosync;
  auto ws = remora::Workspace::open(o);
  remora::commit_event(*ws, "bench", "start", json{{"t", now_ns()}});

  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) < 0) load[0] = load[1] = load[2] = -1;
  std::printf("dashboard_bench: %d events, commit -> received (microseconds); load average %.2f %.2f %.2f on %ld cores\n\n",
              events, load[0], load[1], load[2], ::sysconf(_SC_NPROCESSORS_ONLN));

  Child serve({"-w", o.dir.string(), "serve", "--listen", "127.0.0.1:0"});
  std::string url;
  if (!serve.line(url)) {
    std::fprintf(stderr, "dashboard_bench: remora serve printed no URL\n");
    return 1;
  }
  std::smatch m;
  if (!std::regex_search(url, m, std::regex(R"(127\.0\.0\.1:(\d+)/\?token=([0-9a-f]+))"))) {
    std::fprintf(stderr, "dashboard_bench: no URL in '%s'\n", url.c_str());
    return 1;
  }
  const int port = std::stoi(m[1]);
  const std::string token = m[2];

  std::printf("   %-40s %9s %9s %9s %9s\n", "", "p50", "p99", "max", "samples");
  Row hundred;
  for (int clients : {1, 100}) {
    std::vector<Arrivals> arrivals(static_cast<std::size_t>(clients));
    std::atomic<int> ready{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back(sse_client, port, token, ws->revision(), std::ref(arrivals[static_cast<std::size_t>(c)]), std::ref(ready),
                           std::ref(stop));
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (ready < clients && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (ready < clients) {
      std::fprintf(stderr, "dashboard_bench: only %d of %d SSE clients connected\n", ready.load(), clients);
      return 1;
    }
    std::vector<Arrivals*> all;
    for (auto& a : arrivals) all.push_back(&a);
    commit_events(*ws, events, all);
    Arrivals merged;
    for (auto& a : arrivals) merged.us.insert(merged.us.end(), a.us.begin(), a.us.end());
    stop = true;
    remora::commit_event(*ws, "bench", "stop", json{{"t", now_ns()}});  // wakes the clients to see `stop`
    for (auto& t : threads) t.join();
    // The server learns that a client left when a write to it fails: two more events, so that
    // the next round's clients find their streams free.
    for (int i = 0; i < 2; ++i) {
      remora::commit_event(*ws, "bench", "flush", json{{"t", now_ns()}});
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    const Row r = row_of(merged);
    char label[64];
    std::snprintf(label, sizeof label, "SSE, %d client%s", clients, clients == 1 ? "" : "s");
    std::printf("   %-40s %9.0f %9.0f %9.0f %9zu\n", label, r.p50, r.p99, r.max, r.samples);
    if (clients == 100) hundred = r;
  }

  {
    Child follow({"-w", o.dir.string(), "events", "--follow", "--json", "--pattern", "bench:tick", "--from",
                  std::to_string(ws->revision() + 1)});
    Arrivals a;
    std::thread reader([&] {
      std::string l;
      while (follow.line(l)) {
        auto j = json::parse(l, nullptr, false);
        if (j.is_object() && j.contains("payload")) a.note(j);
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // it opens the workspace and starts to follow
    commit_events(*ws, events, {&a});
    follow.proc->terminate();
    reader.join();
    const Row r = row_of(a);
    std::printf("   %-40s %9.0f %9.0f %9.0f %9zu\n", "remora events --follow --json", r.p50, r.p99, r.max, r.samples);
  }
  const bool complete = hundred.samples == static_cast<std::size_t>(events) * 100;
  std::printf("\n   target: p99 under 5000 us with 100 SSE clients on 2 cores: %.0f us, %.2fx of it   %s\n",
              hundred.p99, hundred.p99 / 5000.0, !complete ? "INCOMPLETE: events missing" : hundred.p99 < 5000 ? "ok" : "OVER");
  ws.reset();
  fs::remove_all(dir);
  return complete ? 0 : 1;
}
