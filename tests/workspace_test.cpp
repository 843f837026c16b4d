// The workspace engine: namespaces, overlays, tombstones, listing, batches, diff, merge, drop,
// compaction and map growth, each on a real LMDB environment in a temporary directory.
#include "shared/workspace.hpp"
#include "shared/watcher.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>

#include <lmdb.h>

#include "test_support.hpp"

namespace remora {
namespace {

class WorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkspaceOptions o;
    o.dir = dir_.path() / "ws";
    o.durability = Durability::nosync;
    ws_ = Workspace::open(o);
    base_ = ws_->ns("base");
  }
  std::optional<std::string> get(const Namespace& ns, const std::string& key) {
    auto e = ws_->get(ns, key);
    return e ? std::optional(e->value) : std::nullopt;
  }
  std::uint64_t put(const Namespace& ns, const std::string& k, const std::string& v) {
    return ws_->write([&](WriteTxn& t) { t.put(ns, k, v); });
  }
  std::uint64_t del(const Namespace& ns, const std::string& k) {
    return ws_->write([&](WriteTxn& t) { t.del(ns, k); });
  }
  std::vector<std::string> keys(const Namespace& ns, const std::string& prefix = "") {
    std::vector<std::string> out;
    for (auto& [k, e] : ws_->list(ns, prefix)) out.push_back(k + "=" + e.value);
    return out;
  }

  test::TempDir dir_;
  std::unique_ptr<Workspace> ws_;
  Namespace base_;
};

TEST_F(WorkspaceTest, RevisionsAreGapFreeAndEmptyWritesCommitNothing) {
  EXPECT_EQ(ws_->revision(), 0u);
  EXPECT_EQ(put(base_, "a", "1"), 1u);
  EXPECT_EQ(put(base_, "b", "2"), 2u);
  EXPECT_EQ(ws_->write([](WriteTxn&) {}), 2u);
  EXPECT_EQ(ws_->revision(), 2u);
  auto e = ws_->get(base_, "a");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->mod_rev, 1u);
  EXPECT_EQ(e->ns, 0u);
}

// A worker of a sync run commits with one fsync less than its supervisor, whose synced commits
// carry the worker's to disk (docs/workspace.md, "Crash safety"); a run's own weaker durability
// (nosync only in tests and benchmarks: graphs refuse it) is its workers' too. Zygote.
// WorkersAreTheSupervisorsChildrenShowingTheirOwnArguments sees it on a real worker's command line.
TEST(Durability, AWorkerOfASyncRunCommitsWithOneFsync) {
  EXPECT_EQ(worker_durability(Durability::sync), Durability::meta_nosync);
  EXPECT_EQ(worker_durability(Durability::meta_nosync), Durability::meta_nosync);
  EXPECT_EQ(worker_durability(Durability::nosync), Durability::nosync);
}

// A synced commit rings its watchers before its meta page is synced (one fsync sooner). A writer
// killed between the two has lost nothing: the commit is whole for everyone, in the change feed,
// and the next writer goes on.
TEST(Durability, AWriterKilledBetweenItsRingAndItsMetaSyncLosesNothing) {
  test::TempDir dir;
  WorkspaceOptions o;
  o.dir = dir.path();
  auto ws = Workspace::open(o);
  auto base = ws->ns("base");
  Watcher w(*ws, "a", ws->revision() + 1);
  auto killed = test::shell("REMORA_FAULT=workspace:rung " + std::string(REMORA_KV) + " -w " + dir.path().string() + " put a 1");
  EXPECT_EQ(killed.code, 128 + SIGKILL) << killed.out;  // killed by the fault point, after its commit
  auto changes = w.next(std::chrono::steady_clock::now() + std::chrono::seconds(30));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].key, "a");
  auto a = ws->get(base, "a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mod_rev, 1u);
  EXPECT_EQ(ws->revision(), 1u);
  ws->write([&](WriteTxn& t) { t.put(base, "b", "2"); });
  EXPECT_EQ(ws->revision(), 2u);
}

TEST_F(WorkspaceTest, OverlayReadsFallThroughAndWritesStayInTheOverlay) {
  put(base_, "file:a", "base-a");
  auto o = ws_->create_ns("agent");
  EXPECT_EQ(get(o, "file:a"), "base-a");
  put(o, "file:a", "agent-a");
  put(o, "file:b", "agent-b");
  EXPECT_EQ(get(o, "file:a"), "agent-a");
  EXPECT_EQ(get(base_, "file:a"), "base-a");
  EXPECT_EQ(get(base_, "file:b"), std::nullopt);
}

