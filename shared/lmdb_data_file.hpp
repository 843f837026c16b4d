// LmdbDataFile: a workspace's data.mdb checked before LMDB maps it. LMDB trusts its file: a file
// cut short makes the pages past its end fault with SIGBUS when read, and garbled meta pages can
// trip its assertions. So before mdb_env_open the file's two meta pages are read with pread and
// the file is refused (Error corrupt, naming it and how to get a good one back) when it is empty,
// shorter than its two meta pages, when a meta page lacks LMDB's magic number, version or meta
// flag, has an impossible page size, a database root past its last page, or when the file is
// shorter than the last page the newest meta page says is in use.
//
// Other processes may commit while the file is read: each look reads the meta pages before the
// size, and a fault is believed only when a second look finds the file unchanged, so a live
// workspace is never called damaged for a commit that landed between two reads.
//
// What this cannot see: pages inside the file garbled in place (LMDB reads them as they are).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace remora {

struct LmdbMeta {
  std::uint32_t page_size = 0;
  std::uint64_t last_page = 0;  // the highest page number in use
  std::uint64_t txn_id = 0;
};

// Throws Error(corrupt) when data_file (a data.mdb that exists) is not a whole LMDB file as
// described above; returns what its newest meta page says.
LmdbMeta check_lmdb_data_file(const std::filesystem::path& data_file);

}  // namespace remora
