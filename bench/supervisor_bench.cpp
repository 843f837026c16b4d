// supervisor_bench: the supervisor's throughput and overheads, measured side by side in one run.
//
//   build/supervisor_bench [--agents N] [--scale N] [--rss-agents N] [--askers K]
//                          [--only throughput|scale|per-agent|rss|questions]
//
// 1. Agents per second through a graph of N (default 1,000) trivial agents at max_concurrency
//    2, 8 and 32: `remora run` end to end, one real remora-worker process per agent.
// 2. Per-agent cost, one at a time: `remora run` at max_concurrency 1 beside starting the same
//    worker binary by hand on the same records (spawn, open the workspace, run, commit, exit).
// 3. Scale: per-agent cost of 100 and of 10,000 trivial agents (issue 13: 10,000 in under 30 s,
//    within 1.2x of the cost at 100); then 1,000 agents with workers forked by the zygote beside
//    the same with workers exec'd (REMORA_NO_ZYGOTE=1), wall clock and CPU per agent.
// 4. The supervisor's RSS with 100,000 agents in the graph (issue 13: under 300 MB).
// 5. Question latency: from a worker's commit of outbox:question:<id> to the supervisor's commit
//    of agent:blocked, both observed by this process through one change feed, with 1, 4 and 16
//    agents asking at once, with the default durability (sync: two fsyncs a supervisor's commit,
//    one a worker's) and with meta_nosync (one each). Target: p99 under 2 ms.
// Every figure is printed beside its target and the load average. Parts 1-4 use the default
// durability, as in real use.
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/bundle.hpp"
#include "shared/watcher.hpp"
#include "shared/workspace.hpp"

namespace fs = std::filesystem;
namespace bp = boost::process::v2;
using Clock = std::chrono::steady_clock;

namespace {

fs::path g_bin;  // the build directory holding remora and remora-worker

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int run_process(const fs::path& exe, const std::vector<std::string>& args) {
  boost::asio::io_context ctx;
  bp::process p(ctx, bp::filesystem::path(exe.string()), args, bp::process_stdio{nullptr, nullptr, nullptr});
  return p.wait();
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

fs::path make_graph(const fs::path& dir, int agents, int concurrency, const std::string& bundle,
                    const std::string& durability = "sync") {
  std::string g = "config: {max_concurrency: " + std::to_string(concurrency) + ", durability: " + durability +
                  "}\nagents:\n";
  for (int i = 0; i < agents; ++i) g += "  - {id: a" + std::to_string(i) + ", bundle: " + bundle + "}\n";
  write(dir / "graph.yaml", g);
  return dir / "graph.yaml";
}

double run_graph(const fs::path& dir, const fs::path& graph) {
  fs::remove_all(dir / "ws");
  auto t0 = Clock::now();
  int rc = run_process(g_bin / "remora", {"-w", (dir / "ws").string(), "run", graph.string(), "--json"});
  double t = secs(Clock::now() - t0);
  if (rc != 0) {
    std::fprintf(stderr, "remora run failed with %d\n", rc);
    std::exit(1);
  }
  return t;
}

// What making a process costs on this machine, the floor under every agent: microseconds for a
// fork and exit of this (small, single-threaded) process, and for a posix_spawn of /bin/true.
std::pair<double, double> process_costs(int rounds = 200) {
  auto t0 = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    ::waitpid(pid, nullptr, 0);
  }
  const double fork_us = secs(Clock::now() - t0) / rounds * 1e6;
  char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
  t0 = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    pid_t pid;
    if (::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) == 0) ::waitpid(pid, nullptr, 0);
  }
  return {fork_us, secs(Clock::now() - t0) / rounds * 1e6};
}

// Seconds of CPU (user and system) of the children this process has waited for, and theirs.
double children_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_CHILDREN, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

