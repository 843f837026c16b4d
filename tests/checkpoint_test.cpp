// Checkpoints with real processes: `remora checkpoint` while 8 writer processes commit (the copy
// is a valid environment for Debian's mdb_stat, restores, and holds every key of its revision);
// `remora checkpoint` and `remora restore` killed with SIGKILL at seeded random moments (no
// partial checkpoint is ever listed; the workspace is exactly the old one or exactly the
// checkpoint); a fork leaves the workspace untouched and a graph runs to completion in it;
// a checkpoint of 8 workers writing restores and its run completes; restore of a running graph
// stops it (only its own supervisor) and continues it from the checkpoint; restore refused while
// anything else has the workspace open; pruning; the supervisor's automatic
// snapshots and their configuration.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/checkpoint.hpp"
#include "shared/watcher.hpp"
#include "shared/workspace.hpp"
#include "supervisor/graph_spec.hpp"
#include "supervisor/run_lock.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using test::Child;
using test::shell;
using test::write_text;

const std::string kRemora = REMORA_BIN;

std::unique_ptr<Workspace> open_ws(const fs::path& dir, Durability d = Durability::sync) {
  WorkspaceOptions o;
  o.dir = dir;
  o.durability = d;
  return Workspace::open(o);
}

// Commits `mb` megabytes of 1 kB values over base and two overlays (unsynced: it is set-up).
void fill(const fs::path& dir, int mb, const std::string& tag) {
  auto ws = open_ws(dir, Durability::nosync);
  std::vector<Namespace> spaces{ws->ns("base")};
  for (const char* name : {"agent/a", "agent/b"})
    spaces.push_back(ws->find_ns(name) ? ws->ns(name) : ws->create_ns(name));
  const std::string value(1000, tag.empty() ? 'x' : tag[0]);
  for (int batch = 0; batch < mb; ++batch) {
    ws->write([&](WriteTxn& t) {
      for (int j = 0; j < 1000; ++j)
        t.put(spaces[static_cast<std::size_t>(j) % spaces.size()], fmt::format("d/{}/{:04}/{:04}", tag, batch, j), value);
    });
  }
}

// A workspace of `mb` megabytes (see fill) and a checkpoint of it, taken in this process.
CheckpointManifest filled_and_checkpointed(const fs::path& dir, int mb) {
  fill(dir, mb, "a");
  auto ws = open_ws(dir);
  return Checkpoints(dir).take(*ws, "filled").manifest;
}

// Everything the workspace holds but its event log, as one comparable text, and its revision.
struct Fingerprint {
  std::uint64_t revision = 0;
  std::size_t hash = 0;
  bool operator==(const Fingerprint&) const = default;
};
Fingerprint fingerprint(const fs::path& dir) {
  auto ws = open_ws(dir);
  std::string all;
  for (const auto& info : ws->namespaces()) {
    for (const auto& [k, e] : ws->list(ws->ns(info.name), "")) {
      if (keys::starts_with(k, keys::kEvent)) continue;
      all += info.name + '\0' + k + '\0' + e.value + '\n';
    }
  }
  return {ws->revision(), std::hash<std::string>{}(all)};
}

std::vector<proto::Event> events_of(Workspace& ws, const std::string& name) {
  std::vector<proto::Event> out;
  for (auto& [k, e] : ws.list(ws.ns("base"), keys::kEvent)) {
    auto ev = proto::decode<proto::Event>(e.value, k);
    if (ev.category + ":" + ev.action == name) out.push_back(ev);
  }
  return out;
}

std::string remora(const fs::path& ws, const std::string& args) {
  return kRemora + " -w " + ws.string() + " " + args;
}