TEST_F(WorkspaceTest, TombstonesHideThroughAThreeDeepChain) {
  put(base_, "k", "base");
  put(base_, "other", "x");
  auto o1 = ws_->create_ns("o1");
  auto o2 = ws_->create_ns("o2", "o1");
  auto o3 = ws_->create_ns("o3", "o2");
  EXPECT_EQ(o3.chain, (std::vector<std::uint32_t>{o3.id, o2.id, o1.id, 0}));
  EXPECT_EQ(get(o3, "k"), "base");
  del(o1, "k");
  EXPECT_EQ(get(o1, "k"), std::nullopt);
  EXPECT_EQ(get(o2, "k"), std::nullopt);
  EXPECT_EQ(get(o3, "k"), std::nullopt);
  EXPECT_EQ(get(base_, "k"), "base");
  put(o3, "k", "revived");
  EXPECT_EQ(get(o3, "k"), "revived");
  EXPECT_EQ(get(o2, "k"), std::nullopt);
  del(o2, "other");
  EXPECT_EQ(get(o3, "other"), std::nullopt);
  EXPECT_EQ(get(o1, "other"), "x");
  // Deleting what is already invisible changes nothing and commits nothing.
  auto rev = ws_->revision();
  bool existed = true;
  EXPECT_EQ(ws_->write([&](WriteTxn& t) { existed = t.del(o2, "k"); }), rev);
  EXPECT_FALSE(existed);
}

TEST_F(WorkspaceTest, PrefixListingMergesLayersInOrder) {
  put(base_, "file:a", "1");
  put(base_, "file:c", "3");
  put(base_, "file:e", "5");
  put(base_, "outbox:x", "no");
  auto o1 = ws_->create_ns("o1");
  auto o2 = ws_->create_ns("o2", "o1");
  auto o3 = ws_->create_ns("o3", "o2");
  put(o1, "file:b", "2");
  put(o2, "file:c", "33");
  del(o3, "file:e");
  put(o3, "file:d", "4");
  auto sibling = ws_->create_ns("sibling");
  put(sibling, "file:a", "sib");
  put(sibling, "file:bb", "sib");
  EXPECT_EQ(keys(o3, "file:"), (std::vector<std::string>{"file:a=1", "file:b=2", "file:c=33", "file:d=4"}));
  EXPECT_EQ(keys(o1, "file:"), (std::vector<std::string>{"file:a=1", "file:b=2", "file:c=3", "file:e=5"}));
  EXPECT_EQ(keys(base_, "file:"), (std::vector<std::string>{"file:a=1", "file:c=3", "file:e=5"}));
  EXPECT_EQ(keys(sibling, "file:b"), (std::vector<std::string>{"file:bb=sib"}));
  EXPECT_EQ(ws_->list(o3, "file:", 2).size(), 2u);
  EXPECT_EQ(keys(o3).size(), 5u);  // the empty prefix lists everything visible
}

TEST_F(WorkspaceTest, KeysThatArePrefixesOfEachOtherStayDistinct) {
  auto o = ws_->create_ns("o");
  put(base_, "a", "base-a");
  put(base_, "ab", "base-ab");
  put(o, "a", "o-a");
  put(base_, std::string("a\x01"), "ctl");
  EXPECT_EQ(get(o, "a"), "o-a");
  EXPECT_EQ(get(o, "ab"), "base-ab");
  EXPECT_EQ(keys(o, "a"), (std::vector<std::string>{"a=o-a", std::string("a\x01=ctl"), "ab=base-ab"}));
}

TEST_F(WorkspaceTest, BatchIsAtomicAndOneRevision) {
  auto o = ws_->create_ns("o");
  Batch b;
  for (int i = 0; i < 100; ++i) b.put(o, "k" + std::to_string(i), std::to_string(i));
  b.del(o, "k5");
  auto rev = ws_->commit(b);
  EXPECT_EQ(rev, ws_->revision());
  EXPECT_EQ(ws_->list(o, "k").size(), 99u);
  for (auto& [k, e] : ws_->list(o, "k")) EXPECT_EQ(e.mod_rev, rev);
  // A transaction that throws commits nothing.
  EXPECT_THROW(ws_->write([&](WriteTxn& t) {
    t.put(o, "half", "written");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(get(o, "half"), std::nullopt);
  EXPECT_EQ(ws_->revision(), rev);
}

TEST_F(WorkspaceTest, WriteTxnReadsItsOwnWrites) {
  auto o = ws_->create_ns("o");
  ws_->write([&](WriteTxn& t) {
    t.put(o, "x", "1");
    auto e = t.get(o, "x");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->value, "1");
    EXPECT_EQ(e->mod_rev, t.revision());
  });
}

TEST_F(WorkspaceTest, DiffListsAddsChangesAndDeletes) {
  put(base_, "file:keep", "same");
  put(base_, "file:change", "old");
  put(base_, "file:gone", "bye");
  auto o = ws_->create_ns("o");
  put(o, "file:keep", "same");  // rewritten identically: not a change
  put(o, "file:change", "new");
  put(o, "file:new", "hello");
  del(o, "file:gone");
  put(o, "outbox:q", "control");
  auto d = ws_->diff(o, "file:");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].key, "file:change");
  EXPECT_EQ(d[0].kind, DiffEntry::Kind::changed);
  EXPECT_EQ(d[0].old_value, "old");
  EXPECT_EQ(d[0].new_value, "new");
  EXPECT_EQ(d[1].key, "file:gone");
  EXPECT_EQ(d[1].kind, DiffEntry::Kind::deleted);
  EXPECT_EQ(d[2].key, "file:new");
  EXPECT_EQ(d[2].kind, DiffEntry::Kind::added);
  EXPECT_EQ(ws_->diff(o).size(), 4u);
  EXPECT_THROW(ws_->diff(base_), Error);
}

