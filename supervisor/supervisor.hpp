// Supervisor: runs a graph of agents, one remora-worker process per agent, to the end.
//
// It owns the run's state and keeps it in the workspace: every decision (an agent started, ended,
// blocked, restarted, skipped; a question asked or answered) is committed, with the events that
// report it, before it is acted upon. One loop thread makes every decision; other threads only
// feed it inputs: the workspace's change feed (questions, answers, heartbeats and control
// requests written by other processes), the reaper (workers that ended), signals (SIGINT and
// SIGTERM cancel the run; a second one kills at once), and answers typed on a terminal. Each
// iteration of the loop commits everything it decided in one transaction.
//
// Agents start as soon as their dependencies are done and a slot is free (no waves). Restart
// policy after OTP: `permanent` restarts after any failure, `transient` after abnormal ends only
// (crash, timeout, lost heartbeat), `temporary` never; at most max_restarts within window_s, with
// exponential backoff; a completed agent is never restarted.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "proto/records.hpp"
#include "shared/watcher.hpp"
#include "shared/workspace.hpp"
#include "supervisor/event_bus.hpp"
#include "supervisor/graph_spec.hpp"
#include "supervisor/model_gateway.hpp"
#include "supervisor/snapshotter.hpp"
#include "supervisor/timer_queue.hpp"
#include "shared/memory_cgroup.hpp"
#include "supervisor/worker_processes.hpp"

namespace remora {

struct SupervisorOptions {
  std::filesystem::path worker_exe;  // remora-worker
  std::filesystem::path log_dir;     // <log_dir>/<agent>.log gets each worker's stderr
  // Continue the run recorded in the workspace (run:graph) instead of starting a new one: see
  // Supervisor::resume_state.
  bool resume = false;
  // The hook of a cluster run (cluster/, docs/scale-out.md), where the spec holds this host's agents
  // only: the state of a dependency another host runs ("pending" until it is known). The supervisor
  // asks it when the run's records are read, and again for an agent that remote_changed() names.
  // Messages to the graph's agents on other hosts (GraphSpec::elsewhere) are committed as
  // run:outgoing:<from>:<id> and announced (agent:message, remote: true) for the cluster host to
  // carry; deliver() takes theirs in.
  std::function<std::string(const std::string& agent_id)> remote_state;
};

class Supervisor {
 public:
  using Clock = std::chrono::steady_clock;

  Supervisor(Workspace& ws, GraphSpec spec, SupervisorOptions options);
  ~Supervisor();

  EventBus& bus() { return bus_; }
  // Runs the graph to the end. Returns 0 if every agent completed, 1 otherwise.
  int run();

  // Thread-safe inputs from a user interface.
  void answer(std::string question_id, std::string text);  // as if by `remora answer`
  void interrupt();                                        // as if by Ctrl-C
  void remote_changed(std::string agent_id);               // another host's agent changed state (remote_state)
  void deliver(proto::Message m);  // a message from another host's agent, into its addressee's inbox

  // How much the loop has done so far (read from any thread): its passes, and the agents those
  // passes looked at in schedule, launch and timers. A pass looks only at agents that changed
  // (ready queue, timer queue, dependents lists), never at the whole graph.
  struct Work {
    std::uint64_t passes = 0;
    std::uint64_t agents_visited = 0;
  };
  Work work() const { return {passes_.load(), visited_.load()}; }

 private:
  // Why a worker is being killed; `fail` ends its agent failed and never restarts it (a question that
  // timed out with no default, a record the worker wrote that is not what it must be).
  enum class Kill { none, cancel, stop, timeout, heartbeat, fail };
  struct Agent {
    const AgentSpec* spec = nullptr;
    std::size_t index = 0;                // position in the graph's topological order
    std::vector<std::size_t> dependents;  // the agents that run after this one, by index
    std::uint32_t waiting_on = 0;         // its dependencies not ended yet
    proto::AgentState st;
    Kill kill = Kill::none;
    std::string kill_note;
    Clock::time_point deadline{};        // run timeout
    Clock::time_point last_heartbeat{};  // when its worker was last known alive (ahead of now while it starts)
    std::uintmax_t log_offset = 0;       // where the current attempt's lines start in its log
    Clock::time_point term_deadline{};   // SIGKILL after a SIGTERM grace period
    std::optional<Clock::time_point> blocked_since;
    bool launch = false;                 // committed as started; process to start after the commit
    std::set<std::string> open_questions;
    // Its current worker's conversation as read so far (model requests name how far it goes).
    std::shared_ptr<Conversation> conversation;
  };
  struct Pending {  // what the current loop iteration has decided, committed by flush()
    std::set<std::string> agents;
    std::vector<std::tuple<std::string, std::string, std::string>> puts;  // ns, key, bytes
    std::vector<std::pair<std::string, std::string>> dels;                // ns, key
    // Put only if the key holds nothing when committed: an answer, which is given once, whoever
    // (a terminal, `remora answer`, a default at a timeout) gives it first.
    std::vector<std::tuple<std::string, std::string, std::string>> answers;  // ns, key, bytes
    std::vector<proto::Event> events;
    bool run = false;
    // Whether everything here only reports (model:request, tool:*): such events may wait for the
    // next commit, up to kReportDelay (group commit); nothing a resume needs is among them.
    bool only_reports() const;
  };
  struct ChildExited {
    pid_t pid;
    int status;
  };
  struct Answer {
    std::string qid, text;
  };
  struct Interrupt {};
  struct ModelDone {
    ModelCall call;
    ModelReply reply;
  };
  struct RemoteChanged {
    std::string agent_id;
  };
  using Input = std::variant<ChildExited, std::vector<Change>, Answer, Interrupt, ModelDone, proto::Message, RemoteChanged>;
  static bool wants_prompt_handling(const Input& in);

