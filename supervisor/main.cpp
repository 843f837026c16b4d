// remora: the supervisor and its command line.
//
// Exit codes: 0 every agent completed (or the command succeeded); 1 some agent failed, was
// cancelled or skipped (or the thing asked for is absent or refused); 2 bad input (graph,
// bundle, arguments); 3 remora could not run (workspace busy or unusable, I/O error).
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cluster/carried_review.hpp"
#include "cluster/cluster_answer.hpp"
#include "cluster/cluster_events.hpp"
#include "cluster/cluster_host.hpp"
#include "dashboard/serve_command.hpp"
#include "discovery/discovery.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "review/git_commit.hpp"
#include "review/review.hpp"
#include "shared/checkpoint.hpp"
#include "shared/cli.hpp"
#include "shared/clock.hpp"
#include "shared/watcher.hpp"
#include "supervisor/agent_results.hpp"
#include "supervisor/checkpoint_commands.hpp"
#include "supervisor/config_layers.hpp"
#include "supervisor/event_format.hpp"
#include "supervisor/graph_from_discovery.hpp"
#include "supervisor/openai_provider.hpp"
#include "supervisor/project_dir.hpp"
#include "supervisor/project_import.hpp"
#include "supervisor/cancel_request.hpp"
#include "supervisor/question_answer.hpp"
#include "review/review_json.hpp"
#include "supervisor/run_status.hpp"
#include "supervisor/run_lock.hpp"
#include "supervisor/supervisor.hpp"
#include "supervisor/terminal_text.hpp"
#include "supervisor/terminal_ui.hpp"

using namespace remora;
using nlohmann::json;

namespace {

// `supervising`: for the supervisor's run loop, whose commits skip the writer gate.
std::unique_ptr<Workspace> open_workspace(const std::string& dir, bool create,
                                          Durability durability = Durability::sync, bool supervising = false) {
  Checkpoints::recover_restore(dir);  // a restore killed midway is undone or completed first
  WorkspaceOptions o;
  o.dir = dir;
  o.create = create;
  o.durability = durability;
  o.priority_writer = supervising;
  return Workspace::open(o);
}

std::string duration(std::int64_t ms) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << static_cast<double>(ms) / 1000.0 << "s";
  return s.str();
}

// remora status: each agent's state and what it reported, and the graph's totals.
int cmd_status(const Workspace& ws, const std::string& dir, bool as_json) {
  const auto st = read_run_status(ws, dir);
  if (as_json) {
    std::cout << to_json(st).dump(2) << "\n";
    return 0;
  }
  const auto* r = &st.run;
  const auto& supervisor = st.supervisor;
  const auto& agents = st.agents;
  const auto& results = st.results;
  const auto prompt_tokens = st.prompt_tokens, completion_tokens = st.completion_tokens;
  auto end = r->ended_at_ms ? r->ended_at_ms : now_ms();
  std::cout << "graph " << inert_text(r->graph_name) << " (" << r->graph_id << "): " << r->state;
  if (supervisor == "gone")
    std::cout << ", but its supervisor is gone: continue it with remora -w " << dir << " resume";
  else
    std::cout << ", " << duration(end - r->started_at_ms);
  if (prompt_tokens + completion_tokens > 0)
    std::cout << ", " << prompt_tokens + completion_tokens << " tokens (" << prompt_tokens << " prompt, "
              << completion_tokens << " completion)";
  std::cout << "\n";
  std::size_t w = 5;
  for (auto& a : agents) w = std::max(w, a.id.size());
  std::cout << std::left << std::setw(static_cast<int>(w) + 2) << "AGENT" << std::setw(11) << "STATE"
            << std::setw(10) << "RESTARTS" << std::setw(10) << "DURATION" << std::setw(7) << "TURNS"
            << std::setw(9) << "TOKENS" << std::setw(10) << "REVIEW" << "SUMMARY / REASON\n";
  for (std::size_t i = 0; i < agents.size(); ++i) {
    const auto& a = agents[i];
    const auto& res = results[i];
    std::string turns = res ? std::to_string(res->turns) : "-";
    std::string tokens = res ? std::to_string(res->prompt_tokens + res->completion_tokens) : "-";
    std::string note = inert_text(a.reason.empty() && res ? res->summary : a.reason);
    std::cout << std::setw(static_cast<int>(w) + 2) << inert_text(a.id) << std::setw(11) << inert_text(a.state) << std::setw(10)
              << a.restarts << std::setw(10) << (a.started_at_ms ? duration(agent_ran_ms(a)) : "-") << std::setw(7) << turns
              << std::setw(9) << tokens << std::setw(10) << (a.review.empty() ? "-" : a.review) << note << "\n";
  }
  return 0;
}

