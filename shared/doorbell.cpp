#include "shared/doorbell.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <cerrno>
#include <climits>
#include <cstring>

#include "shared/close_on_exec.hpp"
#include "shared/error.hpp"

namespace remora {
namespace {

constexpr std::size_t kFileSize = 4096;
constexpr std::size_t kSequenceOffset = 64;  // own cache line
constexpr std::size_t kWaitersOffset = 128;

static_assert(sizeof(std::atomic<std::uint32_t>) == 4 && std::atomic<std::uint32_t>::is_always_lock_free);

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, val, timeout, nullptr, 0);
}

}  // namespace

Doorbell::Doorbell(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(Errc::io, "cannot open doorbell " + file.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_size < static_cast<off_t>(kFileSize) && ::ftruncate(fd, kFileSize) != 0)) {
    int e = errno;
    ::close(fd);
    throw Error(Errc::io, "cannot size doorbell " + file.string() + ": " + std::strerror(e));
  }
  ::close(fd);
  namespace bip = boost::interprocess;
  bip::file_mapping mapping(file.c_str(), bip::read_write);
  // Opened without close-on-exec; closed when `mapping` goes, but another thread may exec before.
  set_close_on_exec(mapping.get_mapping_handle().handle, "the doorbell");
  region_ = std::make_unique<bip::mapped_region>(mapping, bip::read_write, 0, kFileSize);
  auto* base = static_cast<char*>(region_->get_address());
  sequence_ = reinterpret_cast<std::atomic<std::uint32_t>*>(base + kSequenceOffset);
  waiters_ = reinterpret_cast<std::atomic<std::uint32_t>*>(base + kWaitersOffset);
}

Doorbell::~Doorbell() = default;

std::uint32_t Doorbell::ticket() const { return sequence_->load(std::memory_order_seq_cst); }

void Doorbell::ring() {
  sequence_->fetch_add(1, std::memory_order_seq_cst);
  // Dekker pairing with wait(): either the waiter sees the new sequence, or we see its count.
  if (waiters_->load(std::memory_order_seq_cst) != 0) futex(sequence_, FUTEX_WAKE, INT_MAX, nullptr);
}

bool Doorbell::wait(std::uint32_t ticket, std::optional<Clock::time_point> deadline) {
  waiters_->fetch_add(1, std::memory_order_seq_cst);
  bool rung = true;
  while (sequence_->load(std::memory_order_seq_cst) == ticket) {
    timespec ts{};
    const timespec* timeout = nullptr;
    if (deadline) {
      auto left = *deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        rung = false;
        break;
      }
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      timeout = &ts;
    }
    // Shared (not PRIVATE) futex: the word is in a MAP_SHARED file mapping seen by all processes.
    futex(sequence_, FUTEX_WAIT, ticket, timeout);
  }
  waiters_->fetch_sub(1, std::memory_order_seq_cst);
  return rung;
}

}  // namespace remora