TEST_F(WorkspaceTest, MergeAppliesToTheParentAndEmptiesTheOverlay) {
  put(base_, "file:a", "a0");
  put(base_, "file:d", "d0");
  auto o = ws_->create_ns("o");
  put(o, "file:a", "a1");
  put(o, "file:b", "b1");
  del(o, "file:d");
  put(o, "outbox:q", "stays");
  auto r = ws_->merge(o, MergeStrategy::fail, "file:");
  EXPECT_EQ(r.applied, 3u);
  EXPECT_EQ(keys(base_, "file:"), (std::vector<std::string>{"file:a=a1", "file:b=b1"}));
  EXPECT_TRUE(ws_->diff(o, "file:").empty());
  EXPECT_EQ(get(o, "outbox:q"), "stays");  // outside the prefix: untouched
  EXPECT_EQ(get(base_, "outbox:q"), std::nullopt);
  // The overlay still knows what it holds, and keeps working after the partial merge.
  put(o, "file:c", "c1");
  auto d = ws_->diff(o);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].key, "file:c");
  EXPECT_EQ(d[1].key, "outbox:q");
  ws_->merge(o);
  EXPECT_TRUE(ws_->diff(o).empty());
  EXPECT_EQ(get(base_, "outbox:q"), "stays");
}

TEST_F(WorkspaceTest, ScanningWhileWritingInOneTransaction) {
  auto o = ws_->create_ns("o");
  for (int i = 0; i < 50; ++i) put(base_, "k" + std::to_string(100 + i), "v");
  int seen = 0;
  ws_->write([&](WriteTxn& t) {
    t.scan(o, "k", [&](std::string_view k, const EntryView&) {
      t.put(o, std::string(k), "rewritten");
      ++seen;
      return true;
    });
  });
  EXPECT_EQ(seen, 50);
  for (auto& [k, e] : ws_->list(o, "k")) EXPECT_EQ(e.value, "rewritten") << k;
}

TEST_F(WorkspaceTest, AScanHandsOutViewsIntoTheMapAndCopiesNoValue) {
  auto o = ws_->create_ns("o");
  const std::string big(256 * 1024, 'c');  // overflow pages: a copy would be easy to miss by size
  ws_->write([&](WriteTxn& t) {
    t.put(base_, "file:a", big);
    t.put(o, "file:b", big);
    t.put(base_, "file:c", "small");
  });
  // The workspace's map, as /proc/self/maps lists it (mdb_env_info gives its address only for
  // MDB_FIXEDMAP): a view must point inside it.
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> maps;
  std::ifstream proc("/proc/self/maps");
  for (std::string line; std::getline(proc, line);)
    if (line.ends_with("/data.mdb") && line.find(dir_.path().string()) != std::string::npos)
      maps.emplace_back(std::stoull(line.substr(0, line.find('-')), nullptr, 16),
                        std::stoull(line.substr(line.find('-') + 1), nullptr, 16));
  ASSERT_FALSE(maps.empty()) << "no mapping of the workspace's data.mdb in /proc/self/maps";
  auto in_map = [&](std::string_view s) {
    auto p = reinterpret_cast<std::uintptr_t>(s.data());
    return std::ranges::any_of(maps, [&](const auto& m) { return p >= m.first && p + s.size() <= m.second; });
  };
  std::vector<std::string> seen;
  ws_->read([&](const Reader& r) {
    r.scan(o, "file:", [&](std::string_view k, const EntryView& e) {
      EXPECT_TRUE(in_map(k)) << k << ": the key was copied";
      EXPECT_TRUE(in_map(e.value)) << k << ": the value was copied";
      seen.push_back(std::string(k) + "=" + std::to_string(e.value.size()));
      return true;
    });
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"file:a=262144", "file:b=262144", "file:c=5"}));
}

TEST_F(WorkspaceTest, MergeIntoAnOverlayParentKeepsHidingTheGrandparent) {
  put(base_, "k", "base");
  auto o1 = ws_->create_ns("o1");
  auto o2 = ws_->create_ns("o2", "o1");
  del(o2, "k");
  put(o2, "n", "new");
  ws_->merge(o2);
  EXPECT_EQ(get(o1, "k"), std::nullopt);
  EXPECT_EQ(get(o1, "n"), "new");
  EXPECT_EQ(get(base_, "k"), "base");
  ws_->merge(o1);
  EXPECT_EQ(get(base_, "k"), std::nullopt);
  EXPECT_EQ(get(base_, "n"), "new");
}

TEST_F(WorkspaceTest, AChainMergesDownInOneTransaction) {
  put(base_, "k", "base");
  put(base_, "gone", "base");
  auto o1 = ws_->create_ns("o1");
  auto o2 = ws_->create_ns("o2", "o1");
  put(o1, "k", "o1");
  put(o2, "k", "o2");
  put(o2, "n", "o2 only");  // not in o1: merged into o1 by the same transaction, then on down
  del(o2, "gone");
  put(o2, "other:x", "outside the prefix");
  const auto rev = ws_->revision();
  auto committed = ws_->write([&](WriteTxn& t) {
    t.merge(o2, MergeStrategy::fail, "");
    t.merge(o1, MergeStrategy::fail, "");
  });
  EXPECT_EQ(committed, rev + 1);
  EXPECT_EQ(keys(base_), (std::vector<std::string>{"k=o2", "n=o2 only", "other:x=outside the prefix"}));
  EXPECT_TRUE(ws_->diff(o1).empty());
  EXPECT_TRUE(ws_->diff(o2).empty());

  // A merge refused inside a transaction takes the whole transaction with it.
  auto o3 = ws_->create_ns("o3");
  put(o3, "k", "o3");
  put(base_, "k", "moved");
  ws_->read([&](const Reader& r) {
    auto c = r.conflicts(o3);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].key, "k");
  });
  EXPECT_THROW(ws_->write([&](WriteTxn& t) {
                 t.put(base_, "side", "effect");
                 t.merge(o3);
               }),
               MergeConflict);
  EXPECT_EQ(get(base_, "side"), std::nullopt);
}

