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

namespace remora {

namespace {

// LMDB's on-disk layout (lmdb/mdb.c, 64-bit; shared/lmdb_data_file.cpp reads the same): a page
// starts with its page number (8 bytes); page 0 holds, after a 16-byte header, the meta record
// whose first fields are the magic number and the data version.
constexpr std::size_t kPageHeader = 16;
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::uint32_t kDataVersion = 1;

template <class T> T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

bool mapped(const char* at, std::size_t bytes) {
  return ::msync(const_cast<char*>(at), bytes, MS_ASYNC) == 0;  // ENOMEM for a range not all mapped
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
      const auto at = reinterpret_cast<std::uintptr_t>(v.mv_data);
      const char* page = reinterpret_cast<const char*>(at - at % os_page);
      const auto pgno = load<std::uint64_t>(page);
      // The page this transaction pins must be the file's page pgno, byte for byte, and the map
      // must run from pgno pages before it, all of it mapped, to a meta page.
      std::string file_page(os_page, '\0');
      if (pgno < map_size / os_page && pgno * os_page <= at &&
          ::pread(fd, file_page.data(), os_page, static_cast<off_t>(pgno * os_page)) == static_cast<ssize_t>(os_page) &&
          std::memcmp(file_page.data(), page, os_page) == 0) {
        const char* map = page - pgno * os_page;
        if (mapped(map, map_size) && load<std::uint64_t>(map) == 0 && load<std::uint32_t>(map + kPageHeader) == kMagic &&
            load<std::uint32_t>(map + kPageHeader + 4) == kDataVersion)
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
  void* const at = const_cast<char*>(start);
  if (::mmap(at, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd_.get(), 0) == at) return;
  const int err = errno;
  // A failed MAP_FIXED may have unmapped the range already: put LMDB's own mapping back.
  int lmdb_fd = -1;
  if (mdb_env_get_fd(env_, &lmdb_fd) != MDB_SUCCESS || ::mmap(at, size, PROT_READ, MAP_SHARED | MAP_FIXED, lmdb_fd, 0) != at) {
    spdlog::critical("the workspace map could not be mapped again ({}): stopping", std::strerror(err));
    std::abort();
  }
  spdlog::warn("keeping LMDB's own mapping of the workspace: {}", std::strerror(err));
  fd_ = UniqueFd();
}

}  // namespace remora
