#include "supervisor/supervisor.hpp"

#include <signal.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "shared/bounded_json.hpp"
#include "shared/chat_message.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "shared/node_vars.hpp"
#include "shared/sandbox_probe.hpp"
#include "supervisor/agent_results.hpp"
#include "supervisor/sandbox_ending.hpp"
#include "supervisor/terminal_text.hpp"
#include "shared/event_log.hpp"
#include "shared/pid_fd.hpp"

namespace remora {
namespace {

using namespace std::chrono_literals;

// How long reports (model:request, tool:*) may wait for the next commit (see Pending::only_reports).
constexpr auto kReportDelay = 2ms;
// How much longer than heartbeat.timeout a worker may take to start before its first heartbeat.
constexpr auto kStartGrace = 10s;

std::string random_hex(std::size_t n) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char hex[] = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s) c = hex[rng() % 16];
  return s;
}

std::string secs(double s) { return fmt::format("{:g}s", s); }

Supervisor::Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Supervisor::Clock::duration>(std::chrono::duration<double>(s));
}

const std::set<std::string> kTerminal{"completed", "failed", "cancelled", "skipped"};
// The states an agent can be in, as counted for graph:progress (Supervisor::state_counts_).
constexpr std::array<const char*, 8> kStates{"pending", "queued",    "running", "blocked",
                                             "completed", "failed", "cancelled", "skipped"};
std::size_t state_index(const std::string& state) {
  for (std::size_t i = 0; i < kStates.size(); ++i)
    if (state == kStates[i]) return i;
  throw Error(Errc::corrupt, "unknown agent state '" + state + "'");
}

}  // namespace

Supervisor::Supervisor(Workspace& ws, GraphSpec spec, SupervisorOptions options)
    : ws_(ws),
      spec_(std::move(spec)),
      opts_(std::move(options)),
      base_(ws.ns("base")),
      private_root_(sandbox::private_root(ws.dir())) {
  // What the workers will be confined by, from what this kernel offers a child of this process.
  auto facts = sandbox::probe();
  if (spec_.config.sandbox.level != sandbox::Level::none && facts.memory_cgroup.empty()) {
    try {
      cgroups_ = std::make_unique<MemoryCgroups>("remora-" + std::to_string(::getpid()));
      spdlog::info("memory cgroups ({}) under {}: {} MiB per agent", cgroups_->version(), cgroups_->dir().string(),
                   spec_.config.sandbox.limits.memory_mb);
    } catch (const std::exception& e) {
      facts.memory_cgroup = e.what();
    }
  }
  if (!facts.memory_cgroup.empty() && spec_.config.sandbox.level != sandbox::Level::none)
    spdlog::warn("no memory cgroup for agents ({}): memory is bounded per process only (address_space_mb)",
                 facts.memory_cgroup);
  sandbox_ = sandbox::expected(facts, spec_.config.sandbox.level).to_json();
  if (spec_.config.sandbox.level == sandbox::Level::none)
    spdlog::warn("sandbox level none: agents run unconfined (for debugging only)");
  for (const auto& a : spec_.agents) {
    Agent ag;
    ag.spec = &a;
    ag.st.id = a.id;
    ag.st.bundle = a.bundle;
    ag.st.target = a.target;
    ag.st.ns = keys::agent_ns(a.id);
    ag.st.heartbeat_ms = static_cast<std::uint32_t>(spec_.config.heartbeat.interval_s * 1000);
    agents_.emplace(a.id, std::move(ag));
  }
  for (const auto& id : spec_.topo_order()) {
    Agent& ag = agents_.at(id);
    ag.index = by_index_.size();
    by_index_.push_back(&ag);
  }
  for (Agent* ag : by_index_)
    for (const auto& dep : ag->spec->after)
      if (auto it = agents_.find(dep); it != agents_.end()) {
        it->second.dependents.push_back(ag->index);
      } else {  // another host's agent (a cluster run)
        remote_dependents_[dep].push_back(ag->index);
      }
  // An agent that runs after exactly one agent on the same node builds on that agent's edits.
  // (A cluster deals such an agent to the same host: ShardPlan::deal.)
  for (auto& [id, ag] : agents_) {
    if (auto on = spec_.builds_on(*ag.spec)) ag.st.parent_ns = keys::agent_ns(*on);
    ag.st.node_json = ag.spec->node.dump();
  }
}

std::filesystem::path Supervisor::private_dir(const Agent& a) const { return private_root_ / a.st.id; }

void Supervisor::remove_private_dir(const Agent& a) {
  std::error_code ec;
  std::filesystem::remove_all(private_dir(a), ec);
  if (ec) spdlog::warn("{}: cannot remove {}: {}", a.st.id, private_dir(a).string(), ec.message());
}

Supervisor::~Supervisor() {
  if (watcher_) watcher_->cancel();
  if (watch_thread_.joinable()) watch_thread_.join();
  procs_.reset();  // kills and reaps any worker still alive
}

// What the launches of a pass must not keep waiting (Supervisor::launch_started): a question or a
// model request from a worker, an answer, a control request, a model's reply, a message, an
// interrupt. Heartbeats, exits and the echo of the supervisor's own commits wait for them.
bool Supervisor::wants_prompt_handling(const Input& in) {
  const auto* changes = std::get_if<std::vector<Change>>(&in);
  if (!changes) return !std::holds_alternative<ChildExited>(in) && !std::holds_alternative<RemoteChanged>(in);
  return std::ranges::any_of(*changes, [](const Change& c) {
    return c.op == proto::ChangeOp::put &&
           (keys::starts_with(c.key, keys::kQuestion) || keys::starts_with(c.key, keys::kModelRequest) ||
            keys::starts_with(c.key, keys::kResponse) || keys::starts_with(c.key, keys::kRunControl));
  });
}

void Supervisor::push(Input in) {
  const bool prompt = wants_prompt_handling(in);
  {
    std::lock_guard lk(in_mu_);
    inputs_.push_back(std::move(in));
    prompt_input_ = prompt_input_ || prompt;
  }
  in_cv_.notify_one();
}

void Supervisor::answer(std::string question_id, std::string text) { push(Answer{std::move(question_id), std::move(text)}); }
void Supervisor::interrupt() { push(Interrupt{}); }
void Supervisor::deliver(proto::Message m) { push(std::move(m)); }

// ---------------------------------------------------------------------------------------------
// The loop

