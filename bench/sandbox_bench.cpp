// sandbox_bench: what the sandbox costs a worker's start, measured side by side in one run.
//
//   build/sandbox_bench [--rounds N]
//
// Spawn-to-ready, for N rounds (default 200) taken in turn so that the machine's load falls on
// all three alike:
//   - remora-worker at level strict: from spawn until its log line "sandbox: level strict; ..."
//     reaches this process through a pipe. By then the worker has started, opened the workspace,
//     read its agent's records and confined itself; no thread has started and no agent code has
//     run. This is "ready".
//   - remora-worker at level none: the same line at the same point, with nothing applied.
//   - `bwrap --unshare-all --ro-bind / / true` (Debian's bubblewrap): from spawn until it has
//     exited, the nearest thing to ready it shows (its sandbox built, `true` run).
// The target is a strict worker ready in no more than 2x the bubblewrap figure.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/sandbox_policy.hpp"
#include "shared/unique_fd.hpp"

extern char** environ;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Spawns argv with stderr into a pipe; returns microseconds from spawn until stderr holds
// `marker` (or until the process exits, for an empty marker), then reaps the process.
double spawn_until(const std::vector<std::string>& argv, const std::string& marker) {
  auto [out_r, out_w] = remora::Pipe::make();
  if (!out_r) throw std::runtime_error("pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  auto t0 = Clock::now();
  int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  out_w = remora::UniqueFd();
  if (rc != 0) throw std::runtime_error("cannot spawn " + argv[0]);
  std::string seen;
  double us = -1;
  char buf[4096];
  for (ssize_t n; (n = ::read(out_r.get(), buf, sizeof buf)) > 0;) {
    seen.append(buf, static_cast<std::size_t>(n));
    if (us < 0 && !marker.empty() && seen.find(marker) != std::string::npos)
      us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (marker.empty()) us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  if (us < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(argv[0] + " did not get ready: " + seen);
  return us;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 200;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rounds") rounds = std::stoi(argv[++i]);
  const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  const fs::path root = fs::temp_directory_path() / ("remora-sandbox-bench-" + std::to_string(::getpid()));
  // A workspace holding one agent's records, made by a real run of a one-agent graph.
  write(root / "bundles/trivial/bundle.yaml", "name: trivial\nkind: steps\nsteps:\n  - result: {summary: ok}\n");
  write(root / "graph.yaml", "agents: [{id: a, bundle: trivial}]\n");
  const std::string ws = (root / "ws").string();
  spawn_until({(bin / "remora").string(), "-w", ws, "run", (root / "graph.yaml").string(), "--json"}, "");

  auto worker = [&](remora::sandbox::Level level) {
    remora::sandbox::Config config;
    config.level = level;
    std::vector<std::string> args{(bin / "remora-worker").string(), "--workspace", ws, "--agent", "a",
                                  "--durability", "nosync"};
    for (auto& a : config.to_args()) args.push_back(a);
    return args;
  };
  const auto strict = worker(remora::sandbox::Level::strict), none = worker(remora::sandbox::Level::none);
  const std::vector<std::string> bwrap{"/usr/bin/bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"};

  std::vector<double> t_strict, t_none, t_bwrap;
  for (int i = 0; i < rounds; ++i) {
    t_strict.push_back(spawn_until(strict, "sandbox: level strict"));
    t_none.push_back(spawn_until(none, "sandbox: level none"));
    t_bwrap.push_back(spawn_until(bwrap, ""));
  }

  std::printf("sandbox_bench: spawn-to-ready, %d rounds taken in turn, %ld cores\n\n", rounds,
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%-44s %9s %9s %9s\n", "", "p50 ms", "p90 ms", "p99 ms");
  auto row = [](const char* name, const std::vector<double>& v) {
    std::printf("%-44s %9.2f %9.2f %9.2f\n", name, percentile(v, 0.5) / 1000, percentile(v, 0.9) / 1000,
                percentile(v, 0.99) / 1000);
  };
  row("remora-worker, sandbox strict", t_strict);
  row("remora-worker, sandbox none", t_none);
  row("bwrap --unshare-all --ro-bind / / true", t_bwrap);
  const double ratio = percentile(t_strict, 0.5) / percentile(t_bwrap, 0.5);
  std::printf("\nstrict worker / bubblewrap at p50: %.2fx   %s\n", ratio,
              ratio <= 2 ? "ok (target <= 2x)" : "OVER target 2x");
  std::printf("the sandbox's own cost at p50 (strict - none): %.2f ms\n",
              (percentile(t_strict, 0.5) - percentile(t_none, 0.5)) / 1000);
  fs::remove_all(root);
  return 0;
}
