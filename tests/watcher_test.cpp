// The change feed: replay from a revision, prefix filters, wake-up by a commit from another
// thread, deadlines, and the explicit compacted error.
#include "shared/watcher.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "test_support.hpp"

namespace remora {
namespace {

using namespace std::chrono_literals;

// Whether a commit touching key rings the slot.
bool rings(const std::string& key, std::size_t slot) {
  KeyClass::Slots slots;
  KeyClass::add_ring_slots(key, slots);
  return std::find(slots.begin(), slots.end(), slot) != slots.end();
}

struct WatcherTest : ::testing::Test {
  void SetUp() override {
    WorkspaceOptions o;
    o.dir = dir.path();
    o.durability = Durability::nosync;
    ws = Workspace::open(o);
    base = ws->ns("base");
  }
  test::TempDir dir;
  std::unique_ptr<Workspace> ws;
  Namespace base;
};

TEST_F(WatcherTest, ReplaysFromARevisionInOrderWithPrefixFilter) {
  auto o = ws->create_ns("agent");
  ws->write([&](WriteTxn& t) {
    t.put(o, "outbox:question:1", "q");
    t.put(o, "file:x", "f");
  });
  ws->write([&](WriteTxn& t) { t.put(o, "outbox:model:2", "m"); });
  Watcher w(*ws, "outbox:", 1);
  auto got = w.next(Watcher::Clock::now() + 5s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, "outbox:question:1");
  EXPECT_EQ(got[0].ns_name, "agent");
  EXPECT_EQ(got[0].op, proto::ChangeOp::put);
  EXPECT_EQ(got[1].key, "outbox:model:2");
  EXPECT_LT(got[0].revision, got[1].revision);
  EXPECT_EQ(w.position(), ws->revision() + 1);
  // Nothing new: the deadline passes and an empty batch comes back.
  EXPECT_TRUE(w.next(Watcher::Clock::now() + 20ms).empty());
}

TEST_F(WatcherTest, ACommitFromAnotherThreadWakesTheWatcher) {
  Watcher w(*ws, "inbox:");
  std::thread writer([&] {
    // No sleep: the watcher may or may not be asleep yet; either way it must see the change.
    ws->write([&](WriteTxn& t) { t.put(base, "file:unrelated", "x"); });
    ws->write([&](WriteTxn& t) { t.put(base, "inbox:response:1", "yes"); });
  });
  auto got = w.next(Watcher::Clock::now() + 30s);
  writer.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "inbox:response:1");
}

TEST_F(WatcherTest, ACommitOnOnePrefixDoesNotWakeAWatcherOfAnother) {
  // Two agents' inboxes: distinct doorbell slots (checked, so the test does not rest on luck).
  Watcher mine(*ws, "inbox:model:agent-1");
  const auto other_key = "inbox:model:agent-2";
  ASSERT_FALSE(rings(other_key, mine.slot()));
  ASSERT_TRUE(rings("inbox:model:agent-1", mine.slot()));

  std::uint64_t woken = 0;
  std::vector<Change> got;
  std::thread watcher([&] {
    got = mine.next(Watcher::Clock::now() + 60s);
    woken = mine.wakeups();
  });
  // Until the watcher sleeps on its slot (bounded by a deadline, no sleeping here).
  const auto deadline = Watcher::Clock::now() + 60s;
  while (ws->doorbell().waiters(mine.slot()) == 0 && Watcher::Clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(ws->doorbell().waiters(mine.slot()), 1u);
  const auto before = ws->doorbell().ticket(mine.slot());
  for (int i = 0; i < 100; ++i) ws->write([&](WriteTxn& t) { t.put(base, other_key, std::to_string(i)); });
  EXPECT_EQ(ws->doorbell().ticket(mine.slot()), before) << "another agent's commits rang this watcher's slot";
  ws->write([&](WriteTxn& t) { t.put(base, "inbox:model:agent-1", "reply"); });
  watcher.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "inbox:model:agent-1");
  EXPECT_EQ(woken, 1u) << "woken by commits it does not watch";
}

TEST_F(WatcherTest, AWatcherOfEverythingIsWokenByAnyCommit) {
  Watcher all(*ws, "");
  for (auto key : {"inbox:model:agent-2", "file:src/x.cpp", "event:0000000001:0"}) EXPECT_TRUE(rings(key, all.slot())) << key;
  // A prefix's slot is rung by every key under it, however long the prefix.
  const std::string long_prefix = "file:" + std::string(100, 'd') + "/";
  EXPECT_TRUE(rings(long_prefix + "leaf.txt", KeyClass::watch_slot(long_prefix)));
  EXPECT_TRUE(rings(long_prefix + "leaf.txt", KeyClass::watch_slot("file:")));
  EXPECT_TRUE(rings(long_prefix + "leaf.txt", KeyClass::watch_slot(long_prefix + "le")));
}

TEST_F(WatcherTest, EveryChangeExactlyOnceAcrossManyCommits) {
  Watcher w(*ws, "k/", 1);
  constexpr int kCommits = 5000;
  std::thread writer([&] {
    for (int i = 0; i < kCommits; ++i) ws->write([&](WriteTxn& t) { t.put(base, "k/" + std::to_string(i), "v"); });
  });
  int expected = 0;
  while (expected < kCommits) {
    auto got = w.next(Watcher::Clock::now() + 30s);
    ASSERT_FALSE(got.empty()) << "watcher stalled at " << expected;
    for (auto& c : got) {
      ASSERT_EQ(c.key, "k/" + std::to_string(expected));
      ++expected;
    }
  }
  writer.join();
  EXPECT_EQ(expected, kCommits);
}

TEST_F(WatcherTest, StartingBelowTheCompactionPointIsAnError) {
  for (int i = 0; i < 5; ++i) ws->write([&](WriteTxn& t) { t.put(base, "k", std::to_string(i)); });
  ws->compact(4);
  EXPECT_NO_THROW(Watcher(*ws, "", 4));
  try {
    Watcher w(*ws, "", 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::compacted);
  }
  Watcher late(*ws, "", 4);
  ws->compact(6);  // compacted under a live watcher: the next read says so
  EXPECT_THROW(late.next(Watcher::Clock::now() + 1s), Error);
}

TEST_F(WatcherTest, NamespaceLifecycleAppearsInTheLog) {
  Watcher w(*ws, "", 1);
  ws->create_ns("a");
  ws->drop_ns("a");
  auto got = w.next(Watcher::Clock::now() + 5s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].op, proto::ChangeOp::ns_create);
  EXPECT_EQ(got[1].op, proto::ChangeOp::ns_drop);
  EXPECT_EQ(got[1].ns_name, "a");
}

}  // namespace
}  // namespace remora
