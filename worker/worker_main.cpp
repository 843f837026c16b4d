#include "worker/worker_main.hpp"

#include <spdlog/spdlog.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

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
#include "worker/zygote.hpp"

namespace remora::worker {

int worker_main(int argc, char** argv, AttemptAction attempt) {
  if (argc > 1 && std::string_view(argv[1]) == "--zygote") return run_zygote(argc, argv, std::move(attempt));
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
  if (orphaned()) return kOrphaned;
  try {
    Sandbox box(sandbox_config);  // before anything is opened: closes inherited descriptors
    WorkspaceOptions opts;
    opts.dir = dir;
    opts.create = false;
    opts.durability = *durability_named(durability);
    auto ws = Workspace::open(opts);
    auto base = ws->ns("base");
    auto rec = ws->get(base, keys::run_agent(agent_id));
    if (!rec) {
      spdlog::error("no record {} in the workspace", keys::run_agent(agent_id));
      return kBadInput;
    }
    auto agent = proto::decode<proto::AgentState>(rec->value, keys::run_agent(agent_id));
    auto bkey = keys::run_bundle(agent.bundle);
    auto brec = ws->get(base, bkey);
    if (!brec) {
      spdlog::error("no bundle {} in the workspace", bkey);
      return kBadInput;
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
    if (orphaned()) return kOrphaned;  // again: leaving root reset the death signal
    spdlog::info("starting (attempt {}, bundle {})", agent.attempt, agent.bundle);
    Heartbeat heartbeat(*ws, ws->ns(agent.ns), agent.id, std::chrono::milliseconds(agent.heartbeat_ms));
    int code;
    if (bundle.kind == "agent") {
      auto tools = make_tools(bundle);
      auto scratch = std::filesystem::temp_directory_path() / ("remora-" + agent.id + "-" + std::to_string(::getpid()));
      Kernel kernel(*ws, agent, std::move(bundle), std::move(tools), scratch);
      code = kernel.run();
      std::error_code ec;
      std::filesystem::remove_all(scratch, ec);
    } else {
      StepRunner runner(*ws, agent, std::move(bundle), [&] { heartbeat.stop(); }, std::move(attempt));
      code = runner.run();
    }
    spdlog::info("finished with exit code {}", code);
    return code;
  } catch (const SandboxUnavailable& e) {
    spdlog::error("{}", e.what());
    return kSandboxUnavailable;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kBadInput;
  }
}

}  // namespace remora::worker
