// Watcher: every change under a key prefix, in revision order, exactly once, starting from any
// revision the change log still holds (so a consumer that was down resumes where it stopped).
// Between commits it sleeps on the workspace Doorbell; a commit by any process wakes it.
// Starting below the log's compaction point is an Error(Errc::compacted), never a silent gap.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

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

 private:
  Workspace& ws_;
  std::string prefix_;
  std::uint64_t position_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace remora