int Supervisor::run() {
  // However run ends, the bus closes: a user interface waiting on it ends too (an error that ends
  // the run must not leave `remora run` hanging, deaf to signals).
  struct CloseBus {
    EventBus& bus;
    ~CloseBus() { bus.close(); }
  } close_bus{bus_};
  std::filesystem::create_directories(opts_.log_dir);
  std::filesystem::permissions(opts_.log_dir, std::filesystem::perms::owner_all);  // logs hold what agents saw
  sandbox::prepare_private_root(private_root_);
  procs_ = std::make_unique<WorkerProcesses>([this](pid_t pid, int status) { push(ChildExited{pid, status}); });
  gateway_ = std::make_unique<ModelGateway>(
      spec_.bundles,
      [this](const std::string& agent_id) {
        // Called by the scripted provider, which answers in place: in the supervisor's loop.
        const Agent& a = agents_.at(agent_id);
        return node_vars(ws_, ws_.ns(a.st.ns), a.st);
      },
      [this](const ModelCall& call, ModelReply reply) { push(ModelDone{call, std::move(reply)}); });
  if (spec_.config.snapshot.enabled) {  // automatic checkpoints, taken on their own thread
    snapshotter_ = std::make_unique<Snapshotter>(ws_, spec_.config.snapshot,
                                                 [this](const proto::Event& e) { bus_.publish(e); });
  }
  // Watch from the revision after the last one begin() may have read: anything other processes
  // commit while it reads the workspace (an answer given as a run resumes) still arrives. Our own
  // first commit comes back as well; handling it again changes nothing.
  const auto watch_from = ws_.revision() + 1;
  begin();
  index_agents();
  // Loading a large graph (its YAML, its JSON for the run record, the first commits) leaves the
  // heap far larger than what the run keeps: give the free pages back.
  ::malloc_trim(0);
  watcher_ = std::make_unique<Watcher>(ws_, "", watch_from);
  watch_thread_ = std::thread([this] {
    for (;;) {
      auto changes = watcher_->next();
      if (changes.empty()) return;  // cancelled
      push(std::move(changes));
    }
  });

  for (;;) {
    ++passes_;
    schedule();
    // Decisions are durable before they are acted upon. Reports alone (model:request, tool:*) wait
    // for the next commit, kReportDelay at most, unless a call leaves for a model server: its
    // model:request is in the log first, so the log tells what a crash may have cut off. A call a
    // provider answers in place (the scripted one) goes at once: a turn then costs one commit.
    const bool to_server = std::ranges::any_of(to_submit_, [&](const ModelCall& c) { return !gateway_->immediate(c); });
    if (to_server || !pending_.only_reports() || Clock::now() >= report_deadline_.value_or(Clock::time_point::max())) {
      flush();
    } else if (!report_deadline_) {
      report_deadline_ = Clock::now() + kReportDelay;
    }
    for (auto& call : to_submit_) {
      if (terminal(agents_.at(call.agent_id))) {
        model_inflight_.erase(call.request_id);  // ended meanwhile: nothing to ask for
      } else {
        gateway_->submit(std::move(call));
      }
    }
    to_submit_.clear();
    // The pids recorded here ride along with the next commit: a worker dies with its supervisor
    // (PR_SET_PDEATHSIG), and its heartbeats carry its pid as well.
    launch_started();
    if (finished()) break;
    std::deque<Input> batch;
    Clock::duration overslept{};  // how far past its deadline the loop woke (see check_timers)
    {
      std::unique_lock lk(in_mu_);
      auto deadline = next_deadline();
      if (report_deadline_ && (!deadline || *report_deadline_ < *deadline)) deadline = report_deadline_;
      auto ready = [&] { return !inputs_.empty() || !to_launch_.empty(); };
      if (deadline) {
        in_cv_.wait_until(lk, *deadline, ready);
        overslept = std::max(Clock::duration::zero(), Clock::now() - *deadline);
      } else {
        in_cv_.wait(lk, ready);
      }
      batch.swap(inputs_);
      prompt_input_ = false;
    }
    for (auto& in : batch) std::visit([this](auto& x) { handle(x); }, in);
    check_timers(overslept);
    if (suspend_reason_ && !finished()) break;  // stopped: nothing more is started or sent
  }
  procs_->close_zygote();  // nothing more is launched (and the thread it is bound to may end now)

  if (suspend_reason_ && !finished()) return suspend();
  auto count = [&](const char* state) {
    return std::count_if(agents_.begin(), agents_.end(), [&](auto& kv) { return kv.second.st.state == state; });
  };
  const bool all_ok = count("completed") == static_cast<long>(agents_.size());
  run_.state = all_ok ? "completed" : count("cancelled") > 0 && count("failed") == 0 ? "cancelled" : "failed";
  run_.ended_at_ms = now_ms();
  pending_.run = true;
  auto c = counts();
  c["duration_ms"] = run_.ended_at_ms - run_.started_at_ms;
  // The whole run's tokens, as status counts them (a resumed run's earlier sessions included).
  std::vector<proto::AgentState> states;
  for (const auto& [id, a] : agents_) states.push_back(a.st);
  const auto tokens = token_totals(ws_, states);
  c["prompt_tokens"] = tokens.prompt;
  c["completion_tokens"] = tokens.completion;
  emit("graph", run_.state, "", c);
  flush();
  gateway_.reset();
  if (snapshotter_) snapshotter_->finish();  // the last checkpoint holds the ended run
  watcher_->cancel();
  watch_thread_.join();
  bus_.close();
  std::error_code ec;
  std::filesystem::remove(private_root_, ec);  // empty by now: each worker's was removed after it
  return all_ok ? 0 : 1;
}

// Ends the run "stopped" without deciding anything more for its agents: running and blocked ones
// stay so, their workers are killed with the supervisor (as in a crash, but announced), and `remora
// resume` continues them from their last commit; agents being cancelled end cancelled.
int Supervisor::suspend() {
  snapshotter_.reset();  // no automatic checkpoint (nor pruning) of a run being stopped
  gateway_.reset();      // calls in flight end now; those cut off are sent again on resume
  std::deque<Input> left;
  {
    std::lock_guard lk(in_mu_);
    left.swap(inputs_);
  }
  for (auto& in : left)  // replies that did arrive are kept: never asked for twice
    if (auto* done = std::get_if<ModelDone>(&in); done && done->reply.ok) handle(*done);
  for (auto& [id, a] : agents_)  // a cancel under way ends as it would have: resume must not undo it
    if (a.st.pid != 0 && (a.kill == Kill::cancel || a.kill == Kill::stop))
      finish_agent(a, "cancelled", a.kill_note, {{"reason", a.kill_note}});
  run_.state = "stopped";
  pending_.run = true;
  emit("graph", "stopped", "", {{"reason", *suspend_reason_}, {"counts", counts()}});
  flush();
  procs_.reset();  // kills and reaps the workers
  watcher_->cancel();
  watch_thread_.join();
  bus_.close();
  return 1;
}

void Supervisor::begin() {
  if (opts_.resume) {
    resume_state();
    return;
  }
  run_.graph_id = random_hex(16);
  run_.graph_name = spec_.name;
  run_.session_id = random_hex(8);
  run_.started_at_ms = now_ms();
  run_.supervisor_pid = ::getpid();
  store_spec();
  emit("graph", "started", "",
       {{"graph", spec_.name}, {"agents", spec_.agents.size()}, {"max_concurrency", spec_.config.max_concurrency}});
  flush_every_agent();
}

// Every agent's record, committed in parts (the first part with whatever else is pending): one
// transaction of 100,000 records would hold all its dirty pages in memory at once. A supervisor
// that dies between parts leaves agents with no record, which a resumed run takes as pending.
void Supervisor::flush_every_agent() {
  constexpr std::size_t kAgentsPerCommit = 4096;
  for (auto& [id, a] : agents_) {
    pending_.agents.insert(id);
    if (pending_.agents.size() >= kAgentsPerCommit) flush();
  }
  flush();
}

// The graph and its bundles as this supervisor runs them, with the run record (flushed next; the
// graph's JSON is made for each commit of the run record, not held: at 100,000 agents it is tens
// of MB).
void Supervisor::store_spec() {
  pending_.run = true;
  for (auto& [name, b] : spec_.bundles)
    pending_.puts.emplace_back(std::string(keys::kBase), keys::run_bundle(name),
                               proto::encode(proto::JsonValue{b.to_json().dump()}));
  for (const auto& id : spec_.elsewhere)  // for send_message's check of whom it may write to
    pending_.puts.emplace_back(std::string(keys::kBase), keys::run_peer(id), proto::encode(proto::JsonValue{"{}"}));
}

