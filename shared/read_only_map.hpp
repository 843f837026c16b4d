// ReadOnlyMap: maps an LMDB environment's data file through a read-only descriptor in place of the
// one LMDB opened for writing, so that a commit's fsync does not visit this process's page tables.
//
// LMDB (without MDB_WRITEMAP) maps data.mdb PROT_READ, MAP_SHARED through the descriptor it writes
// with, and the kernel marks a shared mapping of a writable descriptor writable-shared. Writeback
// must then look, for every page an fdatasync writes, at every such mapping in every process (to
// write-protect it), under a page-table lock: with 128 workers mapping the workspace, that walk was
// ~0.7 ms of each model turn, inside LMDB's writer lock. A mapping of the same file through a
// descriptor opened O_RDONLY is the one LMDB itself makes for a read-only environment: the same
// page-cache pages, every commit visible at once, and writeback passes it by.
#pragma once

#include <lmdb.h>

#include <filesystem>

#include "shared/unique_fd.hpp"

namespace remora {

class ReadOnlyMap {
 public:
  // Opens data_file read-only. If it is not the file env has open (replaced meanwhile), or cannot
  // be opened, apply() leaves LMDB's mapping as it is.
  ReadOnlyMap(MDB_env* env, const std::filesystem::path& data_file);

  // Replaces env's map with the same range of the same file mapped through the read-only
  // descriptor. Call once the environment holds a committed database (after a workspace's first
  // transaction) and after every mdb_env_set_mapsize (which maps afresh), with no transaction of
  // this process open. LMDB does not say where its map is: a record read in a transaction lies in
  // a page whose header holds its page number, which gives the map's start; that page must equal
  // the file's page of that number, and the whole map from that start be mapped and begin with
  // LMDB's meta page, or nothing is done (and nothing is lost: LMDB's mapping stays).
  void apply();

 private:
  MDB_env* env_;
  UniqueFd fd_;
};

}  // namespace remora