  void push(Input in);
  void begin();
  void resume_state();
  void store_spec();
  void flush_every_agent();
  void kill_stale_worker(const proto::AgentState& st);
  void emit_blocked(Agent& a, const std::string& qid);
  void index_agents();
  void arrive(Agent& a);
  void rearm(Agent& a);
  void check_agent_timers(Agent& a, Clock::time_point now, Clock::duration hb_timeout);
  void schedule();
  void start(Agent& a);
  void launch_started();
  void flush();
  void emit(const std::string& category, const std::string& action, const std::string& agent_id,
            nlohmann::json payload = nlohmann::json::object());
  void set_state(Agent& a, const std::string& state, const std::string& reason = "");
  void handle(const ChildExited& e);
  void handle(const std::vector<Change>& changes);
  void handle(const Change& change);
  void handle(const Answer& a);
  void handle(const Interrupt&);
  void handle(const ModelDone& d);
  void handle(const proto::Message& m);
  void handle(const RemoteChanged& r);
  void on_model_request(Agent& a, const std::string& id);
  std::shared_ptr<const Conversation> conversation_to(Agent& a, std::uint32_t n);
  void on_outbox_message(Agent& a, const std::string& key);
  void on_chat_message(Agent& a, const std::string& key);
  void on_question(Agent& a, const std::string& qid);
  void on_response(Agent& a, const std::string& qid);
  void on_control(const std::string& key);
  void end_failed(Agent& a, const std::string& reason, bool abnormal, bool restartable);
  void finish_agent(Agent& a, const std::string& state, const std::string& reason, nlohmann::json payload);
  void close_questions(Agent& a, const std::string& status);
  void cancel(Agent& a, const std::string& reason, Kill kind);
  int suspend();
  void cancel_all(const std::string& reason, Kill kind);
  void terminate(Agent& a, Kill kind, const std::string& note, bool hard);
  void check_timers(Clock::duration overslept);
  void refresh_heartbeat(Agent& a, Clock::time_point now);
  std::optional<Clock::time_point> next_deadline() const;
  bool finished() const;
  std::string dependency_state(const std::string& id) const;  // a local agent's, else remote_state's
  bool terminal(const Agent& a) const;
  nlohmann::json counts() const;
  Agent* agent_for_ns(const std::string& ns);
  const Namespace& overlay(const Agent& a);  // the agent's overlay namespace
  std::string log_tail(const Agent& a) const;
  std::filesystem::path private_dir(const Agent& a) const;  // the worker's TMPDIR (sandbox_policy.hpp)
  void remove_private_dir(const Agent& a);

  Workspace& ws_;
  GraphSpec spec_;
  SupervisorOptions opts_;
  EventBus bus_;
  Namespace base_;
  std::filesystem::path private_root_;  // the agents' private directories (sandbox::private_root)
  proto::Run run_;
  std::map<std::string, Agent> agents_;
  std::vector<Agent*> by_index_;  // in topological order
  std::map<pid_t, std::string> by_pid_;
  std::map<std::string, proto::QuestionState> questions_;
  TimerQueue<std::string, Clock::time_point> question_deadlines_;
  // What a pass looks at: agents whose dependencies (or backoff) just ended, those ready and
  // waiting for a slot (in graph order), those to launch after the commit, and timers due.
  bool indexed_ = false;  // the structures below are kept up to date once index_agents() ran
  std::vector<std::size_t> arrived_;
  std::map<std::string, std::vector<std::size_t>> remote_dependents_;  // another host's agent -> ours after it
  std::set<std::string> remote_waiting_;                               // those of them not ended yet
  std::set<std::size_t> ready_;
  std::vector<std::size_t> to_launch_;
  TimerQueue<std::size_t, Clock::time_point> agent_timers_;
  std::array<std::int64_t, 8> state_counts_{};  // by kStates
  std::atomic<std::uint64_t> passes_{0}, visited_{0};
  std::map<std::string, Namespace> ns_cache_;
  Pending pending_;
  std::optional<Clock::time_point> report_deadline_;  // when pending reports are committed at the latest
  std::size_t running_ = 0;
  bool stopping_ = false;
  // Set by a `stop` control (remora restore): the run ends "stopped", its agents left as they
  // stand, for `remora resume` to continue.
  std::optional<std::string> suspend_reason_;
  int interrupts_ = 0;
  std::string last_counts_;
  nlohmann::json sandbox_;  // the confinement agent:started reports, probed once

  std::mutex in_mu_;
  std::condition_variable in_cv_;
  std::deque<Input> inputs_;
  bool prompt_input_ = false;  // inputs_ holds one that wants prompt handling (launch_started)

  std::set<std::string> model_inflight_;  // submitted to the gateway, response not committed yet
  std::vector<ModelCall> to_submit_;      // decided this iteration; submitted at the top of the next

  std::unique_ptr<ModelGateway> gateway_;
  std::unique_ptr<MemoryCgroups> cgroups_;  // one per agent; null where unavailable (said in the log)
  std::unique_ptr<WorkerProcesses> procs_;
  std::unique_ptr<Watcher> watcher_;
  std::thread watch_thread_;
  std::unique_ptr<Snapshotter> snapshotter_;  // with config.snapshot.enabled
};

}  // namespace remora
