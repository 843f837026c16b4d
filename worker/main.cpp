// remora-worker: runs one agent of a graph. Started by the supervisor; learns everything from the
// workspace (its run:agent record and its bundle) and reports only through it. It confines itself
// in its sandbox (worker/sandbox.hpp) once it has read its records and before it runs anything
// of the agent's, and logs what it applied.
//
//   remora-worker --workspace DIR --agent ID [--supervisor-pid PID] [--sandbox LEVEL] [limits...]
//
// Exit codes: see worker/step_runner.hpp (0 completed, 1 failed as reported, 2 bad input,
// 3 orphaned, 4 sandbox unavailable, 5 sandbox denied). Logs go to stderr, which the supervisor
// sends to the agent's log file.
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>

#include "shared/bounded_json.hpp"
#include "proto/codec.hpp"
#include "shared/cli.hpp"
#include "proto/keyspace.hpp"
#include "shared/sandbox_policy.hpp"
#include "worker/heartbeat.hpp"
#include "worker/kernel.hpp"
#include "worker/sandbox.hpp"
#include "worker/step_runner.hpp"
#include "worker/tool_registry.hpp"

using namespace remora;

#ifdef REMORA_SANITIZED
// The sanitized build (tools/test's build-asan/): LeakSanitizer stops the world with ptrace at
// exit, which the sandbox's seccomp filter forbids; leaks are checked in the other binaries.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

int main(int argc, char** argv) {
  // remora ignores SIGPIPE (its output may go to a closed pipe); what the worker starts gets the default.
  std::signal(SIGPIPE, SIG_DFL);
  CLI::App app{"remora-worker: runs one agent of a graph (started by the remora supervisor)"};
  std::string dir, agent_id;
  long supervisor_pid = 0;
  std::string durability = "sync";
  app.add_option("--workspace", dir, "workspace directory")->required();
  app.add_option("--agent", agent_id, "agent id")->required();
  std::string private_dir;
  app.add_option("--private-dir", private_dir, "the agent's private directory (default: sandbox::private_dir)");
  std::string memory_cgroup;
  app.add_option("--memory-cgroup", memory_cgroup, "the agent's memory cgroup, which the supervisor put this worker in");
  app.add_option("--supervisor-pid", supervisor_pid, "exit if this process is not our parent");
  app.add_option("--durability", durability, "sync, meta_nosync or nosync")->check(CLI::IsMember({"sync", "meta_nosync", "nosync"}));
  sandbox::Config sandbox_config;
  sandbox_config.add_options(app);
  if (auto code = cli::parse(app, argc, argv)) return *code;  // 2 is kBadInput

  cli::init_logging("worker", spdlog::level::info);  // stderr is the agent's log file
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e [%l] " + agent_id + " pid %P: %v");

  // Bound to the supervisor's life: killed when it dies, and gone at once if it already has.
  auto orphaned = [&] {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (supervisor_pid == 0 || ::getppid() == supervisor_pid) return false;
    spdlog::error("the supervisor (pid {}) is gone; exiting", supervisor_pid);
    return true;
  };
  if (orphaned()) return worker::kOrphaned;
  try {
    worker::Sandbox box(sandbox_config);  // before anything is opened: closes inherited descriptors
    WorkspaceOptions opts;
    opts.dir = dir;
    opts.create = false;
    opts.durability = *durability_named(durability);
    auto ws = Workspace::open(opts);
    auto base = ws->ns("base");
    auto rec = ws->get(base, keys::run_agent(agent_id));
    if (!rec) {
      spdlog::error("no record {} in the workspace", keys::run_agent(agent_id));
      return worker::kBadInput;
    }
    auto agent = proto::decode<proto::AgentState>(rec->value, keys::run_agent(agent_id));
    auto bkey = keys::run_bundle(agent.bundle);
    auto brec = ws->get(base, bkey);
    if (!brec) {
      spdlog::error("no bundle {} in the workspace", bkey);
      return worker::kBadInput;
    }
    auto bundle = Bundle::from_json(parse_bounded(proto::decode<proto::JsonValue>(brec->value, bkey).json, bkey, kRecordJsonLimits));
    // Confined before any thread starts and before any of the agent's code runs.
    if (private_dir.empty()) {  // started by hand: where the supervisor would have put it
      sandbox::prepare_private_root(sandbox::private_root(dir));
      private_dir = sandbox::private_dir(dir, agent_id);
    }
    auto confinement = box.apply({private_dir, ws->files(), sandbox_config.read_paths, memory_cgroup},
                                 sandbox::rlimits_for(sandbox_config.limits, ws->map_size()));
    if (sandbox_config.level == sandbox::Level::none) {
      spdlog::warn("sandbox: {} (debugging only: this agent runs unconfined)", confinement.summary());
    } else {
      spdlog::info("sandbox: {}", confinement.summary());
    }
    if (orphaned()) return worker::kOrphaned;  // again: leaving root reset the death signal
    spdlog::info("starting (attempt {}, bundle {})", agent.attempt, agent.bundle);
    worker::Heartbeat heartbeat(*ws, ws->ns(agent.ns), agent.id, std::chrono::milliseconds(agent.heartbeat_ms));
    int code;
    if (bundle.kind == "agent") {
      auto tools = worker::make_tools(bundle);
      auto scratch = std::filesystem::temp_directory_path() / ("remora-" + agent.id + "-" + std::to_string(::getpid()));
      worker::Kernel kernel(*ws, agent, std::move(bundle), std::move(tools), scratch);
      code = kernel.run();
      std::error_code ec;
      std::filesystem::remove_all(scratch, ec);
    } else {
      worker::StepRunner runner(*ws, agent, std::move(bundle), [&] { heartbeat.stop(); });
      code = runner.run();
    }
    spdlog::info("finished with exit code {}", code);
    return code;
  } catch (const worker::SandboxUnavailable& e) {
    spdlog::error("{}", e.what());
    return worker::kSandboxUnavailable;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return worker::kBadInput;
  }
}
