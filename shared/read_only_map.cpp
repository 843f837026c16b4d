#include "shared/read_only_map.hpp"

#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shared/lmdb_layout.hpp"

namespace remora {

namespace {

using namespace lmdb_layout;

bool mapped(const char* from, std::size_t bytes) {
  return ::msync(const_cast<char*>(from), bytes, MS_ASYNC) == 0;  // ENOMEM for a range not all mapped
}

// The start of env's map of `map_size` bytes, found from a record of its main database and checked
// against the file read through `fd` (nullptr when it cannot be).
const char* find_map(MDB_env* env, std::size_t map_size, int fd) {
  MDB_stat st;
  const auto os_page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (mdb_env_stat(env, &st) != MDB_SUCCESS || st.ms_psize != os_page) return nullptr;
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != MDB_SUCCESS) return nullptr;
  const char* start = nullptr;
  MDB_dbi main = 0;
  MDB_cursor* cursor = nullptr;
  MDB_val k, v;
  if (mdb_dbi_open(txn, nullptr, 0, &main) == MDB_SUCCESS && mdb_cursor_open(txn, main, &cursor) == MDB_SUCCESS) {
    if (mdb_cursor_get(cursor, &k, &v, MDB_FIRST) == MDB_SUCCESS && v.mv_size < os_page / 4) {
      const auto addr = reinterpret_cast<std::uintptr_t>(v.mv_data);
      const char* page = reinterpret_cast<const char*>(addr - addr % os_page);
      const auto pgno = at<std::uint64_t>(page, kPageNumberAt);
      // The page this transaction pins must be the file's page pgno, byte for byte, and the map
      // must run from pgno pages before it, all of it mapped, to a meta page.
      std::string file_page(os_page, '\0');
      if (pgno < map_size / os_page && pgno * os_page <= addr &&
          ::pread(fd, file_page.data(), os_page, static_cast<off_t>(pgno * os_page)) == static_cast<ssize_t>(os_page) &&
          std::memcmp(file_page.data(), page, os_page) == 0) {
        const char* map = page - pgno * os_page;
        if (mapped(map, map_size) && at<std::uint64_t>(map, kPageNumberAt) == 0 &&
            at<std::uint32_t>(map, kMagicAt) == kMagic && at<std::uint32_t>(map, kVersionAt) == kDataVersion)
          start = map;
      }
    }
    mdb_cursor_close(cursor);
  }
  mdb_txn_abort(txn);
  return start;
}

}  // namespace

ReadOnlyMap::ReadOnlyMap(MDB_env* env, const std::filesystem::path& data_file) : env_(env) {
  int lmdb_fd = -1;
  if (mdb_env_get_fd(env, &lmdb_fd) != MDB_SUCCESS) return;
  UniqueFd fd(::open(data_file.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat ours {}, theirs {};
  if (!fd || ::fstat(fd.get(), &ours) != 0 || ::fstat(lmdb_fd, &theirs) != 0 || ours.st_dev != theirs.st_dev ||
      ours.st_ino != theirs.st_ino) {
    spdlog::debug("{}: keeping LMDB's own mapping (the file could not be opened again read-only)", data_file.string());
    return;
  }
  fd_ = std::move(fd);
}

void ReadOnlyMap::apply() {
  if (!fd_) return;
  MDB_envinfo info;
  if (mdb_env_info(env_, &info) != MDB_SUCCESS) return;
  const std::size_t size = info.me_mapsize;
  const char* start = find_map(env_, size, fd_.get());
  if (!start) {  // a transaction that could not begin (the next resize tries again), or a file not as LMDB writes it
    spdlog::info("keeping LMDB's own mapping of the workspace: its start was not found");
    return;
  }
  void* const where = const_cast<char*>(start);
  if (::mmap(where, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd_.get(), 0) == where) return;
  const int err = errno;
  // A failed MAP_FIXED may have unmapped the range already: put LMDB's own mapping back.
  int lmdb_fd = -1;
  if (mdb_env_get_fd(env_, &lmdb_fd) != MDB_SUCCESS || ::mmap(where, size, PROT_READ, MAP_SHARED | MAP_FIXED, lmdb_fd, 0) != where) {
    spdlog::critical("the workspace map could not be mapped again ({}): stopping", std::strerror(err));
    std::abort();
  }
  spdlog::warn("keeping LMDB's own mapping of the workspace: {}", std::strerror(err));
  fd_ = UniqueFd();
}

}  // namespace remora