// Runs `remora checkpoint --json` and returns its manifest.
CheckpointManifest checkpoint_cli(const fs::path& ws, const std::string& message) {
  auto r = shell(remora(ws, "checkpoint --json -m '" + message + "'") + " 2>/dev/null");
  if (r.code != 0) throw std::runtime_error("remora checkpoint failed: " + r.out);
  return CheckpointManifest::from_json(json::parse(r.out));
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A graph project: bundles/ok writes a file and completes; bundles/wait asks with a long timeout.
struct GraphProject {
  test::TempDir dir;
  GraphProject() {
    write_text(dir / "bundles/ok/bundle.yaml",
               "name: ok\nkind: steps\nsteps:\n  - write: {path: \"out/{agent}.txt\", content: \"done by {agent}\"}\n"
               "  - result: {summary: ok}\n");
    write_text(dir / "bundles/wait/bundle.yaml",
               "name: wait\nkind: steps\nsteps:\n  - ask: {question: \"go on?\", options: [yes, no], timeout: 600}\n");
  }
  fs::path ws() const { return dir / "ws"; }
  std::string graph(const std::string& config, const std::vector<std::string>& agents, const std::string& bundle = "ok") {
    std::string y = "name: g\nconfig:\n  interactive: false\n" + config + "agents:\n";
    for (const auto& a : agents) y += "  - {id: " + a + ", bundle: " + bundle + ", target: " + a + ".py}\n";
    write_text(dir / "graph.yaml", y);
    return (dir / "graph.yaml").string();
  }
};

// ---------------------------------------------------------------------------------------------

TEST(Checkpoint, TakenWhileEightWritersWriteIsValidRestoresAndHoldsItsRevision) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  open_ws(ws_dir);
  constexpr int kWriters = 8, kBatches = 400, kKeys = 20;
  std::vector<std::unique_ptr<Child>> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.push_back(std::make_unique<Child>(
        REMORA_PROBE, std::vector<std::string>{"write", ws_dir.string(), "writer" + std::to_string(i),
                                               std::to_string(kBatches), std::to_string(kKeys), "--value-bytes", "200"}));
  }
  CheckpointManifest m;
  std::uint64_t final_revision = 0;
  {
    auto ws = open_ws(ws_dir);
    // Event-driven: once the writers have committed 100 batches between them, checkpoint.
    Watcher watch(*ws, "w/", 1);
    std::size_t seen = 0;
    while (seen < 100 * kKeys) {
      auto changes = watch.next(Watcher::Clock::now() + 60s);
      ASSERT_FALSE(changes.empty()) << "the writers committed nothing for 60 s";
      seen += changes.size();
    }
    m = checkpoint_cli(ws_dir, "during writes");
    for (auto& w : writers) EXPECT_EQ(w->wait(), 0);
    final_revision = ws->revision();
    auto saved = events_of(*ws, "checkpoint:saved");
    ASSERT_EQ(saved.size(), 1u);
    auto payload = json::parse(saved[0].payload_json);
    EXPECT_EQ(payload["id"], m.id);
    EXPECT_EQ(payload["revision"], m.revision);
    EXPECT_EQ(payload["bytes"], m.bytes);
    EXPECT_EQ(payload["message"], "during writes");
  }
  EXPECT_GT(final_revision, m.revision) << "the writers went on after the checkpoint";
  const auto copy = ws_dir / "checkpoints" / m.id;
  EXPECT_EQ(fs::file_size(copy / "data.mdb"), m.bytes);
  EXPECT_EQ(shell("mdb_stat -e " + copy.string()).code, 0);
  EXPECT_EQ(shell("mdb_stat -s entries " + copy.string()).code, 0);

  auto listed = shell(remora(ws_dir, "checkpoints"));
  EXPECT_EQ(listed.code, 0);
  EXPECT_NE(listed.out.find(m.id), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("during writes"), std::string::npos) << listed.out;

  auto restored = shell(remora(ws_dir, "restore --yes " + m.id));
  ASSERT_EQ(restored.code, 0) << restored.out;
  auto ws = open_ws(ws_dir);
  EXPECT_EQ(ws->revision(), m.revision + 1);  // the checkpoint, and checkpoint:restored
  auto events = events_of(*ws, "checkpoint:restored");
  ASSERT_EQ(events.size(), 1u);
  auto payload = json::parse(events[0].payload_json);
  EXPECT_EQ(payload["id"], m.id);
  EXPECT_EQ(payload["revision"], m.revision);
  EXPECT_EQ(payload["from_revision"], final_revision);
  // Every key the change log records up to the checkpoint's revision is there, in whole batches.
  std::map<std::string, std::set<std::string>> logged;
  for (std::uint64_t from = 1;;) {
    auto page = ws->changes(from, "w/");
    for (auto& c : page.changes) {
      EXPECT_LE(c.revision, m.revision);
      logged[c.ns_name].insert(c.key);
    }
    if (page.next_revision == from) break;
    from = page.next_revision;
  }
  std::size_t total = 0;
  for (auto& [ns_name, keys_logged] : logged) {
    auto stored = ws->list(ws->ns(ns_name), "w/");
    EXPECT_EQ(stored.size(), keys_logged.size()) << ns_name;
    EXPECT_EQ(stored.size() % kKeys, 0u) << ns_name << " holds a torn batch";
    for (auto& [k, e] : stored) EXPECT_TRUE(keys_logged.count(k)) << k;
    total += stored.size();
  }
  EXPECT_GE(total, std::size_t{100 * kKeys});
  EXPECT_LT(total, std::size_t{kWriters * kBatches * kKeys});
}

