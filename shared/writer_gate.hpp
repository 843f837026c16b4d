// WriterGate: keeps the supervisor's commits from queueing behind every other process's.
//
// LMDB has one writer lock, and a writer waits behind every process queued for it before: with
// sixteen workers committing, the supervisor's commit of an answer, a model reply or an agent's
// new state would wait for up to sixteen synced commits. Every writer but the supervisor holds
// the gate, a robust process-shared mutex in the workspace's doorbell file, across its whole
// write transaction, so at most one of them holds or waits for LMDB's lock at a time: the
// supervisor (which does not pass the gate) waits for at most one commit before its own.
//
// A process killed holding the gate frees it (robust mutex: the next one to pass is told, and
// goes on). Every process with the workspace open holds a shared OFD lock on the doorbell file's
// byte 0; one that opens it and finds no one else (an exclusive lock granted) makes the gate
// afresh, so a gate left held when the machine went down does not stop the next run. Openers
// look at the gate one at a time (an exclusive lock on byte 1), so one killed while making it
// leaves the next to make it again.
#pragma once

#include <filesystem>

#include "shared/unique_fd.hpp"

namespace remora {

class WriterGate {
 public:
  // Opens the gate in `doorbell_file` (created by Doorbell), initialising it if this process is
  // the only one with the workspace open.
  explicit WriterGate(const std::filesystem::path& doorbell_file);
  ~WriterGate();
  WriterGate(const WriterGate&) = delete;
  WriterGate& operator=(const WriterGate&) = delete;

  // Held from pass() until it goes away; by the thread that passed.
  class Pass {
   public:
    Pass() = default;
    Pass(Pass&& o) noexcept;
    Pass& operator=(Pass&& o) noexcept;  // lets go of what it held first
    ~Pass();
    // The previous holder died holding the gate: after its commit, it may not have rung.
    bool holder_died() const { return holder_died_; }

   private:
    friend class WriterGate;
    Pass(void* mutex, bool holder_died) : mutex_(mutex), holder_died_(holder_died) {}
    void* mutex_ = nullptr;
    bool holder_died_ = false;
  };
  // Blocks until this thread holds the gate.
  Pass pass();

  // Where in the doorbell file the gate lies (below the doorbell's slots, which start at 1024).
  static constexpr std::size_t kOffset = 256;

 private:
  UniqueFd fd_;  // holds the shared OFD lock while the workspace is open here
  void* page_ = nullptr;
  void* mutex_ = nullptr;
};

}  // namespace remora
