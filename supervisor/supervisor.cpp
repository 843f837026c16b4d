#include "supervisor/supervisor.hpp"

#include <signal.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "shared/event_log.hpp"

namespace remora {
namespace {

using namespace std::chrono_literals;

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

}  // namespace

Supervisor::Supervisor(Workspace& ws, GraphSpec spec, SupervisorOptions options)
    : ws_(ws), spec_(std::move(spec)), opts_(std::move(options)), base_(ws.ns("base")) {
  order_ = spec_.topo_order();
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
}

Supervisor::~Supervisor() {
  if (watcher_) watcher_->cancel();
  if (watch_thread_.joinable()) watch_thread_.join();
  procs_.reset();  // kills and reaps any worker still alive
}

void Supervisor::push(Input in) {
  {
    std::lock_guard lk(in_mu_);
    inputs_.push_back(std::move(in));
  }
  in_cv_.notify_one();
}

void Supervisor::answer(std::string question_id, std::string text) { push(Answer{std::move(question_id), std::move(text)}); }
void Supervisor::interrupt() { push(Interrupt{}); }

// ---------------------------------------------------------------------------------------------
// The loop

int Supervisor::run() {
  std::filesystem::create_directories(opts_.log_dir);
  procs_ = std::make_unique<WorkerProcesses>([this](pid_t pid, int status) { push(ChildExited{pid, status}); });
  if (spec_.config.snapshot.enabled) {  // automatic checkpoints, taken on their own thread
    snapshotter_ = std::make_unique<Snapshotter>(ws_, spec_.config.snapshot,
                                                 [this](const proto::Event& e) { bus_.publish(e); });
  }
  begin();
  // Watch from the revision after our own first commit: everything other processes write later.
  watcher_ = std::make_unique<Watcher>(ws_, "", ws_.revision() + 1);
  watch_thread_ = std::thread([this] {
    for (;;) {
      auto changes = watcher_->next();
      if (changes.empty()) return;  // cancelled
      push(std::move(changes));
    }
  });

  for (;;) {
    schedule();
    flush();  // decisions are durable before they are acted upon
    // The pids recorded here ride along with the next commit: a worker dies with its supervisor
    // (PR_SET_PDEATHSIG), and its heartbeats carry its pid as well.
    launch_started();
    if (finished()) break;
    std::deque<Input> batch;
    {
      std::unique_lock lk(in_mu_);
      auto deadline = next_deadline();
      auto ready = [&] { return !inputs_.empty(); };
      if (deadline) {
        in_cv_.wait_until(lk, *deadline, ready);
      } else {
        in_cv_.wait(lk, ready);
      }
      batch.swap(inputs_);
    }
    for (auto& in : batch) std::visit([this](auto& x) { handle(x); }, in);
    check_timers();
  }

  auto count = [&](const char* state) {
    return std::count_if(agents_.begin(), agents_.end(), [&](auto& kv) { return kv.second.st.state == state; });
  };
  const bool all_ok = count("completed") == static_cast<long>(agents_.size());
  run_.state = all_ok ? "completed" : count("cancelled") > 0 && count("failed") == 0 ? "cancelled" : "failed";
  run_.ended_at_ms = now_ms();
  pending_.run = true;
  auto c = counts();
  c["duration_ms"] = run_.ended_at_ms - run_.started_at_ms;
  emit("graph", run_.state, "", c);
  flush();
  if (snapshotter_) snapshotter_->finish();  // the last checkpoint holds the ended run
  watcher_->cancel();
  watch_thread_.join();
  bus_.close();
  return all_ok ? 0 : 1;
}

void Supervisor::begin() {
  run_.graph_id = random_hex(16);
  run_.graph_name = spec_.name;
  run_.graph_json = spec_.to_json().dump();
  run_.session_id = random_hex(8);
  run_.started_at_ms = now_ms();
  run_.supervisor_pid = ::getpid();
  pending_.run = true;
  for (auto& [name, b] : spec_.bundles) {
    pending_.puts.emplace_back(std::string(keys::kBase), keys::run_bundle(name),
                               proto::encode(proto::JsonValue{b.to_json().dump()}));
  }
  for (auto& [id, a] : agents_) pending_.agents.insert(id);
  emit("graph", "started", "",
       {{"graph", spec_.name}, {"agents", spec_.agents.size()}, {"max_concurrency", spec_.config.max_concurrency}});
  flush();
}

bool Supervisor::terminal(const Agent& a) const { return kTerminal.count(a.st.state) > 0; }

bool Supervisor::finished() const {
  if (procs_->live() > 0 || running_ > 0) return false;
  return std::all_of(agents_.begin(), agents_.end(), [&](auto& kv) { return terminal(kv.second); });
}

nlohmann::json Supervisor::counts() const {
  nlohmann::json c = nlohmann::json::object();
  for (const char* s : {"pending", "queued", "running", "blocked", "completed", "failed", "cancelled", "skipped"}) c[s] = 0;
  for (auto& [id, a] : agents_) c[a.st.state] = c[a.st.state].get<int>() + 1;
  return c;
}

void Supervisor::schedule() {
  auto now_wall = now_ms();
  for (const auto& id : order_) {
    Agent& a = agents_.at(id);
    if (a.st.state != "pending" && a.st.state != "queued") continue;
    if (stopping_) continue;
    bool waiting = false;
    std::string blocked_by;
    for (const auto& dep : a.spec->after) {
      const auto& d = agents_.at(dep).st.state;
      if (!kTerminal.count(d)) waiting = true;
      else if (d != "completed" && spec_.config.error_policy != ErrorPolicy::continue_) blocked_by = dep;
    }
    if (waiting) continue;
    if (!blocked_by.empty()) {
      finish_agent(a, "skipped", "dependency " + blocked_by + " " + agents_.at(blocked_by).st.state, {});
      continue;
    }
    if (a.st.not_before_ms > now_wall || running_ >= spec_.config.max_concurrency) {
      if (a.st.state == "pending") {
        set_state(a, "queued");
        emit("agent", "queued", a.st.id);
      }
      continue;
    }
    start(a);
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
  set_state(a, "running");
  ++running_;
  emit("agent", "started", a.st.id, {{"attempt", a.st.attempt}, {"bundle", a.st.bundle}, {"target", a.st.target}});
  if (!a.open_questions.empty()) {  // restarted while a question is still pending
    set_state(a, "blocked");
    a.blocked_since = Clock::now();
  }
}

void Supervisor::launch_started() {
  for (auto& [id, a] : agents_) {
    if (!a.launch) continue;
    a.launch = false;
    std::vector<std::string> args{"--workspace", ws_.dir().string(), "--agent", id,
                                  "--supervisor-pid", std::to_string(::getpid()),
                                  "--durability", std::string(name_of(spec_.config.durability))};
    try {
      pid_t pid = procs_->start(opts_.worker_exe, args, opts_.log_dir / (id + ".log"));
      by_pid_[pid] = id;
      a.st.pid = pid;
      auto now = Clock::now();
      a.deadline = now + seconds(a.spec->timeout_s);
      a.last_heartbeat = now;
      pending_.agents.insert(id);
      spdlog::debug("started {} as pid {}", id, pid);
    } catch (const std::exception& e) {
      --running_;
      end_failed(a, std::string("could not start its worker: ") + e.what(), false, false);
    }
  }
}

void Supervisor::set_state(Agent& a, const std::string& state, const std::string& reason) {
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

void Supervisor::flush() {
  if (pending_.agents.empty() && pending_.puts.empty() && pending_.dels.empty() && pending_.events.empty() &&
      !pending_.run)
    return;
  std::vector<proto::Event> events;
  std::map<std::string, Namespace> created;
  const auto revision = ws_.write([&](WriteTxn& t) {
    events = pending_.events;
    created.clear();
    auto ns_of = [&](const std::string& name) -> Namespace {
      if (auto it = ns_cache_.find(name); it != ns_cache_.end()) return it->second;
      if (auto it = created.find(name); it != created.end()) return it->second;
      auto n = t.find_ns(name);
      if (!n) n = t.create_ns(name);
      return created[name] = *n;
    };
    for (const auto& id : pending_.agents) {
      const Agent& a = agents_.at(id);
      if (a.st.state == "running") ns_of(a.st.ns);  // the overlay exists before its worker starts
      t.put(base_, keys::run_agent(id), proto::encode(a.st));
    }
    for (const auto& [ns, key, bytes] : pending_.puts) t.put(ns_of(ns), key, bytes);
    for (const auto& [ns, key] : pending_.dels) t.del(ns_of(ns), key);
    if (pending_.run) t.put(base_, std::string(keys::kRunGraph), proto::encode(run_));
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
  static const std::string prefix = keys::agent_ns("");
  if (ns.compare(0, prefix.size(), prefix) != 0) return nullptr;
  auto it = agents_.find(ns.substr(prefix.size()));
  return it == agents_.end() ? nullptr : &it->second;
}

void Supervisor::handle(const std::vector<Change>& changes) {
  for (const auto& c : changes) {
    if (c.op != proto::ChangeOp::put) continue;
    if (Agent* a = agent_for_ns(c.ns_name)) {
      if (keys::starts_with(c.key, keys::kQuestion)) {
        on_question(*a, c.key.substr(keys::kQuestion.size()));
      } else if (keys::starts_with(c.key, keys::kResponse)) {
        on_response(*a, c.key.substr(keys::kResponse.size()));
      } else if (c.key == keys::heartbeat(a->st.id)) {
        a->last_heartbeat = Clock::now();
      }
    } else if (c.ns == 0 && keys::starts_with(c.key, keys::kRunControl)) {
      on_control(c.key);
    }
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
    terminate(a, Kill::question_timeout, std::string("wrote a bad question record: ") + err.what(), true);
    return;
  }
  proto::QuestionState qs;
  qs.id = qid;
  qs.agent_id = a.st.id;
  qs.ns = a.st.ns;
  qs.asked_at_ms = now_ms();
  questions_[qid] = qs;
  question_deadlines_[qid] = Clock::now() + seconds(q.timeout_s > 0 ? q.timeout_s : 300);
  a.open_questions.insert(qid);
  pending_.puts.emplace_back(std::string(keys::kBase), keys::run_question(qid), proto::encode(qs));
  if (a.st.state == "running") {
    set_state(a, "blocked");
    a.blocked_since = Clock::now();
  }
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
  }
  emit("agent", "resumed", a.st.id, {{"question_id", qid}, {"answer", r.answer}, {"source", r.source}});
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
  pending_.puts.emplace_back(it->second.ns, keys::response(in.qid), proto::encode(r));
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
    for (auto& [id, a] : agents_)
      if (a.st.pid) procs_->signal(static_cast<pid_t>(a.st.pid), SIGKILL);
  }
}

void Supervisor::handle(const ChildExited& e) {
  auto it = by_pid_.find(e.pid);
  if (it == by_pid_.end()) return;
  Agent& a = agents_.at(it->second);
  by_pid_.erase(it);
  a.st.pid = 0;
  --running_;
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
    case Kill::question_timeout:
      end_failed(a, a.kill_note, false, false);
      return;
    case Kill::none: break;
  }
  bool exited = WIFEXITED(e.status);
  int code = exited ? WEXITSTATUS(e.status) : -1;
  if (exited && code == 0 && result && result->status == "completed") {
    finish_agent(a, "completed", "",
                 {{"summary", result->summary}, {"changed_files", result->changed_files}, {"turns", result->turns},
                  {"duration_ms", std::llround(result->duration_ms)}});
  } else if (exited && code == 1 && result && result->status == "failed") {
    end_failed(a, "error: " + result->error, false, true);
  } else {
    auto tail = log_tail(a);
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
      for (const auto& id : spec_.dependents(a.st.id)) {
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
    if (a.st.state == "running") --running_;  // committed as started, process not launched yet
    a.launch = false;
    finish_agent(a, "cancelled", reason, {});
  }
}

void Supervisor::cancel_all(const std::string& reason, Kill kind) {
  stopping_ = true;
  for (auto& [id, a] : agents_) cancel(a, reason, kind);
}

void Supervisor::terminate(Agent& a, Kill kind, const std::string& note, bool hard) {
  if (a.st.pid == 0 || a.kill != Kill::none) return;
  a.kill = kind;
  a.kill_note = note;
  procs_->signal(static_cast<pid_t>(a.st.pid), hard ? SIGKILL : SIGTERM);
  a.term_deadline = hard ? Clock::time_point::max() : Clock::now() + seconds(spec_.config.cancel_grace_s);
}

// ---------------------------------------------------------------------------------------------
// Timers

void Supervisor::check_timers() {
  auto now = Clock::now();
  for (auto& [id, a] : agents_) {
    if (a.st.pid == 0) continue;
    if (a.kill != Kill::none) {
      if (now >= a.term_deadline) {
        procs_->signal(static_cast<pid_t>(a.st.pid), SIGKILL);
        a.term_deadline = Clock::time_point::max();  // nothing more to do until the reaper reports it
      }
      continue;
    }
    auto hb_timeout = seconds(spec_.config.heartbeat.timeout_s);
    if (!a.blocked_since && now >= a.deadline) {
      terminate(a, Kill::timeout, "timed out after " + secs(a.spec->timeout_s), false);
    } else if (now - a.last_heartbeat >= hb_timeout) {
      terminate(a, Kill::heartbeat, "heartbeat lost: none for " + secs(spec_.config.heartbeat.timeout_s), true);
    }
  }
  for (auto it = question_deadlines_.begin(); it != question_deadlines_.end();) {
    if (now < it->second) {
      ++it;
      continue;
    }
    auto& qs = questions_.at(it->first);
    Agent& a = agents_.at(qs.agent_id);
    it = question_deadlines_.erase(it);
    auto key = keys::question(qs.id);
    std::optional<std::string> def;
    if (auto e = ws_.get(overlay(a), key)) def = proto::decode<proto::Question>(e->value, key).default_answer;
    if (def) {
      proto::Response r;
      r.answer = *def;
      r.responded_at_ms = now_ms();
      r.source = "timeout: default";
      pending_.puts.emplace_back(a.st.ns, keys::response(qs.id), proto::encode(r));
    } else {
      qs.status = "timeout";
      qs.closed_at_ms = now_ms();
      a.open_questions.erase(qs.id);
      pending_.puts.emplace_back(std::string(keys::kBase), keys::run_question(qs.id), proto::encode(qs));
      emit("user", "question_timeout", a.st.id, {{"question_id", qs.id}});
      terminate(a, Kill::question_timeout, "question " + qs.id + " timed out with no default answer", true);
    }
  }
}

std::optional<Supervisor::Clock::time_point> Supervisor::next_deadline() const {
  std::optional<Clock::time_point> d;
  auto earliest = [&](Clock::time_point t) {
    if (!d || t < *d) d = t;
  };
  auto hb_timeout = seconds(spec_.config.heartbeat.timeout_s);
  for (auto& [id, a] : agents_) {
    if (a.st.pid != 0) {
      if (a.kill != Kill::none) {
        earliest(a.term_deadline);
      } else {
        if (!a.blocked_since) earliest(a.deadline);
        earliest(a.last_heartbeat + hb_timeout);
      }
    } else if (a.st.state == "queued" && a.st.not_before_ms > now_ms()) {
      // A restart waiting out its backoff; once past it, only a free slot (a worker's exit) helps.
      earliest(Clock::now() + std::chrono::milliseconds(a.st.not_before_ms - now_ms()));
    }
  }
  for (auto& [qid, t] : question_deadlines_) earliest(t);
  return d;
}

std::string Supervisor::log_tail(const Agent& a) const {
  std::ifstream in(opts_.log_dir / (a.st.id + ".log"));
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
