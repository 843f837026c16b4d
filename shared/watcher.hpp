// Watcher: every change under a key prefix, in revision order, exactly once, starting from any
// revision the change log still holds (so a consumer that was down resumes where it stopped).
// Between commits it sleeps on its prefix's Doorbell slot (KeyClass): a commit by any process that
// touches a key under the prefix wakes it, and commits elsewhere (but for hash collisions) do not.
// Starting below the log's compaction point is an Error(Errc::compacted), never a silent gap.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "shared/doorbell.hpp"
#include "shared/workspace.hpp"

namespace remora {

class Watcher {
 public:
  using Clock = Doorbell::Clock;

  // from_revision: the first revision to deliver; by default, the next one to be committed.
  Watcher(Workspace& ws, std::string prefix, std::optional<std::uint64_t> from_revision = std::nullopt);

  // The next changes (at least one), or an empty vector once the deadline passes or after cancel().
  std::vector<Change> next(std::optional<Clock::time_point> deadline = std::nullopt);
  // Makes a next() blocked in another thread (and every later one) return empty. Thread-safe.
  void cancel();

  // The next revision this watcher will read.
  std::uint64_t position() const { return position_; }
  // The doorbell slot it sleeps on, and how many times the doorbell has woken it.
  std::size_t slot() const { return slot_; }
  std::uint64_t wakeups() const { return wakeups_; }

 private:
  Workspace& ws_;
  std::string prefix_;
  std::uint64_t position_;
  std::size_t slot_;
  std::atomic<std::uint64_t> wakeups_{0};
  std::atomic<bool> cancelled_{false};
};

// Waits until key is visible through ns and returns it; nothing once the deadline passes. For a
// waiter that needs the value, not the changes: after each ring of the key's doorbell slot it
// reads the key again, never the change log, so a wake costs the same however much other agents
// committed meanwhile (a Watcher would decode every change since its last look).
std::optional<Entry> await_key(Workspace& ws, const Namespace& ns, std::string_view key,
                               std::optional<Doorbell::Clock::time_point> deadline = std::nullopt);

}  // namespace remora