// Question committed by a worker -> agent:blocked committed by the supervisor, observed here by a
// thread that does nothing else (at a raised priority where allowed, so that what it stamps is
// when a commit became visible, not when it got a core); another thread answers, as a human would.
std::vector<double> question_latency(const fs::path& root, int askers, const std::string& durability) {
  fs::remove_all(root / "ws");
  auto graph = make_graph(root, askers, askers, "asker", durability);
  remora::WorkspaceOptions o;
  o.dir = root / "ws";
  auto ws = remora::Workspace::open(o);
  remora::Watcher w(*ws, "", 1);
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::string, std::string>> to_answer;  // agent, question
  bool done = false;
  std::thread answerer([&] {
    for (;;) {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return done || !to_answer.empty(); });
      if (to_answer.empty()) return;
      auto [agent, qid] = to_answer.front();
      to_answer.pop_front();
      lk.unlock();
      remora::proto::Response r;
      r.answer = "yes";
      auto ns = ws->ns(remora::keys::agent_ns(agent));
      ws->write([&](remora::WriteTxn& t) { t.put(ns, remora::keys::response(qid), remora::proto::encode(r)); });
    }
  });
  boost::asio::io_context ctx;
  bp::process run(ctx, bp::filesystem::path((g_bin / "remora").string()),
                  {"-w", (root / "ws").string(), "run", graph.string(), "--json"},
                  bp::process_stdio{nullptr, nullptr, nullptr});
  const int nice = ::getpriority(PRIO_PROCESS, 0);
  [[maybe_unused]] const int raised = ::setpriority(PRIO_PROCESS, 0, -10);  // this thread only
  std::map<std::string, Clock::time_point> asked;
  std::vector<double> lat;
  auto base = ws->ns("base");
  while (static_cast<int>(lat.size()) < askers * 50) {
    auto changes = w.next(Clock::now() + std::chrono::seconds(60));
    auto now = Clock::now();
    if (changes.empty()) {
      std::fprintf(stderr, "no progress\n");
      std::exit(1);
    }
    for (auto& c : changes) {
      if (c.op != remora::proto::ChangeOp::put) continue;
      if (remora::keys::starts_with(c.key, remora::keys::kQuestion)) {
        asked[c.key.substr(remora::keys::kQuestion.size())] = now;
      } else if (remora::keys::starts_with(c.key, remora::keys::kEvent)) {
        auto e = remora::proto::decode<remora::proto::Event>(ws->get(base, c.key)->value, c.key);
        if (e.action != "blocked") continue;
        auto qid = nlohmann::json::parse(e.payload_json).at("question_id").get<std::string>();
        lat.push_back(std::chrono::duration<double, std::micro>(now - asked.at(qid)).count());
        std::lock_guard lk(mu);
        to_answer.emplace_back(e.agent_id, qid);
        cv.notify_one();
      }
    }
  }
  ::setpriority(PRIO_PROCESS, 0, nice);
  {
    std::lock_guard lk(mu);
    done = true;
  }
  cv.notify_one();
  answerer.join();
  run.wait();
  return lat;
}

// "load 1.23": the 1-minute load average, printed beside every figure so that it can be judged.
std::string load() {
  double l[3] = {-1, -1, -1};
  ::getloadavg(l, 3);
  char buf[32];
  std::snprintf(buf, sizeof buf, "load %.2f", l[0]);
  return buf;
}

