// cluster_bench: what spreading a graph over hosts through etcd costs (docs/scale-out.md, issue 15),
// measured side by side in one run on a 3-member etcd cluster on loopback.
//
//   build/cluster_bench [--agents N] [--ops N]
//
// 1. etcd operations through remora's client (cluster/etcd_client): put, txn (create-if-absent),
//    linearizable get, and watch latency (a put through one member -> the event on a watch opened on
//    another).
// 2. Per agent and per turn: the same graph of N agents run by `remora run` and by `remora run
//    --cluster --hosts 1`; etcd writes per agent (the store's revision moved by the run) for bundles of
//    1 and of 20 steps (turns stay local: the count must not grow with them), and the wall time added
//    per agent; each at N/4 and N agents, so that what every further agent adds is told apart from
//    what a cluster run costs once (joining, the slot's lease, leaving).
// 3. A model of what one cluster carries: writes per second with 8 concurrent writers, divided by the
//    writes an agent costs, is agents per second before etcd is the bottleneck; and how many hosts
//    that is at 4 agents of 60 s on each.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd_client.hpp"
#include "tests/etcd_cluster.hpp"

namespace fs = std::filesystem;
namespace bp = boost::process::v2;
using Clock = std::chrono::steady_clock;
using remora::cluster::EtcdClient;

namespace {

fs::path g_bin;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

int run_process(const std::vector<std::string>& args) {
  boost::asio::io_context ctx;
  bp::process p(ctx, bp::filesystem::path((g_bin / "remora").string()), args, bp::process_stdio{nullptr, nullptr, nullptr});
  return p.wait();
}

void row(const char* what, const std::vector<double>& t) {
  std::printf("   %-44s p50 %7.2f ms   p99 %7.2f ms   (n=%zu)\n", what, percentile(t, 0.5), percentile(t, 0.99), t.size());
}

}  // namespace