TEST(Checkpoint, KilledWhileTakingLeavesNoPartialCheckpoint) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  fill(ws_dir, 30, "a");
  const auto before = fingerprint(ws_dir);
  auto t0 = std::chrono::steady_clock::now();
  checkpoint_cli(ws_dir, "first");
  const double full = seconds_since(t0);

  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::size_t listed_before = 1;
  std::map<std::string, int> outcomes;
  for (int i = 0; i < 6; ++i) {
    Child c(kRemora, {"-w", ws_dir.string(), "checkpoint", "-m", "kill " + std::to_string(i)}, dir / "out.txt");
    std::this_thread::sleep_for(std::chrono::duration<double>(std::uniform_real_distribution<>(0, full)(rng)));
    c.kill9();
    const bool finished = c.wait() == 0;
    bool midway = false;
    for (const auto& entry : fs::directory_iterator(ws_dir / "checkpoints"))
      midway |= entry.path().filename().string().starts_with(".tmp-");
    ++outcomes[finished ? "finished" : midway ? "killed while copying" : "killed before or after copying"];
    // Listed only once complete: killed after its rename (before its event), it may be listed.
    const auto listed = Checkpoints(ws_dir).list();
    ASSERT_TRUE(listed.size() == listed_before + 1 || (!finished && listed.size() == listed_before))
        << "kill " << i << ": " << listed.size() << " listed, " << listed_before << " before";
    listed_before = listed.size();
    for (const auto& m : listed) {
      EXPECT_EQ(fs::file_size(ws_dir / "checkpoints" / m.id / "data.mdb"), m.bytes) << m.id;
      EXPECT_GE(m.revision, before.revision) << m.id;
    }
  }
  for (const auto& [what, n] : outcomes) std::cout << what << ": " << n << "\n";
  EXPECT_EQ(fingerprint(ws_dir).hash, before.hash) << "the workspace changed";
  auto last = checkpoint_cli(ws_dir, "after the kills");
  EXPECT_EQ(Checkpoints(ws_dir).list().size(), listed_before + 1);
  for (const auto& entry : fs::directory_iterator(ws_dir / "checkpoints"))
    EXPECT_FALSE(entry.path().filename().string().starts_with(".tmp-")) << entry.path() << " was not cleaned up";
  EXPECT_EQ(shell("mdb_stat -e " + (ws_dir / "checkpoints" / last.id).string()).code, 0);
}

