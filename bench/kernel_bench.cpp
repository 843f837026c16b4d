// kernel_bench: what the agent kernel adds to each model turn, with the scripted provider (whose
// own time is a few microseconds), measured side by side in one run.
//
//   build/kernel_bench [--turns N] [--agents A]
//
// 1. Overhead per turn, for 10 agents of N (default 20) turns run one at a time, and for one agent
//    of 200 turns: from the worker's commit of outbox:model:<id> (the request) to its commit of the
//    assistant message (the response consumed; the same commit holds the first tool call's
//    result, and after the last call the next request), split at the supervisor's commit of
//    inbox:model:<id>. Every commit is observed by this process through one change feed (a
//    Watcher), so the figures include one doorbell wake-up per hop, as a real consumer sees them.
//    Run with the default durability (sync: two fsyncs a supervisor's commit, one a worker's) and
//    with meta_nosync (one each),
//    because fsync dominates. Target: under 1 ms p50 per turn with sync at 200 turns.
// 1b. A turn does not grow with the conversation: the mean turn (the whole loop: request, model,
//    tool call, commits) of one agent of 2,000 turns against one of 20. Target: within 2x.
// 2. Turns per second across A (default 32) agents running at once, each N turns long, through
//    `remora run` end to end (workers spawned, sandboxed, tools run, results committed), at both
//    durabilities.
// 2b. Turns per second with 128 agents at once against 8, counted while every agent runs (from
//    the last agent's first request to the first agent's end, so spawning is not in it), with
//    meta_nosync: a commit wakes only the watchers of what it touched, and a worker
//    waiting for its response reads that key, not the change log. Target (issue 13): at least 0.80.
//    `--skip-scale` leaves it out (it runs 136 sandboxed agents twice); `--scale-only` runs only it.
// Each turn calls kv_put (a built-in tool that commits one key): the cheapest real tool call.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "proto/keyspace.hpp"
#include "shared/watcher.hpp"
#include "shared/workspace.hpp"

namespace fs = std::filesystem;
namespace bp = boost::process::v2;
using Clock = std::chrono::steady_clock;

