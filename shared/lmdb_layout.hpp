// LMDB's on-disk layout (lmdb/mdb.c, 64-bit), for the places that read data.mdb without LMDB
// (shared/lmdb_data_file.cpp checks a file before it is mapped; shared/read_only_map.cpp finds
// where LMDB mapped it): a page header of 16 bytes (page number, pad, flags at offset 10, ...),
// then on pages 0 and 1 an MDB_meta: magic, version, address, map size, two MDB_db records of 48
// bytes (the page size is the first's md_pad, its root at 40), the last page number and the
// transaction id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace remora::lmdb_layout {

constexpr std::size_t kPageHeader = 16;
constexpr std::size_t kPageNumberAt = 0, kFlagsAt = 10;
constexpr std::uint16_t kMetaFlag = 0x08;  // P_META
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::uint32_t kDataVersion = 1;
constexpr std::size_t kMetaBytes = kPageHeader + 136;
constexpr std::size_t kMagicAt = kPageHeader + 0, kVersionAt = kPageHeader + 4, kPageSizeAt = kPageHeader + 24,
                      kFreeRootAt = kPageHeader + 24 + 40, kMainRootAt = kPageHeader + 24 + 48 + 40,
                      kLastPageAt = kPageHeader + 120, kTxnAt = kPageHeader + 128;
constexpr std::uint64_t kNoPage = ~0ull;  // P_INVALID: an empty database's root

// The T at `offset` bytes into `page` (any alignment).
template <class T> T at(const void* page, std::size_t offset) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char*>(page) + offset, sizeof v);
  return v;
}

}  // namespace remora::lmdb_layout