// SIGINT/SIGTERM arrive here (blocked everywhere else) and are passed on as a callback.
class SignalThread {
 public:
  explicit SignalThread(std::function<void()> on_signal) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    sfd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
    efd_ = ::eventfd(0, EFD_CLOEXEC);
    thread_ = std::thread([this, cb = std::move(on_signal)] {
      for (;;) {
        pollfd fds[2] = {{sfd_, POLLIN, 0}, {efd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents) return;
        signalfd_siginfo info;
        if (::read(sfd_, &info, sizeof info) == sizeof info) cb();
      }
    });
  }
  ~SignalThread() {
    std::uint64_t one = 1;
    if (::write(efd_, &one, sizeof one) < 0) {
      // Cannot happen for an eventfd; the thread would then end with the process.
    }
    thread_.join();
    ::close(sfd_);
    ::close(efd_);
  }

 private:
  int sfd_, efd_;
  std::thread thread_;
};

// The model server settings of the graph's bundles, and their API keys in this environment, are
// checked before anything starts: a key that is not set is bad input, not a failure per agent.
void check_model_servers(const GraphSpec& spec) {
  for (const auto& [name, b] : spec.bundles) {
    if (b.kind != "agent" || b.model.provider != "openai") continue;
    try {
      OpenAiConfig::from_settings(b.model);
    } catch (const Error& e) {
      throw Error(Errc::invalid_argument, "bundle " + name + ": " + e.what());
    }
  }
}

// A cluster run's flags (docs/scale-out.md): the etcd members, this host's name, how many hosts.
struct ClusterFlags {
  std::string urls;
  std::string host;
  int hosts = 1;
  bool named() const { return !urls.empty(); }
};

std::unique_ptr<cluster::ClusterHost> cluster_host(const ClusterFlags& f) {
  if (!f.named()) return nullptr;
  cluster::ClusterHost::Options o;
  o.host = f.host;
  if (o.host.empty()) {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    o.host = name;
  }
  o.hosts = f.hosts;
  return std::make_unique<cluster::ClusterHost>(cluster::EtcdClient::split_urls(f.urls), o);
}

// The cluster host's end (cluster::ClusterHost::finish): code, or 3 if etcd did not get every state.
int finish_host(cluster::ClusterHost& host, int code) {
  if (host.finish()) return code;
  std::cerr << "remora: some agent states could not be published to the etcd cluster; run `remora resume --cluster` "
               "once it is reachable\n";
  return 3;
}

// Runs spec under a supervisor with the terminal UI; resume continues the workspace's run. With a
// cluster host, spec is this host's part of the graph and the host follows the others through etcd.
int supervise(Workspace& ws, GraphSpec spec, const std::string& dir, bool as_json, bool resume,
              const std::optional<ServeFlags>& serve, cluster::ClusterHost* host = nullptr) {
  check_model_servers(spec);  // again for a resumed run: its keys must be in this environment
  const bool interactive = spec.config.interactive;
  SupervisorOptions opts;
  // remora-worker beside this binary; REMORA_WORKER names another (the tests' hostile worker).
  const char* worker = std::getenv("REMORA_WORKER");
  opts.worker_exe = worker && *worker ? std::filesystem::path(worker)
                                      : std::filesystem::read_symlink("/proc/self/exe").parent_path() / "remora-worker";
  opts.log_dir = std::filesystem::path(dir) / "logs";
  opts.resume = resume;
  if (host) opts.remote_state = host->remote_state();
  Supervisor sup(ws, std::move(spec), opts);
  if (host) host->attach(sup, ws);
  // However supervise ends, the host stops following etcd while sup is still there to be told.
  struct Leave {
    Supervisor& sup;
    cluster::ClusterHost* host;
    ~Leave() {
      if (!host) return;
      sup.bus().close();
      host->finish();
    }
  } leave{sup, host};
  bool tty = ::isatty(STDOUT_FILENO);
  bool prompt = !as_json && ::isatty(STDIN_FILENO) && interactive;
  SignalThread signals([&] { sup.interrupt(); });
  TerminalUi ui(sup, as_json ? TerminalUi::Mode::json : tty ? TerminalUi::Mode::live : TerminalUi::Mode::plain, prompt);
  std::optional<BackgroundDashboard> dashboard;
  if (serve) dashboard.emplace(ws, dir, *serve);
  const int code = sup.run();
  return host ? finish_host(*host, code) : code;
}

// Continues the unfinished run of the workspace (a supervisor died, or was stopped), on the model
// server stored with it unless flags name another.
int cmd_resume(const std::string& dir, bool as_json, const ModelServerFlags& flags,
               const std::optional<ServeFlags>& serve = std::nullopt, const ClusterFlags& cluster = {}) {
  auto ws = open_workspace(dir, false, Durability::sync, true);
  RunLock lock(dir);
  auto run = read_run(*ws);
  if (!run) throw Error(Errc::not_found, "workspace " + dir + " holds no run to resume");
  auto host = cluster_host(cluster);
  if (!proto::Run::unfinished(run->state)) {
    if (!host)
      throw Error(Errc::conflict, "the run of graph '" + run->graph_name + "' is " + run->state + ": nothing to resume");
    // This host's part ended; it may have been killed before etcd had all of it.
    host->rejoin(run->graph_name);
    host->catch_up(*ws);
    const int code = finish_host(*host, 0);
    if (code == 0)
      std::cerr << "remora: this host's part of graph '" << inert_text(run->graph_name) << "' had " << run->state
                << "; what it had not put in the etcd cluster is there now\n";
    return code;
  }
  // In a cluster, this host's part of the graph as etcd holds it (the same slot as before).
  auto spec = host ? host->rejoin(run->graph_name) : GraphSpec::from_json(json::parse(run->graph_json));
  ModelServerConfig::load(ConfigLayerInputs::flags_only(flags)).apply(spec.bundles);
  return supervise(*ws, std::move(spec), dir, as_json, true, serve, host.get());
}

