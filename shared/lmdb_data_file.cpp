#include "shared/lmdb_data_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "shared/error.hpp"
#include "shared/lmdb_layout.hpp"
#include "shared/unique_fd.hpp"

namespace remora {

namespace {

using namespace lmdb_layout;

[[noreturn]] void corrupt(const std::filesystem::path& file, const std::string& why) {
  throw Error(Errc::corrupt,
              fmt::format("workspace file {} is damaged: {}; remora cannot open it. Restore a checkpoint with `remora "
                          "restore ID` (`remora checkpoints` lists them), or move the workspace aside to start anew",
                          file.string(), why));
}

}  // namespace

namespace {

// A look at the file: its two meta pages, read before its size (a live workspace's file only
// grows, and a meta page names only pages written before it, so that order never sees a commit's
// meta page without its pages), as far as they could be read.
struct Snapshot {
  unsigned char page[2][kMetaBytes] = {};
  std::uint32_t page_size = 0;
  bool page1_read = false;
  std::uint64_t size = 0;
  bool operator==(const Snapshot& o) const { return std::memcmp(page, o.page, sizeof page) == 0 && size == o.size; }
};

Snapshot take(int fd, const std::filesystem::path& file) {
  Snapshot s;
  const bool page0_read = ::pread(fd, s.page[0], kMetaBytes, 0) == static_cast<ssize_t>(kMetaBytes);
  if (page0_read) {
    s.page_size = at<std::uint32_t>(s.page[0], kPageSizeAt);
    if (s.page_size >= kMetaBytes && s.page_size <= 65536)
      s.page1_read = ::pread(fd, s.page[1], kMetaBytes, s.page_size) == static_cast<ssize_t>(kMetaBytes);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) throw Error(Errc::io, fmt::format("cannot stat {}: {}", file.string(), std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) corrupt(file, "it is not a regular file");
  s.size = static_cast<std::uint64_t>(st.st_size);
  return s;
}

// What is wrong with the file as snapshot s shows it, if anything; meta is filled when nothing is.
std::optional<std::string> problem(const Snapshot& s, LmdbMeta& meta) {
  const auto size = s.size;
  if (size == 0) return "it is empty (0 bytes), not a new workspace";
  if (size < kMetaBytes) return fmt::format("it is {} bytes, shorter than a meta page", size);
  auto bad_meta = [&](int i) -> std::optional<std::string> {
    if (at<std::uint32_t>(s.page[i], kMagicAt) != kMagic)
      return fmt::format("meta page {} does not hold LMDB's magic number", i);
    if (at<std::uint32_t>(s.page[i], kVersionAt) != kDataVersion)
      return fmt::format("meta page {} has LMDB data version {}, not {}", i, at<std::uint32_t>(s.page[i], kVersionAt),
                         kDataVersion);
    if (!(at<std::uint16_t>(s.page[i], kFlagsAt) & kMetaFlag)) return fmt::format("page {} is not marked a meta page", i);
    return std::nullopt;
  };
  if (auto p = bad_meta(0)) return p;
  const auto page_size = s.page_size;
  if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0)
    return fmt::format("meta page 0 gives an impossible page size {}", page_size);
  if (size < 2ull * page_size)
    return fmt::format("it is {} bytes, shorter than its two meta pages ({} bytes): it was cut short", size,
                       2ull * page_size);
  if (!s.page1_read) return std::string("meta page 1 cannot be read");
  if (auto p = bad_meta(1)) return p;
  // LMDB uses the meta page of the newer transaction; every page up to its last must be in the file.
  const int newest = at<std::uint64_t>(s.page[1], kTxnAt) > at<std::uint64_t>(s.page[0], kTxnAt) ? 1 : 0;
  for (int i = 0; i < 2; ++i) {
    const auto last = at<std::uint64_t>(s.page[i], kLastPageAt);
    if (last < 1) return fmt::format("meta page {} gives an impossible last page {}", i, last);
    for (std::size_t root_at : {kFreeRootAt, kMainRootAt}) {
      const auto root = at<std::uint64_t>(s.page[i], root_at);
      if (root != kNoPage && (root < 2 || root > last))
        return fmt::format("meta page {} gives a database root (page {}) outside its pages 2-{}", i, root, last);
    }
  }
  meta = {page_size, at<std::uint64_t>(s.page[newest], kLastPageAt), at<std::uint64_t>(s.page[newest], kTxnAt)};
  const std::uint64_t needed = (meta.last_page + 1) * page_size;
  if (size < needed)
    return fmt::format("it is {} bytes, but its meta page {} says pages up to {} are in use ({} bytes): it was cut "
                       "short",
                       size, newest, meta.last_page, needed);
  return std::nullopt;
}

}  // namespace

LmdbMeta check_lmdb_data_file(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw Error(Errc::io, fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
  // Another process may commit while we read: a fault seen is believed only when a second look
  // finds the file unchanged (a commit in between, or a meta page read half-written, is looked
  // at again). A file committed to without pause for all the looks is being written by a live
  // LMDB, which only a whole file allows.
  LmdbMeta meta;
  std::optional<std::string> fault;
  for (int look = 0; look < 8; ++look) {
    const Snapshot first = take(fd.get(), file);
    fault = problem(first, meta);
    if (!fault) return meta;
    if (take(fd.get(), file) == first) corrupt(file, *fault);
  }
  return meta;
}

}  // namespace remora
