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

// An OFD lock on the file's first byte; blocks while `wait`.
int lock(int fd, short type, bool wait) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 1;
  int rc;
  do rc = ::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : errno;
}

}  // namespace

WriterGate::WriterGate(const std::filesystem::path& doorbell_file)
    : fd_(::open(doorbell_file.c_str(), O_RDWR | O_CLOEXEC)) {
  if (!fd_) throw failure(doorbell_file, "open", errno);
  page_ = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (page_ == MAP_FAILED) throw failure(doorbell_file, "mmap", errno);
  mutex_ = static_cast<char*>(page_) + kOffset;
  // Alone (the exclusive lock granted): no other process can be using the gate, so it is made
  // afresh. Otherwise the first opener has made it: its exclusive lock is given up only after.
  const int alone = lock(fd_.get(), F_WRLCK, false);
  if (alone == 0) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    std::memset(mutex_, 0, sizeof(pthread_mutex_t));
    const int rc = pthread_mutex_init(static_cast<pthread_mutex_t*>(mutex_), &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
      ::munmap(page_, kPage);
      throw failure(doorbell_file, "pthread_mutex_init", rc);
    }
  } else if (alone != EAGAIN && alone != EACCES) {
    ::munmap(page_, kPage);
    throw failure(doorbell_file, "fcntl(F_OFD_SETLK)", alone);
  }
  // The shared lock every opener holds (the exclusive one, if held, becomes it atomically).
  if (const int rc = lock(fd_.get(), F_RDLCK, true); rc != 0) {
    ::munmap(page_, kPage);
    throw failure(doorbell_file, "fcntl(F_OFD_SETLKW)", rc);
  }
}

WriterGate::~WriterGate() { ::munmap(page_, kPage); }

WriterGate::Pass WriterGate::pass() {
  auto* m = static_cast<pthread_mutex_t*>(mutex_);
  const int rc = pthread_mutex_lock(m);
  // Its holder died: what it guarded is LMDB's to recover (its transaction never committed).
  if (rc == EOWNERDEAD) pthread_mutex_consistent(m);
  else if (rc != 0) throw Error(Errc::io, std::string("passing the writer gate: ") + std::strerror(rc));
  return Pass(m);
}

WriterGate::Pass::Pass(Pass&& o) noexcept : mutex_(std::exchange(o.mutex_, nullptr)) {}

WriterGate::Pass& WriterGate::Pass::operator=(Pass&& o) noexcept {
  if (this != &o) {
    if (mutex_) pthread_mutex_unlock(static_cast<pthread_mutex_t*>(mutex_));
    mutex_ = std::exchange(o.mutex_, nullptr);
  }
  return *this;
}

WriterGate::Pass::~Pass() {
  if (mutex_) pthread_mutex_unlock(static_cast<pthread_mutex_t*>(mutex_));
}

}  // namespace remora