void print_notes(const std::vector<std::string>& notes) {
  for (const auto& n : notes) std::cerr << "remora: " << inert_text(n) << "\n";
}

// What `remora run` was given: a graph file, or paths to discover with the bundles to run.
struct RunArgs {
  std::vector<std::string> targets;
  std::vector<std::string> bundles;
  std::string bundles_dir = "bundles";
  std::vector<std::string> after;
  std::string config;
  std::string root;
  ModelServerFlags model;
};

GraphSpec run_graph(const RunArgs& r) {
  const std::filesystem::path first = r.targets.front();
  std::error_code ec;
  if (r.targets.size() == 1 && (first.extension() == ".yaml" || first.extension() == ".yml") &&
      !std::filesystem::is_directory(first, ec)) {
    if (!r.bundles.empty() || !r.after.empty() || !r.config.empty() || !r.root.empty())
      throw Error(Errc::invalid_argument, "--bundle, --after, --config and --root are for paths to discover, not a graph file");
    return load_graph(first);
  }
  if (r.bundles.empty())
    throw Error(Errc::invalid_argument, "name the bundles to run on the discovered nodes with --bundle (or give a graph file)");
  DiscoverSpec d;
  d.bundles = r.bundles;
  for (const auto& a : r.after) d.after.push_back(parse_bundle_order(a));
  resolve_paths(d, {r.targets.begin(), r.targets.end()},
                r.root.empty() ? std::nullopt : std::optional<std::filesystem::path>(r.root), ".");
  const std::string config_file = !r.config.empty()                              ? r.config
                                  : std::filesystem::exists(kProjectConfigFile, ec) ? kProjectConfigFile
                                                                                   : "";
  GraphConfig config = config_file.empty() ? GraphConfig{} : load_config(config_file);
  return discovered_graph(d, {r.bundles_dir}, config, d.root.filename().string());
}

int cmd_run(const RunArgs& args, const std::string& dir, bool as_json, bool fresh, const std::optional<ServeFlags>& serve,
            const ClusterFlags& cluster = {}) {
  GraphSpec spec;
  try {
    spec = run_graph(args);
    ModelServerConfig::load(ConfigLayerInputs::from_process(args.config, args.model)).apply(spec.bundles);
    check_model_servers(spec);
  } catch (const Error& e) {
    std::cerr << "remora: " << inert_lines(e.what(), "") << "\n";
    return e.code() == Errc::not_found ? 2 : exit_code_for(e.code());
  }
  // In a cluster: the graph as the first host put it in etcd, and this host's part of it.
  auto host = cluster_host(cluster);
  if (host) {
    // Refused before etcd is touched (joining may clear an ended run there and takes a slot): a
    // workspace that holds a run is resumed, or started over with --fresh.
    if (std::error_code ec; !fresh && std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) {
      if (auto prev = read_run(*open_workspace(dir, false))) {
        std::cerr << "remora: workspace " << dir << " already holds a " << prev->state << " run of graph '"
                  << inert_text(prev->graph_name) << "'; `remora resume --cluster` continues an unfinished one, "
                  << "--fresh discards it\n";
        return 2;
      }
    }
    spec = host->join(spec);
  }
  auto ws = open_workspace(dir, true, spec.config.durability, true);
  RunLock lock(dir);
  bool resume_it = false;
  {
    Review review(*ws);  // no accept may run while the previous run is discarded or the project imported
    print_notes(review.recovered());
    if (auto prev = read_run(*ws)) {
      if (!fresh && proto::Run::unfinished(prev->state)) {
        std::cerr << "remora: workspace " << dir << " holds an unfinished run of graph '" << prev->graph_name
                  << "' (its supervisor stopped).\n";
        if (!::isatty(STDIN_FILENO) || as_json) {
          std::cerr << "remora: run `remora resume` to continue it, or `remora run --fresh` to start over\n";
          return 2;
        }
        std::cerr << "Resume it [r], start over and discard it [s], or quit [q]? " << std::flush;
        std::string reply;
        std::getline(std::cin, reply);
        if (reply == "r" || reply == "resume") {
          spec = GraphSpec::from_json(json::parse(prev->graph_json));
          ModelServerConfig::load(ConfigLayerInputs::flags_only(args.model)).apply(spec.bundles);
          resume_it = true;
        } else if (reply == "s" || reply == "start over") {
          fresh = true;
        } else {
          return 1;
        }
      }
      if (!resume_it && !fresh) {
        std::cerr << "remora: workspace " << dir << " already holds a " << prev->state << " run of graph '"
                  << prev->graph_name << "'; use --fresh to discard it and its agents' overlays\n";
        return 2;
      }
      if (!resume_it) {
        // Discard the previous run: its records and every agent overlay.
        for (auto& info : ws->namespaces())
          if (info.name.rfind(keys::agent_ns(""), 0) == 0) ws->drop_ns(info.name);
        auto base = ws->ns("base");
        ws->write([&](WriteTxn& t) {
          for (auto& [k, e] : ws->list(base, keys::kRun)) t.del(base, k);
          for (auto& [k, e] : ws->list(base, keys::kEvent)) t.del(base, k);
        });
      }
    }
    if (!resume_it && !spec.project.empty()) {
      auto imported = import_project(*ws, spec.project);
      std::cerr << "remora: imported " << spec.project.string() << ": " << imported.added << " added, "
                << imported.changed << " changed, " << imported.removed << " removed, " << imported.unchanged
                << " unchanged" << (imported.skipped.empty() ? "" : "; " + inert_text(skipped_summary(imported.skipped)))
                << "\n";
    }
  }
  return supervise(*ws, std::move(spec), dir, as_json, resume_it, serve, host.get());
}

