#include "shared/writer_gate.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "shared/error.hpp"

namespace remora {
namespace {

constexpr std::size_t kPage = 4096;
static_assert(WriterGate::kOffset % 64 == 0 && WriterGate::kOffset + sizeof(pthread_mutex_t) <= 1024);

Error failure(const std::filesystem::path& file, const std::string& what, int err) {
  return Error(Errc::io, "writer gate in " + file.string() + ": " + what + ": " + std::strerror(err));
}

// An OFD lock on one byte of the file; blocks while `wait`. Returns 0 or the error.
int lock(int fd, off_t byte, short type, bool wait) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  int rc;
  do rc = ::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : errno;
}

constexpr off_t kOpenersByte = 0;  // held shared by every process with the workspace open
constexpr off_t kSetupByte = 1;    // held exclusive by the one opener looking at the gate

}  // namespace

WriterGate::WriterGate(const std::filesystem::path& doorbell_file)
    : fd_(::open(doorbell_file.c_str(), O_RDWR | O_CLOEXEC)) {
  if (!fd_) throw failure(doorbell_file, "open", errno);
  page_ = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (page_ == MAP_FAILED) throw failure(doorbell_file, "mmap", errno);
  mutex_ = static_cast<char*>(page_) + kOffset;
  try {
    // One opener at a time looks at the gate: one killed while making it leaves the next to find
    // itself alone too, and make it again.
    if (const int rc = lock(fd_.get(), kSetupByte, F_WRLCK, true); rc != 0)
      throw failure(doorbell_file, "fcntl(F_OFD_SETLKW)", rc);
    // Alone (the exclusive lock granted): no other process can be using the gate, so it is made
    // afresh (it may have been held when the machine went down).
    const int alone = lock(fd_.get(), kOpenersByte, F_WRLCK, false);
    if (alone == 0) {
      pthread_mutexattr_t attr;
      pthread_mutexattr_init(&attr);
      pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
      pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
      std::memset(mutex_, 0, sizeof(pthread_mutex_t));
      const int rc = pthread_mutex_init(static_cast<pthread_mutex_t*>(mutex_), &attr);
      pthread_mutexattr_destroy(&attr);
      if (rc != 0) throw failure(doorbell_file, "pthread_mutex_init", rc);
    } else if (alone != EAGAIN && alone != EACCES) {
      throw failure(doorbell_file, "fcntl(F_OFD_SETLK)", alone);
    }
    // The shared lock every opener holds: granted at once (the exclusive one, if held, becomes
    // it atomically; no other opener holds it exclusive without the setup byte).
    if (const int rc = lock(fd_.get(), kOpenersByte, F_RDLCK, true); rc != 0)
      throw failure(doorbell_file, "fcntl(F_OFD_SETLKW)", rc);
    lock(fd_.get(), kSetupByte, F_UNLCK, false);
  } catch (...) {
    ::munmap(page_, kPage);
    throw;
  }
}

WriterGate::~WriterGate() { ::munmap(page_, kPage); }

WriterGate::Pass WriterGate::pass() {
  auto* m = static_cast<pthread_mutex_t*>(mutex_);
  const int rc = pthread_mutex_lock(m);
  // Its holder died inside its write (LMDB recovers its own lock and drops what was not
  // committed) or after its commit, maybe before ringing the doorbell: the caller is told.
  if (rc == EOWNERDEAD) {
    pthread_mutex_consistent(m);
    return Pass(m, true);
  }
  if (rc != 0) throw Error(Errc::io, std::string("passing the writer gate: ") + std::strerror(rc));
  return Pass(m, false);
}

WriterGate::Pass::Pass(Pass&& o) noexcept
    : mutex_(std::exchange(o.mutex_, nullptr)), holder_died_(o.holder_died_) {}

WriterGate::Pass& WriterGate::Pass::operator=(Pass&& o) noexcept {
  if (this != &o) {
    if (mutex_) pthread_mutex_unlock(static_cast<pthread_mutex_t*>(mutex_));
    mutex_ = std::exchange(o.mutex_, nullptr);
    holder_died_ = o.holder_died_;
  }
  return *this;
}

WriterGate::Pass::~Pass() {
  if (mutex_) pthread_mutex_unlock(static_cast<pthread_mutex_t*>(mutex_));
}

}  // namespace remora