int main(int argc, char** argv) {
  int agents = 40, ops = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--agents" && i + 1 < argc) agents = std::stoi(argv[++i]);
    if (a == "--ops" && i + 1 < argc) ops = std::stoi(argv[++i]);
  }
  g_bin = fs::read_symlink("/proc/self/exe").parent_path();
  if (!remora::test::EtcdCluster::available()) {
    std::printf("cluster_bench: etcd is not installed (apt-get install etcd-server)\n");
    return 1;
  }
  remora::test::EtcdCluster etcd;
  EtcdClient c(EtcdClient::split_urls(etcd.urls()));
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) < 0) load[0] = load[1] = load[2] = -1;
  std::printf("cluster_bench: 3 etcd members on loopback; load average %.2f %.2f %.2f on %ld cores\n\n", load[0],
              load[1], load[2], ::sysconf(_SC_NPROCESSORS_ONLN));

  std::printf("1. etcd operations through cluster/etcd_client (200-byte values)\n");
  const std::string value(200, 'x');
  std::vector<double> put, txn, get, watch;
  for (int i = 0; i < ops; ++i) {
    auto t0 = Clock::now();
    c.put("/bench/put/" + std::to_string(i), value);
    put.push_back(ms(Clock::now() - t0));
  }
  for (int i = 0; i < ops; ++i) {
    auto t0 = Clock::now();
    c.create("/bench/txn/" + std::to_string(i), value);
    txn.push_back(ms(Clock::now() - t0));
  }
  for (int i = 0; i < ops; ++i) {
    auto t0 = Clock::now();
    c.get("/bench/put/" + std::to_string(i));
    get.push_back(ms(Clock::now() - t0));
  }
  {
    EtcdClient watcher({etcd.client_url(2)}), writer({etcd.client_url(0)});
    std::int64_t from = writer.put("/bench/w/start", "");
    std::vector<Clock::time_point> sent(static_cast<std::size_t>(ops));
    std::atomic<int> seen{0};
    std::thread th([&] {
      watcher.watch_prefix("/bench/w/k", from, [&](const std::vector<remora::cluster::WatchEvent>& evs) {
        auto now = Clock::now();
        for (auto& e : evs) {
          auto i = static_cast<std::size_t>(std::stoi(e.kv.key.substr(10)));
          watch.push_back(ms(now - sent[i]));
          ++seen;
        }
        return seen < ops;
      }, [] { return false; });
    });
    for (int i = 0; i < ops; ++i) {
      sent[static_cast<std::size_t>(i)] = Clock::now();
      writer.put("/bench/w/k" + std::to_string(i), value);
    }
    th.join();
  }
  row("put", put);
  row("txn (create if absent)", txn);
  row("get (linearizable)", get);
  row("watch: put on member 0 -> event on member 2", watch);

  std::printf("\n2. per agent and per turn: `remora run` vs `remora run --cluster --hosts 1` (%d agents)\n", agents);
  auto root = fs::temp_directory_path() / ("remora-cbench-" + std::to_string(::getpid()));
  std::string steps20;
  for (int i = 0; i < 19; ++i) steps20 += "  - write: {path: \"f" + std::to_string(i) + ".txt\", content: \"x\"}\n";
  write(root / "bundles/one/bundle.yaml", "name: one\nkind: steps\nsteps:\n  - result: {summary: ok}\n");
  write(root / "bundles/twenty/bundle.yaml", "name: twenty\nkind: steps\nsteps:\n" + steps20 + "  - result: {summary: ok}\n");
  double writes_per_agent = 0;
  // Each configuration at two sizes: the difference is what each further agent adds (writes, wall),
  // apart from what a cluster run costs once (join, slot, lease; leaving).
  const int small = std::max(1, agents / 4);
  for (const char* bundle : {"one", "twenty"}) {
    double added[2] = {0, 0};      // cluster wall - local wall, at small and at agents
    std::int64_t writes[2] = {0, 0};
    double wall_local = 0, wall_cluster = 0;
    for (int size = 0; size < 2; ++size) {
      const int n = size ? agents : small;
      double wall[2] = {0, 0};
      for (int cluster = 0; cluster < 2; ++cluster) {
        const std::string name = std::string("g-") + bundle + "-" + std::to_string(n) + (cluster ? "-c" : "-l");
        std::string g = "name: " + name + "\nconfig: {max_concurrency: 4}\nagents:\n";
        for (int i = 0; i < n; ++i) g += "  - {id: a" + std::to_string(i) + ", bundle: " + bundle + "}\n";
        write(root / (name + ".yaml"), g);
        std::vector<std::string> args{"-w", (root / ("ws-" + name)).string(), "run", (root / (name + ".yaml")).string(), "--json"};
        if (cluster) args.insert(args.end(), {"--cluster", etcd.urls(), "--host", "bench", "--hosts", "1"});
        std::int64_t before = 0, after = 0;
        c.range_prefix("/nothing/", &before);
        auto t0 = Clock::now();
        int rc = run_process(args);
        wall[cluster] = ms(Clock::now() - t0);
        c.range_prefix("/nothing/", &after);
        if (rc != 0) std::printf("   (the %s run exited %d)\n", cluster ? "cluster" : "local", rc);
        if (cluster) writes[size] = after - before;
      }
      added[size] = wall[1] - wall[0];
      if (size) wall_local = wall[0], wall_cluster = wall[1];
    }
    const double per_agent = static_cast<double>(writes[1] - writes[0]) / (agents - small);
    const double ms_per_agent = (added[1] - added[0]) / (agents - small);
    if (std::string(bundle) == "one") writes_per_agent = per_agent;
    std::printf("   %-6s steps/agent %2d: etcd writes %4lld at %d agents, %4lld at %d: %.2f per agent, %lld once\n"
                "                          wall at %d agents local %6.0f ms, cluster %6.0f ms: %+.2f ms per agent, %+.0f ms once\n",
                bundle, std::string(bundle) == "one" ? 1 : 20, static_cast<long long>(writes[0]), small,
                static_cast<long long>(writes[1]), agents, per_agent,
                static_cast<long long>(writes[0] - static_cast<std::int64_t>(per_agent * small + 0.5)), agents, wall_local,
                wall_cluster, ms_per_agent, added[0] - ms_per_agent * small);
  }
  std::printf("   per turn: 0 etcd operations by design (turns, tool calls, heartbeats stay in the host's LMDB);\n"
              "   the two rows above must show the same writes per agent whatever the steps.\n");

  std::printf("\n3. what one etcd cluster carries\n");
  constexpr int kWriters = 8;
  std::atomic<long> done{0};
  const auto until = Clock::now() + std::chrono::seconds(3);
  std::vector<std::thread> ws;
  for (int w = 0; w < kWriters; ++w)
    ws.emplace_back([&, w] {
      EtcdClient mine(EtcdClient::split_urls(etcd.urls()));
      for (long i = 0; Clock::now() < until; ++i) {
        mine.put("/bench/tp/" + std::to_string(w) + "/" + std::to_string(i % 100), value);
        ++done;
      }
    });
  for (auto& t : ws) t.join();
  const double writes_per_s = static_cast<double>(done) / 3.0;
  const double agents_per_s = writes_per_agent > 0 ? writes_per_s / writes_per_agent : 0;
  std::printf("   %d concurrent writers: %.0f writes/s\n", kWriters, writes_per_s);
  std::printf("   at %.2f writes per agent: %.0f agents/s before etcd is the bottleneck\n", writes_per_agent, agents_per_s);
  std::printf("   hosts running 4 agents of 60 s each (%.3f agents/s a host): %.0f hosts\n", 4.0 / 60, agents_per_s / (4.0 / 60));
  std::printf("   (target from issue 15: none numeric; it asks for the figures and the model)\n");
  double load2[3] = {0, 0, 0};
  if (::getloadavg(load2, 3) < 0) load2[0] = -1;
  std::printf("\nload average at the end: %.2f\n", load2[0]);
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
