// reply_cost_bench: that the cost of a model reply is linear in its size. One agent, one reply
// from a real chat server on 127.0.0.1 holding a write_file of 2k MiB and 10k kv_put calls of
// 100 KiB each (3k MiB in all), then submit_result; k = 1, 2, 4, 8. Printed side by side per MiB of
// reply: the wall time of the whole `remora run` and the workspace's growth (data.mdb), each also
// as a ratio to k = 1. Linear cost shows as flat ratios (startup makes k = 1 dearest per MiB); a
// quadratic path (every call re-reading the whole reply) doubles the time ratio with each k.
//
//   build/reply_cost_bench [--max-k 8]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/chat_server.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using remora::test::ChatAction;
using remora::test::ChatServer;
using remora::test::chat_turn;
using remora::test::tool_call;

namespace {

constexpr std::size_t kMiB = 1u << 20;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

ChatAction big_reply(int k) {
  std::vector<json> calls;
  calls.push_back(tool_call("w", "write_file", {{"path", "big.txt"}, {"content", std::string(2 * k * kMiB, 'w')}}));
  for (int i = 0; i < 10 * k; ++i)
    calls.push_back(tool_call("k" + std::to_string(i), "kv_put",
                              {{"key", "k" + std::to_string(i)}, {"value", std::string(100 * 1024, 'v')}}));
  return ChatAction::tool_calls(std::move(calls));
}

struct Cost {
  double seconds = 0;
  double grown_mib = 0;
};

Cost run(const fs::path& bin, const fs::path& root, int k) {
  ChatServer server([k](const json& req, int) {
    if (chat_turn(req).turn == 1) return big_reply(k);
    return ChatAction::tool_calls({tool_call("s", "submit_result", {{"summary", "done"}})});
  });
  fs::remove_all(root);
  write(root / "bundles/big/bundle.yaml",
        "name: big\nkind: agent\nsystem_prompt: s\nuser_prompt: \"agent {agent}\"\n"
        "model: {provider: openai, model: m, base_url: \"" + server.base_url() + "\", retries: 0, max_reply_mb: 64}\n"
        "max_turns: 3\ntools: [write_file, kv_put, submit_result]\n");
  write(root / "graph.yaml", "config: {durability: meta_nosync, interactive: false}\nagents:\n  - {id: a, bundle: big}\n");
  const std::string cmd = (bin / "remora").string() + " -w " + (root / "ws").string() + " run " +
                          (root / "graph.yaml").string() + " --json > " + (root / "run.out").string() + " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  int rc = std::system(cmd.c_str());
  Cost c;
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rc != 0) std::fprintf(stderr, "remora run exited %d (see %s)\n", rc, (root / "run.out").c_str());
  std::error_code ec;
  c.grown_mib = static_cast<double>(fs::file_size(root / "ws/data.mdb", ec)) / kMiB;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  int max_k = 8;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--max-k") max_k = std::atoi(argv[++i]);
  const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  const fs::path root = fs::temp_directory_path() / ("remora-reply-bench-" + std::to_string(::getpid()));
  std::printf("%3s %9s %6s %9s %11s %10s %12s %10s\n", "k", "reply MiB", "calls", "run s", "ms per MiB", "time ratio",
              "MiB per MiB", "ws ratio");
  double base_ms = 0, base_ws = 0;
  for (int k = 1; k <= max_k; k *= 2) {
    const double reply_mib = 3.0 * k;
    Cost c = run(bin, root, k);
    const double ms = c.seconds * 1000 / reply_mib, ws = c.grown_mib / reply_mib;
    if (k == 1) base_ms = ms, base_ws = ws;
    std::printf("%3d %9.0f %6d %9.2f %11.1f %10.2f %12.2f %10.2f\n", k, reply_mib, 10 * k + 1, c.seconds, ms,
                ms / base_ms, ws, ws / base_ws);
  }
  fs::remove_all(root);
}