// Takes over the run a dead supervisor left: its graph, each agent's state, pending questions,
// answers, model requests and messages. Agents that were running start again and continue from
// their last commit; nothing a previous supervisor committed is decided twice.
void Supervisor::resume_state() {
  const auto rkey = std::string(keys::kRunGraph);
  auto re = ws_.get(base_, rkey);
  if (!re) throw Error(Errc::not_found, "the workspace holds no run to resume");
  run_ = proto::decode<proto::Run>(re->value, rkey);
  run_.graph_json.clear();  // made again from spec_ when the run record is next committed
  const auto previous_session = run_.session_id;
  run_.session_id = random_hex(8);
  run_.supervisor_pid = ::getpid();
  run_.state = "running";
  run_.ended_at_ms = 0;
  store_spec();  // `remora resume --model-url ...` may have changed its bundles' model server
  std::size_t restarted = 0;
  for (auto& [id, a] : agents_) {
    const auto key = keys::run_agent(id);
    auto e = ws_.get(base_, key);
    if (!e) continue;  // never recorded: still pending
    a.st = proto::decode<proto::AgentState>(e->value, key);
    if (terminal(a)) continue;
    if (a.st.pid != 0) kill_stale_worker(a.st);
    if (a.st.state == "running" || a.st.state == "blocked") {
      a.st.pid = 0;
      set_state(a, "queued", "resumed after the supervisor stopped");
      ++restarted;
    }
  }
  // First in the log of this session: what follows is its doing.
  emit("graph", "resumed", "",
       {{"graph", spec_.name}, {"previous_session", previous_session}, {"agents_restarted", restarted}});
  for (auto& [k, e] : ws_.list(base_, keys::kRunQuestion)) {
    auto qs = proto::decode<proto::QuestionState>(e.value, k);
    if (!agents_.count(qs.agent_id)) continue;
    if (qs.status != "pending") {
      questions_[qs.id] = qs;  // known and closed: never asked again
      continue;
    }
    Agent& a = agents_.at(qs.agent_id);
    double timeout_s = 300;
    if (auto q = ws_.get(overlay(a), keys::question(qs.id)))
      timeout_s = proto::decode<proto::Question>(q->value, keys::question(qs.id)).timeout_s;
    questions_[qs.id] = qs;
    auto left_ms = static_cast<std::int64_t>(timeout_s * 1000) - (now_ms() - qs.asked_at_ms);
    question_deadlines_.set(qs.id, Clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(left_ms, 0)));
    a.open_questions.insert(qs.id);
    if (ws_.get(overlay(a), keys::response(qs.id))) on_response(a, qs.id);  // answered as it died
  }
  // What workers committed for a supervisor that is gone: questions it had not indexed yet (the
  // restarted worker finds its question asked and only waits for the answer), requests to serve,
  // messages to deliver.
  for (auto& [id, a] : agents_) {
    if (terminal(a) || !ws_.find_ns(a.st.ns)) continue;
    const auto& ns = overlay(a);
    for (auto& [k, e] : ws_.list(ns, keys::kQuestion)) {
      const auto qid = k.substr(keys::kQuestion.size());
      if (questions_.count(qid)) continue;
      on_question(a, qid);
      if (ws_.get(ns, keys::response(qid))) on_response(a, qid);
    }
    for (auto& [k, e] : ws_.list(ns, keys::kModelRequest)) on_model_request(a, k.substr(keys::kModelRequest.size()));
    for (auto& [k, e] : ws_.list(ns, keys::kOutboxMessage)) on_outbox_message(a, k);
  }
  for (auto& [k, e] : ws_.list(base_, keys::kRunControl)) on_control(k);
  suspend_reason_.reset();  // a stop asked of the supervisor before us (it died first) is not ours
  flush_every_agent();
}

// A worker of the previous supervisor still alive (PR_SET_PDEATHSIG normally takes it with its
// parent): killed, and waited for, before its agent starts again.
void Supervisor::kill_stale_worker(const proto::AgentState& st) {
  const auto pid = static_cast<pid_t>(st.pid);
  PidFd handle(pid);  // first: what we check below and what we signal are then the same process
  if (!handle.valid()) return;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string agent_arg = std::string("--agent") + '\0' + st.id + '\0';
  if (cmdline.find("remora-worker") == std::string::npos || cmdline.find(agent_arg) == std::string::npos) return;
  if (!handle.signal(SIGKILL)) return;  // exited meanwhile
  spdlog::warn("killed {}'s worker pid {}, left by the previous supervisor", st.id, pid);
  handle.wait_exit(std::chrono::seconds(5));
}

bool Supervisor::terminal(const Agent& a) const { return kTerminal.count(a.st.state) > 0; }

bool Supervisor::finished() const {
  if (procs_->live() > 0 || running_ > 0) return false;
  std::int64_t ended = 0;
  for (std::size_t i = state_index("completed"); i < kStates.size(); ++i) ended += state_counts_[i];
  return ended == static_cast<std::int64_t>(agents_.size());
}

nlohmann::json Supervisor::counts() const {
  nlohmann::json c = nlohmann::json::object();
  for (std::size_t i = 0; i < kStates.size(); ++i) c[kStates[i]] = state_counts_[i];
  return c;
}

// Once the run's records are read (a new run, or one resumed): each agent's count of dependencies
// not ended, the states counted, and the agents free to start arrive for the first pass. From
// here on set_state keeps all of it up to date, so a pass looks only at what changed.
void Supervisor::index_agents() {
  state_counts_.fill(0);
  remote_waiting_.clear();
  for (Agent* a : by_index_) {
    ++state_counts_[state_index(a->st.state)];
    a->waiting_on = 0;
    for (const auto& dep : a->spec->after)
      if (!kTerminal.count(dependency_state(dep))) {
        ++a->waiting_on;
        if (!agents_.count(dep)) remote_waiting_.insert(dep);
      }
  }
  for (Agent* a : by_index_)
    if (a->waiting_on == 0) arrived_.push_back(a->index);
  indexed_ = true;
}

// a's dependencies (or its restart backoff) are over: the next pass skips, queues or starts it.
void Supervisor::arrive(Agent& a) {
  if (indexed_) arrived_.push_back(a.index);
}

// Sets a's one timer to the earliest of its deadlines (or none).
void Supervisor::rearm(Agent& a) {
  std::optional<Clock::time_point> due;
  if (a.st.pid != 0) {
    if (a.kill != Kill::none) {
      if (a.term_deadline != Clock::time_point::max()) due = a.term_deadline;
    } else {
      due = a.last_heartbeat + seconds(spec_.config.heartbeat.timeout_s);
      if (!a.blocked_since) due = std::min(*due, a.deadline);
    }
  } else if (a.st.state == "queued" && a.st.not_before_ms > now_ms()) {
    due = Clock::now() + std::chrono::milliseconds(a.st.not_before_ms - now_ms());
  }
  if (due) {
    agent_timers_.set(a.index, *due);
  } else {
    agent_timers_.erase(a.index);
  }
}

std::string Supervisor::dependency_state(const std::string& id) const {
  if (auto it = agents_.find(id); it != agents_.end()) return it->second.st.state;
  return opts_.remote_state ? opts_.remote_state(id) : "pending";
}

void Supervisor::remote_changed(std::string agent_id) { push(RemoteChanged{std::move(agent_id)}); }

// A cluster run (SupervisorOptions::remote_state): another host's agent that ended releases its
// dependents here, as a local agent's end does in set_state; only the agent named is looked at.
// (Before index_agents, there is nothing to release: it reads every state itself.)
void Supervisor::handle(const RemoteChanged& r) {
  auto it = remote_waiting_.find(r.agent_id);
  if (it == remote_waiting_.end() || !kTerminal.count(dependency_state(r.agent_id))) return;
  for (const auto d : remote_dependents_[r.agent_id])
    if (--by_index_[d]->waiting_on == 0) arrive(*by_index_[d]);
  remote_waiting_.erase(it);
}