TEST(Checkpoint, KilledWhileRestoringLeavesExactlyTheOldOrTheCheckpoint) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  const auto m = filled_and_checkpointed(ws_dir, 30);
  const auto at_checkpoint = fingerprint(ws_dir);
  fill(ws_dir, 2, "b");  // the present differs from the checkpoint

  auto t0 = std::chrono::steady_clock::now();
  auto r = shell(remora(ws_dir, "restore --yes " + m.id));
  const double full = seconds_since(t0);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(fingerprint(ws_dir).hash, at_checkpoint.hash);

  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::map<std::string, int> outcomes;
  for (int i = 0; i < 8; ++i) {
    {
      auto ws = open_ws(ws_dir);
      ws->write([&](WriteTxn& t) { t.put(ws->ns("base"), "present", std::to_string(i)); });
    }
    const auto old = fingerprint(ws_dir);
    Child c(kRemora, {"-w", ws_dir.string(), "restore", "--yes", m.id}, dir / "out.txt");
    std::this_thread::sleep_for(std::chrono::duration<double>(std::uniform_real_distribution<>(0, full)(rng)));
    c.kill9();
    c.wait();
    auto listed = shell(remora(ws_dir, "checkpoints"));  // any command first recovers
    ASSERT_EQ(listed.code, 0) << listed.out;
    EXPECT_FALSE(fs::exists(ws_dir / "data.mdb.restoring"));
    EXPECT_FALSE(fs::exists(ws_dir / "restore.json"));
    const auto now = fingerprint(ws_dir);
    if (now == old) {
      ++outcomes["old"];
    } else {
      ASSERT_EQ(now.hash, at_checkpoint.hash) << "kill " << i << ": the workspace is neither the old one nor the checkpoint";
      ASSERT_EQ(now.revision, m.revision + 1) << "kill " << i;
      auto ws = open_ws(ws_dir);
      auto restored = events_of(*ws, "checkpoint:restored");
      ASSERT_EQ(restored.size(), 1u);
      EXPECT_EQ(json::parse(restored[0].payload_json)["from_revision"], old.revision);
      ++outcomes["checkpoint"];
    }
    EXPECT_EQ(shell("mdb_stat -e " + ws_dir.string()).code, 0);
  }
  std::cout << "after 8 kills: old " << outcomes["old"] << ", checkpoint " << outcomes["checkpoint"] << "\n";
}

TEST(Checkpoint, ForkLeavesTheWorkspaceUntouchedAndAGraphCompletesInIt) {
  GraphProject p;
  const auto graph = p.graph("", {"a", "b", "c"});
  ASSERT_EQ(shell(remora(p.ws(), "run --json " + graph) + " > /dev/null").code, 0);
  const auto m = checkpoint_cli(p.ws(), "after the run");
  EXPECT_EQ(m.run_state, "completed");
  EXPECT_EQ(m.agents_summary(), "3 completed");
  const auto before = fingerprint(p.ws());
  {
    auto ws = open_ws(p.ws());
    // The present moves on after the checkpoint.
    ws->write([&](WriteTxn& t) { t.put(ws->ns("base"), "later", "1"); });
  }
  const auto present = fingerprint(p.ws());
  ASSERT_NE(present, before);

  const auto fork = p.dir / "fork";
  auto r = shell(remora(p.ws(), "restore " + m.id + " --fork " + fork.string()));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("untouched"), std::string::npos) << r.out;
  EXPECT_EQ(fingerprint(p.ws()), present) << "the fork changed the workspace it came from";
  EXPECT_EQ(fingerprint(fork).hash, before.hash);
  {
    auto ws = open_ws(fork);
    auto restored = events_of(*ws, "checkpoint:restored");
    ASSERT_EQ(restored.size(), 1u);
    auto payload = json::parse(restored[0].payload_json);
    EXPECT_EQ(payload["id"], m.id);
    EXPECT_EQ(payload["from_revision"], present.revision);
    EXPECT_EQ(payload["forked_from"], fs::absolute(p.ws()).string());
  }
  auto again = shell(remora(p.ws(), "restore " + m.id + " --fork " + fork.string()));
  EXPECT_EQ(again.code, 1) << again.out;
  EXPECT_NE(again.out.find("already holds a workspace"), std::string::npos) << again.out;

  auto run = shell(remora(fork, "run --fresh --json " + graph));
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("\"graph:completed\""), std::string::npos);
}

