#include "supervisor/event_bus.hpp"

#include "shared/error.hpp"

#include <nlohmann/json.hpp>

namespace remora {

// How a drop notice is kept: it is a queued event, placed at the back of the queue when the first
// event goes missing, so the reader meets it exactly where the gap is. While it is the last entry
// and dropped_ > 0 it is "open": further drops are counted into it (and it may sit one place beyond
// capacity). The next event that fits seals it (count, revisions, timestamp) and is queued after it;
// a reader that pops the open notice seals it itself. A sealed notice takes a queue slot like any
// event. Each notice therefore covers one contiguous run of this subscriber's events.
namespace {

bool part_matches(std::string_view pattern, std::string_view value) { return pattern == "*" || pattern == value; }

void seal_notice(proto::Event& notice, std::uint64_t count, std::uint64_t first, std::uint64_t last) {
  notice.revision = last;
  notice.timestamp_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  notice.payload_json =
      nlohmann::json{{"count", count}, {"first_revision", first}, {"last_revision", last}}.dump();
}

}  // namespace

bool event_matches(std::string_view pattern, std::string_view category, std::string_view action) {
  if (pattern == "*") return true;
  auto colon = pattern.find(':');
  if (colon == std::string_view::npos) return false;
  auto cat = pattern.substr(0, colon), act = pattern.substr(colon + 1);
  if (cat.empty() || act.empty()) return false;
  return part_matches(cat, category) && part_matches(act, action);
}

void check_event_pattern(std::string_view pattern) {
  if (pattern == "*") return;
  const auto colon = pattern.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == pattern.size() ||
      pattern.find(':', colon + 1) != std::string_view::npos)
    throw Error(Errc::invalid_argument, "event pattern '" + std::string(pattern) +
                                            "' is not * or CATEGORY:ACTION (e.g. agent:*, *:failed, agent:started)");
}

std::optional<proto::Event> Subscription::next(std::optional<Clock::time_point> deadline) {
  std::unique_lock lock(mu_);
  auto ready = [this] { return !queue_.empty() || closed_; };
  if (!deadline) {
    cv_.wait(lock, ready);
  } else if (!cv_.wait_until(lock, *deadline, ready)) {
    return std::nullopt;
  }
  if (queue_.empty()) return std::nullopt;  // closed and drained
  proto::Event e = std::move(queue_.front());
  queue_.pop_front();
  if (queue_.empty() && dropped_ > 0) {  // that was the open drop notice
    seal_notice(e, dropped_, first_dropped_rev_, last_dropped_rev_);
    dropped_ = 0;
  }
  return e;
}

std::size_t Subscription::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size() - (dropped_ > 0 ? 1 : 0);
}

std::shared_ptr<Subscription> EventBus::subscribe(std::string pattern, std::size_t capacity) {
  std::shared_ptr<Subscription> s(new Subscription(std::move(pattern), capacity));
  std::lock_guard lock(mu_);
  s->closed_ = closed_;  // subscribing to a closed bus gives a subscription that ends at once
  subs_.push_back(s);
  return s;
}

void EventBus::unsubscribe(const std::shared_ptr<Subscription>& s) {
  {
    std::lock_guard lock(mu_);
    std::erase(subs_, s);
  }
  if (!s) return;
  {
    std::lock_guard lock(s->mu_);
    s->closed_ = true;  // a reader still holding it drains what is queued, then ends
  }
  s->cv_.notify_all();
}

void EventBus::publish(const proto::Event& e) {
  std::lock_guard bus_lock(mu_);
  for (const auto& s : subs_) {
    if (!event_matches(s->pattern_, e.category, e.action)) continue;
    {
      std::lock_guard lock(s->mu_);
      if (s->closed_) continue;
      const bool open = s->dropped_ > 0;  // the open notice is queue_.back(), outside capacity
      if (s->queue_.size() - (open ? 1 : 0) < s->capacity_) {
        if (open) {
          seal_notice(s->queue_.back(), s->dropped_, s->first_dropped_rev_, s->last_dropped_rev_);
          s->dropped_ = 0;
        }
        s->queue_.push_back(e);
      } else {
        if (!open) {
          proto::Event& notice = s->queue_.emplace_back();
          notice.category = "events";
          notice.action = "dropped";
          s->first_dropped_rev_ = e.revision;
        }
        ++s->dropped_;
        s->last_dropped_rev_ = e.revision;
        s->queue_.back().graph_id = e.graph_id;
        s->queue_.back().session_id = e.session_id;
      }
    }
    s->cv_.notify_one();
  }
}

void EventBus::close() {
  std::lock_guard bus_lock(mu_);
  closed_ = true;
  for (const auto& s : subs_) {
    {
      std::lock_guard lock(s->mu_);
      s->closed_ = true;
    }
    s->cv_.notify_all();
  }
}

}  // namespace remora