void Supervisor::schedule() {
  const auto now_wall = now_ms();
  std::vector<std::size_t> fresh;  // arrived this pass, still pending: queued unless started
  while (!stopping_ && !arrived_.empty()) {
    // In graph order; an agent skipped here makes its dependents arrive in the same pass.
    auto batch = std::exchange(arrived_, {});
    std::sort(batch.begin(), batch.end());
    batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
    for (const auto i : batch) {
      ++visited_;
      Agent& a = *by_index_[i];
      if ((a.st.state != "pending" && a.st.state != "queued") || a.waiting_on > 0) continue;
      std::string blocked_by, blocked_state;
      for (const auto& dep : a.spec->after)
        if (auto d = dependency_state(dep); d != "completed" && spec_.config.error_policy != ErrorPolicy::continue_)
          blocked_by = dep, blocked_state = std::move(d);
      if (!blocked_by.empty()) {
        finish_agent(a, "skipped", "dependency " + blocked_by + " " + blocked_state, {});
        continue;
      }
      if (a.st.not_before_ms > now_wall) {  // a restart waiting out its backoff: its timer brings it back
        rearm(a);
      } else {
        ready_.insert(i);
      }
      if (a.st.state == "pending") fresh.push_back(i);
    }
  }
  while (!stopping_ && !ready_.empty() && running_ < spec_.config.max_concurrency) {
    ++visited_;
    start(*by_index_[*ready_.begin()]);  // leaves ready_ as it leaves "queued"
  }
  for (const auto i : fresh) {
    Agent& a = *by_index_[i];
    if (a.st.state != "pending") continue;
    set_state(a, "queued");
    emit("agent", "queued", a.st.id);
  }
  auto c = counts();
  if (auto text = c.dump(); text != last_counts_) {
    last_counts_ = std::move(text);
    emit("graph", "progress", "", std::move(c));
  }
}

void Supervisor::start(Agent& a) {
  a.st.attempt = a.st.restarts;
  if (a.st.started_at_ms == 0) a.st.started_at_ms = now_ms();
  a.kill = Kill::none;
  a.launch = true;
  to_launch_.push_back(a.index);
  set_state(a, "running");
  ++running_;
  emit("agent", "started", a.st.id,
       {{"attempt", a.st.attempt}, {"bundle", a.st.bundle}, {"target", a.st.target}, {"sandbox", sandbox_}});
  if (!a.open_questions.empty()) {  // restarted while a question is still pending: asked again
    set_state(a, "blocked");
    a.blocked_since = Clock::now();
    for (const auto& qid : a.open_questions) emit_blocked(a, qid);
  }
}

// One launch after another until something comes in that wants an answer (a question, a model
// request: wants_prompt_handling): it is handled, and its outcome committed, before the next
// launch, so that starting sixteen workers does not keep a question waiting for all sixteen.
// What is left is launched in the passes that follow; the loop does not sleep while any is.
void Supervisor::launch_started() {
  std::size_t done = 0;
  bool launched = false;
  while (done < to_launch_.size()) {
    if (launched) {
      std::lock_guard lk(in_mu_);
      if (prompt_input_) break;
    }
    const auto i = to_launch_[done++];
    ++visited_;
    Agent& a = *by_index_[i];
    const std::string& id = a.st.id;
    if (!a.launch) continue;  // cancelled before its commit
    launched = true;
    a.launch = false;
    // --agent first: a worker forked by the zygote shows its arguments in the zygote's command
    // line, which has room for 4 KiB of them (kill_stale_worker looks for --agent there).
    std::vector<std::string> args{"--agent", id, "--workspace", ws_.dir().string(),
                                  "--supervisor-pid", std::to_string(::getpid()),
                                  "--durability", std::string(name_of(worker_durability(spec_.config.durability))),
                                  "--private-dir", private_dir(a).string()};
    auto sandbox_args = spec_.config.sandbox.to_args();
    args.insert(args.end(), sandbox_args.begin(), sandbox_args.end());
    remove_private_dir(a);  // left by a supervisor that died: each worker starts with an empty one
    std::error_code size_ec;
    const auto log_size = std::filesystem::file_size(opts_.log_dir / (id + ".log"), size_ec);
    a.log_offset = size_ec ? 0 : log_size;  // the log is shared by the agent's attempts
    a.conversation.reset();  // read again from its namespace by the new worker's first turn
    int cgroup_procs = -1;
    try {
      if (cgroups_) {
        const auto dir = cgroups_->make(id, std::uint64_t{spec_.config.sandbox.limits.memory_mb} << 20);
        cgroup_procs = ::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
        if (cgroup_procs < 0) throw Error(Errc::io, "cannot open " + (dir / "cgroup.procs").string() + ": " + std::strerror(errno));
        args.insert(args.end(), {"--memory-cgroup", dir.string()});
      }
      pid_t pid = procs_->start(opts_.worker_exe, args, opts_.log_dir / (id + ".log"),
                                sandbox::worker_environment(private_dir(a)), cgroup_procs);
      if (cgroup_procs >= 0) ::close(cgroup_procs);
      by_pid_[pid] = id;
      a.st.pid = pid;
      auto now = Clock::now();
      a.deadline = now + seconds(a.spec->timeout_s);
      // Starting (exec, loading, confining itself) is not silence: the first beat, which a worker
      // writes one interval after it has started, is awaited kStartGrace longer than the ones
      // after it.
      a.last_heartbeat = now + kStartGrace;
      rearm(a);
      pending_.agents.insert(id);
      spdlog::debug("started {} as pid {}", id, pid);
    } catch (const std::exception& e) {
      if (cgroup_procs >= 0) ::close(cgroup_procs);
      --running_;
      end_failed(a, std::string("could not start its worker: ") + e.what(), false, false);
    }
  }
  to_launch_.erase(to_launch_.begin(), to_launch_.begin() + static_cast<std::ptrdiff_t>(done));
}

void Supervisor::set_state(Agent& a, const std::string& state, const std::string& reason) {
  if (indexed_ && state != a.st.state) {
    const bool ends = !terminal(a) && kTerminal.count(state) > 0;
    --state_counts_[state_index(a.st.state)];
    ++state_counts_[state_index(state)];
    if (state != "pending" && state != "queued") ready_.erase(a.index);
    if (ends)
      for (const auto d : a.dependents)
        if (--by_index_[d]->waiting_on == 0) arrive(*by_index_[d]);
  }
  a.st.state = state;
  if (!reason.empty() || state == "running" || state == "queued") a.st.reason = reason;
  pending_.agents.insert(a.st.id);
}

void Supervisor::emit(const std::string& category, const std::string& action, const std::string& agent_id,
                      nlohmann::json payload) {
  proto::Event e;
  e.timestamp_ms = now_ms();
  e.category = category;
  e.action = action;
  e.graph_id = run_.graph_id;
  e.session_id = run_.session_id;
  e.agent_id = agent_id;
  if (!agent_id.empty()) e.node_id = agents_.at(agent_id).st.target;
  e.payload_json = payload.dump();
  pending_.events.push_back(std::move(e));
}

bool Supervisor::Pending::only_reports() const {
  if (events.empty() || !agents.empty() || !puts.empty() || !dels.empty() || !answers.empty() || run) return false;
  return std::ranges::all_of(events, [](const proto::Event& e) {
    return (e.category == "model" && e.action == "request") || e.category == "tool";
  });
}