// Waits (on the change log) until agent w has asked its question.
void wait_blocked(const fs::path& ws_dir) {
  auto ws = open_ws(ws_dir);
  Watcher watch(*ws, std::string(keys::kEvent), 1);
  for (;;) {
    auto changes = watch.next(Watcher::Clock::now() + 60s);
    ASSERT_FALSE(changes.empty()) << "the agent never asked";
    for (auto& c : changes)
      if (auto e = ws->get(ws->ns("base"), c.key))
        if (proto::decode<proto::Event>(e->value, c.key).action == "blocked") return;
  }
}

// A restore of a workspace whose run is going on stops that run (asking first), restores, and the
// run goes on from the checkpoint; a restore is refused while any process has the workspace open,
// or without a confirmation; a restore with no run going on leaves the restored run for `remora resume`.
TEST(Checkpoint, RestoreStopsARunningGraphAndContinuesItFromTheCheckpoint) {
  GraphProject p;
  const auto graph = p.graph("", {"w"}, "wait");
  open_ws(p.ws());
  Child run(kRemora, {"-w", p.ws().string(), "run", "--json", graph}, p.dir / "run.out");
  wait_blocked(p.ws());
  const auto m = checkpoint_cli(p.ws(), "while running");
  EXPECT_EQ(m.run_state, "running");
  EXPECT_EQ(m.agents.at("w"), "blocked");

  auto unconfirmed_live = shell(remora(p.ws(), "restore " + m.id) + " < /dev/null");
  EXPECT_EQ(unconfirmed_live.code, 2) << unconfirmed_live.out;
  EXPECT_NE(unconfirmed_live.out.find("stop the run going on, then restore checkpoint " + m.id), std::string::npos) << unconfirmed_live.out;

  // Read through a pipe, line by line: the test opens the workspace only once it is restored
  // (opening a workspace while it is being replaced is a misuse).
  FILE* restore = ::popen((remora(p.ws(), "restore --yes --json " + m.id) + " 2>&1").c_str(), "r");
  ASSERT_NE(restore, nullptr);
  std::string restore_out;
  auto read_until = [&](const std::string& text) {  // "" reads to the end
    char line[8192];
    while ((text.empty() || restore_out.find(text) == std::string::npos) && std::fgets(line, sizeof line, restore))
      restore_out += line;
    return restore_out.find(text) != std::string::npos;
  };
  ASSERT_TRUE(read_until("restored checkpoint " + m.id)) << restore_out;
  EXPECT_EQ(run.wait(), 1) << "the first supervisor stopped";
  const auto run_out = test::read_text(p.dir / "run.out");
  EXPECT_NE(run_out.find("\"event\":\"graph:stopped\""), std::string::npos) << run_out;
  EXPECT_NE(run_out.find("restoring checkpoint " + m.id), std::string::npos) << run_out;
  ASSERT_TRUE(read_until("\"event\":\"agent:blocked\"")) << restore_out;  // asked again, from the checkpoint
  auto answered = shell(remora(p.ws(), "answer w.0 yes"));
  ASSERT_EQ(answered.code, 0) << answered.out;
  read_until("");
  const int st = ::pclose(restore);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << restore_out;
  EXPECT_NE(restore_out.find("stopped the run's supervisor"), std::string::npos) << restore_out;
  EXPECT_NE(restore_out.find("\"event\":\"graph:resumed\""), std::string::npos) << restore_out;
  EXPECT_NE(restore_out.find("\"event\":\"graph:completed\""), std::string::npos) << restore_out;
  {
    auto ws = open_ws(p.ws());
    auto w = proto::decode<proto::AgentState>(ws->get(ws->ns("base"), keys::run_agent("w"))->value, "w");
    EXPECT_EQ(w.state, "completed");
    EXPECT_EQ(events_of(*ws, "checkpoint:restored").size(), 1u);
    EXPECT_EQ(events_of(*ws, "graph:stopped").size(), 0u) << "the log is the checkpoint's, continued";
  }

  {
    auto ws = open_ws(p.ws());  // this process has it open now
    auto busy = shell(remora(p.ws(), "restore --yes " + m.id));
    EXPECT_EQ(busy.code, 3) << busy.out;
    EXPECT_NE(busy.out.find("process " + std::to_string(::getpid()) + " has workspace"), std::string::npos)
        << busy.out;
  }
  auto unconfirmed = shell(remora(p.ws(), "restore " + m.id) + " < /dev/null");
  EXPECT_EQ(unconfirmed.code, 2) << unconfirmed.out;
  EXPECT_NE(unconfirmed.out.find("confirm with --yes"), std::string::npos) << unconfirmed.out;
  auto unknown = shell(remora(p.ws(), "restore --yes 20990101T000000-beef"));
  EXPECT_EQ(unknown.code, 1) << unknown.out;
  EXPECT_NE(unknown.out.find("no checkpoint 20990101T000000-beef"), std::string::npos) << unknown.out;

  auto quiet = shell(remora(p.ws(), "restore --yes " + m.id));
  ASSERT_EQ(quiet.code, 0) << quiet.out;
  EXPECT_NE(quiet.out.find("its run is unfinished: `remora resume` continues it"), std::string::npos) << quiet.out;
  auto ws = open_ws(p.ws());
  auto a = proto::decode<proto::AgentState>(ws->get(ws->ns("base"), keys::run_agent("w"))->value, "w");
  EXPECT_EQ(a.state, "blocked");  // as it stood when the checkpoint was taken
}

