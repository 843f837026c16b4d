// EventHub: the event log, live, for many readers at once. One thread follows event:* with a
// Watcher and hands each new event to every subscriber's bounded queue; it never waits for a
// subscriber, so a slow reader (a browser on a bad network) never slows the supervisor or the
// others: when its queue is full, events are dropped for it and counted.
//
// What a subscriber missed before it subscribed is replayed from the event records (they stay in
// base); subscribe() says up to where, and everything after comes through the queue, so nothing
// is delivered twice or lost between the two.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "proto/records.hpp"
#include "shared/watcher.hpp"
#include "shared/workspace.hpp"

namespace remora {

// Where an event stands in the log: its revision and its sequence number in that revision.
struct EventPosition {
  std::uint64_t revision = 0;
  std::uint32_t seq = 0;
  bool operator<(const EventPosition& o) const { return revision != o.revision ? revision < o.revision : seq < o.seq; }
  bool operator<=(const EventPosition& o) const { return !(o < *this); }
  // "12-0" (an event's id) or "12" (every event of revision 12 and before); nullopt otherwise.
  static std::optional<EventPosition> parse(std::string_view text);
};
EventPosition position_of(const proto::Event& e);

class EventHub {
 public:
  // What a subscriber takes from its queue at once.
  struct Batch {
    std::vector<proto::Event> events;
    std::uint64_t dropped = 0;  // events dropped since the last take (queue full)
    bool compacted = false;     // the hub fell behind the change log: reload and replay
    bool closed = false;        // the hub stops
  };

  class Subscriber {
   public:
    explicit Subscriber(std::size_t limit) : limit_(limit) {}
    // Waits until something is queued, the deadline passes (an empty batch) or the hub stops.
    Batch take(std::chrono::steady_clock::time_point deadline);
    std::uint64_t dropped_total() const;

   private:
    friend class EventHub;
    void push(const proto::Event& e);
    void mark(bool compacted, bool closed);
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::deque<proto::Event> queue_;
    std::size_t limit_;
    std::uint64_t dropped_ = 0, dropped_total_ = 0;
    bool compacted_ = false, closed_ = false;
  };

  struct Subscription {
    std::shared_ptr<Subscriber> subscriber;
    // Events at or before this position come from the event records, not the queue.
    EventPosition replay_to;
  };

  EventHub(Workspace& ws, std::size_t queue_limit);
  ~EventHub();  // stops the thread; every subscriber's take() returns closed
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Called on the hub's thread after each fan-out of new events (and when the hub is compacted
  // or closed): wakes whoever writes the subscribers' queues out. Set it before subscribing.
  void on_delivery(std::function<void()> fn);

  Subscription subscribe();
  // Ends every subscriber's stream (take() returns closed), and those subscribing later: the server stops.
  void close();
  void unsubscribe(const std::shared_ptr<Subscriber>& s);

  std::size_t subscribers() const;
  std::uint64_t dropped_total() const;  // over every subscriber, past and present

 private:
  void follow();
  void delivered();
  std::function<void()> on_delivery_;
  Workspace& ws_;
  std::size_t queue_limit_;
  mutable std::mutex m_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  EventPosition delivered_;  // the last event handed to the queues (or read before the hub started)
  std::uint64_t dropped_gone_ = 0;  // drops of subscribers that left
  bool stopping_ = false;
  bool closed_ = false;
  std::unique_ptr<Watcher> watcher_;  // replaced (under m_) when it falls behind compaction
  std::thread thread_;
};

// The events recorded after `after` up to and including `upto`, from the event records.
std::vector<proto::Event> recorded_events(const Workspace& ws, EventPosition after, EventPosition upto);

}  // namespace remora