// The flags that name the model server (supervisor/config_layers.hpp), on run, resume and config.
void add_model_flags(CLI::App* cmd, ModelServerFlags& flags) {
  cmd->add_option("--model-url", flags.base_url, "the model server's /v1 root, for every openai bundle");
  cmd->add_option("--model", flags.model, "the model name sent to it");
  cmd->add_option("--api-key-env", flags.api_key_env, "the environment variable holding its API key (\"\": none)");
}

// Prints the effective model server settings and where each came from; the key only as set/unset.
int cmd_config(const std::string& config_file, const ModelServerFlags& flags, bool as_json) {
  auto config = ModelServerConfig::load(ConfigLayerInputs::from_process(config_file, flags));
  std::cout << (as_json ? config.to_json().dump() + "\n" : config.to_text()) << std::flush;
  return 0;
}

// Prints the code nodes under the roots: `path:line type qualified_name`, or JSON lines. With
// --verbose, the files it skipped go to stderr.
int cmd_discover(const std::vector<std::string>& paths, const DiscoveryOptions& options, bool as_json, bool verbose) {
  std::vector<std::filesystem::path> roots(paths.begin(), paths.end());
  Discovery d = discover(roots, options);
  for (const auto& n : d.nodes) {
    if (as_json)
      std::cout << to_json(n).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    else
      std::cout << quoted_name(n.path) << ":" << n.start_line << " " << n.type << " " << inert_text(n.qualified_name)
                << (n.type == "file" && !n.error.empty() ? "  (" + n.error + ")" : "") << "\n";
  }
  if (verbose)
    for (const auto& s : d.skipped) std::cerr << "remora: skipped " << quoted_name(s.path) << ": " << s.reason << "\n";
  else if (!d.skipped.empty())
    std::cerr << "remora: " << inert_text(skipped_summary(d.skipped)) << " (--verbose lists them)\n";
  return 0;
}

