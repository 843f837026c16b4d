// EventBus: delivers the supervisor's events to in-process subscribers by pattern.
//
// Patterns: "*" (everything), "agent:*" (a category), "*:failed" (an action), or an exact name
// "agent:started". publish() never blocks and never waits for a subscriber: each subscription
// has its own bounded queue. When a queue is full the event is not queued; the subscriber's next
// read returns first a synthetic event named "events:dropped" whose payload is
// {"count": N, "first_revision": R1, "last_revision": R2} (the revisions of the dropped events),
// so it can catch up from the workspace's event log, which never loses an event.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/records.hpp"

namespace remora {

// Whether an event's category and action match a pattern: `*`, or CATEGORY:ACTION with each part
// a name or `*` (agent:*, *:failed, agent:started).
bool event_matches(std::string_view pattern, std::string_view category, std::string_view action);
// Throws Error(invalid_argument) naming a pattern that could match no event.
void check_event_pattern(std::string_view pattern);

class EventBus;

class Subscription {
 public:
  using Clock = std::chrono::steady_clock;
  // The next event, waiting until the deadline (nullopt then). Returns nullopt at once after
  // the bus is closed and the queue is drained.
  std::optional<proto::Event> next(std::optional<Clock::time_point> deadline = std::nullopt);
  // Events waiting, not counting a pending drop notice.
  std::size_t queued() const;
  // Whether the bus is closed (next() then ends once the queue is drained).
  bool closed() const {
    std::lock_guard lk(mu_);
    return closed_;
  }

 private:
  friend class EventBus;
  Subscription(std::string pattern, std::size_t capacity) : pattern_(std::move(pattern)), capacity_(capacity) {}
  std::string pattern_;
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<proto::Event> queue_;
  std::uint64_t dropped_ = 0, first_dropped_rev_ = 0, last_dropped_rev_ = 0;
  bool closed_ = false;
};

class EventBus {
 public:
  std::shared_ptr<Subscription> subscribe(std::string pattern, std::size_t capacity = 4096);
  void unsubscribe(const std::shared_ptr<Subscription>& s);
  void publish(const proto::Event& e);  // never blocks on a subscriber
  void close();                         // wakes every subscriber; later next() calls drain and end

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subs_;
  bool closed_ = false;
};

}  // namespace remora
