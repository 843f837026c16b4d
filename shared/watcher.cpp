#include "shared/watcher.hpp"

namespace remora {

namespace {
constexpr std::size_t kPage = 4096;
}

Watcher::Watcher(Workspace& ws, std::string prefix, std::optional<std::uint64_t> from_revision)
    : ws_(ws), prefix_(std::move(prefix)), position_(from_revision ? *from_revision : ws.revision() + 1),
      slot_(KeyClass::watch_slot(prefix_)) {
  if (position_ < ws_.log_start()) ws_.changes(position_, prefix_, 1);  // throws the compacted error
}

void Watcher::cancel() {
  cancelled_ = true;
  ws_.doorbell().ring({static_cast<std::uint32_t>(slot_)});
}

std::vector<Change> Watcher::next(std::optional<Clock::time_point> deadline) {
  for (;;) {
    if (cancelled_) return {};
    // The ticket is taken before looking, so a commit landing after the look still wakes us.
    auto ticket = ws_.doorbell().ticket(slot_);
    auto page = ws_.changes(position_, prefix_, kPage);
    bool full_page = page.next_revision - position_ >= kPage;
    position_ = page.next_revision;
    if (!page.changes.empty()) return std::move(page.changes);
    if (full_page) continue;  // more log to read before sleeping
    if (!ws_.doorbell().wait(slot_, ticket, deadline)) return {};
    ++wakeups_;
  }
}

std::optional<Entry> await_key(Workspace& ws, const Namespace& ns, std::string_view key,
                               std::optional<Doorbell::Clock::time_point> deadline) {
  const auto slot = KeyClass::watch_slot(key);
  auto& bell = ws.doorbell();
  for (;;) {
    const auto ticket = bell.ticket(slot);  // before the look: a commit after it still wakes us
    if (auto e = ws.get(ns, key)) return e;
    if (!bell.wait(slot, ticket, deadline)) return std::nullopt;
  }
}

}  // namespace remora
