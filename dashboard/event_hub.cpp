#include "dashboard/event_hub.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"

namespace remora {

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// The position of the last event recorded now (zero when there is none).
EventPosition last_recorded(const Workspace& ws) {
  EventPosition last;
  ws.read([&](const Reader& r) {
    r.scan(ws.ns(keys::kBase), keys::kEvent, [&](std::string_view key, const Entry& e) {
      last = position_of(proto::decode<proto::Event>(e.value, key));
      return true;
    });
  });
  return last;
}

}  // namespace

std::optional<EventPosition> EventPosition::parse(std::string_view text) {
  EventPosition p;
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    if (!parse_number(text, p.revision)) return std::nullopt;
    p.seq = UINT32_MAX;
    return p;
  }
  if (!parse_number(text.substr(0, dash), p.revision) || !parse_number(text.substr(dash + 1), p.seq)) return std::nullopt;
  return p;
}

EventPosition position_of(const proto::Event& e) {
  EventPosition p{e.revision, 0};
  const auto dash = e.id.find('-');
  if (dash != std::string::npos) parse_number(std::string_view(e.id).substr(dash + 1), p.seq);
  return p;
}

std::vector<proto::Event> recorded_events(const Workspace& ws, EventPosition after, EventPosition upto) {
  std::vector<proto::Event> out;
  // Keys are event:<revision, 20 digits>:<seq>: start the scan at the revision after `after`.
  const auto base = ws.ns(keys::kBase);
  ws.read([&](const Reader& r) {
    r.scan(base, keys::kEvent, [&](std::string_view key, const Entry& e) {
      auto ev = proto::decode<proto::Event>(e.value, key);
      const auto p = position_of(ev);
      if (upto < p) return false;
      if (after < p) out.push_back(std::move(ev));
      return true;
    });
  });
  return out;
}

EventHub::Batch EventHub::Subscriber::take(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(m_);
  cv_.wait_until(lock, deadline, [&] { return !queue_.empty() || dropped_ || compacted_ || closed_; });
  Batch b;
  b.events.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  b.dropped = std::exchange(dropped_, 0);
  b.compacted = std::exchange(compacted_, false);
  b.closed = closed_;
  return b;
}

std::uint64_t EventHub::Subscriber::dropped_total() const {
  std::lock_guard lock(m_);
  return dropped_total_;
}

void EventHub::Subscriber::push(const proto::Event& e) {
  {
    std::lock_guard lock(m_);
    if (queue_.size() >= limit_) {
      ++dropped_;
      ++dropped_total_;
      return;
    }
    queue_.push_back(e);
  }
  cv_.notify_one();
}

void EventHub::Subscriber::mark(bool compacted, bool closed) {
  {
    std::lock_guard lock(m_);
    compacted_ = compacted_ || compacted;
    closed_ = closed_ || closed;
  }
  cv_.notify_one();
}

EventHub::EventHub(Workspace& ws, std::size_t queue_limit)
    : ws_(ws), queue_limit_(queue_limit), watcher_(std::make_unique<Watcher>(ws, std::string(keys::kEvent))) {
  // The watcher starts at the next revision: everything recorded before it is replayed from the
  // records (an event is committed with its revision, so none can fall between the two).
  delivered_ = last_recorded(ws_);
  thread_ = std::thread([this] { follow(); });
}

EventHub::~EventHub() {
  {
    std::lock_guard lock(m_);
    stopping_ = true;
    watcher_->cancel();
  }
  thread_.join();
  std::lock_guard lock(m_);
  for (auto& s : subscribers_) s->mark(false, true);
}

void EventHub::on_delivery(std::function<void()> fn) {
  std::lock_guard lock(m_);
  on_delivery_ = std::move(fn);
}

void EventHub::delivered() {
  if (on_delivery_) on_delivery_();
}

EventHub::Subscription EventHub::subscribe() {
  std::lock_guard lock(m_);
  auto s = std::make_shared<Subscriber>(queue_limit_);
  if (closed_) s->mark(false, true);
  subscribers_.push_back(s);
  return {s, delivered_};
}

void EventHub::close() {
  std::lock_guard lock(m_);
  closed_ = true;
  for (auto& s : subscribers_) s->mark(false, true);
  delivered();
}

void EventHub::unsubscribe(const std::shared_ptr<Subscriber>& s) {
  std::lock_guard lock(m_);
  std::erase(subscribers_, s);
  dropped_gone_ += s->dropped_total();
}

std::size_t EventHub::subscribers() const {
  std::lock_guard lock(m_);
  return subscribers_.size();
}

std::uint64_t EventHub::dropped_total() const {
  std::lock_guard lock(m_);
  std::uint64_t n = dropped_gone_;
  for (const auto& s : subscribers_) n += s->dropped_total();
  return n;
}

void EventHub::follow() {
  const auto base = ws_.ns(keys::kBase);
  for (;;) {
    std::vector<Change> changes;
    try {
      changes = watcher_->next();
    } catch (const Error& e) {
      if (e.code() != Errc::compacted) {
        spdlog::error("dashboard: following the event log failed: {}", e.what());
        return;
      }
      // Fell behind the change log: start over from the records' end; subscribers reload.
      std::lock_guard lock(m_);
      if (stopping_) return;
      watcher_ = std::make_unique<Watcher>(ws_, std::string(keys::kEvent));
      delivered_ = last_recorded(ws_);
      for (auto& s : subscribers_) s->mark(true, false);
      delivered();
      continue;
    }
    if (changes.empty()) return;  // cancelled
    bool any = false;
    for (const auto& c : changes) {
      if (c.op != proto::ChangeOp::put) continue;
      auto e = ws_.get(base, c.key);
      if (!e) continue;  // deleted since (a run started over)
      auto ev = proto::decode<proto::Event>(e->value, c.key);
      std::lock_guard lock(m_);
      if (position_of(ev) <= delivered_) continue;
      delivered_ = position_of(ev);
      for (auto& s : subscribers_) s->push(ev);
      any = true;
    }
    if (any) {
      std::lock_guard lock(m_);
      delivered();
    }
  }
}

}  // namespace remora
