// Real processes on one workspace: 8 writer processes committing 1,000 batches each into their
// own overlays while a watcher process sees every change exactly once and in order; writers
// killed with SIGKILL (one inside a transaction, one from outside at a random moment) lose nothing
// they committed; the map grows under concurrent writers; Debian's mdb_stat reads the result.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "shared/doorbell.hpp"
#include "shared/key_class.hpp"
#include "shared/workspace.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

using test::Child;

constexpr int kWriters = 8;
constexpr int kBatches = 1000;
constexpr int kKeys = 4;

std::string batch_of(const std::string& key) {  // w/NS/<batch>/<j> -> <batch>
  auto a = key.find('/', 2);
  return key.substr(a + 1, 6);
}

TEST(MultiProcess, EightWritersAndAWatcherWithKilledWriters) {
  test::TempDir dir;
  const auto ws_dir = (dir / "ws").string();
  const auto out = (dir / "watch.log").string();
  {
    WorkspaceOptions o;
    o.dir = ws_dir;
    o.initial_map_bytes = 1 << 20;  // small, so that concurrent writers must grow it
    Workspace::open(o);
  }
  Child watcher(REMORA_PROBE, {"watch", ws_dir, "w/", out, "w/zz-stop"});

  std::vector<std::unique_ptr<Child>> writers;
  for (int i = 0; i < kWriters; ++i) {
    std::vector<std::string> args{"write", ws_dir, "writer" + std::to_string(i), std::to_string(kBatches),
                                  std::to_string(kKeys), "--value-bytes", "200"};
    writers.push_back(std::make_unique<Child>(REMORA_PROBE, args));
  }
  // Two more writers that die: one kills itself inside its 137th transaction, one is killed from
  // outside once it has committed something (at a moment chosen by a seeded RNG).
  writers.push_back(std::make_unique<Child>(
      REMORA_PROBE, std::vector<std::string>{"write", ws_dir, "selfkill", "1000", "4", "--die-at", "137"}));
  auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  Child victim(REMORA_PROBE, {"write", ws_dir, "victim", "100000", "50", "--value-bytes", "100"});
  {
    WorkspaceOptions o;
    o.dir = ws_dir;
    o.create = false;
    auto ws = Workspace::open(o);
    // Wait (event-driven, on the change log) until the victim has committed a random number of batches.
    int want = std::uniform_int_distribution<int>(5, 200)(rng), seen = 0;
    std::uint64_t from = 1;
    while (seen < want) {
      const auto slot = KeyClass::watch_slot("w/victim/");
      auto t = ws->doorbell().ticket(slot);
      auto page = ws->changes(from, "w/victim/");
      from = page.next_revision;
      seen += static_cast<int>(page.changes.size()) / 50;
      if (page.changes.empty()) ws->doorbell().wait(slot, t, Doorbell::Clock::now() + std::chrono::seconds(60));
    }
  }
  victim.kill9();
  EXPECT_EQ(victim.wait(), 128 + SIGKILL);
  for (int i = 0; i < kWriters; ++i) EXPECT_EQ(writers[i]->wait(), 0) << "writer " << i;
  EXPECT_EQ(writers[kWriters]->wait(), 128 + SIGKILL);

  WorkspaceOptions o;
  o.dir = ws_dir;
  o.create = false;
  auto ws = Workspace::open(o);
  ws->write([&](WriteTxn& t) { t.put(ws->ns("base"), "w/zz-stop", "1"); });
  ASSERT_EQ(watcher.wait(), 0);

  // What is in the workspace: each completed writer has everything; the killed ones a prefix of
  // whole batches (no half-committed batch), ending where they died.
  std::map<std::string, std::set<std::string>> stored;  // ns -> keys
  for (auto& info : ws->namespaces()) {
    if (info.id == 0) continue;
    for (auto& [k, e] : ws->list(ws->ns(info.name), "w/")) {
      if (k == "w/zz-stop") continue;  // base's, seen through every overlay
      EXPECT_EQ(e.ns, info.id);
      stored[info.name].insert(k);
    }
  }
  for (int i = 0; i < kWriters; ++i) EXPECT_EQ(stored["writer" + std::to_string(i)].size(), std::size_t(kBatches * kKeys));
  EXPECT_EQ(stored["selfkill"].size(), std::size_t(137 * kKeys));
  EXPECT_TRUE(stored["selfkill"].count("w/selfkill/000136/3"));
  EXPECT_FALSE(stored["selfkill"].count("w/selfkill/000137/0"));
  std::map<std::string, int> victim_batches;
  for (auto& k : stored["victim"]) victim_batches[batch_of(k)]++;
  ASSERT_FALSE(victim_batches.empty());
  int expect_batch = 0;
  for (auto& [b, n] : victim_batches) {
    EXPECT_EQ(n, 50) << "victim batch " << b << " is torn";
    EXPECT_EQ(std::stoi(b), expect_batch++) << "victim batches are not a prefix";
  }

  // What the watcher saw: exactly the stored keys, each once, revisions in order, and each
  // writer's batches in the order it committed them.
  std::ifstream in(out);
  std::string line;
  std::uint64_t last_rev = 0;
  std::set<std::string> seen;
  std::map<std::string, std::string> last_batch;
  std::size_t lines = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::uint64_t rev;
    std::string ns, key;
    int op;
    ls >> rev >> ns >> op >> key;
    ++lines;
    EXPECT_GE(rev, last_rev);
    last_rev = rev;
    if (key == "w/zz-stop") continue;
    EXPECT_TRUE(seen.insert(ns + " " + key).second) << "delivered twice: " << key;
    EXPECT_TRUE(stored[ns].count(key)) << "delivered but not stored: " << key;
    auto b = batch_of(key);
    EXPECT_GE(b, last_batch[ns]) << "out of order in " << ns;
    last_batch[ns] = b;
  }
  std::size_t total = 0;
  for (auto& [ns, ks] : stored) total += ks.size();
  EXPECT_EQ(seen.size(), total);
  EXPECT_EQ(lines, total + 1);
  EXPECT_GT(ws->map_size(), std::size_t{1} << 20);  // grown by the writers

  ws.reset();
  EXPECT_EQ(std::system(("mdb_stat -e " + ws_dir + " > /dev/null").c_str()), 0);
  EXPECT_EQ(std::system(("mdb_stat -s entries " + ws_dir + " > /dev/null").c_str()), 0);
}

}  // namespace
}  // namespace remora
