// The change feed: replay from a revision, prefix filters, wake-up by a commit from another
// thread, deadlines, and the explicit compacted error.
#include "shared/watcher.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "test_support.hpp"

namespace remora {
namespace {

using namespace std::chrono_literals;

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
