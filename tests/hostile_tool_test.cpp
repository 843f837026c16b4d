// A hostile command-tool program (tests/hostile/hostile.py) run by an agent of a real `remora run`
// inside a real sandboxed worker: it holds no workspace handle and cannot open the workspace, what
// it detaches dies with its tool call, and its processes share one memory budget and one
// size-capped private directory; the rest of the graph completes, and no workspace file holds the
// supervisor's API key afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "graph_project.hpp"
#include "shared/sandbox_probe.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kHostile = fs::path(REMORA_TESTS_DIR) / "hostile" / "hostile.py";

// Processes on this machine whose command line holds marker.
std::vector<std::string> processes_with(const std::string& marker) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = test::read_text(e.path() / "cmdline");
    if (cmdline.find(marker) != std::string::npos) found.push_back(pid);
  }
  return found;
}

// Every file under dir holding text.
std::vector<std::string> files_holding(const fs::path& dir, const std::string& text) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (bytes.find(text) != std::string::npos) found.push_back(e.path().string());
  }
  return found;
}

// The agent "hostile" runs hostile.py once through a command tool and submits the tool's result
// as its summary; "ordinary" and "after" (which waits for it) write a file each.
void hostile_graph(test::GraphProject& p, const std::string& marker, int allocators, int mib_each,
                   const std::string& sandbox) {
  fs::create_directories(p.path("bundles/hostile/tools"));
  fs::copy_file(kHostile, p.path("bundles/hostile/tools/hostile.py"));
  p.bundle("hostile",
           "system_prompt: s\nuser_prompt: u\nmodel: {provider: scripted}\ntools: [attack, submit_result]\n"
           "command_tools:\n  - name: attack\n    description: attacks\n    parameters: {type: object, properties: {}}\n"
           "    command: [python3, \"{bundle_dir}/hostile.py\", \"" + p.ws() + "\", " + marker + ", \"" +
               std::to_string(allocators) + "\", \"" + std::to_string(mib_each) + "\"]\n    timeout: 120\n"
           "script:\n  - tool_calls: [{name: attack, arguments: {}}]\n"
           "  - tool_calls: [{name: submit_result, arguments: {summary: \"{last_result}\"}}]\n",
           "agent");
  p.steps("ordinary", "  - write: {path: \"out/{agent}.txt\", content: ok}\n  - result: {summary: fine}\n");
  p.graph("config:\n  error_policy: continue\n  sandbox: {" + sandbox + "}\nagents:\n"
          "  - {id: hostile, bundle: hostile}\n  - {id: ordinary, bundle: ordinary}\n"
          "  - {id: after, bundle: ordinary, after: [hostile]}\n");
}

TEST(Sandbox, HostileToolProgramsHoldNoWorkspaceHandleOutliveNothingAndShareOneBudget) {
#ifdef REMORA_SANITIZED
  // The worker's own memory grows several-fold under AddressSanitizer (shadow, quarantine), so in
  // a 256 MiB budget the kernel may kill it before the tool's allocators: the test of the shared
  // budget holds only for the binaries users run (tools/test's first build).
  GTEST_SKIP() << "the memory budget is measured without sanitizers";
#endif
  const auto facts = sandbox::probe();
  test::GraphProject p;
  const std::string marker = "remora-hostile-sleeper-" + std::to_string(::getpid());
  hostile_graph(p, marker, 4, 96, "memory_mb: 256, private_dir_mb: 32");
  ASSERT_EQ(p.run_to_end(), 0) << p.output();

  auto agents = p.agents();
  EXPECT_EQ(agents["ordinary"].value("state", ""), "completed");
  EXPECT_EQ(agents["after"].value("state", ""), "completed");
  ASSERT_EQ(agents["hostile"].value("state", ""), "completed") << agents["hostile"].dump() << "\n" << p.log("hostile");
  const json result = json::parse(agents["hostile"].at("result").value("summary", ""));
  ASSERT_EQ(result.value("exit_code", -1), 0) << result.dump(2);
  const json report = json::parse(result.at("stdout").get<std::string>());

  // No descriptor but 0, 1 and 2; the workspace's files and directory out of reach.
  EXPECT_EQ(report.at("fds"), json::array()) << report.dump(2);
  for (const char* how : {"read", "write", "doorbell_read", "doorbell_write", "list"})
    EXPECT_EQ(report.at("workspace").at(how).value("errno", ""), "EACCES") << how << ": " << report.dump(2);

  // The private directory is a tmpfs of 32 MiB: the 33rd MiB does not fit.
  EXPECT_EQ(report.at("private_dir").value("errno", ""), "ENOSPC") << report.dump(2);
  EXPECT_LE(report.at("private_dir").value("mib", 0), 32);
  EXPECT_GE(report.at("private_dir").value("mib", 0), 16);  // most of it was there to use

  // The detached sleeper died with its tool call: nothing of it is left.
  EXPECT_EQ(processes_with(marker), std::vector<std::string>{});

  // 4 x 96 MiB do not fit in 256 MiB together: the kernel killed some, and the tool's result says why.
  const json memory = report.at("memory");
  if (facts.memory_cgroup.empty()) {
    EXPECT_GE(memory.value("killed", 0), 1) << memory.dump();
    EXPECT_NE(result.value("memory_limit", "").find("the agent's memory limit of 256 MiB was reached"), std::string::npos)
        << result.dump(2);
  } else {
    std::cout << "no memory cgroup on this machine (" << facts.memory_cgroup << "): the memory budget is not checked\n";
  }

  // The worker applied every mechanism of strict, the per-agent ones included.
  const auto started = p.started().at("hostile");
  for (const char* m : {"pid_namespace", "private_tmpfs"})
    EXPECT_NE(std::ranges::find(started.at("applied"), m), started.at("applied").end()) << m << started.dump();
  EXPECT_NE(p.log("hostile").find("private_tmpfs"), std::string::npos);
  EXPECT_NE(p.log("hostile").find("pid_namespace"), std::string::npos);
}

TEST(Sandbox, NoWorkspaceFileHoldsTheApiKeyAfterAHostileRun) {
  test::GraphProject p;
  const std::string key = "sk-remora-test-" + std::to_string(::getpid()) + "-never-in-the-workspace";
  ::setenv("OPENAI_API_KEY", key.c_str(), 1);
  hostile_graph(p, "remora-hostile-key-" + std::to_string(::getpid()), 1, 8, "private_dir_mb: 8");
  const int code = p.run_to_end();
  ::unsetenv("OPENAI_API_KEY");
  ASSERT_EQ(code, 0) << p.output();
  EXPECT_EQ(p.agents()["hostile"].value("state", ""), "completed");
  EXPECT_EQ(files_holding(p.ws(), key), std::vector<std::string>{});
  EXPECT_FALSE(files_holding(p.ws(), "remora-hostile-key-").empty());  // the search does see what is there
}

}  // namespace
}  // namespace remora