// One JSON value on a line; bytes that are not UTF-8 (file contents, names) become U+FFFD.
void print_json(const json& j) { std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n"; }

void print_answered(const AnswerGiven& given, bool as_json) {
  if (as_json) print_json({{"question", given.question_id}, {"agent", given.agent}, {"answer", given.answer}});
  else std::cout << "answered " << inert_text(given.question_id) << " (" << inert_text(given.agent)
                 << "): " << inert_text(given.answer) << "\n";
}

// Prints the diff of each agent (all awaiting review without one), or with --stat a line per file;
// --json: a line per agent with its files, their line counts and modes, and (without --stat) the diff.
int cmd_diff(const Workspace& ws, const std::string& agent, bool stat, bool as_json) {
  std::vector<proto::AgentState> agents;
  for (auto& a : run_agents(ws))
    if (agent.empty() ? awaits_review(a) : a.id == agent) agents.push_back(std::move(a));
  if (!agent.empty() && agents.empty()) throw Error(Errc::not_found, "no agent " + agent + " in the run");
  const bool colour = cli::colour_stdout();
  for (const auto& a : agents) {
    if (as_json) {
      print_json(agent_diff_json(ws, a, stat));
      continue;
    }
    auto changes = agent_changes(ws, a);
    if (agent.empty())
      std::cout << (colour ? "\033[1;33m" : "") << "agent " << inert_text(a.id) << " (" << inert_text(a.bundle)
                << (a.target.empty() ? "" : " on " + quoted_name(a.target)) << "): "
                << changes.size() << " file" << (changes.size() == 1 ? "" : "s") << (colour ? "\033[m" : "") << "\n";
    std::size_t added = 0, removed = 0;
    for (const auto& c : changes) {
      if (!stat) {
        std::cout << file_diff(c.path, c.before, c.after, colour);
        continue;
      }
      auto s = diff_stat(c.before, c.after);
      added += s.added;
      removed += s.removed;
      std::cout << " " << quoted_name(c.path) << " | "
                << (s.binary ? "binary" : "+" + std::to_string(s.added) + " -" + std::to_string(s.removed)) << "\n";
    }
    if (stat)
      std::cout << " " << changes.size() << " file" << (changes.size() == 1 ? "" : "s") << " changed, " << added
                << " insertions(+), " << removed << " deletions(-)\n";
  }
  return 0;
}

std::string accepted_line(const Accepted& a) {
  std::string files;
  for (const auto& f : a.files) files += (files.empty() ? "" : ", ") + quoted_name(f.path) + (f.after ? "" : " (deleted)");
  std::string with;
  for (const auto& w : a.with) with += (with.empty() ? " with " : ", ") + inert_text(w);
  std::string merged;
  for (const auto& m : a.merged) merged += (merged.empty() ? "" : ", ") + quoted_name(m);
  return "accepted " + inert_text(a.agent) + with + ": " + files +
         (merged.empty() ? "" : " (merged with the changes made since: " + merged + ")") +
         (a.forced ? " (stale or conflicting files overwritten: --force)" : "");
}

// accept --commit: the commit's message is the agent's summary, then what remora accepted.
std::string commit_message(const Workspace& ws, const Accepted& a) {
  std::string summary;
  std::string body = "remora accept " + a.agent + "\n";
  for (const auto& agent : run_agents(ws)) {
    if (agent.id != a.agent && std::ranges::count(a.with, agent.id) == 0) continue;
    auto res = read_result(ws, agent);
    std::string said = res ? res->summary.substr(0, res->summary.find('\n')) : "";
    if (agent.id == a.agent) summary = said;
    body += "\n" + agent.id + " (" + agent.bundle + (agent.target.empty() ? "" : " on " + agent.target) + ")" +
            (said.empty() ? "" : ": " + said);
  }
  return (summary.empty() ? "remora: the changes of agent " + a.agent : summary) + "\n\n" + body + "\n";
}

// Records an accept as a git commit of the files it wrote, read back from the project directory.
std::optional<std::string> commit_accepted(const Workspace& ws, const Accepted& a, const std::string& author) {
  const ProjectDir dir(imported_project(ws)->root);
  std::vector<CommitFile> files;
  for (const auto& f : a.files) {
    auto disk = dir.read(f.path);
    files.push_back({f.path, disk.kind == DiskFile::Kind::file ? std::optional<FileSide>(FileSide{disk.content, disk.mode})
                                                                : std::nullopt});
  }
  try {
    return record_git_commit(dir.root(), files, commit_message(ws, a), author);
  } catch (const Error& e) {
    throw Error(e.code(), "accepted " + a.agent + " but could not record it as a git commit: " + e.what());
  }
}

// accept, reject and undo; --json: a JSON line per agent accepted, refused, rejected or restored.
// The author of accept --commit's commits: --author, else $REMORA_COMMIT_AUTHOR, else empty (git's user).
std::string author_for_commit(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("REMORA_COMMIT_AUTHOR");
  return env ? env : "";
}

// With commit (accept --commit), each accept is then recorded as a git commit by author.
int cmd_review(Workspace& ws, const std::string& command, const std::string& agent, bool all, bool force, bool as_json,
               std::optional<std::string> commit_author = std::nullopt) {
  if (command != "undo" && all == !agent.empty()) throw Error(Errc::invalid_argument, "name one agent, or --all");
  if (commit_author) {
    auto project = imported_project(ws);
    if (!project)
      throw Error(Errc::not_found, "workspace " + ws.dir().string() + " holds no imported project (remora run PATHS imports one)");
    check_git_commit(project->root, *commit_author);  // before anything is written
  }
  Review review(ws);
  print_notes(review.recovered());
  if (command == "accept") {
    auto print = [&](const Accepted& a) {
      std::optional<std::string> commit;
      if (commit_author) {
        try {
          commit = commit_accepted(ws, a, *commit_author);
        } catch (const Error&) {
          if (as_json) print_json(accepted_json(a));
          else std::cout << accepted_line(a) << "\n" << std::flush;
          throw;
        }
      }
      if (as_json) {
        auto j = accepted_json(a);
        if (commit_author) j["commit"] = commit ? json(*commit) : json(nullptr);
        print_json(j);
      } else {
        std::cout << accepted_line(a) << "\n";
        if (commit_author) std::cout << (commit ? "  committed " + *commit : std::string("  nothing to commit: HEAD holds these files")) << "\n";
      }
    };
    if (!all) {
      print(review.accept(agent, force));
      return 0;
    }
    int code = 0;
    for (const auto& attempt : review.accept_all(force)) {
      if (attempt.accepted) {
        print(*attempt.accepted);
        continue;
      }
      if (as_json) print_json({{"agent", attempt.agent}, {"accepted", false}, {"refused", attempt.refused}});
      else std::cout << "refused " << inert_text(attempt.agent) << ": " << inert_text(attempt.refused) << "\n";
      code = 1;
    }
    return code;
  }
  if (command == "reject") {
    for (const auto& id : all ? review.reject_all() : std::vector<std::string>{agent}) {
      if (!all) review.reject(id);
      if (as_json) print_json({{"agent", id}, {"rejected", true}});
      else std::cout << "rejected " << inert_text(id) << "\n";
    }
    return 0;
  }
  auto undone = review.undo(force);
  if (as_json) {
    print_json({{"agent", undone.agent}, {"undone", true}, {"restored", undone.files}});
    return 0;
  }
  std::string files;
  for (const auto& f : undone.files) files += (files.empty() ? "" : ", ") + quoted_name(f);
  std::cout << "undid the accept of " << inert_text(undone.agent) << ": restored " << files << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  remora::cli::init_logging("remora");
  // Output no one reads never stops a run (remora run | head): a write to a closed pipe fails with
  // EPIPE instead of killing remora. remora-worker restores the default for the programs it starts.
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"remora: run graphs of code agents in sandboxed workers over an LMDB workspace"};
  app.set_version_flag("--version", "remora 0.1.0");
  app.require_subcommand(1);
  std::string dir = ".remora/workspace";
  bool verbose = false;
  app.add_option("-w,--workspace", dir, "workspace directory")->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "log debug details to stderr");

  std::string agent, qid, text, pattern = "*";
  bool as_json = false, fresh = false, follow = false, until_end = false, all = false;
  std::uint64_t from = 1;

  RunArgs run_args;
  auto* run = app.add_subcommand("run", "run a graph of agents to the end: a graph file, or the agents of "
                                        "discovered code nodes x bundles");
  run->add_option("targets", run_args.targets, "a graph file (.yaml/.yml), or paths to discover")->required();
  run->add_option("--bundle", run_args.bundles, "a bundle to run on each node it applies to (repeatable)")
      ->allow_extra_args(false);
  run->add_option("--bundles-dir", run_args.bundles_dir, "where bundle directories live")->capture_default_str();
  run->add_option("--after", run_args.after, "FIRST:THEN: on each node, THEN's agent runs after FIRST's (repeatable)")
      ->allow_extra_args(false);
  run->add_option("--config", run_args.config,
                  "the project's file (default: ./remora.yaml): its config: section configures the run, its "
                  "model: section the model server");
  run->add_option("--root", run_args.root,
                  "the project directory (default: the one path given if it is a directory, else .)");
  run->add_flag("--json", as_json, "print every event as a JSON line instead of the live view");
  run->add_flag("--fresh", fresh, "discard a previous run in this workspace, with its overlays");
  add_model_flags(run, run_args.model);
  ClusterFlags cluster_flags;
  auto add_cluster_flags = [&](CLI::App* cmd) {
    cmd->add_option("--cluster", cluster_flags.urls,
                    "run this host's part of the graph over several hosts: the etcd members' URLs, comma-separated");
    cmd->add_option("--host", cluster_flags.host, "with --cluster: this host's name (default: the host name)");
  };
  add_cluster_flags(run);
  run->add_option("--hosts", cluster_flags.hosts, "with --cluster: how many hosts the graph is dealt over")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ServeFlags serve_flags;
  bool run_serve = false;
  auto add_serve_flags = [&](CLI::App* cmd) {
    cmd->add_option("--listen", serve_flags.listen, "the dashboard's HOST:PORT (port 0: any free one)")->capture_default_str();
    cmd->add_flag("--allow-remote", serve_flags.allow_remote, "let --listen name an address other machines reach");
  };
  run->add_flag("--serve", run_serve, "serve the dashboard beside the run (prints its link)");
  add_serve_flags(run);

  auto* resume = app.add_subcommand("resume", "continue the workspace's unfinished run after its supervisor stopped");
  resume->add_flag("--json", as_json, "print every event as a JSON line instead of the live view");
  ModelServerFlags resume_model;
  add_model_flags(resume, resume_model);
  add_cluster_flags(resume);

  auto* config = app.add_subcommand("config", "show the model server settings and where each came from");
  std::string config_file;
  ModelServerFlags config_model;
  config->add_option("--config", config_file, "the project's file (default: ./remora.yaml)");
  add_model_flags(config, config_model);
  config->add_flag("--json", as_json, "one JSON object");

  const auto add_review_cluster = [&](CLI::App* cmd) {
    cmd->add_option("--cluster", cluster_flags.urls,
                    "a cluster run: first pull the other hosts' completed agents from these etcd members");
  };
  auto* status = app.add_subcommand("status", "show each agent's state, restarts, duration, turns, tokens, review and summary or reason");
  status->add_flag("--json", as_json, "one JSON object");
  add_review_cluster(status);

  auto* events = app.add_subcommand("events", "print the run's event log");
  events->add_flag("--follow", follow, "keep printing new events as they are committed");
  events->add_flag("--until-end", until_end, "with --follow: stop once the run has ended (at once if it has)");
  events->add_option("--from", from, "first revision")->capture_default_str();
  events->add_option("--pattern", pattern, "agent:*, *:failed, agent:started, *")->capture_default_str();
  events->add_flag("--json", as_json, "JSON lines");
  std::string events_graph;
  events->add_option("--cluster", cluster_flags.urls,
                     "a cluster run's one ordered stream, every host's, from these etcd members (--from: etcd revision)");
  events->add_option("--graph", events_graph, "with --cluster: the graph (default: the workspace's run)");

  auto* answer = app.add_subcommand("answer", "answer a pending question of an agent");
  answer->add_option("id", qid, "question id")->required();
  answer->add_option("text", text, "the answer (an option's text or its number)")->required();
  answer->add_flag("--json", as_json, "one JSON object");
  answer->add_option("--cluster", cluster_flags.urls, "answer a question of a cluster run: the etcd members' URLs");
  std::string answer_graph;
  answer->add_option("--graph", answer_graph, "with --cluster: the graph whose run asked it (when several asked that id)");

  auto* cancel = app.add_subcommand("cancel", "cancel an agent (or all) of the running graph");
  cancel->add_option("agent", agent, "agent id");
  cancel->add_flag("--all", all, "cancel every agent");
  cancel->add_flag("--json", as_json, "one JSON object");

  std::vector<std::string> discover_paths;
  std::string discover_lang, discover_queries;
  DiscoveryOptions discover_opts;
  auto* discover = app.add_subcommand("discover", "list the code nodes (files, classes, functions, ...) of source trees");
  discover->add_option("paths", discover_paths, "directories or files; node paths are relative to each")->required();
  discover->add_option("--lang", discover_lang, "only this language (python, c, cpp, javascript)");
  discover->add_flag("--json", as_json, "JSON lines");
  discover->add_option("--queries", discover_queries, "query packs directory (<dir>/<language>/*.scm)");
  discover->add_option("--exclude", discover_opts.exclude, "also skip paths matching this gitignore pattern (repeatable)")
      ->allow_extra_args(false);
  discover->add_option("--max-size", discover_opts.max_file_bytes, "skip files larger than this many bytes")
      ->capture_default_str();

  bool stat = false, force = false;
  auto* diff = app.add_subcommand("diff", "show the changes of an agent (or of every agent awaiting review)");
  diff->add_option("agent", agent, "agent id");
  diff->add_flag("--stat", stat, "one line per file: lines added and removed");
  diff->add_flag("--json", as_json, "a JSON line per agent");

  add_review_cluster(diff);
  auto* accept = app.add_subcommand("accept", "take an agent's changes into the project directory");
  add_review_cluster(accept);
  accept->add_option("agent", agent, "agent id");
  accept->add_flag("--all", all, "every agent awaiting review, in dependency order");
  accept->add_flag("--force", force, "accept even when files changed on disk or in the base since the agent started");
  accept->add_flag("--json", as_json, "a JSON line per agent");
  bool commit = false;
  std::string author;
  accept->add_flag("--commit", commit, "record each accept as a git commit in the project's repository (its message: "
                                       "the agent's summary)");
  accept->add_option("--author", author, "with --commit: the commit's author, 'Name <email>' (default: "
                                         "$REMORA_COMMIT_AUTHOR, else git's user.name and user.email)");

  auto* reject = app.add_subcommand("reject", "discard an agent's changes");
  add_review_cluster(reject);
  reject->add_option("agent", agent, "agent id");
  reject->add_flag("--all", all, "every agent awaiting review");
  reject->add_flag("--json", as_json, "a JSON line per agent");

  auto* undo = app.add_subcommand("undo", "take the last accept back, on disk and in the workspace");
  undo->add_flag("--force", force, "undo even when its files changed since the accept");
  undo->add_flag("--json", as_json, "one JSON object");
  std::string message;
  RestoreRequest restore_request;
  auto* checkpoint = app.add_subcommand("checkpoint", "take a consistent copy of the workspace; the run goes on");
  checkpoint->add_option("-m,--message", message, "what the checkpoint is for");
  checkpoint->add_flag("--json", as_json, "print its manifest as JSON");
  auto* checkpoints = app.add_subcommand("checkpoints", "list the workspace's checkpoints with their sizes");
  checkpoints->add_flag("--json", as_json, "a JSON array of manifests");
  auto* restore = app.add_subcommand(
      "restore", "replace the workspace with a checkpoint (a run going on is stopped, then goes on from it), or fork it");
  restore->add_option("id", restore_request.id, "checkpoint id (see remora checkpoints)")->required();
  restore->add_option("--fork", restore_request.fork_dir, "start a new workspace in DIR from it; this one stays as it is");
  restore->add_flag("-y,--yes", restore_request.yes, "replace (and stop a run going on) without asking");
  restore->add_flag("--json", as_json, "when a stopped run goes on from the checkpoint: its events as JSON lines");

  auto* serve = app.add_subcommand("serve", "serve the workspace's dashboard (the graph, questions, review) to a browser");
  add_serve_flags(serve);

  if (auto code = remora::cli::parse(app, argc, argv)) return *code;
  if (verbose) spdlog::set_level(spdlog::level::debug);

  try {
    if (run->parsed())
      return cmd_run(run_args, dir, as_json, fresh, run_serve ? std::optional(serve_flags) : std::nullopt, cluster_flags);
    if (serve->parsed()) return cmd_serve(dir, serve_flags);
    if (resume->parsed()) return cmd_resume(dir, as_json, resume_model, std::nullopt, cluster_flags);
    if (config->parsed()) return cmd_config(config_file, config_model, as_json);
    if (discover->parsed()) {
      if (!discover_lang.empty()) discover_opts.language = discover_lang;
      discover_opts.queries_dir = discover_queries;
      return cmd_discover(discover_paths, discover_opts, as_json, verbose);
    }
    if (checkpoint->parsed()) return cmd_checkpoint(dir, message, as_json);
    if (checkpoints->parsed()) return cmd_checkpoints(dir, as_json);
    if (restore->parsed()) return cmd_restore(dir, restore_request, [&] { return cmd_resume(dir, as_json, {}); });

    if (answer->parsed() && cluster_flags.named()) {
      cluster::EtcdClient etcd(cluster::EtcdClient::split_urls(cluster_flags.urls));
      print_answered(cluster::answer_in_cluster(etcd, qid, text, answer_graph), as_json);
      return 0;
    }
    // An event as `remora events` prints it, if it matches --pattern.
    const auto print_event = [&](const proto::Event& e) {
      if (!event_matches(pattern, e.category, e.action)) return;
      std::cout << (as_json ? event_json_line(e) : event_line(e)) << "\n";
    };
    if (events->parsed() && cluster_flags.named()) {
      check_event_pattern(pattern);
      if (events_graph.empty()) {
        auto ws = open_workspace(dir, false);
        auto r = read_run(*ws);
        if (!r) throw Error(Errc::invalid_argument, "--graph NAME: which cluster run (workspace " + dir + " holds none)");
        events_graph = r->graph_name;
      }
      cluster::EtcdClient etcd(cluster::EtcdClient::split_urls(cluster_flags.urls));
      cluster::cluster_events(etcd, events_graph, {static_cast<std::int64_t>(std::max<std::uint64_t>(from, 1)), follow, until_end},
                              [&](const proto::Event& e) {
                                print_event(e);
                                std::cout << std::flush;
                              });
      return 0;
    }
    if (!author.empty() && !commit) throw Error(Errc::invalid_argument, "--author goes with --commit");
    auto ws = open_workspace(dir, false);
    auto base = ws->ns("base");
    if (cluster_flags.named() && (diff->parsed() || accept->parsed() || reject->parsed() || status->parsed())) {
      // Review from one place: the other hosts' completed agents come into this workspace first.
      cluster::EtcdClient etcd(cluster::EtcdClient::split_urls(cluster_flags.urls));
      auto pulled = cluster::pull_changes(etcd, *ws);
      if (!pulled.agents.empty())
        std::cerr << "pulled " << pulled.agents.size() << " agent" << (pulled.agents.size() == 1 ? "" : "s")
                  << " from the cluster: " << inert_text(fmt::format("{}", fmt::join(pulled.agents, ", "))) << "\n";
    }
    for (auto* review : {accept, reject, undo})
      if (review->parsed())
        return cmd_review(*ws, review->get_name(), agent, all, force, as_json,
                          commit ? std::optional<std::string>(author_for_commit(author)) : std::nullopt);
    print_notes(recover_interrupted_review(*ws));
    if (diff->parsed()) return cmd_diff(*ws, agent, stat, as_json);
    if (status->parsed()) return cmd_status(*ws, dir, as_json);
    if (events->parsed()) {
      check_event_pattern(pattern);
      std::uint64_t next = from;
      for (auto& [k, e] : ws->list(base, keys::kEvent)) {
        auto ev = proto::decode<proto::Event>(e.value, k);
        if (ev.revision < from) continue;
        print_event(ev);
        next = ev.revision + 1;
      }
      std::cout << std::flush;
      if (follow) {
        Watcher w(*ws, std::string(keys::kEvent), std::max(next, ws->revision() + 1));
        auto ended = [&] {
          auto r = read_run(*ws);
          return until_end && r && !proto::Run::unfinished(r->state);
        };
        if (ended()) {
          ws->sync();  // a script that goes on once the run ended finds it so after a machine crash too
          return 0;
        }
        for (;;) {
          for (auto& c : w.next()) {
            if (c.op != proto::ChangeOp::put) continue;
            auto e = ws->get(base, c.key);
            if (!e) continue;
            auto ev = proto::decode<proto::Event>(e->value, c.key);
            print_event(ev);
            if (until_end && ev.category == "graph" &&
                (ev.action == "completed" || ev.action == "failed" || ev.action == "cancelled")) {
              std::cout << std::flush;
              ws->sync();
              return 0;
            }
          }
          std::cout << std::flush;
        }
      }
      return 0;
    }
    if (answer->parsed()) {
      print_answered(answer_question(*ws, qid, text, "remora answer"), as_json);
      return 0;
    }
    if (cancel->parsed()) {
      auto c = request_cancel(*ws, dir, agent, all);
      if (as_json) print_json({{"cancel", c.target}, {"supervisor", c.supervised ? "running" : "none"}});
      else std::cout << "cancel requested for " << (all ? "every agent" : inert_text(agent))
                     << (c.supervised ? "" : " (no supervisor is running: it applies when the run resumes)") << "\n";
      return 0;
    }
  } catch (const Error& e) {
    std::cerr << "remora: " << inert_lines(e.what(), "") << "\n";
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::cerr << "remora: " << inert_lines(e.what(), "") << "\n";
    return 3;
  }
  return 0;
}