void Supervisor::flush() {
  report_deadline_.reset();
  if (pending_.agents.empty() && pending_.puts.empty() && pending_.dels.empty() && pending_.answers.empty() &&
      pending_.events.empty() && !pending_.run)
    return;
  std::vector<proto::Event> events;
  std::map<std::string, Namespace> created;
  std::string run_bytes;
  if (pending_.run) {
    proto::Run run = run_;
    run.graph_json = spec_.to_json().dump();
    run_bytes = proto::encode(run);
  }
  const auto revision = ws_.write([&](WriteTxn& t) {
    events = pending_.events;
    created.clear();
    std::function<Namespace(const std::string&)> ns_of = [&](const std::string& name) -> Namespace {
      if (auto it = ns_cache_.find(name); it != ns_cache_.end()) return it->second;
      if (auto it = created.find(name); it != created.end()) return it->second;
      auto n = t.find_ns(name);
      if (!n) {
        // An agent's overlay reads through its parent: base, or the overlay of the dependency it
        // builds on, created first (that agent ran before it; or, for a message put in the inbox
        // of an agent that has not started, now, empty until that agent runs).
        const Agent* a = agent_for_ns(name);
        const std::string parent = a ? a->st.parent_ns : std::string(keys::kBase);
        n = t.create_ns(name, parent == keys::kBase ? parent : ns_of(parent).name);
      }
      return created[name] = *n;
    };
    for (const auto& id : pending_.agents) {
      const Agent& a = agents_.at(id);
      if (a.st.state == "running") ns_of(a.st.ns);  // the overlay exists before its worker starts
      t.put(base_, keys::run_agent(id), proto::encode(a.st));
    }
    for (const auto& [ns, key, bytes] : pending_.puts) t.put(ns_of(ns), key, bytes);
    for (const auto& [ns, key] : pending_.dels) t.del(ns_of(ns), key);
    for (const auto& [ns, key, bytes] : pending_.answers)
      if (!t.get(ns_of(ns), key)) t.put(ns_of(ns), key, bytes);
    if (pending_.run) t.put(base_, std::string(keys::kRunGraph), run_bytes);
    append_events(t, base_, events);
  });
  ns_cache_.merge(created);
  pending_ = Pending{};
  for (const auto& e : events) bus_.publish(e);
  if (snapshotter_) snapshotter_->committed(revision);
}

// ---------------------------------------------------------------------------------------------
// Inputs

const Namespace& Supervisor::overlay(const Agent& a) {
  // Created (and cached) by the commit that started the agent; resolved once otherwise.
  auto it = ns_cache_.find(a.st.ns);
  if (it == ns_cache_.end()) it = ns_cache_.emplace(a.st.ns, ws_.ns(a.st.ns)).first;
  return it->second;
}

Supervisor::Agent* Supervisor::agent_for_ns(const std::string& ns) {
  const auto id = keys::agent_of_ns(ns);
  auto it = id ? agents_.find(*id) : agents_.end();
  return it == agents_.end() ? nullptr : &it->second;
}

void Supervisor::handle(const std::vector<Change>& changes) {
  for (const auto& c : changes) {
    if (c.op != proto::ChangeOp::put) continue;
    try {
      handle(c);
    } catch (const std::exception& e) {
      // What a worker wrote is untrusted: a record that does not decode, or is not what it must
      // be, fails the agent whose namespace holds it; nothing else is disturbed.
      Agent* a = agent_for_ns(c.ns_name);
      if (!a) throw Error(Errc::corrupt, "the run cannot go on: key '" + c.key + "': " + e.what());
      spdlog::error("{}: bad record at key '{}': {}", a->st.id, c.key, e.what());
      terminate(*a, Kill::fail, "wrote a bad record at key '" + c.key + "': " + e.what(), true);
    }
  }
}

void Supervisor::handle(const Change& c) {
  if (Agent* a = agent_for_ns(c.ns_name)) {
    if (a->st.pid != 0 && (keys::is_agent_key(c.key, a->st.id, "heartbeat") || keys::is_agent_key(c.key, a->st.id, "step") ||
                           keys::starts_with(c.key, keys::kModelRequest))) {
      // Its worker's heartbeat, and the progress only a worker commits (a step, a model request),
      // are signs of life; the first ends the start grace.
      a->last_heartbeat = Clock::now();
      rearm(*a);
    }
    if (keys::starts_with(c.key, keys::kQuestion)) {
      on_question(*a, c.key.substr(keys::kQuestion.size()));
    } else if (keys::starts_with(c.key, keys::kResponse)) {
      on_response(*a, c.key.substr(keys::kResponse.size()));
    } else if (keys::starts_with(c.key, keys::kModelRequest)) {
      on_model_request(*a, c.key.substr(keys::kModelRequest.size()));
    } else if (keys::starts_with(c.key, keys::kOutboxMessage)) {
      on_outbox_message(*a, c.key);
    } else if (keys::starts_with(c.key, keys::agent(a->st.id, "message:"))) {
      on_chat_message(*a, c.key);
    }
  } else if (c.ns == 0 && keys::starts_with(c.key, keys::kRunControl)) {
    on_control(c.key);
  }
}

void Supervisor::on_question(Agent& a, const std::string& qid) {
  if (questions_.count(qid) || terminal(a)) return;
  const auto key = keys::question(qid);
  auto e = ws_.get(overlay(a), key);
  if (!e) return;
  proto::Question q;
  try {
    q = proto::decode<proto::Question>(e->value, key);
  } catch (const std::exception& err) {
    // A worker that writes garbage is failed with the reason; nothing else is disturbed.
    terminate(a, Kill::fail, std::string("wrote a bad question record: ") + err.what(), true);
    return;
  }
  proto::QuestionState qs;
  qs.id = qid;
  qs.agent_id = a.st.id;
  qs.ns = a.st.ns;
  qs.asked_at_ms = now_ms();
  questions_[qid] = qs;
  question_deadlines_.set(qid, Clock::now() + seconds(q.timeout_s > 0 ? q.timeout_s : 300));
  a.open_questions.insert(qid);
  pending_.puts.emplace_back(std::string(keys::kBase), keys::run_question(qid), proto::encode(qs));
  if (a.st.state == "running") {
    set_state(a, "blocked");
    a.blocked_since = Clock::now();
  }
  // An agent waiting to (re)start asks when it starts (Supervisor::start).
  if (a.st.state == "blocked") emit_blocked(a, qid);
}

void Supervisor::emit_blocked(Agent& a, const std::string& qid) {
  const auto key = keys::question(qid);
  auto e = ws_.get(overlay(a), key);
  if (!e) return;
  auto q = proto::decode<proto::Question>(e->value, key);
  emit("agent", "blocked", a.st.id,
       {{"question_id", qid},
        {"question", q.question},
        {"options", q.options},
        {"default", q.default_answer ? nlohmann::json(*q.default_answer) : nlohmann::json(nullptr)},
        {"timeout_s", q.timeout_s}});
}

void Supervisor::on_response(Agent& a, const std::string& qid) {
  auto it = questions_.find(qid);
  if (it == questions_.end() || it->second.status != "pending") return;
  const auto key = keys::response(qid);
  auto e = ws_.get(overlay(a), key);
  if (!e) return;
  proto::Response r;
  try {
    r = proto::decode<proto::Response>(e->value, key);
  } catch (const std::exception& err) {
    spdlog::warn("ignoring a bad answer record: {}", err.what());
    return;
  }
  it->second.status = "answered";
  it->second.closed_at_ms = now_ms();
  pending_.puts.emplace_back(std::string(keys::kBase), keys::run_question(qid), proto::encode(it->second));
  question_deadlines_.erase(qid);
  a.open_questions.erase(qid);
  if (a.st.state == "blocked" && a.open_questions.empty()) {
    set_state(a, "running");
    if (a.blocked_since) a.deadline += Clock::now() - *a.blocked_since;  // waiting on a human is not run time
    a.blocked_since.reset();
    rearm(a);  // its run timeout counts again
  }
  emit("agent", "resumed", a.st.id, {{"question_id", qid}, {"answer", r.answer}, {"source", r.source}});
}

