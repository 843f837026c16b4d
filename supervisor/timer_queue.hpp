// TimerQueue: at most one deadline per key, the earliest found in O(1) and each set, erase or
// expiry in O(log n). The supervisor keeps its agents' timers (run timeout, heartbeat, SIGKILL
// after the grace period, restart backoff) and its questions' timeouts here, so that a pass of
// its loop looks only at what is due, not at every agent of the graph.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace remora {

template <typename Key, typename TimePoint>
class TimerQueue {
 public:
  // key is due at t (replacing the deadline it had).
  void set(const Key& key, TimePoint t) {
    auto [it, fresh] = at_.try_emplace(key, t);
    if (!fresh) {
      if (it->second == t) return;
      order_.erase({it->second, key});
      it->second = t;
    }
    order_.emplace(t, key);
  }
  void erase(const Key& key) {
    auto it = at_.find(key);
    if (it == at_.end()) return;
    order_.erase({it->second, key});
    at_.erase(it);
  }
  std::optional<TimePoint> earliest() const {
    if (order_.empty()) return std::nullopt;
    return order_.begin()->first;
  }
  // The keys due at now (deadline <= now), earliest first, removed from the queue.
  std::vector<Key> take_due(TimePoint now) {
    std::vector<Key> due;
    while (!order_.empty() && order_.begin()->first <= now) {
      due.push_back(order_.begin()->second);
      at_.erase(order_.begin()->second);
      order_.erase(order_.begin());
    }
    return due;
  }
  std::size_t size() const { return at_.size(); }

 private:
  std::map<Key, TimePoint> at_;
  std::set<std::pair<TimePoint, Key>> order_;
};

}  // namespace remora
