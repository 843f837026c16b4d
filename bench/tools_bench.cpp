// tools_bench: what the agent tools cost, each beside a baseline measured in the same run.
//
//   build/tools_bench [--files N]
//
//  - search_content (RE2 over the overlay, every file read through ToolContext::get) beside
//    `grep -rnE` over the same files on disk;
//  - a pathological pattern, (a+)+c against "aaa...ab": std::regex (backtracking) beside RE2;
//  - a command tool call (copy in, run, read back) beside running the same program alone;
//  - list_files and search_files over the whole project.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <re2/re2.h>
#include <unistd.h>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/workspace.hpp"
#include "worker/bounded_process.hpp"
#include "worker/builtin_tools.hpp"
#include "worker/command_tool.hpp"
#include "worker/tool_registry.hpp"

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using namespace remora;
using namespace remora::worker;

namespace {

// Median of `runs` wall-clock times of fn, in milliseconds (the machine may be busy: the median
// of both sides compares like with like).
double median_ms(int runs, const std::function<void()>& fn) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::ranges::sort(ms);
  return ms[ms.size() / 2];
}

std::string source_file(int i) {
  std::string s = "import os\n\n";
  for (int f = 0; f < 10; ++f) {
    s += "def function_" + std::to_string(i) + "_" + std::to_string(f) + "(arg):\n";
    s += "    value = arg * " + std::to_string(f) + "\n";
    s += f == 7 && i % 50 == 0 ? "    # TODO: handle the error case\n" : "    # nothing to see here\n";
    s += "    return value\n";
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int files = 2000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--files") == 0) files = std::atoi(argv[i + 1]);

  const fs::path dir = fs::temp_directory_path() / ("tools-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir / "tree");
  WorkspaceOptions o;
  o.dir = dir / "ws";
  o.durability = Durability::nosync;
  auto ws = Workspace::open(o);
  auto base = ws->ns("base");
  std::size_t bytes = 0;
  ws->write([&](WriteTxn& t) {
    for (int i = 0; i < files; ++i) {
      const std::string path = "pkg" + std::to_string(i % 20) + "/mod" + std::to_string(i) + ".py";
      proto::FileEntry f;
      f.content.data = source_file(i);
      bytes += f.content.data.size();
      t.put(base, keys::file(path), proto::encode(f));
      fs::create_directories((dir / "tree" / path).parent_path());
      std::ofstream(dir / "tree" / path) << f.content.data;
    }
  });
  auto overlay = ws->create_ns("agent/bench");
  auto tools = builtin_tools();
  auto tool = [&](const std::string& name) -> Tool& {
    return **std::ranges::find_if(tools, [&](const auto& t) { return t->spec().name == name; });
  };
  int call = 0;
  auto run = [&](Tool& t, const nlohmann::json& args) {
    ToolContext ctx(*ws, overlay, "bench", "bench.c" + std::to_string(call++), dir / "scratch",
                    [](const proto::Question&) { return std::string(); });
    auto r = run_tool_call(t, args, ctx);
    if (!r.ok) std::fprintf(stderr, "%s failed: %s\n", t.spec().name.c_str(), r.content.dump().c_str());
  };

  std::printf("tools_bench: %d files, %.1f MB of Python in the workspace (and on disk for the baselines)\n\n", files,
              bytes / 1e6);
  std::printf("%-46s %12s %12s %9s\n", "workload", "tool", "baseline", "ratio");
  auto row = [](const char* what, double tool_ms, double base_ms) {
    std::printf("%-46s %9.3f ms %9.3f ms %8.3gx\n", what, tool_ms, base_ms, tool_ms / base_ms);
  };

  // search_content beside grep.
  const std::string grep = "grep -rnE 'TODO: handle' " + (dir / "tree").string() + " > /dev/null";
  row("search_content 'TODO: handle' | grep -rnE", median_ms(5, [&] { run(tool("search_content"), {{"pattern", "TODO: handle"}, {"max_results", 1000}}); }),
      median_ms(5, [&] {
        if (std::system(grep.c_str()) < 0) std::perror("grep");
      }));

  // A pathological pattern: backtracking is exponential in n, RE2 linear.
  for (int n : {16, 20}) {
    const std::string subject = std::string(n, 'a') + "b";
    const std::regex backtracking("(a+)+c");
    const RE2 linear("(a+)+c");
    double re2_ms = median_ms(3, [&] { (void)RE2::PartialMatch(subject, linear); });
    double std_ms = median_ms(1, [&] { (void)std::regex_search(subject, backtracking); });
    row(("(a+)+c on a^" + std::to_string(n) + "b: RE2 | std::regex").c_str(), re2_ms, std_ms);
  }
  const std::string huge = std::string(1'000'000, 'a') + "b";
  const RE2 linear("(a+)+c");
  std::printf("%-46s %9.3f ms\n", "(a+)+c on a^1000000b: RE2 alone",
              median_ms(3, [&] { (void)RE2::PartialMatch(huge, linear); }));

  // A command tool beside the bare program.
  CommandToolSpec spec{"touch_it", "", nlohmann::json::parse(R"({"type": "object", "required": ["path"],
                        "properties": {"path": {"type": "string"}}})"),
                       {"true", "{path}"}, {"path"}, 10};
  CommandTool command(spec);
  fs::create_directories(dir / "scratch");
  row("command tool `true {path}` | run_bounded `true`", median_ms(20, [&] { run(command, {{"path", "pkg0/mod0.py"}}); }),
      median_ms(20, [&] { run_bounded("/bin/true", {}, dir / "scratch", {}); }));

  std::printf("%-46s %9.3f ms\n", "list_files (project root)", median_ms(5, [&] { run(tool("list_files"), nlohmann::json::object()); }));
  std::printf("%-46s %9.3f ms\n", "search_files '**/mod1*.py'",
              median_ms(5, [&] { run(tool("search_files"), {{"pattern", "**/mod1*.py"}}); }));
  ws.reset();
  fs::remove_all(dir);
  return 0;
}