TEST_F(WorkspaceTest, MergeConflictsAreReportedForEveryKeyInBothDirections) {
  put(base_, "both-changed", "0");
  put(base_, "we-deleted", "0");
  put(base_, "they-deleted", "0");
  put(base_, "we-read", "0");
  put(base_, "clean", "0");
  auto o = ws_->create_ns("o");
  put(o, "both-changed", "ours");
  del(o, "we-deleted");
  put(o, "they-deleted", "ours");
  ws_->write([&](WriteTxn& t) { t.note_read(o, "we-read"); });
  put(o, "clean", "ours");
  // The parent moves after the overlay touched each key.
  put(base_, "both-changed", "theirs");
  put(base_, "we-deleted", "theirs");
  del(base_, "they-deleted");
  put(base_, "we-read", "theirs");
  auto rev = ws_->revision();
  ws_->read([&](const Reader& r) { EXPECT_EQ(r.conflicts(o).size(), 4u); });
  try {
    ws_->merge(o);
    FAIL() << "merge should have been refused";
  } catch (const MergeConflict& e) {
    std::vector<std::string> ks;
    for (auto& c : e.conflicts()) ks.push_back(c.key);
    EXPECT_EQ(ks, (std::vector<std::string>{"both-changed", "they-deleted", "we-deleted", "we-read"}));
    EXPECT_EQ(e.code(), Errc::conflict);
    EXPECT_NE(std::string(e.what()).find("we-read"), std::string::npos);
  }
  EXPECT_EQ(ws_->revision(), rev);  // refused: nothing written
  EXPECT_EQ(get(base_, "clean"), "0");

  // The parent changing *before* the overlay first touches a key is no conflict.
  auto late = ws_->create_ns("late");
  put(base_, "x", "1");
  put(late, "x", "2");
  EXPECT_NO_THROW(ws_->merge(late));
  EXPECT_EQ(get(base_, "x"), "2");
}

TEST_F(WorkspaceTest, MergeStrategiesOursAndTheirs) {
  put(base_, "k", "0");
  put(base_, "j", "0");
  auto a = ws_->create_ns("a");
  auto b = ws_->create_ns("b");
  put(a, "k", "a");
  put(a, "j", "a");
  put(b, "k", "b");
  put(base_, "k", "base");
  auto ra = ws_->merge(a, MergeStrategy::theirs);
  EXPECT_EQ(ra.skipped.size(), 1u);
  EXPECT_EQ(ra.applied, 1u);
  EXPECT_EQ(get(base_, "k"), "base");
  EXPECT_EQ(get(base_, "j"), "a");
  EXPECT_EQ(get(a, "k"), "base");  // discarded from the overlay
  auto rb = ws_->merge(b, MergeStrategy::ours);
  EXPECT_EQ(rb.overrode.size(), 1u);
  EXPECT_EQ(get(base_, "k"), "b");
}

TEST_F(WorkspaceTest, IdenticalEditsOnBothSidesDoNotConflict) {
  put(base_, "k", "0");
  auto o = ws_->create_ns("o");
  put(o, "k", "same");
  put(base_, "k", "same");
  EXPECT_NO_THROW(ws_->merge(o));
}

TEST_F(WorkspaceTest, DropDiscardsAndRefusesWithChildren) {
  auto o = ws_->create_ns("o");
  auto c = ws_->create_ns("c", "o");
  put(o, "k", "v");
  try {
    ws_->drop_ns("o");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("c"), std::string::npos);
  }
  ws_->drop_ns("c");
  ws_->drop_ns("o");
  EXPECT_FALSE(ws_->find_ns("o"));
  EXPECT_THROW(put(o, "k", "again"), Error);  // a stale handle cannot write
  auto o2 = ws_->create_ns("o");              // the name can be reused, with a new id
  EXPECT_NE(o2.id, o.id);
  EXPECT_EQ(get(o2, "k"), std::nullopt);
  EXPECT_THROW(ws_->drop_ns("base"), Error);
  EXPECT_EQ(ws_->namespaces().size(), 2u);
  EXPECT_EQ(ws_->namespaces(true).size(), 4u);
}