// A checkpoint of a graph whose 8 workers are writing is a valid environment; restoring it stops
// the run going on, and the run goes on from the checkpoint to completion, every write in place.
TEST(Checkpoint, TakenWhileEightWorkersWriteRestoresAndItsRunCompletes) {
  GraphProject p;
  std::string steps = "name: busy\nkind: steps\nsteps:\n";
  // 6 s of work per agent: the run must outlast the checkpoint and the restore that stops it, which
  // took over 5 s in the sanitizer build on a loaded machine (with 1.5 s it had completed first).
  for (int i = 0; i < 10; ++i)
    steps += fmt::format("  - write: {{path: \"out/{{agent}}-{}.txt\", content: \"{} by {{agent}}\"}}\n  - work: {{ms: 600}}\n", i, i);
  write_text(p.dir / "bundles/busy/bundle.yaml", steps + "  - result: {summary: busy done}\n");
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back("w" + std::to_string(i));
  const auto graph = p.graph("  max_concurrency: 8\n", ids, "busy");
  open_ws(p.ws());
  Child run(kRemora, {"-w", p.ws().string(), "run", "--json", graph}, p.dir / "run.out");
  {
    // Once every agent has written its first file: all 8 workers are writing.
    auto ws = open_ws(p.ws());
    Watcher watch(*ws, "", 1);
    std::set<std::string> writing;
    while (writing.size() < 8) {
      auto changes = watch.next(Watcher::Clock::now() + 60s);
      ASSERT_FALSE(changes.empty()) << "the workers wrote nothing for 60 s";
      for (auto& c : changes)
        if (c.key.starts_with("file:out/")) writing.insert(c.ns_name);
    }
  }
  const auto m = checkpoint_cli(p.ws(), "8 workers writing");
  EXPECT_EQ(m.run_state, "running");
  const auto copy = p.ws() / "checkpoints" / m.id;
  EXPECT_EQ(shell("mdb_stat -e " + copy.string()).code, 0);

  auto restore = shell(remora(p.ws(), "restore --yes --json " + m.id));
  EXPECT_EQ(restore.code, 0) << restore.out;
  EXPECT_NE(restore.out.find("\"event\":\"graph:completed\""), std::string::npos) << restore.out;
  EXPECT_EQ(run.wait(), 1) << "the first run was stopped";
  auto ws = open_ws(p.ws());
  for (const auto& id : ids) {
    SCOPED_TRACE(id);
    auto a = proto::decode<proto::AgentState>(ws->get(ws->ns("base"), keys::run_agent(id))->value, id);
    EXPECT_EQ(a.state, "completed");
    auto ns = ws->ns(keys::agent_ns(id));
    for (int i = 0; i < 10; ++i) {
      auto e = ws->get(ns, keys::file(fmt::format("out/{}-{}.txt", id, i)));
      ASSERT_TRUE(e) << i;
      EXPECT_EQ(proto::decode<proto::FileEntry>(e->value, id).content.data, fmt::format("{} by {}", i, id));
    }
  }
}

