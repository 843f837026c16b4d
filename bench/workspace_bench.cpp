// workspace_bench: the workspace beside raw LMDB, the same workloads in one run, ratios printed.
//
//   build/workspace_bench [--keys N] [--siblings-only]
//
// Both sides use the same environment flags (MDB_NOTLS | MDB_NOSYNC, so the disk's fsync does not
// drown the difference) and the same access pattern: one transaction per batch of puts, and a
// reset/renewed read transaction per point get (what a caller of Workspace::get pays). The wake
// latency is measured across processes: this program re-executes itself as the watcher.
//
// Then, against the targets of issue 13: a get and a listing through one overlay while 1 to 10,000
// sibling overlays hold the same keys (target: within 1.5x of 1 sibling), and how many watchers a
// commit wakes when 128 agents each watch their own inbox (target: only the one it touched).
#include <fmt/format.h>
#include <lmdb.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "shared/watcher.hpp"
#include "shared/workspace.hpp"

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

void die(int rc, const char* what) {
  if (rc) {
    std::fprintf(stderr, "%s: %s\n", what, mdb_strerror(rc));
    std::exit(1);
  }
}

struct RawLmdb {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  MDB_txn* rtxn = nullptr;
  explicit RawLmdb(const fs::path& dir) {
    fs::create_directories(dir);
    die(mdb_env_create(&env), "create");
    die(mdb_env_set_mapsize(env, std::size_t{4} << 30), "mapsize");
    die(mdb_env_set_maxdbs(env, 4), "maxdbs");
    die(mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_NOSYNC, 0644), "open");
    MDB_txn* t;
    die(mdb_txn_begin(env, nullptr, 0, &t), "begin");
    die(mdb_dbi_open(t, "kv", MDB_CREATE, &dbi), "dbi");
    die(mdb_txn_commit(t), "commit");
    die(mdb_txn_begin(env, nullptr, MDB_RDONLY, &rtxn), "rbegin");
    mdb_txn_reset(rtxn);
  }
  ~RawLmdb() {
    mdb_txn_abort(rtxn);
    mdb_env_close(env);
  }
  void put_batch(const std::vector<std::string>& keys, std::size_t from, std::size_t to, const std::string& v) {
    MDB_txn* t;
    die(mdb_txn_begin(env, nullptr, 0, &t), "begin");
    for (std::size_t i = from; i < to; ++i) {
      MDB_val k{keys[i].size(), const_cast<char*>(keys[i].data())}, d{v.size(), const_cast<char*>(v.data())};
      die(mdb_put(t, dbi, &k, &d, 0), "put");
    }
    die(mdb_txn_commit(t), "commit");
  }
  std::optional<std::string> get(const std::string& key) {
    die(mdb_txn_renew(rtxn), "renew");
    MDB_val k{key.size(), const_cast<char*>(key.data())}, d;
    std::optional<std::string> out;
    if (mdb_get(rtxn, dbi, &k, &d) == 0) out.emplace(static_cast<char*>(d.mv_data), d.mv_size);
    mdb_txn_reset(rtxn);
    return out;
  }
  std::size_t scan(const std::string& prefix) {
    std::vector<std::pair<std::string, std::string>> out;
    die(mdb_txn_renew(rtxn), "renew");
    MDB_cursor* c;
    die(mdb_cursor_open(rtxn, dbi, &c), "cursor");
    MDB_val k{prefix.size(), const_cast<char*>(prefix.data())}, d;
    int rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= prefix.size() && std::memcmp(k.mv_data, prefix.data(), prefix.size()) == 0) {
      out.emplace_back(std::string(static_cast<char*>(k.mv_data), k.mv_size),
                       std::string(static_cast<char*>(d.mv_data), d.mv_size));
      rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    mdb_txn_reset(rtxn);
    return out.size();
  }
};

