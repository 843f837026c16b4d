// checkpoint_bench: how fast a checkpoint copies a workspace, beside `mdb_copy -c` from
// lmdb-utils on the same environment, and how long a writing worker stalls while one runs.
//
//   checkpoint_bench [--kvalues K] [--rounds R]
//
// 1. Builds an environment with the workspace API: K thousand 1 kB values (default 150, about
//    300 MB on disk) over base and four overlays, a tenth of them deleted again so that
//    compaction has work to do.
// 2. Throughput, best of R rounds (default 3), in alternating order: `mdb_copy -c` (a process),
//    `remora checkpoint` (a process) and Checkpoints::take in this process (as the supervisor's
//    snapshots run). MB/s counts the bytes of the compacted copy, the same for all three.
// 3. Stalls: a writer process (this program with --writer) commits batches of 10 puts of 100 B
//    in a loop with synced commits, as the supervisor does, and records how long each commit takes;
//    with no checkpoint running, while this process takes checkpoints back to back (as the
//    supervisor's snapshots do), while `mdb_copy -c` copies the same environment as often (the
//    same I/O by LMDB's own tool, for comparison), and while the checkpoints are pruned. The
//    longest commit is the longest stall a worker sees. The writer runs under SCHED_FIFO where
//    permitted, so that the CPU queue of a shared machine does not pass for a stall.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "shared/checkpoint.hpp"
#include "shared/workspace.hpp"

namespace fs = std::filesystem;
using remora::Checkpoints;
using remora::Durability;
using remora::Workspace;
using remora::WorkspaceOptions;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::unique_ptr<Workspace> open_ws(const fs::path& dir, Durability d) {
  WorkspaceOptions o;
  o.dir = dir;
  o.durability = d;
  return Workspace::open(o);
}

// ---------------------------------------------------------------------------------------------
// The writer process: commits until SIGTERM, then writes "start_ns duration_ns" per commit.

std::atomic<bool> g_stop{false};

int writer_main(const fs::path& dir, const fs::path& out) {
  signal(SIGTERM, [](int) { g_stop = true; });
  // Real-time scheduling where permitted, so that what it measures is the disk and the
  // workspace, not the CPU queue of a machine shared with other work.
  sched_param rt{};
  rt.sched_priority = 50;
  const bool realtime = ::sched_setscheduler(0, SCHED_FIFO, &rt) == 0;
  auto ws = open_ws(dir, Durability::sync);
  auto ns = ws->find_ns("agent/writer") ? ws->ns("agent/writer") : ws->create_ns("agent/writer");
  const std::string value(100, 'w');
  std::vector<std::pair<std::int64_t, std::int64_t>> samples;
  samples.reserve(1 << 20);
  for (std::uint64_t i = 0; !g_stop; ++i) {
    auto start = now_ns();
    ws->write([&](remora::WriteTxn& t) {
      for (int j = 0; j < 10; ++j) t.put(ns, fmt::format("writer/{:08}/{}", i % 100000, j), value);
    });
    samples.emplace_back(start, now_ns() - start);
  }
  std::ofstream f(out);
  f << (realtime ? 1 : 0) << '\n';
  for (auto& [s, d] : samples) f << s << ' ' << d << '\n';
  return 0;
}

// ---------------------------------------------------------------------------------------------