void Supervisor::on_model_request(Agent& a, const std::string& id) {
  if (model_inflight_.count(id) || terminal(a)) return;
  const auto& ns = overlay(a);
  if (ws_.get(ns, keys::model_response(id))) return;  // served before: never sent twice
  const auto key = keys::model_request(id);
  auto e = ws_.get(ns, key);
  if (!e) return;
  ModelCall call;
  try {
    auto req = proto::decode<proto::ModelRequest>(e->value, key);
    call.request_id = req.id;
    call.agent_id = a.st.id;
    call.turn = req.turn;
    call.tools = parse_bounded(req.tools_json, key + " tools", kRecordJsonLimits);
    call.settings = parse_bounded(req.settings_json, key + " settings", kRecordJsonLimits);
    if (req.id != id || !call.tools.is_array() || !call.settings.is_object())
      throw Error(Errc::corrupt, "record at key '" + key + "' is not a well-formed model request");
    if (req.messages_json.empty()) {
      call.conversation = conversation_to(a, req.messages);
    } else {  // a version 1 request, of a workspace written before: it carries the conversation
      auto messages = parse_bounded(req.messages_json, key + " messages", kRecordJsonLimits);
      if (!messages.is_array()) throw Error(Errc::corrupt, "record at key '" + key + "' is not a well-formed model request");
      call.conversation = Conversation::of(messages);
    }
    call.settings["bundle"] = a.st.bundle;  // the agent's own bundle, whatever the worker wrote
  } catch (const std::exception& err) {
    terminate(a, Kill::fail, std::string("wrote a bad model request: ") + err.what(), true);
    return;
  }
  model_inflight_.insert(id);
  emit("model", "request", a.st.id,
       {{"request_id", id}, {"turn", call.turn}, {"messages", call.conversation->messages.size()}});
  to_submit_.push_back(std::move(call));
}

// The agent's conversation up to (not including) message n: what was read for its earlier turns,
// and the messages since, read from its namespace. A call that still holds the conversation (its
// reply is being handed back) keeps its copy; a new worker, or a shorter request, starts over.
std::shared_ptr<const Conversation> Supervisor::conversation_to(Agent& a, std::uint32_t n) {
  auto& c = a.conversation;
  if (!c || c->messages.size() > n) c = std::make_shared<Conversation>();
  else if (c.use_count() > 1) c = std::make_shared<Conversation>(*c);
  const auto& ns = overlay(a);
  for (auto seq = static_cast<std::uint32_t>(c->messages.size()); seq < n; ++seq) {
    const auto key = keys::chat_message(a.st.id, seq);
    auto e = ws_.get(ns, key);
    if (!e) throw Error(Errc::corrupt, fmt::format("the model request covers {} messages; message {} is not stored", n, seq));
    auto m = parse_bounded(proto::decode<proto::JsonValue>(e->value, key).json, key, kRecordJsonLimits);
    if (!m.is_object()) throw Error(Errc::corrupt, "record at key '" + key + "' is not a chat message");
    c->append(for_model(std::move(m)));
  }
  return c;
}

void Supervisor::handle(const ModelDone& d) {
  model_inflight_.erase(d.call.request_id);
  Agent& a = agents_.at(d.call.agent_id);
  proto::ModelResponse r;
  r.id = d.call.request_id;
  r.ok = d.reply.ok;
  r.message_json = d.reply.ok ? d.reply.message.dump() : "";
  r.error = d.reply.error;
  r.prompt_tokens = d.reply.prompt_tokens;
  r.completion_tokens = d.reply.completion_tokens;
  r.duration_ms = d.reply.duration_ms;
  pending_.puts.emplace_back(a.st.ns, keys::model_response(r.id), proto::encode(r));
  nlohmann::json payload = {{"request_id", r.id},
                            {"turn", d.call.turn},
                            {"ok", r.ok},
                            {"prompt_tokens", r.prompt_tokens},
                            {"completion_tokens", r.completion_tokens},
                            {"duration_ms", std::llround(r.duration_ms)},
                            {"attempts", d.reply.attempts}};
  if (!r.ok) payload["error"] = r.error;
  emit("model", "response", a.st.id, std::move(payload));
}

void Supervisor::on_outbox_message(Agent& a, const std::string& key) {
  auto e = ws_.get(overlay(a), key);
  if (!e) return;
  proto::Message m;
  try {
    m = proto::decode<proto::Message>(e->value, key);
  } catch (const std::exception& err) {
    spdlog::warn("{}: ignoring a bad message record: {}", a.st.id, err.what());
    return;
  }
  m.from_agent = a.st.id;  // whatever the worker claimed
  auto to = agents_.find(m.to_agent);
  const bool remote = to == agents_.end() && spec_.elsewhere.count(m.to_agent);
  // The id is the worker's: one that cannot make a key (too long, a NUL) is refused, not committed.
  const auto dest = remote ? keys::run_outgoing(m.from_agent, m.id) : keys::agent_inbox(m.to_agent, m.id);
  if ((to == agents_.end() && !remote) || !keys::valid_key(dest)) {
    emit("agent", "message_undeliverable", a.st.id, {{"message_id", m.id}, {"to", m.to_agent}});
    return;
  }
  if (remote) {
    // Another host's: committed for the cluster host to carry (and carried again after a crash).
    pending_.puts.emplace_back(std::string(keys::kBase), dest, proto::encode(m));
    emit("agent", "message", a.st.id, {{"message_id", m.id}, {"to", m.to_agent}, {"remote", true}});
    return;
  }
  pending_.puts.emplace_back(to->second.st.ns, dest, proto::encode(m));
  emit("agent", "message", a.st.id, {{"message_id", m.id}, {"to", m.to_agent}});
}

// A message another host's agent sent to one of ours (a cluster run), given again after a crash or
// a reconnect: put once, unless its addressee has ended or its id cannot make a key.
void Supervisor::handle(const proto::Message& m) {
  auto to = agents_.find(m.to_agent);
  const auto key = keys::agent_inbox(m.to_agent, m.id);
  if (to == agents_.end() || terminal(to->second) || !keys::valid_key(key)) {
    spdlog::warn("a message from another host for {} was dropped: {}", inert_text(m.to_agent),
                 to == agents_.end() ? "this host does not run it" : terminal(to->second) ? "it has ended" : "its id is unusable");
    return;
  }
  if (auto ns = ws_.find_ns(to->second.st.ns); ns && ws_.get(*ns, key)) return;
  pending_.puts.emplace_back(to->second.st.ns, key, proto::encode(m));
  emit("agent", "message_received", m.to_agent, {{"message_id", m.id}, {"from", m.from_agent}});
}

