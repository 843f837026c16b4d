// Doorbell: wakes the processes watching a workspace when a process commits what they watch.
//
// A table of KeyClass::kSlots slots, each a 32-bit sequence word and a waiter count, lives in a
// small file beside the LMDB environment, mapped shared with Boost.Interprocess. A committer
// increments the sequence of every slot its keys ring (KeyClass) and, for those with waiters,
// issues FUTEX_WAKE; a watcher takes a ticket (its slot's sequence), checks the change log, and
// sleeps in FUTEX_WAIT only while that sequence still equals its ticket. Ringing and watching
// take no lock, so a process killed at any instruction cannot wedge the others, and no wake-up is
// lost: a commit is made before the ring, and a watcher reads its ticket before it looks. (The
// same file holds the writer gate, a robust mutex below the slots: shared/writer_gate.hpp.)
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "shared/key_class.hpp"

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

  // The current sequence of a slot (KeyClass::watch_slot); pass it to wait() after checking for work.
  std::uint32_t ticket(std::size_t slot) const;
  // Wakes the waiters of these slots in every process (each slot once, however often listed).
  void ring(KeyClass::Slots slots);
  // Wakes every waiter in every process.
  void ring_all();
  // Blocks until the slot's sequence differs from `ticket` (returns true) or the deadline passes
  // (returns false). Spurious returns are possible; callers re-check their condition.
  bool wait(std::size_t slot, std::uint32_t ticket, std::optional<Clock::time_point> deadline = std::nullopt);
  // How many threads, in all processes, are inside wait() on the slot (for tests).
  std::uint32_t waiters(std::size_t slot) const;

 private:
  struct Slot;
  Slot& slot(std::size_t i) const;

  std::unique_ptr<boost::interprocess::mapped_region> region_;
  Slot* slots_ = nullptr;
};

}  // namespace remora