namespace {

fs::path g_bin;  // the build directory holding remora and remora-worker

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A scripted agent bundle: `turns` turns of kv_put, then submit_result.
void write_bundle(const fs::path& root, int turns) {
  std::string b =
      "name: turns\ndescription: kv_put every turn\nsystem_prompt: s\nuser_prompt: u\nmodel: {provider: scripted}\n"
      "max_turns: " + std::to_string(turns + 1) + "\ntools: [kv_put, submit_result]\nscript:\n";
  for (int i = 0; i < turns; ++i)
    b += "  - tool_calls: [{name: kv_put, arguments: {key: k" + std::to_string(i) + ", value: " + std::to_string(i) + "}}]\n";
  b += "  - tool_calls: [{name: submit_result, arguments: {summary: done}}]\n";
  write(root / "bundles/turns/bundle.yaml", b);
}

fs::path write_graph(const fs::path& root, int agents, int concurrency, const std::string& durability) {
  std::string g = "config: {max_concurrency: " + std::to_string(concurrency) + ", durability: " + durability +
                  ", interactive: false}\nagents:\n";
  for (int i = 0; i < agents; ++i) g += "  - {id: a" + std::to_string(i) + ", bundle: turns}\n";
  write(root / "graph.yaml", g);
  return root / "graph.yaml";
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

struct Turns {
  std::vector<double> gateway_us;  // request committed -> response committed
  std::vector<double> worker_us;   // response committed -> assistant message committed
  std::vector<double> total_us;
  double seconds = 0;              // first request to last response consumed
  std::size_t count = 0;
  // While every agent runs: from the last agent's first request to the first agent's end.
  double steady_seconds = 0;
  std::size_t steady_count = 0;
};

// Runs the graph and times every turn from this process's change feed.
Turns run_and_time(const fs::path& root, int agents, int concurrency, const std::string& durability) {
  fs::remove_all(root / "ws");
  auto graph = write_graph(root, agents, concurrency, durability);
  remora::WorkspaceOptions o;
  o.dir = root / "ws";
  auto ws = remora::Workspace::open(o);
  remora::Watcher w(*ws, "", ws->revision() + 1);
  boost::asio::io_context ctx;
  bp::process run(ctx, bp::filesystem::path((g_bin / "remora").string()),
                  {"-w", (root / "ws").string(), "run", graph.string(), "--json"},
                  bp::process_stdio{nullptr, nullptr, nullptr});
  std::map<std::string, Clock::time_point> requested, answered;  // by request id
  std::map<std::string, std::string> awaiting;                   // agent -> request id answered, not yet consumed
  Turns out;
  Clock::time_point first{}, last{};
  std::map<std::string, Clock::time_point> started;  // agent -> its first request
  std::vector<Clock::time_point> done_at, ended_at;  // each turn consumed; each agent's end
  int ended = 0;
  while (ended < agents) {
    auto changes = w.next(Clock::now() + std::chrono::seconds(120));
    const auto now = Clock::now();
    if (changes.empty()) {
      std::fprintf(stderr, "kernel_bench: no progress for 120 s\n");
      std::exit(1);
    }
    for (auto& c : changes) {
      if (c.op != remora::proto::ChangeOp::put) continue;
      using namespace remora::keys;
      if (starts_with(c.key, kModelRequest)) {
        auto id = c.key.substr(kModelRequest.size());
        requested[id] = now;
        started.emplace(id.substr(0, id.rfind(".t")), now);
        if (first == Clock::time_point{}) first = now;
      } else if (starts_with(c.key, kModelResponse)) {
        auto id = c.key.substr(kModelResponse.size());
        answered[id] = now;
        awaiting[id.substr(0, id.rfind(".t"))] = id;
      } else if (starts_with(c.key, "agent:") && c.key.find(":message:") != std::string::npos) {
        auto agent = c.key.substr(6, c.key.find(":message:") - 6);
        auto it = awaiting.find(agent);
        if (it == awaiting.end()) continue;  // a tool result, or the first messages
        const auto& id = it->second;
        auto us = [](Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
        out.gateway_us.push_back(us(answered.at(id) - requested.at(id)));
        out.worker_us.push_back(us(now - answered.at(id)));
        out.total_us.push_back(us(now - requested.at(id)));
        last = now;
        done_at.push_back(now);
        awaiting.erase(it);
      } else if (starts_with(c.key, "agent:") && c.key.ends_with(":result")) {
        ++ended;
        ended_at.push_back(now);
      }
    }
  }
  if (int rc = run.wait(); rc != 0) {
    std::fprintf(stderr, "kernel_bench: remora run exited with %d\n", rc);
    std::exit(1);
  }
  out.count = out.total_us.size();
  out.seconds = std::chrono::duration<double>(last - first).count();
  Clock::time_point all_started{};
  for (auto& [agent, t] : started) all_started = std::max(all_started, t);
  const auto first_end = *std::min_element(ended_at.begin(), ended_at.end());
  if (first_end > all_started) {
    out.steady_seconds = std::chrono::duration<double>(first_end - all_started).count();
    out.steady_count = static_cast<std::size_t>(
        std::count_if(done_at.begin(), done_at.end(), [&](auto t) { return t >= all_started && t <= first_end; }));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int turns = 20, agents = 32;
  bool scale = true, scale_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--skip-scale") scale = false;
    if (a == "--scale-only") scale_only = true;
    if (a == "--turns" && i + 1 < argc) turns = std::stoi(argv[++i]);
    if (a == "--agents" && i + 1 < argc) agents = std::stoi(argv[++i]);
  }
  g_bin = fs::read_symlink("/proc/self/exe").parent_path();
  auto root = fs::temp_directory_path() / ("remora-kbench-" + std::to_string(::getpid()));

  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) < 0) load[0] = load[1] = load[2] = -1;
  std::printf("kernel_bench: load average %.2f %.2f %.2f on %ld cores\n\n", load[0], load[1], load[2],
              ::sysconf(_SC_NPROCESSORS_ONLN));
  if (!scale_only) {
  std::printf("1. overhead per turn, agents run one at a time (scripted provider; microseconds)\n");
  std::printf("   %-26s %9s %9s %10s %10s %10s\n", "", "gateway", "worker", "total p50", "total p90", "total p99");
  double p50_sync200 = 0;
  struct Row {
    const char* durability;
    int turns, agents;
  };
  for (Row r : {Row{"sync", turns, 10}, Row{"meta_nosync", turns, 10}, Row{"sync", 200, 1}}) {
    write_bundle(root, r.turns);
    auto t = run_and_time(root, r.agents, 1, r.durability);
    char label[64];
    std::snprintf(label, sizeof label, "%s, %d turns x %d", r.durability, r.turns, r.agents);
    std::printf("   %-26s %9.0f %9.0f %10.0f %10.0f %10.0f\n", label, percentile(t.gateway_us, 0.5),
                percentile(t.worker_us, 0.5), percentile(t.total_us, 0.5), percentile(t.total_us, 0.9),
                percentile(t.total_us, 0.99));
    if (r.turns == 200) p50_sync200 = percentile(t.total_us, 0.5);
  }
  std::printf("   gateway: request committed -> response committed; worker: -> response consumed (p50 each)\n");
  std::printf("   target: under 1000 us p50 per turn with sync at 200 turns: %.0f us, %.2fx of it   %s\n\n",
              p50_sync200, p50_sync200 / 1000.0, p50_sync200 < 1000 ? "ok" : "OVER");

  std::printf("1b. mean turn (the whole loop) against the length of the conversation, meta_nosync\n");
  double mean_short = 0, mean_long = 0;
  for (int n : {20, 2000}) {
    write_bundle(root, n);
    auto t = run_and_time(root, 1, 1, "meta_nosync");
    const double mean_us = t.count ? t.seconds * 1e6 / static_cast<double>(t.count) : 0;
    std::printf("   one agent of %5d turns: %8.0f us a turn (p50 %0.f us)\n", n, mean_us, percentile(t.total_us, 0.5));
    (n == 20 ? mean_short : mean_long) = mean_us;
  }
  const double growth = mean_short > 0 ? mean_long / mean_short : 0;
  std::printf("   2000 turns / 20 turns: %.2fx   target: within 2x   %s\n\n", growth, growth <= 2 ? "ok" : "OVER");

  write_bundle(root, turns);
  std::printf("2. turns per second, %d agents at once, %d turns each (remora run end to end)\n", agents, turns);
  for (const char* d : {"sync", "meta_nosync"}) {
    auto t = run_and_time(root, agents, agents, d);
    std::printf("   %-12s %8zu turns in %6.2f s: %8.0f turns/s (p50 turn %0.f us)\n", d, t.count, t.seconds,
                static_cast<double>(t.count) / t.seconds, percentile(t.total_us, 0.5));
  }
  }
  if (scale) {
    // Long enough that every agent has started (workers spawn one after another) before the
    // first one ends: the rate counts the turns in that window, while all of them run at once.
    const int long_turns = std::max(turns, 60);
    write_bundle(root, long_turns);
    std::printf("\n2b. turns per second while all agents run at once, 8 against 128 agents, %d turns each\n",
                long_turns);
    for (const char* d : {"meta_nosync"}) {
      double per_s[2] = {0, 0};
      for (int i : {0, 1}) {
        const int n = i == 0 ? 8 : 128;
        auto t = run_and_time(root, n, n, d);
        per_s[i] = t.steady_seconds > 0 ? static_cast<double>(t.steady_count) / t.steady_seconds : 0;
        double now[1] = {-1};
        ::getloadavg(now, 1);
        std::printf("   %-12s %4d agents: %6zu turns in %6.2f s: %6.0f turns/s (whole run %6.0f; p50 turn %0.f us, load %.2f)\n",
                    d, n, t.steady_count, t.steady_seconds, per_s[i],
                    t.seconds > 0 ? static_cast<double>(t.count) / t.seconds : 0, percentile(t.total_us, 0.5), now[0]);
      }
      const double ratio = per_s[0] > 0 ? per_s[1] / per_s[0] : 0;
      std::printf("   %-12s 128 / 8 agents: %.2f   target: at least 0.80   %s\n", d, ratio, ratio >= 0.8 ? "ok" : "UNDER");
    }
  }
  fs::remove_all(root);
  return 0;
}