// The supervisor lock held by a process that is not the run's supervisor (`remora run` asking
// whether to resume, or importing the project): restore stops nothing, leaves no stop request
// behind, and says so.
TEST(Checkpoint, RestoreStopsOnlyTheRunsOwnSupervisor) {
  GraphProject p;
  const auto graph = p.graph("", {"a"});
  ASSERT_EQ(shell(remora(p.ws(), "run --json " + graph) + " > /dev/null").code, 0);
  const auto m = checkpoint_cli(p.ws(), "after the run");
  {
    RunLock held(p.ws());  // as `remora run` holds it before its supervisor starts
    auto r = shell(remora(p.ws(), "restore --yes " + m.id));
    EXPECT_EQ(r.code, 3) << r.out;
    EXPECT_NE(r.out.find("is held by process " + std::to_string(::getpid()) + ", which is not running its graph yet"),
              std::string::npos)
        << r.out;
    auto ws = open_ws(p.ws());
    EXPECT_TRUE(ws->list(ws->ns("base"), std::string(keys::kRunControl)).empty()) << "no stop request left behind";
  }
  auto r = shell(remora(p.ws(), "restore --yes " + m.id));
  EXPECT_EQ(r.code, 0) << r.out;
}

// A stop asked of a supervisor that died before it read it does not stop the one that resumes.
TEST(Checkpoint, AStopLeftForADeadSupervisorDoesNotStopTheResumedRun) {
  GraphProject p;
  const auto graph = p.graph("", {"w"}, "wait");
  open_ws(p.ws());
  Child run(kRemora, {"-w", p.ws().string(), "run", "--json", graph}, p.dir / "run.out");
  wait_blocked(p.ws());
  run.kill9();
  EXPECT_EQ(run.wait(), 128 + SIGKILL);
  {
    auto ws = open_ws(p.ws());
    proto::Control c;
    c.action = "stop";
    c.target = "restoring a checkpoint";
    ws->write([&](WriteTxn& t) { t.put(ws->ns("base"), keys::run_control("1"), proto::encode(c)); });
  }
  ASSERT_EQ(shell(remora(p.ws(), "answer w.0 yes")).code, 0);
  auto resumed = shell(remora(p.ws(), "resume --json"));
  EXPECT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("\"event\":\"graph:completed\""), std::string::npos) << resumed.out;
  EXPECT_EQ(resumed.out.find("graph:stopped"), std::string::npos) << resumed.out;
}