// kB of /proc/<pid>/status's field ("VmRSS", "VmHWM").
long status_kb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// The supervisor's memory with n agents in the graph: all of them wait on one that asks a question,
// so the run stands still once that question is asked; RSS is read then, and the run cancelled.
void supervisor_rss(const fs::path& root, int n) {
  fs::remove_all(root / "ws");
  std::string g = "config: {max_concurrency: 4}\nagents:\n  - {id: a0, bundle: asker}\n";
  for (int i = 1; i < n; ++i) g += "  - {id: a" + std::to_string(i) + ", bundle: trivial, after: [a0]}\n";
  write(root / "graph.yaml", g);
  remora::WorkspaceOptions o;
  o.dir = root / "ws";
  auto ws = remora::Workspace::open(o);
  remora::Watcher w(*ws, std::string(remora::keys::kQuestion), 1);
  auto t0 = Clock::now();
  boost::asio::io_context ctx;
  bp::process run(ctx, bp::filesystem::path((g_bin / "remora").string()),
                  {"-w", (root / "ws").string(), "run", (root / "graph.yaml").string(), "--json"},
                  bp::process_stdio{nullptr, nullptr, nullptr});
  if (w.next(Clock::now() + std::chrono::seconds(600)).empty()) {
    std::fprintf(stderr, "no question asked\n");
    std::exit(1);
  }
  const double up = secs(Clock::now() - t0);
  const long rss = status_kb(run.id(), "VmRSS"), peak = status_kb(run.id(), "VmHWM");
  ::kill(run.id(), SIGINT);
  run.wait();
  std::printf("  %6d agents: RSS %5.0f MB (peak %5.0f MB) once running, %5.2f s to its first question   %s   %s\n", n,
              rss / 1024.0, peak / 1024.0, up, rss / 1024.0 < 300 ? "ok (target < 300 MB)" : "OVER target 300 MB",
              load().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  int n = 1000, askers = 0, scale = 10000, rss_agents = 100000;  // askers 0: 1, 4 and 16
  std::set<std::string> parts{"throughput", "scale", "per-agent", "rss", "questions"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--agents" && i + 1 < argc) n = std::stoi(argv[++i]);
    if (a == "--askers" && i + 1 < argc) askers = std::stoi(argv[++i]);
    if (a == "--scale" && i + 1 < argc) scale = std::stoi(argv[++i]);
    if (a == "--rss-agents" && i + 1 < argc) rss_agents = std::stoi(argv[++i]);
    if (a == "--only" && i + 1 < argc) parts = {argv[++i]};
    if (a == "--questions-only") parts = {"questions"};
  }
  g_bin = fs::read_symlink("/proc/self/exe").parent_path();
  auto root = fs::temp_directory_path() / ("remora-sbench-" + std::to_string(::getpid()));
  write(root / "bundles/trivial/bundle.yaml", "name: trivial\nkind: steps\nsteps:\n  - result: {summary: ok}\n");
  write(root / "bundles/asker/bundle.yaml",
        "name: asker\nkind: steps\nsteps:\n" + [] {
          std::string s;
          for (int i = 0; i < 50; ++i) s += "  - ask: {question: \"q" + std::to_string(i) + "\", timeout: 600}\n";
          return s;
        }());

  std::printf("supervisor_bench: real remora-worker processes, synced commits, %ld cores, %s at start\n\n",
              sysconf(_SC_NPROCESSORS_ONLN), load().c_str());

  if (parts.count("throughput")) {
    std::printf("%d trivial agents through `remora run`:\n", n);
    for (int c : {2, 8, 32}) {
      double t = run_graph(root, make_graph(root, n, c, "trivial"));
      std::printf("  max_concurrency %2d   %6.2f s   %7.1f agents/s   %s   %s\n", c, t, n / t,
                  n == 1000 ? (t < 10 ? "ok (target < 10 s)" : "OVER target 10 s") : "", load().c_str());
    }
  }

  if (parts.count("per-agent")) {
    const int seq = 200;
    double sup = run_graph(root, make_graph(root, seq, 1, "trivial"));
    {
      // The same workers by hand, on the records that run left: reset each agent's progress first.
      remora::WorkspaceOptions o;
      o.dir = root / "ws";
      o.create = false;
      auto ws = remora::Workspace::open(o);
      for (int i = 0; i < seq; ++i) {
        auto id = "a" + std::to_string(i);
        auto ns = ws->ns(remora::keys::agent_ns(id));
        ws->write([&](remora::WriteTxn& t) {
          t.del(ns, remora::keys::agent_step(id));
          t.del(ns, remora::keys::result(id));
        });
      }
    }
    auto t0 = Clock::now();
    for (int i = 0; i < seq; ++i) {
      run_process(g_bin / "remora-worker", {"--workspace", (root / "ws").string(), "--agent", "a" + std::to_string(i)});
    }
    double hand = secs(Clock::now() - t0);
    std::printf("\nper agent, one at a time (%d agents), %s:\n", seq, load().c_str());
    std::printf("  remora run, max_concurrency 1     %6.2f ms\n", sup / seq * 1000);
    std::printf("  the same worker started by hand   %6.2f ms\n", hand / seq * 1000);
    std::printf("  supervisor overhead per agent     %6.2f ms  (%.2fx)\n", (sup - hand) / seq * 1000, sup / hand);
  }

  if (parts.count("scale")) {
    // Issue 13: 10,000 trivial sandboxed agents in under 30 s on 2 cores, the per-agent cost at
    // 10,000 within 1.2x of that at 100.
    const auto [fork_us, spawn_us] = process_costs();
    std::printf("\nthis machine: fork and exit of a small process %.0f us, posix_spawn of /bin/true %.0f us   %s\n",
                fork_us, spawn_us, load().c_str());
    std::printf("trivial agents through `remora run`, max_concurrency 8, per-agent cost at 100 and at %d:\n", scale);
    const double small = run_graph(root, make_graph(root, 100, 8, "trivial")) / 100;
    std::printf("  %6d agents   %7.2f ms per agent   %s\n", 100, small * 1000, load().c_str());
    const double total = run_graph(root, make_graph(root, scale, 8, "trivial"));
    const double large = total / scale;
    std::printf("  %6d agents   %7.2f ms per agent   %6.2f s in all   %s   %s\n", scale, large * 1000, total,
                scale == 10000 ? (total < 30 ? "ok (target < 30 s)" : "OVER target 30 s") : "", load().c_str());
    std::printf("  ratio %d / 100: %.2fx   %s\n", scale, large / small,
                large / small <= 1.2 ? "ok (target <= 1.2x)" : "OVER target 1.2x");

    // What the zygote saves: the same graph with workers forked by the zygote and exec'd
    // (REMORA_NO_ZYGOTE=1), taken in turn; wall clock and the CPU of remora and all its workers.
    const int m = std::min(scale, 1000);
    std::printf("\n%d trivial agents, max_concurrency 8, workers forked by the zygote and exec'd, in turn:\n", m);
    double wall[2] = {0, 0}, cpu[2] = {0, 0};
    for (int round = 0; round < 2; ++round)
      for (int exec = 0; exec < 2; ++exec) {
        if (exec) ::setenv("REMORA_NO_ZYGOTE", "1", 1);
        const double before = children_cpu();
        wall[exec] += run_graph(root, make_graph(root, m, 8, "trivial")) / (2.0 * m);
        cpu[exec] += (children_cpu() - before) / (2.0 * m);
        ::unsetenv("REMORA_NO_ZYGOTE");
      }
    for (int exec = 0; exec < 2; ++exec)
      std::printf("  %-8s %7.2f ms per agent   %7.2f ms CPU per agent (remora and its workers)\n",
                  exec ? "exec'd" : "zygote", wall[exec] * 1000, cpu[exec] * 1000);
    std::printf("  zygote / exec: wall %.2fx, CPU %.2fx   (no target of its own: it serves the 30 s above)   %s\n",
                wall[0] / wall[1], cpu[0] / cpu[1], load().c_str());
  }

  if (parts.count("rss")) {
    std::printf("\nthe supervisor's memory, the graph waiting on one agent's question:\n");
    supervisor_rss(root, rss_agents);
  }

  if (parts.count("questions")) {
    std::printf("\nquestion committed -> agent:blocked committed (50 questions per asking agent):\n");
    for (int k : askers ? std::vector<int>{askers} : std::vector<int>{1, 4, 16}) {
      for (const char* durability : {"sync", "meta_nosync"}) {
        auto lat = question_latency(root, k, durability);
        std::printf("  %2d asking, durability %-12s p50 %6.0f us   p99 %6.0f us   max %6.0f us   %s   %s\n", k,
                    durability, percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1.0),
                    percentile(lat, 0.99) < 2000 ? "ok (target p99 < 2 ms)" : "OVER target p99 2 ms", load().c_str());
      }
    }
  }
  fs::remove_all(root);
  return 0;
}
