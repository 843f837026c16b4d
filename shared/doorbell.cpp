#include "shared/doorbell.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "shared/close_on_exec.hpp"
#include "shared/error.hpp"

namespace remora {
namespace {

constexpr std::size_t kFileSize = 72 * 1024;
constexpr std::size_t kSlotsOffset = 1024;  // below it: the single-word layout of earlier versions, unused

static_assert(sizeof(std::atomic<std::uint32_t>) == 4 && std::atomic<std::uint32_t>::is_always_lock_free);

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, val, timeout, nullptr, 0);
}

}  // namespace

struct Doorbell::Slot {
  std::atomic<std::uint32_t> sequence;
  std::atomic<std::uint32_t> waiters;
};

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
  static_assert(sizeof(Slot) == 8 && kSlotsOffset + KeyClass::kSlots * sizeof(Slot) <= kFileSize);
  slots_ = reinterpret_cast<Slot*>(base + kSlotsOffset);
}

Doorbell::~Doorbell() = default;

Doorbell::Slot& Doorbell::slot(std::size_t i) const {
  if (i >= KeyClass::kSlots) throw Error(Errc::invalid_argument, "doorbell slot " + std::to_string(i) + " out of range");
  return slots_[i];
}

std::uint32_t Doorbell::ticket(std::size_t i) const { return slot(i).sequence.load(std::memory_order_seq_cst); }

std::uint32_t Doorbell::waiters(std::size_t i) const { return slot(i).waiters.load(std::memory_order_seq_cst); }

void Doorbell::ring(KeyClass::Slots slots) {
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  for (auto i : slots) {
    Slot& s = slot(i);
    s.sequence.fetch_add(1, std::memory_order_seq_cst);
    // Dekker pairing with wait(): either the waiter sees the new sequence, or we see its count.
    if (s.waiters.load(std::memory_order_seq_cst) != 0) futex(&s.sequence, FUTEX_WAKE, INT_MAX, nullptr);
  }
}

void Doorbell::ring_all() {
  KeyClass::Slots all(KeyClass::kSlots);
  for (std::uint32_t i = 0; i < KeyClass::kSlots; ++i) all[i] = i;
  ring(std::move(all));
}

bool Doorbell::wait(std::size_t i, std::uint32_t ticket, std::optional<Clock::time_point> deadline) {
  Slot& s = slot(i);
  s.waiters.fetch_add(1, std::memory_order_seq_cst);
  bool rung = true;
  while (s.sequence.load(std::memory_order_seq_cst) == ticket) {
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
    futex(&s.sequence, FUTEX_WAIT, ticket, timeout);
  }
  s.waiters.fetch_sub(1, std::memory_order_seq_cst);
  return rung;
}

}  // namespace remora
