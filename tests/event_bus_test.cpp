#include "supervisor/event_bus.hpp"

#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace remora {
namespace {

using Clock = Subscription::Clock;
// Only ever an upper bound on waiting, so that a bug fails the test instead of hanging it.
constexpr auto kPatience = std::chrono::seconds(30);

proto::Event make_event(std::uint64_t rev, std::string category = "agent", std::string action = "started") {
  proto::Event e;
  e.id = "e" + std::to_string(rev);
  e.revision = rev;
  e.timestamp_ms = 1000 + static_cast<std::int64_t>(rev);
  e.category = std::move(category);
  e.action = std::move(action);
  e.graph_id = "g" + std::to_string(rev);
  e.session_id = "s" + std::to_string(rev);
  return e;
}

std::optional<proto::Event> next_now(Subscription& s) { return s.next(Clock::now()); }
std::optional<proto::Event> next_patient(Subscription& s) { return s.next(Clock::now() + kPatience); }

bool is_notice(const proto::Event& e) { return e.category == "events" && e.action == "dropped"; }

TEST(EventBusMatch, PatternTable) {
  struct Row {
    const char* pattern;
    const char* category;
    const char* action;
    bool expected;
  };
  const Row rows[] = {
      {"*", "agent", "started", true},
      {"*", "", "", true},
      {"agent:*", "agent", "started", true},
      {"agent:*", "agent", "failed", true},
      {"agent:*", "tool", "started", false},
      {"*:failed", "agent", "failed", true},
      {"*:failed", "tool", "failed", true},
      {"*:failed", "agent", "started", false},
      {"agent:started", "agent", "started", true},
      {"agent:started", "agent", "failed", false},
      {"agent:started", "tool", "started", false},
      {"*:*", "tool", "called", true},
      {"", "agent", "started", false},
      {"agent", "agent", "started", false},
      {"agent:", "agent", "started", false},
      {":started", "agent", "started", false},
      {"**", "agent", "started", false},
      {"agent*", "agent", "started", false},
      {"ag*:started", "agent", "started", false},
      {"agent:start*", "agent", "started", false},
      {"Agent:started", "agent", "started", false},
      {"agent:started:x", "agent", "started", false},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(event_matches(r.pattern, r.category, r.action), r.expected)
        << "pattern '" << r.pattern << "' on " << r.category << ":" << r.action;
  }
}

TEST(EventBusDelivery, RoutesByPatternToSeveralSubscribers) {
  EventBus bus;
  auto all = bus.subscribe("*");
  auto agents = bus.subscribe("agent:*");
  auto failures = bus.subscribe("*:failed");
  auto exact = bus.subscribe("agent:started");
  auto none = bus.subscribe("graph:finished");

  bus.publish(make_event(1, "agent", "started"));
  bus.publish(make_event(2, "tool", "failed"));
  bus.publish(make_event(3, "agent", "failed"));
  bus.publish(make_event(4, "model", "called"));

  auto revisions = [](Subscription& s) {
    std::vector<std::uint64_t> revs;
    while (auto e = next_now(s)) revs.push_back(e->revision);
    return revs;
  };
  EXPECT_EQ(all->queued(), 4u);
  EXPECT_EQ(revisions(*all), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(revisions(*agents), (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(revisions(*failures), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(revisions(*exact), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(none->queued(), 0u);
  EXPECT_FALSE(next_now(*none).has_value());

  // Delivered events are copies of what was published.
  bus.publish(make_event(5, "agent", "started"));
  auto e = next_patient(*exact);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(*e, make_event(5, "agent", "started"));
}

TEST(EventBusDelivery, UnsubscribeStopsDeliveryAndEndsReader) {
  EventBus bus;
  auto kept = bus.subscribe("*");
  auto gone = bus.subscribe("*");
  bus.publish(make_event(1));
  bus.unsubscribe(gone);
  bus.publish(make_event(2));

  auto first = next_patient(*gone);  // what was queued before unsubscribe is still readable
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->revision, 1u);
  EXPECT_FALSE(gone->next().has_value());  // no deadline: must return at once, not block
  EXPECT_EQ(kept->queued(), 2u);
}

TEST(EventBusBackpressure, SilentSubscriberStallsNeitherPublishNorOthers) {
  constexpr std::uint64_t kCount = 100000;
  constexpr std::size_t kSlowCapacity = 16;
  EventBus bus;
  auto slow = bus.subscribe("*", kSlowCapacity);  // never read until the end
  auto fast = bus.subscribe("*", kCount);         // room for everything: no drops whatever the scheduling

  auto reader = std::async(std::launch::async, [&] {
    std::vector<proto::Event> got;
    got.reserve(kCount);
    while (got.size() < kCount) {
      auto e = next_patient(*fast);
      if (!e) break;
      got.push_back(std::move(*e));
    }
    return got;
  });
  auto publisher = std::async(std::launch::async, [&] {
    for (std::uint64_t rev = 1; rev <= kCount; ++rev) bus.publish(make_event(rev));
  });
  ASSERT_EQ(publisher.wait_for(kPatience), std::future_status::ready) << "publish stalled";
  publisher.get();

  std::vector<proto::Event> got = reader.get();
  ASSERT_EQ(got.size(), kCount);
  for (std::uint64_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(got[i].revision, i + 1) << "at index " << i;
    ASSERT_FALSE(is_notice(got[i]));
  }

  EXPECT_EQ(slow->queued(), kSlowCapacity);
  for (std::uint64_t rev = 1; rev <= kSlowCapacity; ++rev) {
    auto e = next_now(*slow);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->revision, rev);
  }
  auto notice = next_now(*slow);
  ASSERT_TRUE(notice.has_value());
  ASSERT_TRUE(is_notice(*notice));
  EXPECT_EQ(nlohmann::json::parse(notice->payload_json),
            (nlohmann::json{{"count", kCount - kSlowCapacity},
                            {"first_revision", kSlowCapacity + 1},
                            {"last_revision", kCount}}));
  EXPECT_FALSE(next_now(*slow).has_value());
}

TEST(EventBusOverflow, DropNoticeAtTheRightPlaceThenLaterEvents) {
  EventBus bus;
  auto sub = bus.subscribe("*", 4);
  for (std::uint64_t rev = 1; rev <= 10; ++rev) bus.publish(make_event(rev));  // 5..10 do not fit
  EXPECT_EQ(sub->queued(), 4u);  // the pending notice is not counted

  for (std::uint64_t rev = 1; rev <= 3; ++rev) {
    auto e = next_now(*sub);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->revision, rev);
  }
  bus.publish(make_event(11));  // room again: queued after the notice
  bus.publish(make_event(12));

  const std::int64_t before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
  std::vector<proto::Event> rest;
  while (auto e = next_now(*sub)) rest.push_back(std::move(*e));
  ASSERT_EQ(rest.size(), 4u);
  EXPECT_EQ(rest[0].revision, 4u);

  const proto::Event& notice = rest[1];
  ASSERT_TRUE(is_notice(notice));
  EXPECT_EQ(notice.revision, 10u);
  EXPECT_EQ(notice.graph_id, "g10");
  EXPECT_EQ(notice.session_id, "s10");
  EXPECT_GE(notice.timestamp_ms, before_ms - 60000);  // wall-clock stamped, not left at zero
  EXPECT_EQ(nlohmann::json::parse(notice.payload_json),
            (nlohmann::json{{"count", 6}, {"first_revision", 5}, {"last_revision", 10}}));

  EXPECT_EQ(rest[2].revision, 11u);
  EXPECT_EQ(rest[3].revision, 12u);
  int notices = 0;
  for (const auto& e : rest) notices += is_notice(e) ? 1 : 0;
  EXPECT_EQ(notices, 1);
}

TEST(EventBusOverflow, NoticesAccountForEveryEventUnderConcurrentReading) {
  constexpr std::uint64_t kCount = 50000;
  EventBus bus;
  auto sub = bus.subscribe("*", 8);
  auto reader = std::async(std::launch::async, [&] {
    std::vector<proto::Event> got;
    while (auto e = next_patient(*sub)) got.push_back(std::move(*e));
    return got;
  });
  for (std::uint64_t rev = 1; rev <= kCount; ++rev) bus.publish(make_event(rev));
  bus.close();
  ASSERT_EQ(reader.wait_for(kPatience), std::future_status::ready);
  std::vector<proto::Event> got = reader.get();

  // Every revision is accounted for exactly once, in order: delivered, or inside one notice's range.
  std::uint64_t expected = 1;
  bool previous_was_notice = false;
  for (const auto& e : got) {
    if (is_notice(e)) {
      EXPECT_FALSE(previous_was_notice) << "two notices in a row";
      auto p = nlohmann::json::parse(e.payload_json);
      auto count = p.at("count").get<std::uint64_t>(), first = p.at("first_revision").get<std::uint64_t>(),
           last = p.at("last_revision").get<std::uint64_t>();
      ASSERT_EQ(first, expected);
      ASSERT_EQ(count, last - first + 1);
      ASSERT_EQ(e.revision, last);
      expected = last + 1;
      previous_was_notice = true;
    } else {
      ASSERT_EQ(e.revision, expected);
      ++expected;
      previous_was_notice = false;
    }
  }
  EXPECT_EQ(expected, kCount + 1);
}

TEST(EventBusClose, WakesBlockedNext) {
  EventBus bus;
  auto sub = bus.subscribe("*");
  auto reader = std::async(std::launch::async, [&] { return sub->next(); });  // no deadline
  bus.close();
  ASSERT_EQ(reader.wait_for(kPatience), std::future_status::ready) << "close() did not wake next()";
  EXPECT_FALSE(reader.get().has_value());
}

TEST(EventBusClose, DrainsQueuedEventsThenEnds) {
  EventBus bus;
  auto sub = bus.subscribe("*");
  bus.publish(make_event(1));
  bus.publish(make_event(2));
  bus.close();
  bus.publish(make_event(3));  // after close: not delivered

  auto a = sub->next();
  auto b = sub->next();
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(a->revision, 1u);
  EXPECT_EQ(b->revision, 2u);
  EXPECT_FALSE(sub->next().has_value());
}

TEST(EventBusDeadline, ReturnsNulloptWhenNothingArrives) {
  EventBus bus;
  auto sub = bus.subscribe("*");
  const auto deadline = Clock::now() + std::chrono::milliseconds(20);
  EXPECT_FALSE(sub->next(deadline).has_value());
  EXPECT_GE(Clock::now(), deadline);

  // A deadline already past still returns an event that is waiting.
  bus.publish(make_event(1));
  auto e = sub->next(Clock::now() - std::chrono::seconds(1));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->revision, 1u);
}

}  // namespace
}  // namespace remora
