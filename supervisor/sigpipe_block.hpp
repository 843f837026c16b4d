// SigpipeBlock: keeps SIGPIPE from killing the process while this thread writes to a socket whose
// peer may have gone (cpp-httplib, as Debian builds it, sends without MSG_NOSIGNAL). It blocks
// SIGPIPE in the calling thread only, never touching the process-wide disposition (which child
// processes would inherit), and on destruction discards a SIGPIPE raised meanwhile and restores
// the thread's mask. Threads started while it is alive inherit the blocked mask.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace remora {

class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &saved_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec now{0, 0};
      sigtimedwait(&pipe_, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t saved_;
  bool was_pending_ = false;
};

}  // namespace remora