void Supervisor::on_chat_message(Agent& a, const std::string& key) {
  auto e = ws_.get(overlay(a), key);
  if (!e) return;
  nlohmann::json m = try_parse_bounded(proto::decode<proto::JsonValue>(e->value, key).json, key, kRecordJsonLimits).value;
  if (!m.is_object()) return;
  const std::string role = m.value("role", "");
  if (role == "assistant" && m.contains("tool_calls") && m["tool_calls"].is_array()) {
    for (const auto& tc : m["tool_calls"]) {
      const auto fn = tc.value("function", nlohmann::json::object());
      std::string args = fn.value("arguments", "");
      if (args.size() > 300) args = args.substr(0, 300) + "...";
      emit("tool", "called", a.st.id, {{"tool", fn.value("name", "")}, {"call_id", tc.value("id", "")}, {"arguments", args}});
    }
  } else if (role == "tool") {
    const auto meta = m.value(kChatMeta, nlohmann::json::object());
    const bool ok = meta.value("ok", true);
    nlohmann::json payload = {{"tool", m.value("name", "")},
                              {"call_id", m.value("tool_call_id", "")},
                              {"duration_ms", std::llround(meta.value("duration_ms", 0.0))}};
    if (!ok) payload["error"] = m.value("content", "");
    emit("tool", ok ? "completed" : "failed", a.st.id, std::move(payload));
  }
}

void Supervisor::handle(const Answer& in) {
  auto it = questions_.find(in.qid);
  if (it == questions_.end() || it->second.status != "pending") {
    spdlog::warn("no pending question {}", in.qid);
    return;
  }
  proto::Response r;
  r.answer = in.text;
  r.responded_at_ms = now_ms();
  r.source = "terminal";
  // Through the workspace like any other answer: the change feed brings it back as agent:resumed.
  // Put only if no answer is there: one given meanwhile by `remora answer` stands.
  pending_.answers.emplace_back(it->second.ns, keys::response(in.qid), proto::encode(r));
}

void Supervisor::on_control(const std::string& key) {
  auto e = ws_.get(base_, key);
  if (!e) return;
  pending_.dels.emplace_back(std::string(keys::kBase), key);  // consumed
  proto::Control c;
  try {
    c = proto::decode<proto::Control>(e->value, key);
  } catch (const std::exception& err) {
    spdlog::warn("ignoring a bad control record: {}", err.what());
    return;
  }
  if (c.action == "stop") {
    suspend_reason_ = c.target;  // why, in the requester's words
    return;
  }
  if (c.action != "cancel") return;
  if (c.target == "*") {
    cancel_all("cancelled by remora cancel --all", Kill::cancel);
  } else if (auto it = agents_.find(c.target); it != agents_.end()) {
    cancel(it->second, "cancelled by remora cancel", Kill::cancel);
  }
}

void Supervisor::handle(const Interrupt&) {
  if (++interrupts_ == 1) {
    cancel_all("interrupted", Kill::cancel);
  } else {
    for (const auto& [pid, id] : by_pid_) procs_->signal(pid, SIGKILL);
  }
}