void row(const std::string& name, double raw_s, double ws_s, double ops, const std::string& unit, double target) {
  double ratio = ws_s / raw_s;
  const std::string verdict = target <= 0 ? ""
                              : ratio <= target ? fmt::format("ok (target <= {}x)", target)
                                                : fmt::format("OVER target {}x", target);
  std::printf("%-34s %12.0f %12.0f %s %8.2fx   %s\n", name.c_str(), ops / raw_s, ops / ws_s, unit.c_str(), ratio,
              verdict.c_str());
}

template <class F>
double timed(F&& f) {
  auto t0 = Clock::now();
  f();
  return secs(Clock::now() - t0);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

// --- the watcher side of the wake-latency measurement (a separate process) ---

int run_watcher(const std::string& dir, int count, int poll_ms) {
  remora::WorkspaceOptions o;
  o.dir = dir;
  o.create = false;
  o.durability = remora::Durability::nosync;
  auto ws = remora::Workspace::open(o);
  auto base = ws->ns("base");
  std::vector<double> lat;  // wake-up times, CLOCK_MONOTONIC ns (comparable across processes)
  remora::Watcher w(*ws, "ping/");
  ws->write([&](remora::WriteTxn& t) { t.put(base, "ready/" + std::to_string(poll_ms), "1"); });
  std::uint64_t seen_rev = ws->revision();
  while (static_cast<int>(lat.size()) < count) {
    std::vector<remora::Change> changes;
    if (poll_ms == 0) {
      changes = w.next(Clock::now() + std::chrono::seconds(30));
      if (changes.empty()) return 1;
    } else {
      // The upstream pattern this replaces: sleep, then look.
      std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
      if (ws->revision() == seen_rev) continue;
      seen_rev = ws->revision();
      changes = w.next(Clock::now());
    }
    auto t = now_ns();
    for (std::size_t i = 0; i < changes.size(); ++i) lat.push_back(static_cast<double>(t));
  }
  for (double l : lat) std::printf("%.0f\n", l);
  return 0;
}

struct WakeSample {
  double commit_us;  // commit() call to its return (includes the doorbell ring)
  double wake_us;    // commit() return to the watcher process holding the change
};

std::vector<WakeSample> measure_wake(const std::string& self, const std::string& dir, remora::Workspace& ws,
                                     int count, int poll_ms, int gap_us) {
  auto base = ws.ns("base");
  remora::Watcher ready(ws, "ready/" + std::to_string(poll_ms));
  std::string cmd = self + " --watcher " + dir + " " + std::to_string(count) + " " + std::to_string(poll_ms);
  FILE* p = popen(cmd.c_str(), "r");
  if (ready.next(Clock::now() + std::chrono::seconds(30)).empty()) {
    std::fprintf(stderr, "watcher did not start\n");
    std::exit(1);
  }
  std::mt19937 rng(7);
  std::vector<std::pair<std::int64_t, std::int64_t>> commits;  // call, return
  for (int i = 0; i < count; ++i) {
    // Random gaps so that the watcher is asleep when the commit lands, as in real use.
    std::this_thread::sleep_for(std::chrono::microseconds(gap_us + static_cast<int>(rng() % gap_us)));
    auto t0 = now_ns();
    ws.write([&](remora::WriteTxn& t) { t.put(base, "ping/" + std::to_string(i), "x"); });
    commits.emplace_back(t0, now_ns());
  }
  std::vector<WakeSample> out;
  char line[64];
  for (int i = 0; std::fgets(line, sizeof line, p) && i < count; ++i) {
    out.push_back({(commits[i].second - commits[i].first) / 1e3, (std::atof(line) - commits[i].second) / 1e3});
  }
  if (pclose(p) != 0 || static_cast<int>(out.size()) != count) {
    std::fprintf(stderr, "watcher failed\n");
    std::exit(1);
  }
  return out;
}

void print_wake(const char* name, const std::vector<WakeSample>& v, bool target) {
  std::vector<double> commit, wake;
  for (auto& s : v) {
    commit.push_back(s.commit_us);
    wake.push_back(std::max(0.0, s.wake_us));  // the ring precedes commit()'s return: a few are ~0
  }
  std::printf("  %-20s wake p50 %9.1f  p99 %9.1f  max %9.1f   | commit p50 %6.1f p99 %7.1f  (n=%zu)  %s\n", name,
              percentile(wake, 0.5), percentile(wake, 0.99), percentile(wake, 1.0), percentile(commit, 0.5),
              percentile(commit, 0.99), v.size(),
              !target ? "" : percentile(wake, 0.99) < 1000 ? "ok (target p99 < 1 ms)" : "OVER target p99 1 ms");
}

double load_average() {
  double load[1] = {-1};
  return ::getloadavg(load, 1) == 1 ? load[0] : -1;
}

// A get and a 100-key listing through one overlay while `siblings` other overlays of base hold
// the same keys, against 1 sibling. Target (issue 13): within 1.5x at every count. Measured for a
// reader made before the siblings and for one made after them (its namespace id, so its range of
// entries, comes before or after theirs).
void sibling_reads(remora::Workspace& ws) {
  constexpr int kKeys = 100, kRounds = 200;
  auto key = [](int i) { return "sib:" + std::to_string(1000 + i); };
  const auto base = ws.ns("base");
  remora::Batch b;
  for (int i = 0; i < kKeys; ++i) b.put(base, key(i), std::string(100, 'b'));
  ws.commit(b);
  auto make_reader = [&](const std::string& name) {
    const auto r = ws.create_ns(name);
    ws.write([&](remora::WriteTxn& t) {
      for (int i = 0; i < kKeys; i += 2) t.put(r, key(i), "mine");
    });
    return r;
  };
  const auto early = make_reader("reader-early");
  std::printf("\nreads through one overlay while N sibling overlays hold the same %d keys (load %.2f)\n", kKeys,
              load_average());
  std::printf("  %-9s %-24s %10s %7s %12s %7s   %s\n", "siblings", "reader", "get (us)", "vs 1", "list (us)", "vs 1",
              "target <= 1.5x");
  double first[2][2] = {};
  int made = 0;
  for (int want : {1, 10, 100, 1000, 10000}) {
    for (; made < want; ++made) {
      ws.write([&](remora::WriteTxn& t) {
        auto sib = t.create_ns("sib" + std::to_string(made));
        for (int i = 0; i < kKeys; ++i) t.put(sib, key(i), "sibling");
      });
    }
    const auto late = make_reader("reader-late" + std::to_string(want));
    int which = 0;
    for (const auto* mine : {&early, &late}) {
      std::size_t hits = 0;
      double get_us = timed([&] {
        for (int r = 0; r < kRounds; ++r)
          for (int i = 0; i < kKeys; ++i) hits += ws.get(*mine, key(i)).has_value();
      }) * 1e6 / (kRounds * kKeys);
      double list_us = timed([&] {
        for (int r = 0; r < kRounds / 10; ++r) hits += ws.list(*mine, "sib:").size();
      }) * 1e6 / (kRounds / 10);
      if (want == 1) first[which][0] = get_us, first[which][1] = list_us;
      const double gr = get_us / first[which][0], lr = list_us / first[which][1];
      std::printf("  %-9d %-24s %10.2f %6.2fx %12.1f %6.2fx   %s\n", want,
                  which == 0 ? "made before the siblings" : "made after the siblings", get_us, gr, list_us, lr,
                  gr <= 1.5 && lr <= 1.5 ? "ok" : "OVER target 1.5x");
      if (hits == 0) std::printf("(no hits?)\n");
      ++which;
    }
  }
}

// 128 agents each wait for their own inbox key; commits to one agent's inbox at a time. Counts the
// watchers each commit woke (the doorbell before issue 13 woke all 128).
void wake_fanout(remora::Workspace& ws) {
  constexpr int kAgents = 128, kRounds = 8;
  const auto base = ws.ns("base");
  std::vector<std::unique_ptr<remora::Watcher>> watchers;
  for (int a = 0; a < kAgents; ++a)
    watchers.push_back(std::make_unique<remora::Watcher>(ws, "inbox:model:agent" + std::to_string(a)));
  std::vector<std::thread> threads;
  std::vector<int> received(kAgents, 0);
  for (int a = 0; a < kAgents; ++a) {
    threads.emplace_back([&, a] {
      while (received[a] < kRounds) {
        auto got = watchers[a]->next(Clock::now() + std::chrono::seconds(60));
        if (got.empty()) return;
        received[a] += static_cast<int>(got.size());
      }
    });
  }
  // Until every watcher sleeps (bounded), so that the count is of wake-ups, not of first looks.
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  auto asleep = [&] {
    std::uint32_t n = 0;
    for (auto& w : watchers) n += ws.doorbell().waiters(w->slot());
    return n;
  };
  while (asleep() < kAgents && Clock::now() < deadline) std::this_thread::yield();
  for (int r = 0; r < kRounds; ++r)
    for (int a = 0; a < kAgents; ++a)
      ws.write([&](remora::WriteTxn& t) { t.put(base, "inbox:model:agent" + std::to_string(a), std::to_string(r)); });
  for (auto& t : threads) t.join();
  std::uint64_t woken = 0;
  for (auto& w : watchers) woken += w->wakeups();
  const double per_commit = static_cast<double>(woken) / (kAgents * kRounds);
  std::printf("\n%d agents each watching its own inbox, %d commits (load %.2f)\n", kAgents, kAgents * kRounds,
              load_average());
  std::printf("  watchers woken per commit: %.2f   target: only the watchers it touched (1)   %s\n", per_commit,
              per_commit <= 1.5 ? "ok" : "OVER");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 5 && std::string(argv[1]) == "--watcher") return run_watcher(argv[2], std::stoi(argv[3]), std::stoi(argv[4]));
  std::size_t n = 200000;
  bool siblings_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--keys" && i + 1 < argc) n = std::stoul(argv[++i]);
    if (std::string(argv[i]) == "--siblings-only") siblings_only = true;
  }

  auto root = fs::temp_directory_path() / ("remora-bench-" + std::to_string(::getpid()));
  fs::create_directories(root);
  std::printf("workspace_bench: %zu keys of 100 bytes, batches of 1000, MDB_NOSYNC on both sides, load %.2f\n\n", n,
              load_average());
  std::printf("%-34s %12s %12s %s %9s\n", "workload", "raw LMDB", "workspace", "   ", "ws/raw");

  std::vector<std::string> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = "file:src/mod" + std::to_string(i % 997) + "/f" + std::to_string(i) + ".py";
  std::shuffle(keys.begin(), keys.end(), std::mt19937(42));
  const std::string value(100, 'x');
  constexpr std::size_t kBatch = 1000;

  RawLmdb raw(root / "raw");
  remora::WorkspaceOptions o;
  o.dir = root / "ws";
  o.durability = remora::Durability::nosync;
  o.initial_map_bytes = std::size_t{4} << 30;
  auto ws = remora::Workspace::open(o);
  auto base = ws->ns("base");
  if (siblings_only) {
    sibling_reads(*ws);
    ws.reset();
    fs::remove_all(root);
    return 0;
  }

  // 1. Batched puts. Each side fills an empty tree, then adds as many again to the filled one
  // (the overlay pass lands beside base's entries, so it is compared with the raw second pass).
  std::vector<std::string> more(keys);
  for (auto& k : more) k += "~";
  double raw_put = timed([&] {
    for (std::size_t i = 0; i < n; i += kBatch) raw.put_batch(keys, i, std::min(n, i + kBatch), value);
  });
  double raw_put2 = timed([&] {
    for (std::size_t i = 0; i < n; i += kBatch) raw.put_batch(more, i, std::min(n, i + kBatch), value);
  });
  auto ws_puts = [&](const remora::Namespace& ns) {
    return timed([&] {
      for (std::size_t i = 0; i < n; i += kBatch) {
        remora::Batch b;
        for (std::size_t j = i; j < std::min(n, i + kBatch); ++j) b.put(ns, keys[j], value);
        ws->commit(b);
      }
    });
  };
  row("batched puts into base", raw_put, ws_puts(base), n, "puts/s", 2);
  // Overlay writes also track the parent's version of each key and index the overlay.
  auto agent = ws->create_ns("agent");
  row("batched puts into an overlay", raw_put2, ws_puts(agent), n, "puts/s", 2);
  ws->drop_ns("agent");

  // 2. Point gets through overlays (keys living in base; each overlay holds 1% of keys of its own)
  auto o1 = ws->create_ns("o1");
  auto o2 = ws->create_ns("o2", "o1");
  auto o3 = ws->create_ns("o3", "o2");
  for (auto* layer : {&o1, &o2, &o3}) {
    remora::Batch b;
    for (std::size_t i = 0; i < n; i += 100) b.put(*layer, keys[(i + layer->id * 7) % n], "overlay");
    ws->commit(b);
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(1));
  std::size_t hits = 0;
  double raw_get = timed([&] {
    for (auto i : order) hits += raw.get(keys[i]).has_value();
  });
  for (auto [name, ns] : {std::pair{"point gets, base", &base}, {"point gets through overlay depth 1", &o1},
                          {"point gets through overlay depth 3", &o3}}) {
    double t = timed([&] {
      for (auto i : order) hits += ws->get(*ns, keys[i]).has_value();
    });
    // Depth 1, an agent's overlay over base, is judged against issue 13's 1.5x; the rest against
    // issue 1's 2x.
    row(name, raw_get, t, n, "gets/s", ns == &o1 ? 1.5 : 2);
  }

  // 3. Prefix scan (every file:src/mod1* key, merged through depth 3)
  const std::string prefix = "file:src/mod1";
  std::size_t scanned = 0, rounds = 20;
  double raw_scan = timed([&] {
    for (std::size_t r = 0; r < rounds; ++r) scanned = raw.scan(prefix);
  });
  double ws_scan = timed([&] {
    for (std::size_t r = 0; r < rounds; ++r) scanned = ws->list(base, prefix).size();
  });
  row("prefix scan, base", raw_scan, ws_scan, double(scanned * rounds), "keys/s", 0);
  double ws_scan3 = timed([&] {
    for (std::size_t r = 0; r < rounds; ++r) ws->list(o3, prefix);
  });
  row("prefix scan through depth 3", raw_scan, ws_scan3, double(scanned * rounds), "keys/s", 0);
  if (hits == 0) std::printf("(no hits?)\n");

  // 4. Commit-to-wake, across processes
  std::printf("\ncommit in this process -> watcher in another process holds the change (microseconds):\n");
  auto self = fs::read_symlink("/proc/self/exe").string();
  auto wake = measure_wake(self, o.dir, *ws, 3000, 0, 300);
  print_wake("doorbell watcher", wake, true);
  auto poll = measure_wake(self, o.dir, *ws, 16, 500, 300000);
  print_wake("500 ms polling", poll, false);
  auto p50 = [](const std::vector<WakeSample>& v) {
    std::vector<double> w;
    for (auto& s : v) w.push_back(std::max(1.0, s.wake_us));
    return percentile(w, 0.5);
  };
  std::printf("  polling / doorbell at p50: %.0fx\n", p50(poll) / p50(wake));

  wake_fanout(*ws);
  sibling_reads(*ws);

  ws.reset();
  fs::remove_all(root);
  return 0;
}
