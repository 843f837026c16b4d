// GraphProject: a graph project in a temporary directory (graph.yaml, bundles/, a workspace) run
// with the real `remora` binary and watched through the workspace's own event log, so every wait
// is event-driven and bounded by a deadline. Shared by the tests that run whole graphs.
#pragma once

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/pid_fd.hpp"
#include "shared/watcher.hpp"
#include "shared/workspace.hpp"
#include "test_support.hpp"

namespace remora::test {

inline const std::string kRemoraBin = REMORA_BIN;

class GraphProject {
 public:
  GraphProject() {
    steps("ok", "  - write: {path: \"out/{agent}.txt\", content: \"done by {agent}\"}\n  - result: {summary: ok}\n");
  }
  // bundles/<name>/bundle.yaml: a steps bundle with these steps, or any bundle body.
  void steps(const std::string& name, const std::string& steps_yaml) { bundle(name, "steps:\n" + steps_yaml); }
  void bundle(const std::string& name, const std::string& body, const std::string& kind = "steps") {
    write_text(dir_ / "bundles" / name / "bundle.yaml", "name: " + name + "\nkind: " + kind + "\n" + body);
  }
  void graph(const std::string& yaml) { write_text(dir_ / "graph.yaml", yaml); }
  std::string ws() const { return (dir_ / "ws").string(); }
  std::string graph_path() const { return (dir_ / "graph.yaml").string(); }
  std::filesystem::path path(const std::string& p) const { return dir_ / p; }