TEST_F(WorkspaceTest, BadNamesAndKeysAreClearErrors) {
  auto expect_err = [](auto fn, Errc code, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_err([&] { ws_->ns("nope"); }, Errc::not_found, "nope");
  expect_err([&] { ws_->create_ns("x", "missing-parent"); }, Errc::not_found, "missing-parent");
  ws_->create_ns("dup");
  expect_err([&] { ws_->create_ns("dup"); }, Errc::already_exists, "dup");
  expect_err([&] { ws_->create_ns("has space"); }, Errc::invalid_argument, "has space");
  expect_err([&] { put(base_, "", "v"); }, Errc::invalid_argument, "empty key");
  expect_err([&] { put(base_, std::string("a\0b", 3), "v"); }, Errc::invalid_argument, "NUL");
  expect_err([&] { put(base_, std::string(600, 'k'), "v"); }, Errc::invalid_argument, "limit");
}

TEST_F(WorkspaceTest, ChangesAndCompaction) {
  for (int i = 0; i < 10; ++i) put(base_, "k" + std::to_string(i), "v");
  auto page = ws_->changes(1, "k");
  ASSERT_EQ(page.changes.size(), 10u);
  EXPECT_EQ(page.changes[3].revision, 4u);
  EXPECT_EQ(page.changes[3].key, "k3");
  EXPECT_EQ(page.next_revision, 11u);
  ws_->compact(6);
  EXPECT_EQ(ws_->log_start(), 6u);
  try {
    ws_->changes(5, "");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::compacted);
    EXPECT_NE(std::string(e.what()).find("oldest revision it holds is 6"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ws_->changes(6, "k").changes.front().key, "k5");
}

TEST(WorkspaceRetention, AutomaticCompactionKeepsTheConfiguredWindow) {
  test::TempDir dir;
  WorkspaceOptions o;
  o.dir = dir.path();
  o.durability = Durability::nosync;
  o.log_retention = 100;
  auto ws = Workspace::open(o);
  auto base = ws->ns("base");
  for (int i = 0; i < 1000; ++i) ws->write([&](WriteTxn& t) { t.put(base, "k", std::to_string(i)); });
  EXPECT_GE(ws->revision() - ws->log_start(), 100u);
  EXPECT_LT(ws->revision() - ws->log_start(), 100u + 256u + 1u);
  EXPECT_THROW(ws->changes(1, ""), Error);
}

TEST(WorkspaceMap, GrowsByItselfWhenFull) {
  test::TempDir dir;
  WorkspaceOptions o;
  o.dir = dir.path();
  o.durability = Durability::nosync;
  o.initial_map_bytes = 1 << 20;
  auto ws = Workspace::open(o);
  auto base = ws->ns("base");
  std::string big(64 << 10, 'x');
  for (int i = 0; i < 200; ++i) {  // ~13 MB through a 1 MB map
    Batch b;
    b.put(base, "big" + std::to_string(i), big);
    ws->commit(b);
  }
  EXPECT_GT(ws->map_size(), std::size_t{8} << 20);
  EXPECT_EQ(ws->list(base, "big").size(), 200u);
  EXPECT_EQ(ws->get(base, "big199")->value, big);
}

TEST(WorkspaceOpen, MissingCorruptAndDoubleOpenAreClearErrors) {
  test::TempDir dir;
  WorkspaceOptions o;
  o.dir = dir.path() / "absent";
  o.create = false;
  try {
    Workspace::open(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::not_found);
    EXPECT_NE(std::string(e.what()).find("absent"), std::string::npos);
  }
  o.dir = dir.path() / "garbage";
  std::filesystem::create_directories(o.dir);
  std::ofstream(o.dir / "data.mdb") << std::string(20000, 'g');
  try {
    Workspace::open(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::corrupt) << e.what();
  }
  o.dir = dir.path() / "ok";
  o.create = true;
  auto ws = Workspace::open(o);
  try {
    Workspace::open(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::busy);
  }
  ws.reset();
  o.create = false;
  EXPECT_NO_THROW(Workspace::open(o));  // reopen after close; data persists
}

// An overlay carried to another workspace (own_entries there, put_own here, seen revisions mapped
// onto this base by version()) is judged by merge's conflict rule as it would have been there.
TEST_F(WorkspaceTest, AnOverlayCarriedToAnotherWorkspaceKeepsItsConflictRule) {
  put(base_, "a", "1");
  put(base_, "b", "1");
  put(base_, "c", "1");
  auto o = ws_->create_ns("o");
  put(o, "a", "2");
  del(o, "b");
  ws_->write([&](WriteTxn& t) { t.note_read(o, "c"); });
  std::vector<OwnEntry> carried;
  ws_->read([&](const Reader& r) { carried = r.own_entries(o); });
  ASSERT_EQ(carried.size(), 3u);
  EXPECT_EQ(carried[0].kind, OwnEntry::Kind::value);
  EXPECT_EQ(carried[0].value, "2");
  EXPECT_EQ(carried[1].kind, OwnEntry::Kind::tombstone);
  EXPECT_EQ(carried[2].kind, OwnEntry::Kind::read);

  WorkspaceOptions opts;
  opts.dir = dir_.path() / "there";
  opts.durability = Durability::nosync;
  auto there = Workspace::open(opts);
  const auto tb = there->ns("base");
  there->write([&](WriteTxn& t) {
    t.put(tb, "x", "older writes: revisions differ between the two");
    for (const char* k : {"a", "b", "c"}) t.put(tb, k, "1");
  });
  auto to = there->create_ns("o");
  there->write([&](WriteTxn& t) {
    for (auto e : carried) {
      e.seen_rev = t.version(tb, e.key);  // base there holds what the overlay saw here
      t.put_own(to, e);
    }
  });
  EXPECT_EQ(there->get(to, "a")->value, "2");
  EXPECT_FALSE(there->get(to, "b"));
  EXPECT_EQ(there->get(to, "c")->value, "1");
  there->read([&](const Reader& r) { EXPECT_TRUE(r.conflicts(to).empty()); });
  there->write([&](WriteTxn& t) {
    t.put(tb, "a", "3");
    t.put(tb, "c", "3");
  });
  std::vector<std::string> conflicting;
  there->read([&](const Reader& r) {
    for (auto& c : r.conflicts(to)) conflicting.push_back(c.key + (c.read_only ? " (read)" : ""));
  });
  EXPECT_EQ(conflicting, (std::vector<std::string>{"a", "c (read)"}));
  EXPECT_THROW(there->write([&](WriteTxn& t) { t.put_own(tb, carried[0]); }), Error);  // base has no own entries
  ws_->write([&](WriteTxn& t) {  // inside a write transaction, its own writes are among them
    t.put(o, "d", "new");
    EXPECT_EQ(t.own_entries(o).size(), 4u);
    EXPECT_EQ(t.diff(o).size(), 3u);  // a changed, b deleted, d added; c only read
  });
}

// Through overlays made before, among and after 30 siblings holding the same keys (values,
// tombstones, read marks), every get and listing sees its own chain only. Keys that share a prefix
// up to "\x01" check the ordering of one key against its extensions.
TEST_F(WorkspaceTest, ReadsAmongManySiblingsSeeOnlyTheirChain) {
  const std::vector<std::string> names{"k", "k\x01", "k\x01z", "ka", "kb"};
  for (auto& k : names) put(base_, k, "base");
  auto early = ws_->create_ns("early");
  put(early, "ka", "early");
  del(early, "kb");
  for (int s = 0; s < 30; ++s) {
    auto sib = ws_->create_ns("sib" + std::to_string(s));
    ws_->write([&](WriteTxn& t) {
      for (auto& k : names) s % 3 ? t.put(sib, k, "sib") : (void)t.del(sib, k);
    });
    if (s == 15) {
      ws_->write([&](WriteTxn& t) { t.put(early, "k", "early-late-write"); });
    }
  }
  auto child = ws_->create_ns("child", "early");  // after the siblings, above one before them
  put(child, "kb", "child");
  ws_->write([&](WriteTxn& t) { t.note_read(child, "k\x01"); });
  auto late = ws_->create_ns("late");
  del(late, "k\x01z");

  EXPECT_EQ(keys(early, "k"), (std::vector<std::string>{"k=early-late-write", "k\x01=base", "k\x01z=base", "ka=early"}));
  EXPECT_EQ(keys(child, "k"),
            (std::vector<std::string>{"k=early-late-write", "k\x01=base", "k\x01z=base", "ka=early", "kb=child"}));
  EXPECT_EQ(keys(late, "k"), (std::vector<std::string>{"k=base", "k\x01=base", "ka=base", "kb=base"}));
  EXPECT_EQ(keys(base_, "k"), (std::vector<std::string>{"k=base", "k\x01=base", "k\x01z=base", "ka=base", "kb=base"}));
  EXPECT_EQ(keys(late, "k\x01"), (std::vector<std::string>{"k\x01=base"}));
  EXPECT_EQ(get(child, "k\x01"), "base");  // a read mark is not a value: the chain below decides
  EXPECT_EQ(get(child, "kb"), "child");
  EXPECT_EQ(get(early, "kb"), std::nullopt);
  EXPECT_EQ(get(late, "k\x01z"), std::nullopt);
  EXPECT_EQ(get(late, "ka"), "base");
  EXPECT_EQ(get(ws_->ns("sib1"), "ka"), "sib");
  EXPECT_EQ(get(ws_->ns("sib0"), "ka"), std::nullopt);

  // A scan that writes as it goes, among the siblings: each key once, its writes read back.
  int seen = 0;
  ws_->write([&](WriteTxn& t) {
    t.scan(late, "k", [&](std::string_view k, const EntryView&) {
      t.put(late, std::string(k), "rewritten");
      ++seen;
      return true;
    });
  });
  EXPECT_EQ(seen, 4);
  EXPECT_EQ(keys(late, "k"), (std::vector<std::string>{"k=rewritten", "k\x01=rewritten", "ka=rewritten", "kb=rewritten"}));
}

// A read through a chain looks at the chain's entries only: the same gets and listings through an
// overlay look at exactly as many stored entries with 200 siblings holding the same keys (values,
// tombstones and read marks) as with none, and an overlay made after the siblings as many again.
TEST_F(WorkspaceTest, AReadLooksAtNoSiblingsEntries) {
  auto key = [](int i) { return "f:" + std::to_string(100 + i); };
  ws_->write([&](WriteTxn& t) {
    for (int i = 0; i < 20; ++i) t.put(base_, key(i), "base");
    t.put(base_, "g:after", "outside the prefix");
  });
  auto make_reader = [&](const std::string& name) {
    auto r = ws_->create_ns(name);
    ws_->write([&](WriteTxn& t) {
      for (int i = 0; i < 20; i += 2) t.put(r, key(i), name);
      t.del(r, key(1));
      t.note_read(r, key(3));
    });
    return r;
  };
  auto looks = [&](const Namespace& ns) {
    std::uint64_t n = 0;
    std::size_t listed = 0;
    ws_->read([&](const Reader& r) {
      for (int i = 0; i < 20; ++i) r.get(ns, key(i));
      r.scan(ns, "f:", [&](std::string_view, const EntryView&) { return ++listed, true; });
      n = r.entries_visited();
    });
    EXPECT_EQ(listed, 19u);  // key(1) is deleted
    return n;
  };
  const auto early = make_reader("early");
  const auto alone = looks(early);
  EXPECT_GT(alone, 0u);
  for (int s = 0; s < 200; ++s) {
    ws_->write([&](WriteTxn& t) {
      auto sib = t.create_ns("sib" + std::to_string(s));
      for (int i = 0; i < 20; ++i) s % 3 == 0 ? t.note_read(sib, key(i)) : s % 3 == 1 ? (void)t.del(sib, key(i)) : t.put(sib, key(i), "sib");
    });
  }
  EXPECT_EQ(looks(early), alone);
  EXPECT_EQ(looks(make_reader("late")), alone);
}

namespace raw {
void ok(int rc) { ASSERT_EQ(rc, MDB_SUCCESS) << mdb_strerror(rc); }
// An LMDB environment opened directly, for writing a layout the workspace no longer writes.
struct Env {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  explicit Env(const std::filesystem::path& dir) {
    ok(mdb_env_create(&env));
    ok(mdb_env_set_maxdbs(env, 8));
    ok(mdb_env_open(env, dir.c_str(), 0, 0600));
    ok(mdb_txn_begin(env, nullptr, 0, &txn));
  }
  ~Env() {
    if (txn) ok(mdb_txn_commit(txn));
    mdb_env_close(env);
  }
  int dbi(const char* name, unsigned flags, MDB_dbi* out) { return mdb_dbi_open(txn, name, flags, out); }
  void put_format(std::uint32_t f) {
    MDB_dbi meta;
    ok(dbi("meta", 0, &meta));
    std::string be{static_cast<char>(f >> 24), static_cast<char>(f >> 16), static_cast<char>(f >> 8), static_cast<char>(f)};
    MDB_val k{6, const_cast<char*>("format")}, v{4, be.data()};
    ok(mdb_put(txn, meta, &k, &v, 0));
  }
};
// Rewrites the workspace at dir into format 1, as a new environment whose map is map_bytes:
// entries keyed `key '\0' ns` in db kv, an own-key index in db own (its records are only dropped by
// the migration), no db entries; meta, ns, ns_names and log as they were.
void to_format_1(const std::filesystem::path& dir, std::size_t map_bytes = std::size_t{64} << 20) {
  const auto made = std::filesystem::path(dir.string() + ".format1");
  std::filesystem::create_directories(made);
  {
    Env from(dir);
    MDB_env* env = nullptr;
    ok(mdb_env_create(&env));
    ok(mdb_env_set_maxdbs(env, 8));
    ok(mdb_env_set_mapsize(env, map_bytes));
    ok(mdb_env_open(env, made.c_str(), 0, 0600));
    MDB_txn* to = nullptr;
    ok(mdb_txn_begin(env, nullptr, 0, &to));
    for (std::string name : {"meta", "ns", "ns_names", "log", "entries"}) {
      const bool entries = name == "entries";
      MDB_dbi s, d;
      ok(from.dbi(name.c_str(), 0, &s));
      ok(mdb_dbi_open(to, entries ? "kv" : name.c_str(), MDB_CREATE, &d));
      MDB_cursor* c;
      ok(mdb_cursor_open(from.txn, s, &c));
      MDB_val k, v;
      for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        std::string key(static_cast<const char*>(k.mv_data), k.mv_size);
        if (entries) key = key.substr(4) + '\0' + key.substr(0, 4);
        MDB_val mk{key.size(), key.data()};
        ok(mdb_put(to, d, &mk, &v, 0));
      }
      mdb_cursor_close(c);
    }
    MDB_dbi own;
    ok(mdb_dbi_open(to, "own", MDB_CREATE, &own));
    std::string idx(12, '\1');
    MDB_val ik{idx.size(), idx.data()}, iv{3, const_cast<char*>("old")};
    ok(mdb_put(to, own, &ik, &iv, 0));
    ok(mdb_txn_commit(to));
    mdb_env_close(env);
  }
  std::filesystem::remove_all(dir);
  std::filesystem::rename(made, dir);
  Env(dir).put_format(1);
}
}  // namespace raw

// A workspace written by the previous layout (format 1, key first) is migrated when it is opened
// for writing, in one transaction: every value, tombstone, read mark and seen revision kept (so
// merge's conflict rule judges as before), its old dbs gone. Read-only it is refused, naming the
// format, as is a format this remora does not know.
TEST(WorkspaceFormat, AFormatOneWorkspaceIsMigratedWhenOpenedForWriting) {
  test::TempDir dir;
  WorkspaceOptions o;
  o.dir = dir / "ws";
  o.durability = Durability::nosync;
  {
    auto ws = Workspace::open(o);
    auto base = ws->ns("base");
    ws->write([&](WriteTxn& t) {
      for (const char* k : {"a", "b", "c", "z"}) t.put(base, k, std::string("base-") + k);
    });
    auto ov = ws->create_ns("o");
    ws->write([&](WriteTxn& t) {
      t.put(ov, "a", "o-a");
      t.del(ov, "b");
      t.note_read(ov, "c");
    });
    auto sib = ws->create_ns("sib");
    ws->write([&](WriteTxn& t) { t.put(sib, "a", "sib-a"); });
    auto child = ws->create_ns("child", "o");
    ws->write([&](WriteTxn& t) { t.put(child, "d", "child-d"); });
  }
  raw::to_format_1(o.dir);

  auto refused = [](const WorkspaceOptions& opts, const std::string& naming) {
    try {
      Workspace::open(opts);
      ADD_FAILURE() << "opened; expected a refusal naming " << naming;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::corrupt);
      EXPECT_NE(std::string(e.what()).find(naming), std::string::npos) << e.what();
    }
  };
  WorkspaceOptions ro = o;
  ro.read_only = true;
  refused(ro, "format 1");

  {
    auto ws = Workspace::open(o);
    auto ov = ws->ns("o"), child = ws->ns("child"), sib = ws->ns("sib"), base = ws->ns("base");
    auto listing = [&](const Namespace& ns) {
      std::vector<std::string> out;
      for (auto& [k, e] : ws->list(ns, "")) out.push_back(k + "=" + e.value);
      return out;
    };
    EXPECT_EQ(listing(child), (std::vector<std::string>{"a=o-a", "c=base-c", "d=child-d", "z=base-z"}));
    EXPECT_EQ(listing(sib), (std::vector<std::string>{"a=sib-a", "b=base-b", "c=base-c", "z=base-z"}));
    EXPECT_EQ(ws->diff(ov).size(), 2u);  // a changed, b deleted; c only read
    ws->read([&](const Reader& r) { EXPECT_TRUE(r.conflicts(ov).empty()); });
    ws->write([&](WriteTxn& t) { t.put(base, "c", "moved"); });
    ws->read([&](const Reader& r) {
      auto cs = r.conflicts(ov);
      ASSERT_EQ(cs.size(), 1u);
      EXPECT_EQ(cs[0].key, "c");
      EXPECT_TRUE(cs[0].read_only);
    });
    ws->merge(child);
    EXPECT_EQ(ws->get(ov, "d")->value, "child-d");
    EXPECT_EQ(ws->revision(), 9u);  // 7 before the migration, which commits none of its own
  }
  {
    raw::Env e(o.dir);
    MDB_dbi d;
    EXPECT_EQ(e.dbi("kv", 0, &d), MDB_NOTFOUND);
    EXPECT_EQ(e.dbi("own", 0, &d), MDB_NOTFOUND);
    EXPECT_EQ(e.dbi("entries", 0, &d), MDB_SUCCESS);
    e.put_format(7);
  }
  refused(o, "format 7");
}

