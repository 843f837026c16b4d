#include "shared/lmdb_data_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "shared/error.hpp"
#include "shared/unique_fd.hpp"

namespace remora {

namespace {

// LMDB's on-disk layout (lmdb/mdb.c, 64-bit): a page header of 16 bytes (page number, pad,
// flags at offset 10, ...), then on pages 0 and 1 an MDB_meta: magic, version, address, map size,
// two MDB_db records of 48 bytes (the page size is the first's md_pad, its root at 40), the last
// page number and the transaction id.
constexpr std::size_t kPageHeader = 16;
constexpr std::uint16_t kMetaFlag = 0x08;  // P_META
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::uint32_t kDataVersion = 1;
constexpr std::size_t kMetaBytes = kPageHeader + 136;
constexpr std::size_t kMagicAt = kPageHeader + 0, kVersionAt = kPageHeader + 4, kPageSizeAt = kPageHeader + 24,
                      kFreeRootAt = kPageHeader + 24 + 40, kMainRootAt = kPageHeader + 24 + 48 + 40,
                      kLastPageAt = kPageHeader + 120, kTxnAt = kPageHeader + 128;
constexpr std::uint64_t kNoPage = ~0ull;  // P_INVALID: an empty database's root

template <class T> T at(const unsigned char* page, std::size_t offset) {
  T v;
  std::memcpy(&v, page + offset, sizeof v);
  return v;
}

[[noreturn]] void corrupt(const std::filesystem::path& file, const std::string& why) {
  throw Error(Errc::corrupt,
              fmt::format("workspace file {} is damaged: {}; remora cannot open it. Restore a checkpoint with `remora "
                          "restore ID` (`remora checkpoints` lists them), or move the workspace aside to start anew",
                          file.string(), why));
}

}  // namespace

LmdbMeta check_lmdb_data_file(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw Error(Errc::io, fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw Error(Errc::io, fmt::format("cannot stat {}: {}", file.string(), std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) corrupt(file, "it is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0) corrupt(file, "it is empty (0 bytes), not a new workspace");
  unsigned char page[2][kMetaBytes];
  if (size < kMetaBytes || ::pread(fd.get(), page[0], kMetaBytes, 0) != static_cast<ssize_t>(kMetaBytes))
    corrupt(file, fmt::format("it is {} bytes, shorter than a meta page", size));
  const std::uint32_t page_size = at<std::uint32_t>(page[0], kPageSizeAt);
  auto check_meta = [&](int i) {
    if (at<std::uint32_t>(page[i], kMagicAt) != kMagic)
      corrupt(file, fmt::format("meta page {} does not hold LMDB's magic number", i));
    if (at<std::uint32_t>(page[i], kVersionAt) != kDataVersion)
      corrupt(file, fmt::format("meta page {} has LMDB data version {}, not {}", i, at<std::uint32_t>(page[i], kVersionAt),
                                kDataVersion));
    if (!(at<std::uint16_t>(page[i], 10) & kMetaFlag)) corrupt(file, fmt::format("page {} is not marked a meta page", i));
  };
  check_meta(0);
  if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0)
    corrupt(file, fmt::format("meta page 0 gives an impossible page size {}", page_size));
  if (size < 2ull * page_size)
    corrupt(file, fmt::format("it is {} bytes, shorter than its two meta pages ({} bytes): it was cut short", size,
                              2ull * page_size));
  if (::pread(fd.get(), page[1], kMetaBytes, page_size) != static_cast<ssize_t>(kMetaBytes))
    corrupt(file, "meta page 1 cannot be read");
  check_meta(1);
  // LMDB uses the meta page of the newer transaction; every page up to its last must be in the file.
  const int newest = at<std::uint64_t>(page[1], kTxnAt) > at<std::uint64_t>(page[0], kTxnAt) ? 1 : 0;
  LmdbMeta meta{page_size, at<std::uint64_t>(page[newest], kLastPageAt), at<std::uint64_t>(page[newest], kTxnAt)};
  for (int i = 0; i < 2; ++i) {
    const auto last = at<std::uint64_t>(page[i], kLastPageAt);
    if (last < 1)
      corrupt(file, fmt::format("meta page {} gives an impossible last page {}", i, last));
    for (std::size_t root_at : {kFreeRootAt, kMainRootAt}) {
      const auto root = at<std::uint64_t>(page[i], root_at);
      if (root != kNoPage && (root < 2 || root > last))
        corrupt(file, fmt::format("meta page {} gives a database root (page {}) outside its pages 2-{}", i, root, last));
    }
  }
  const std::uint64_t needed = (meta.last_page + 1) * page_size;
  if (size < needed)
    corrupt(file, fmt::format("it is {} bytes, but its meta page {} says pages up to {} are in use ({} bytes): it was "
                              "cut short",
                              size, newest, meta.last_page, needed));
  return meta;
}

}  // namespace remora