void Supervisor::handle(const ChildExited& e) {
  auto it = by_pid_.find(e.pid);
  if (it == by_pid_.end()) return;
  Agent& a = agents_.at(it->second);
  by_pid_.erase(it);
  a.st.pid = 0;
  rearm(a);  // no worker: no timer
  --running_;
  remove_private_dir(a);
  std::uint64_t oom_kills = 0;
  if (cgroups_) {  // whatever the worker left running dies with it
    oom_kills = cgroups_->oom_kills(a.st.id);
    cgroups_->remove(a.st.id);
  }
  pending_.agents.insert(a.st.id);
  const std::string how = describe_wait_status(e.status);

  std::optional<proto::AgentResult> result;
  const auto rkey = keys::result(a.st.id);
  if (auto r = ws_.get(overlay(a), rkey)) {
    try {
      result = proto::decode<proto::AgentResult>(r->value, rkey);
    } catch (const std::exception& err) {
      spdlog::warn("{}: {}", a.st.id, err.what());
    }
  }
  switch (a.kill) {
    case Kill::cancel:
    case Kill::stop:
      finish_agent(a, "cancelled", a.kill_note, {{"reason", a.kill_note}});
      return;
    case Kill::timeout:
    case Kill::heartbeat:
      end_failed(a, a.kill_note, true, true);
      return;
    case Kill::fail:
      end_failed(a, a.kill_note, false, false);
      return;
    case Kill::none: break;
  }
  bool exited = WIFEXITED(e.status);
  int code = exited ? WEXITSTATUS(e.status) : -1;
  if (exited && code == 0 && result && result->status == "completed") {
    a.st.review = result->changed_files.empty() ? "" : "pending";  // its changes await review
    finish_agent(a, "completed", "",
                 {{"summary", result->summary}, {"changed_files", result->changed_files}, {"turns", result->turns},
                  {"prompt_tokens", result->prompt_tokens}, {"completion_tokens", result->completion_tokens},
                  {"duration_ms", std::llround(result->duration_ms)}});
    return;
  }
  const auto tail = log_tail(a);
  if (auto violation = sandbox_ending(e.status, result, tail, spec_.config.sandbox, oom_kills)) {
    end_failed(a, *violation, true, false);  // never restarted: it would meet the same sandbox
  } else if (exited && code == 1 && result && result->status == "failed") {
    end_failed(a, "error: " + result->error, false, true);
  } else {
    end_failed(a, (exited ? "worker " : "crashed: ") + how + (tail.empty() ? "" : " (its last words: " + tail + ")"),
               true, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Endings

void Supervisor::close_questions(Agent& a, const std::string& status) {
  for (const auto& qid : a.open_questions) {
    auto& q = questions_.at(qid);
    q.status = status;
    q.closed_at_ms = now_ms();
    question_deadlines_.erase(qid);
    pending_.puts.emplace_back(std::string(keys::kBase), keys::run_question(qid), proto::encode(q));
    emit("user", "question_" + status, a.st.id, {{"question_id", qid}});
  }
  a.open_questions.clear();
}

void Supervisor::finish_agent(Agent& a, const std::string& state, const std::string& reason, nlohmann::json payload) {
  close_questions(a, "withdrawn");
  a.st.ended_at_ms = now_ms();
  a.blocked_since.reset();
  a.conversation.reset();
  set_state(a, state, reason);
  if (!reason.empty() && !payload.contains("reason")) payload["reason"] = reason;
  const std::string action = state == "completed" ? "completed" : state == "skipped" ? "skipped" : state;
  emit("agent", action, a.st.id, payload);
}

void Supervisor::end_failed(Agent& a, const std::string& reason, bool abnormal, bool restartable) {
  const auto& policy = a.spec->restart;
  bool may = restartable && !stopping_ &&
             (policy.mode == RestartMode::permanent || (policy.mode == RestartMode::transient && abnormal));
  if (may) {
    auto now = now_ms();
    auto window_ms = static_cast<std::int64_t>(policy.window_s * 1000);
    auto& times = a.st.restart_times_ms;
    times.erase(std::remove_if(times.begin(), times.end(), [&](std::int64_t t) { return now - t > window_ms; }),
                times.end());
    if (times.size() < policy.max_restarts) {
      times.push_back(now);
      ++a.st.restarts;
      double delay = std::min(policy.backoff_initial_s * std::pow(2.0, static_cast<double>(times.size() - 1)),
                              policy.backoff_max_s);
      a.st.not_before_ms = now + static_cast<std::int64_t>(delay * 1000);
      // Open questions stay pending: the restarted worker asks again with the same ids, and an
      // answer given meanwhile is waiting for it.
      set_state(a, "queued", reason);
      arrive(a);  // started again once its backoff is over and a slot is free
      emit("agent", "restarting", a.st.id,
           {{"reason", reason}, {"attempt", a.st.restarts}, {"delay_ms", static_cast<std::int64_t>(delay * 1000)}});
      return;
    }
    finish_agent(a, "failed",
                 "restart budget exhausted (" + std::to_string(policy.max_restarts) + " restarts within " +
                     secs(policy.window_s) + "); last: " + reason,
                 {{"restarts", a.st.restarts}});
  } else {
    finish_agent(a, "failed", reason, {{"restarts", a.st.restarts}});
  }
  switch (spec_.config.error_policy) {
    case ErrorPolicy::stop_graph:
      cancel_all("graph stopped: " + a.st.id + " failed", Kill::stop);
      break;
    case ErrorPolicy::skip_downstream:
      for (const auto& id : spec_.dependents(a.st.id)) {  // transitively: only as often as an agent fails for good
        Agent& d = agents_.at(id);
        if (!terminal(d) && d.st.pid == 0) finish_agent(d, "skipped", "dependency " + a.st.id + " failed", {});
      }
      break;
    case ErrorPolicy::continue_: break;
  }
}

void Supervisor::cancel(Agent& a, const std::string& reason, Kill kind) {
  if (terminal(a)) return;
  if (a.st.pid != 0) {
    terminate(a, kind, reason, false);
  } else {
    if (a.launch) --running_;  // committed as started (running or blocked), process not launched yet
    a.launch = false;
    finish_agent(a, "cancelled", reason, {});
  }
}

void Supervisor::cancel_all(const std::string& reason, Kill kind) {
  stopping_ = true;
  for (auto& [id, a] : agents_) cancel(a, reason, kind);
}

void Supervisor::terminate(Agent& a, Kill kind, const std::string& note, bool hard) {
  if (a.st.pid == 0 && a.launch && kind == Kill::fail) {
    // Committed as started, its worker not launched yet: it fails as its worker would have.
    a.launch = false;
    --running_;
    end_failed(a, note, false, false);
    return;
  }
  if (a.st.pid == 0 || a.kill != Kill::none) return;
  a.kill = kind;
  a.kill_note = note;
  procs_->signal(static_cast<pid_t>(a.st.pid), hard ? SIGKILL : SIGTERM);
  a.term_deadline = hard ? Clock::time_point::max() : Clock::now() + seconds(spec_.config.cancel_grace_s);
  rearm(a);
}

// ---------------------------------------------------------------------------------------------
// Timers

// A worker is judged silent only on what the workspace holds, and only for time the supervisor
// was there to hear it. The change feed may not have brought a heartbeat yet (the watcher thread
// and this one wake in either order after a pause), so the record itself is read before a worker
// is called silent. And when the loop woke far past its deadline (the supervisor was stopped,
// suspended or starved: SIGSTOP, a closed laptop lid, a stalled VM), the workers may have been
// frozen with it: each gets two heartbeat intervals from now before its silence counts.
void Supervisor::refresh_heartbeat(Agent& a, Clock::time_point now) {
  const auto key = keys::heartbeat(a.st.id);
  proto::Heartbeat hb;
  try {
    auto e = ws_.get(overlay(a), key);
    if (!e) return;
    hb = proto::decode<proto::Heartbeat>(e->value, key);
  } catch (const std::exception&) {
    return;  // a garbled heartbeat is no sign of life
  }
  if (hb.pid != a.st.pid) return;  // an earlier attempt's
  const auto age = std::chrono::milliseconds(std::max<std::int64_t>(0, now_ms() - hb.at_ms));
  a.last_heartbeat = std::max(a.last_heartbeat, now - std::chrono::duration_cast<Clock::duration>(age));
}

// Only the timers due are looked at (agent_timers_, question_deadlines_): a pass costs what is
// due, not the size of the graph.
void Supervisor::check_timers(Clock::duration overslept) {
  auto now = Clock::now();
  const auto hb_timeout = seconds(spec_.config.heartbeat.timeout_s);
  const auto hb_interval = seconds(spec_.config.heartbeat.interval_s);
  // Woken this late, the supervisor itself was not running: see refresh_heartbeat.
  const bool stalled = overslept > std::max<Clock::duration>(std::chrono::milliseconds(250), hb_interval);
  if (stalled) {
    spdlog::warn("the supervisor was not scheduled for {} ms past its deadline: heartbeats get a grace",
                 std::chrono::duration_cast<std::chrono::milliseconds>(overslept).count());
    for (const auto& [pid, id] : by_pid_) {  // every live worker, rarely: their timers fire early, which is harmless
      Agent& a = agents_.at(id);
      ++visited_;
      if (a.kill == Kill::none)
        a.last_heartbeat = std::max(a.last_heartbeat, now - hb_timeout + std::min(hb_timeout, 2 * hb_interval));
    }
  }
  for (const auto i : agent_timers_.take_due(now)) {
    ++visited_;
    Agent& a = *by_index_[i];
    check_agent_timers(a, now, hb_timeout);
    rearm(a);
  }
  for (const auto& qid : question_deadlines_.take_due(now)) {
    auto& qs = questions_.at(qid);
    Agent& a = agents_.at(qs.agent_id);
    auto key = keys::question(qs.id);
    std::optional<std::string> def;
    if (auto e = ws_.get(overlay(a), key)) def = proto::decode<proto::Question>(e->value, key).default_answer;
    if (def) {
      proto::Response r;
      r.answer = *def;
      r.responded_at_ms = now_ms();
      r.source = "timeout: default";
      pending_.answers.emplace_back(a.st.ns, keys::response(qs.id), proto::encode(r));
    } else {
      qs.status = "timeout";
      qs.closed_at_ms = now_ms();
      a.open_questions.erase(qs.id);
      pending_.puts.emplace_back(std::string(keys::kBase), keys::run_question(qs.id), proto::encode(qs));
      emit("user", "question_timeout", a.st.id, {{"question_id", qs.id}});
      terminate(a, Kill::fail, "question " + qs.id + " timed out with no default answer", true);
    }
  }
}

// One agent whose timer is due: its backoff over, its SIGTERM grace over, its run timeout, or its
// heartbeat lost (the timer may fire early, after heartbeats that did not rearm it: then nothing).
void Supervisor::check_agent_timers(Agent& a, Clock::time_point now, Clock::duration hb_timeout) {
  if (a.st.pid == 0) {
    if (a.st.state == "queued") arrive(a);  // its backoff is over
    return;
  }
  if (a.kill != Kill::none) {
    if (now >= a.term_deadline) {
      procs_->signal(static_cast<pid_t>(a.st.pid), SIGKILL);
      a.term_deadline = Clock::time_point::max();  // nothing more to do until the reaper reports it
    }
    return;
  }
  if (!a.blocked_since && now >= a.deadline) {
    terminate(a, Kill::timeout, "timed out after " + secs(a.spec->timeout_s), false);
  } else if (now - a.last_heartbeat >= hb_timeout) {
    refresh_heartbeat(a, now);  // what the record says, whether or not the feed brought it yet
    if (now - a.last_heartbeat >= hb_timeout)
      terminate(a, Kill::heartbeat, "heartbeat lost: none for " + secs(spec_.config.heartbeat.timeout_s), true);
  }
}

std::optional<Supervisor::Clock::time_point> Supervisor::next_deadline() const {
  auto d = agent_timers_.earliest();
  if (auto q = question_deadlines_.earliest(); q && (!d || *q < *d)) d = q;
  return d;
}

// The last line the agent's current attempt wrote to its log (earlier attempts' lines are not its).
std::string Supervisor::log_tail(const Agent& a) const {
  std::ifstream in(opts_.log_dir / (a.st.id + ".log"));
  in.seekg(static_cast<std::streamoff>(a.log_offset));
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  // Worker lines read "<time> [<level>] <agent> pid <pid>: <message>": keep the message.
  if (auto at = last.find(" pid "); at != std::string::npos) {
    if (auto colon = last.find(": ", at); colon != std::string::npos) last = last.substr(colon + 2);
  }
  if (last.size() > 300) last = last.substr(last.size() - 300);
  return last;
}

}  // namespace remora
