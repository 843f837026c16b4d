// Doorbell: wakes every process watching a workspace when any process commits to it.
//
// A 32-bit sequence word lives in a small file beside the LMDB environment, mapped shared with
// Boost.Interprocess. A committer increments it and, if anyone is waiting, issues FUTEX_WAKE; a
// watcher takes a ticket (the current sequence), checks the change log, and sleeps in FUTEX_WAIT
// only while the sequence still equals its ticket. No lock is ever held, so a process killed at
// any instruction cannot wedge the others (an interprocess mutex is not robust), and no wake-up
// is lost: a commit is made before the ring, and a watcher reads its ticket before it looks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

namespace boost::interprocess {
class mapped_region;
}

namespace remora {

class Doorbell {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Doorbell(const std::filesystem::path& file);
  ~Doorbell();
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;

  // The current sequence; pass it to wait() after checking for work.
  std::uint32_t ticket() const;
  // Wakes every waiter in every process.
  void ring();
  // Blocks until the sequence differs from `ticket` (returns true) or the deadline passes
  // (returns false). Spurious returns are possible; callers re-check their condition.
  bool wait(std::uint32_t ticket, std::optional<Clock::time_point> deadline = std::nullopt);

 private:
  std::unique_ptr<boost::interprocess::mapped_region> region_;
  std::atomic<std::uint32_t>* sequence_ = nullptr;
  std::atomic<std::uint32_t>* waiters_ = nullptr;
};

}  // namespace remora