pid_t spawn(const std::vector<std::string>& args, bool quiet = false) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (quiet) {
      std::FILE* null = std::fopen("/dev/null", "w");
      ::dup2(fileno(null), STDOUT_FILENO);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double run_process(const std::vector<std::string>& args) {
  auto t0 = Clock::now();
  int code = wait_for(spawn(args, true));
  if (code != 0) throw std::runtime_error(args[0] + " exited with " + std::to_string(code));
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void build(const fs::path& dir, int kvalues) {
  auto ws = open_ws(dir, Durability::nosync);
  std::vector<remora::Namespace> spaces{ws->ns("base")};
  for (int i = 0; i < 4; ++i) spaces.push_back(ws->create_ns("agent/a" + std::to_string(i)));
  const std::string value(1000, 'v');
  const int batches = kvalues;  // of 1000 values
  for (int b = 0; b < batches; ++b) {
    ws->write([&](remora::WriteTxn& t) {
      for (int j = 0; j < 1000; ++j)
        t.put(spaces[static_cast<std::size_t>(j) % spaces.size()], fmt::format("file:src/{:05}/{:04}.py", b, j), value);
    });
  }
  for (int b = 0; b < batches; b += 10) {
    ws->write([&](remora::WriteTxn& t) {
      for (int j = 0; j < 1000; ++j)
        t.del(spaces[static_cast<std::size_t>(j) % spaces.size()], fmt::format("file:src/{:05}/{:04}.py", b, j));
    });
  }
  ::sync();  // the set-up's writeback must not disturb what is measured
}

struct Stats {
  std::size_t n = 0;
  double p50 = 0, p99 = 0, max = 0;  // milliseconds
  std::size_t over_10ms = 0;
  bool realtime = false;  // the writer ran under SCHED_FIFO
};
Stats stats_of(std::vector<std::int64_t> d) {
  Stats s;
  s.n = d.size();
  s.over_10ms = static_cast<std::size_t>(std::count_if(d.begin(), d.end(), [](std::int64_t x) { return x > 10'000'000; }));
  if (d.empty()) return s;
  std::sort(d.begin(), d.end());
  auto at = [&](double q) { return static_cast<double>(d[static_cast<std::size_t>(q * static_cast<double>(d.size() - 1))]) / 1e6; };
  s.p50 = at(0.5);
  s.p99 = at(0.99);
  s.max = static_cast<double>(d.back()) / 1e6;
  return s;
}

// Commit durations of a writer that ran while fn did; only commits that started within fn count.
Stats writer_during(const std::string& self, const fs::path& ws_dir, const fs::path& tmp,
                    const std::function<void()>& fn) {
  const auto out = tmp / "writer.txt";
  pid_t writer = spawn({self, "--writer", ws_dir.string(), out.string()});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // past its start-up
  auto from = now_ns();
  fn();
  auto to = now_ns();
  ::kill(writer, SIGTERM);
  if (wait_for(writer) != 0) throw std::runtime_error("the writer process failed");
  std::ifstream in(out);
  int realtime = 0;
  in >> realtime;
  std::vector<std::int64_t> d;
  std::int64_t s, dur;
  while (in >> s >> dur)
    if (s >= from && s < to) d.push_back(dur);
  auto stats = stats_of(std::move(d));
  stats.realtime = realtime != 0;
  return stats;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--writer") return writer_main(argv[2], argv[3]);
  int kvalues = 150, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--kvalues") kvalues = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--rounds") rounds = std::stoi(argv[i + 1]);
  }
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string remora = (fs::path(self).parent_path() / "remora").string();
  const auto tmp = fs::temp_directory_path() / ("checkpoint-bench-" + std::to_string(::getpid()));
  const auto ws_dir = tmp / "ws";
  fs::create_directories(tmp);
  try {
    build(ws_dir, kvalues);
    const auto env_bytes = fs::file_size(ws_dir / "data.mdb");

    // Throughput.
    double best_copy = 1e9, best_cli = 1e9, best_lib = 1e9;
    std::uint64_t copy_bytes = 0;
    Checkpoints store(ws_dir);
    auto drop_checkpoints = [&] {
      for (auto& m : store.list()) fs::remove_all(store.dir() / m.id);
    };
    for (int r = 0; r < rounds; ++r) {
      const auto out = tmp / "mdb_copy";
      auto copy = [&] {
        fs::remove_all(out);
        fs::create_directories(out);
        best_copy = std::min(best_copy, run_process({"mdb_copy", "-c", ws_dir.string(), out.string()}));
        copy_bytes = fs::file_size(out / "data.mdb");
        fs::remove_all(out);
      };
      auto cli = [&] {
        best_cli = std::min(best_cli, run_process({remora, "-w", ws_dir.string(), "checkpoint", "-m", "bench"}));
        drop_checkpoints();
      };
      auto lib = [&] {
        auto ws = open_ws(ws_dir, Durability::sync);
        auto t0 = Clock::now();
        store.take(*ws, "bench");
        best_lib = std::min(best_lib, std::chrono::duration<double>(Clock::now() - t0).count());
        drop_checkpoints();
      };
      if (r % 2 == 0) {
        copy(), cli(), lib();
      } else {
        lib(), cli(), copy();
      }
    }
    const double copy_mb = static_cast<double>(copy_bytes) / 1e6;
    auto rate = [&](double s) { return copy_mb / s; };
    auto verdict = [&](double s) {
      double ratio = rate(s) / rate(best_copy);
      return fmt::format("{:5.2f}x   {}", ratio, ratio >= 0.8 ? "ok (target >= 0.8x)" : "UNDER target 0.8x");
    };
    fmt::print("checkpoint_bench: a {:.0f} MB environment ({} k values of 1 kB over base and 4 overlays, a tenth "
               "deleted), {} cores\n\n",
               static_cast<double>(env_bytes) / 1e6, kvalues, std::thread::hardware_concurrency());
    fmt::print("compacted copy of the same environment ({:.0f} MB written), best of {}:\n", copy_mb, rounds);
    fmt::print("  mdb_copy -c (lmdb-utils)           {:6.3f} s  {:7.1f} MB/s\n", best_copy, rate(best_copy));
    fmt::print("  remora checkpoint (a process)      {:6.3f} s  {:7.1f} MB/s  {}\n", best_cli, rate(best_cli),
               verdict(best_cli));
    fmt::print("  Checkpoints::take (in process)     {:6.3f} s  {:7.1f} MB/s  {}\n\n", best_lib, rate(best_lib),
               verdict(best_lib));
    std::fflush(stdout);

    // Stalls: each phase starts on a quiet disk; checkpoints are deleted only in the prune phase.
    auto settle = [] {
      ::sync();
      std::this_thread::sleep_for(std::chrono::seconds(1));
    };
    const int kTakes = 3;
    const double window = kTakes * best_lib;
    settle();
    auto idle = writer_during(self, ws_dir, tmp, [&] { std::this_thread::sleep_for(std::chrono::duration<double>(window)); });
    settle();
    auto taking = writer_during(self, ws_dir, tmp, [&] {
      auto ws = open_ws(ws_dir, Durability::sync);
      for (int i = 0; i < kTakes; ++i) store.take(*ws, "bench", "auto");
    });
    settle();
    auto copying = writer_during(self, ws_dir, tmp, [&] {
      for (int i = 0; i < kTakes; ++i) {
        const auto out = tmp / ("mdb_copy" + std::to_string(i));
        fs::create_directories(out);
        run_process({"mdb_copy", "-c", ws_dir.string(), out.string()});
      }
    });
    settle();
    auto pruning = writer_during(self, ws_dir, tmp, [&] { store.prune(0); });
    auto line = [](const std::string& what, const Stats& s, bool judged) {
      fmt::print("  {:<32} {:6} commits   p50 {:5.2f} ms   p99 {:5.2f} ms   max {:6.2f} ms   over 10 ms: {:3}   {}\n",
                 what, s.n, s.p50, s.p99, s.max, s.over_10ms,
                 !judged ? "" : s.max < 10 ? "ok (target max < 10 ms)" : "OVER target max 10 ms");
    };
    fmt::print("a writer process committing 10 puts of 100 B per transaction (synced commits; {}):\n",
               idle.realtime ? "writer under SCHED_FIFO" : "writer at normal priority");
    line("no checkpoint running", idle, false);
    line(fmt::format("while {} checkpoints are taken", kTakes), taking, true);
    line(fmt::format("while mdb_copy -c runs {} times", kTakes), copying, false);
    line(fmt::format("while {} checkpoints are pruned", kTakes), pruning, true);
  } catch (const std::exception& e) {
    fmt::print(stderr, "checkpoint_bench: {}\n", e.what());
    fs::remove_all(tmp);
    return 1;
  }
  fs::remove_all(tmp);
  return 0;
}