TEST(Checkpoint, PruneKeepsTheNewestAutomaticOnesAndNeverManualOnes) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  fill(ws_dir, 1, "a");
  auto ws = open_ws(ws_dir);
  Checkpoints store(ws_dir);
  std::vector<std::string> manual, automatic;
  for (int i = 0; i < 6; ++i) {
    ws->write([&](WriteTxn& t) { t.put(ws->ns("base"), "i", std::to_string(i)); });
    auto taken = store.take(*ws, "n" + std::to_string(i), i % 3 == 0 ? "manual" : "auto");
    (i % 3 == 0 ? manual : automatic).push_back(taken.manifest.id);
  }
  auto removed = store.prune(2);
  EXPECT_EQ(removed, (std::vector<std::string>{automatic[0], automatic[1]}));
  std::vector<std::string> left;
  for (auto& m : store.list()) left.push_back(m.id);
  std::vector<std::string> want{manual[0], manual[1], automatic[2], automatic[3]};
  EXPECT_EQ(left, want);
  EXPECT_TRUE(store.prune(2).empty());
}

TEST(Checkpoint, ACopyOpensReadOnlyWithoutTouchingItsDirectory) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  const auto m = filled_and_checkpointed(ws_dir, 1);
  const auto copy = ws_dir / "checkpoints" / m.id;
  WorkspaceOptions o;
  o.dir = copy;
  o.read_only = true;
  auto ro = Workspace::open(o);
  EXPECT_EQ(ro->revision(), m.revision);
  EXPECT_EQ(ro->list(ro->ns("agent/a"), "d/a/").size(), 667u);  // base's 334 and its own 333
  try {
    ro->write([&](WriteTxn& t) { t.put(ro->ns("base"), "k", "v"); });
    ADD_FAILURE() << "a write to a read-only workspace went through";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
  }
  std::set<std::string> files;
  for (const auto& entry : fs::directory_iterator(copy)) files.insert(entry.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"data.mdb", "manifest.json"}));
}

TEST(Checkpoint, TheSupervisorSnapshotsByItselfAndKeepsTheLastK) {
  GraphProject p;
  const auto graph =
      p.graph("  snapshot: {enabled: true, every_s: 0, every_revisions: 4, keep: 2}\n", {"a", "b", "c", "d", "e"});
  auto run = shell(remora(p.ws(), "run --json " + graph));
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("\"checkpoint:saved\""), std::string::npos) << "the bus carried no checkpoint:saved";
  auto all = Checkpoints(p.ws()).list();
  ASSERT_GE(all.size(), 1u);
  ASSERT_LE(all.size(), 2u);
  const auto& last = all.back();
  EXPECT_EQ(last.trigger, "auto");
  EXPECT_EQ(last.message, "auto: graph ended");
  EXPECT_EQ(last.run_state, "completed");
  EXPECT_EQ(last.agents_summary(), "5 completed");
  auto ws = open_ws(p.ws());
  auto saved = events_of(*ws, "checkpoint:saved");
  ASSERT_GE(saved.size(), all.size());
  EXPECT_EQ(json::parse(saved.back().payload_json)["id"], last.id);
  EXPECT_FALSE(saved.back().graph_id.empty());
}

TEST(Checkpoint, SnapshotConfigIsValidatedAndStored) {
  GraphProject p;
  const auto bad = p.graph("  snapshot: {enabled: yes-please, every_s: -1, keep: 0, often: 3}\n", {"a"});
  auto r = shell(remora(p.ws(), "run " + bad));
  EXPECT_EQ(r.code, 2) << r.out;
  for (const char* line : {"config.snapshot.enabled: expected true or false", "config.snapshot.every_s: must be >= 0",
                           "config.snapshot.keep: must be >= 1", "config.snapshot.often: unknown field"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;

  auto spec = load_graph(p.graph("  snapshot: {enabled: true, every_revisions: 50, keep: 3}\n", {"a"}));
  EXPECT_TRUE(spec.config.snapshot.enabled);
  EXPECT_EQ(spec.config.snapshot.every_s, 300);
  EXPECT_EQ(spec.config.snapshot.every_revisions, 50u);
  EXPECT_EQ(spec.config.snapshot.keep, 3u);
  EXPECT_EQ(GraphSpec::from_json(spec.to_json()), spec);
}

}  // namespace
}  // namespace remora