  // Starts `remora -w WS <args>` in the background (under `wrapper`, a command prefix, if any);
  // its output goes to run.out.
  void start_cmd(std::vector<std::string> args, std::vector<std::string> wrapper = {}) {
    args.insert(args.begin(), {kRemoraBin, "-w", ws()});
    args.insert(args.begin(), wrapper.begin(), wrapper.end());
    std::string exe = args.front();
    args.erase(args.begin());
    run_.reset();
    run_ = std::make_unique<Child>(exe, args, dir_ / "run.out");
  }
  // Starts `remora run graph.yaml --json` in the background.
  void start(std::vector<std::string> extra = {}, std::vector<std::string> wrapper = {}) {
    std::vector<std::string> args{"run", graph_path(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    start_cmd(std::move(args), std::move(wrapper));
  }
  int wait() { return run_->wait(); }
  Child& run() { return *run_; }
  std::string output() const { return read_text(dir_ / "run.out"); }

  // Runs the graph to the end; returns the exit code.
  int run_to_end(std::vector<std::string> extra = {}, std::vector<std::string> wrapper = {}) {
    start(std::move(extra), std::move(wrapper));
    return wait();
  }

  // Events from the workspace's log (after or during a run), in revision order.
  std::vector<proto::Event> events() {
    auto& w = open();
    std::vector<proto::Event> out;
    for (auto& [k, e] : w.list(w.ns("base"), "event:")) out.push_back(proto::decode<proto::Event>(e.value, k));
    return out;
  }

  // Blocks until an event named `name` for `agent` is committed (any agent if empty). Each event
  // is returned once.
  proto::Event wait_event(const std::string& name, const std::string& agent = "") {
    for (std::size_t i = 0;; ++i) {
      if (i == seen_.size()) read_more("waiting for " + name + " " + agent);
      const auto& e = seen_[i];
      if (e.category + ":" + e.action == name && (agent.empty() || e.agent_id == agent) && !used_.count(e.id)) {
        used_.insert(e.id);
        return e;
      }
    }
  }

  // Blocks until the next event of the log (in revision order) is committed; each event is
  // returned once, independently of wait_event.
  proto::Event next_event() {
    if (next_ == seen_.size()) read_more("waiting for the next event");
    return seen_[next_++];
  }

  // The pid of agent id's current worker, from its heartbeat (graphs set a short interval).
  long worker_pid(const std::string& id, long not_pid = 0) {
    using namespace std::chrono_literals;
    auto& w = open();
    Watcher watch(w, keys::heartbeat(id), 1);
    auto deadline = Watcher::Clock::now() + 60s;
    for (;;) {
      if (auto ns = w.find_ns(keys::agent_ns(id))) {
        if (auto e = w.get(*ns, keys::heartbeat(id))) {
          auto pid = proto::decode<proto::Heartbeat>(e->value, id).pid;
          if (pid != not_pid) return pid;
        }
      }
      if (watch.next(deadline).empty()) throw std::runtime_error("no heartbeat from " + id);
    }
  }

  proto::AgentState agent(const std::string& id) {
    auto& w = open();
    auto e = w.get(w.ns("base"), keys::run_agent(id));
    if (!e) throw std::runtime_error("no agent " + id);
    return proto::decode<proto::AgentState>(e->value, id);
  }
  std::optional<std::string> overlay_file(const std::string& agent_id, const std::string& path) {
    auto& w = open();
    auto e = w.get(w.ns(keys::agent_ns(agent_id)), keys::file(path));
    if (!e) return std::nullopt;
    return proto::decode<proto::FileEntry>(e->value, path).content.data;
  }
  std::string kv(const std::string& agent_id, const std::string& key) {
    auto& w = open();
    auto e = w.get(w.ns(keys::agent_ns(agent_id)), keys::agent_kv(agent_id, key));
    return e ? proto::decode<proto::JsonValue>(e->value, key).json : "";
  }

  // id -> {state, reason, restarts, ...} from `remora status --json`.
  std::map<std::string, nlohmann::json> agents() const {
    auto status = nlohmann::json::parse(shell(kRemoraBin + " -w " + ws() + " status --json").out);
    std::map<std::string, nlohmann::json> out;
    for (auto& a : status.at("agents")) out[a.at("id").get<std::string>()] = a;
    return out;
  }
  // id -> the sandbox payload of its agent:started, from `remora events --json`.
  std::map<std::string, nlohmann::json> started() const {
    auto r = shell(kRemoraBin + " -w " + ws() + " events --pattern agent:started --json");
    std::map<std::string, nlohmann::json> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      auto e = nlohmann::json::parse(line);
      out[e.at("agent_id").get<std::string>()] = e.at("payload").at("sandbox");
    }
    return out;
  }
  std::string log(const std::string& agent) const { return read_text(dir_ / "ws" / "logs" / (agent + ".log")); }

  // The test's own handle on the workspace; remora runs in other processes. close() lets a
  // command that needs the workspace to itself (restore) run.
  Workspace& open() {
    if (!ws_) {
      WorkspaceOptions o;
      o.dir = ws();
      ws_ = Workspace::open(o);
    }
    return *ws_;
  }
  void close() {
    watcher_.reset();
    ws_.reset();
    seen_.clear();
    used_.clear();
    next_ = 0;
  }

 private:
  // Reads events from the log into seen_ until at least one more has come (60 s at most).
  void read_more(const std::string& what) {
    using namespace std::chrono_literals;
    auto& w = open();
    if (!watcher_) watcher_ = std::make_unique<Watcher>(w, "event:", 1);
    const auto deadline = Watcher::Clock::now() + 60s;
    for (const auto before = seen_.size(); seen_.size() == before;) {
      auto changes = watcher_->next(deadline);
      if (changes.empty()) throw std::runtime_error("timed out " + what);
      for (auto& c : changes) {
        if (c.op != proto::ChangeOp::put) continue;
        if (auto e = w.get(w.ns("base"), c.key)) seen_.push_back(proto::decode<proto::Event>(e->value, c.key));
      }
    }
  }

  TempDir dir_;
  std::unique_ptr<Child> run_;
  std::unique_ptr<Workspace> ws_;
  std::unique_ptr<Watcher> watcher_;
  std::vector<proto::Event> seen_;
  std::set<std::string> used_;
  std::size_t next_ = 0;
};

inline bool alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH); }

// Waits (on a pidfd, not by polling) until a process that is not our child has exited.
inline bool wait_exit(long pid, int timeout_ms) {
  return PidFd(static_cast<pid_t>(pid)).wait_exit(std::chrono::milliseconds(timeout_ms));
}

}  // namespace remora::test