// A migration that does not fit the map grows it and starts again; one that cannot grow it past
// max_map_bytes is refused, naming the limit, and leaves format 1 as it was.
TEST(WorkspaceFormat, AMigrationThatFillsTheMapGrowsItOrIsRefusedWhole) {
  test::TempDir dir;
  WorkspaceOptions o;
  o.dir = dir / "ws";
  o.durability = Durability::nosync;
  std::size_t listed = 0;
  {
    auto ws = Workspace::open(o);
    auto base = ws->ns("base");
    auto ov = ws->create_ns("o");
    ws->write([&](WriteTxn& t) {
      for (int i = 0; i < 8000; ++i) t.put(base, "k:" + std::to_string(i), std::string(100, 'b'));
      for (int i = 0; i < 8000; i += 2) t.put(ov, "k:" + std::to_string(i), std::string(100, 'o'));
      for (int i = 1; i < 8000; i += 4) t.del(ov, "k:" + std::to_string(i));
    });
    listed = ws->list(ov, "k:").size();
  }
  std::size_t shrunk = 0;  // a map the data fits in with a quarter to spare: a second copy of the entries does not
  {
    raw::Env e(o.dir);
    MDB_envinfo info;
    mdb_env_info(e.env, &info);
    shrunk = (info.me_last_pgno + 1) * 4096 * 5 / 4 / 4096 * 4096;
  }
  raw::to_format_1(o.dir, shrunk);
  WorkspaceOptions capped = o;
  capped.max_map_bytes = shrunk;
  try {
    Workspace::open(capped);
    ADD_FAILURE() << "migrated within a map that cannot hold it";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::io);
    EXPECT_NE(std::string(e.what()).find(std::to_string(shrunk)), std::string::npos) << e.what();
  }
  {
    raw::Env e(o.dir);
    MDB_dbi d;
    EXPECT_EQ(e.dbi("kv", 0, &d), MDB_SUCCESS) << "the refused migration changed the environment";
  }
  auto ws = Workspace::open(o);
  EXPECT_GT(ws->map_size(), shrunk);
  EXPECT_EQ(ws->list(ws->ns("o"), "k:").size(), listed);
  EXPECT_EQ(ws->get(ws->ns("o"), "k:4")->value, std::string(100, 'o'));
  EXPECT_FALSE(ws->get(ws->ns("o"), "k:5"));
}

}  // namespace
}  // namespace remora
