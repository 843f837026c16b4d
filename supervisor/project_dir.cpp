#include "supervisor/project_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "shared/error.hpp"
#include "shared/unique_fd.hpp"

namespace remora {

namespace {

using Fd = UniqueFd;

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

std::string temp_name(std::string_view name) {
  return fmt::format(".remora-{:016x}.tmp", XXH3_64bits(name.data(), name.size()));
}

// The directory holding path's last component, opened without following links, and that name.
// With create, missing directories are made; without, a missing one gives an empty Fd. A
// component that is not a directory (or is a link) sets `blocked`.
struct Parent {
  Fd dir;
  std::string name;
  bool blocked = false;
};

}  // namespace

void check_project_path(std::string_view path) {
  auto bad = [&](const std::string& why) {
    throw Error(Errc::invalid_argument, fmt::format("'{}' is not a project path: {}", path, why));
  };
  if (path.empty()) bad("it is empty");
  if (path.find('\0') != std::string_view::npos) bad("it holds a NUL byte");
  if (path.front() == '/') bad("it is absolute");
  auto parts = components(path);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) bad("it has an empty component");
    if (parts[i] == "." || parts[i] == "..") bad("it has a '.' or '..' component");
    if (i + 1 < parts.size() && parts[i].front() == '.') bad("it is inside a dot-directory, which remora never imports");
  }
}

std::string full_mode(std::uint32_t mode) {
  return fmt::format("{:06o}", (mode & S_IFMT) == 0 ? mode | S_IFREG : mode);
}

std::optional<std::string> unwritable_mode(std::uint32_t mode) {
  switch (mode & S_IFMT) {
    case 0:
    case S_IFREG: break;
    case S_IFLNK: return "a symbolic link";
    case S_IFDIR: return "a directory";
    case S_IFCHR:
    case S_IFBLK: return "a device";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    default: return "not a regular file";
  }
  if (mode & S_ISUID) return "the setuid bit is set";
  if (mode & S_ISGID) return "the setgid bit is set";
  if (mode & S_ISVTX) return "the sticky bit is set";
  if (mode & ~static_cast<std::uint32_t>(S_IFMT | 0777)) return "unknown mode bits are set";
  return std::nullopt;
}

ProjectDir::ProjectDir(std::filesystem::path root) : root_(std::move(root)) {
  struct stat st;
  if (::stat(root_.c_str(), &st) == 0) {
    uid_ = st.st_uid;
    gid_ = st.st_gid;
  } else {
    uid_ = ::geteuid();
    gid_ = ::getegid();
  }
}

namespace {

// What creates files and directories: their owner (when remora may give it) and group.
struct Owner {
  std::uint32_t uid, gid;
  void give(int fd, const char* name, std::string_view path) const {
    if (::geteuid() != 0) return;  // only root gives files away; others create their own
    if (::fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
      throw Error(Errc::io, fmt::format("cannot give {} to uid {} gid {}: {}", path, uid, gid, std::strerror(errno)));
  }
};

Parent open_parent(const std::filesystem::path& root, std::string_view path, bool create, const Owner* owner = nullptr) {
  check_project_path(path);
  Parent p;
  p.dir = Fd(::open(root.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!p.dir) throw Error(Errc::io, fmt::format("cannot open the project directory {}: {}", root.string(), std::strerror(errno)));
  auto parts = components(path);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string part(parts[i]);
    Fd next(::openat(p.dir.get(), part.c_str(), O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC));
    if (!next && errno == ENOENT && create) {
      if (::mkdirat(p.dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
        throw Error(Errc::io, fmt::format("cannot create {}: {}", (root / std::string(path)).parent_path().string(),
                                          std::strerror(errno)));
      if (owner) owner->give(p.dir.get(), part.c_str(), path);
      ::fsync(p.dir.get());
      next = Fd(::openat(p.dir.get(), part.c_str(), O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC));
    }
    if (!next) {
      if (errno == ENOENT && !create) return Parent{};
      if (errno == ENOTDIR || errno == ELOOP) {
        if (create)
          throw Error(Errc::invalid_argument, fmt::format("cannot write {}: '{}' on its way is not a directory (a "
                                                          "symbolic link is never followed)",
                                                          path, part));
        p.blocked = true;
        return p;
      }
      throw Error(Errc::io, fmt::format("cannot open a directory of {}: {}", path, std::strerror(errno)));
    }
    p.dir = std::move(next);
  }
  p.name = std::string(parts.back());
  return p;
}

[[noreturn]] void io_error(const std::filesystem::path& root, std::string_view path, const char* what) {
  throw Error(Errc::io, fmt::format("cannot {} {}: {}", what, (root / std::string(path)).string(), std::strerror(errno)));
}

}  // namespace

DiskFile ProjectDir::read(std::string_view path) const {
  Parent p = open_parent(root_, path, false);
  if (p.blocked) return {DiskFile::Kind::other, {}, 0};
  if (!p.dir) return DiskFile::absent();
  struct stat st;
  if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return DiskFile::absent();
    io_error(root_, path, "stat");
  }
  if (!S_ISREG(st.st_mode)) return {DiskFile::Kind::other, {}, 0};
  // O_NONBLOCK: a FIFO swapped in since the stat must not block the open; fstat says what opened.
  Fd fd(::openat(p.dir.get(), p.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd && errno == ELOOP) return {DiskFile::Kind::other, {}, 0};
  if (!fd) io_error(root_, path, "open");
  if (::fstat(fd.get(), &st) != 0) io_error(root_, path, "stat");
  if (!S_ISREG(st.st_mode)) return {DiskFile::Kind::other, {}, 0};
  std::string content;
  if (!read_to_end(fd.get(), content)) io_error(root_, path, "read");
  return DiskFile::file(std::move(content), st.st_mode & 07777);
}

void ProjectDir::write(std::string_view path, std::string_view content, std::uint32_t mode) const {
  if (auto why = unwritable_mode(mode))
    throw Error(Errc::invalid_argument,
                fmt::format("remora writes only ordinary files: {} has mode {} ({})", path, full_mode(mode), *why));
  const Owner owner{uid_, gid_};
  Parent p = open_parent(root_, path, true, &owner);
  const std::string tmp = temp_name(p.name);
  Fd fd(::openat(p.dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) io_error(root_, path, "create a temporary file for");
  auto fail = [&](const char* what) {
    int saved = errno;
    ::unlinkat(p.dir.get(), tmp.c_str(), 0);
    errno = saved;
    io_error(root_, path, what);
  };
  for (std::size_t done = 0; done < content.size();) {
    auto n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (::geteuid() == 0 && ::fchown(fd.get(), uid_, gid_) != 0) fail("set the owner of");
  if (::fchmod(fd.get(), mode & 0777) != 0) fail("set the mode of");
  if (::fsync(fd.get()) != 0) fail("sync");
  fd = Fd();
  if (::renameat(p.dir.get(), tmp.c_str(), p.dir.get(), p.name.c_str()) != 0) fail("replace");
  if (::fsync(p.dir.get()) != 0) io_error(root_, path, "sync the directory of");
}

void ProjectDir::remove(std::string_view path) const {
  Parent p = open_parent(root_, path, false);
  if (!p.dir || p.blocked) return;
  if (::unlinkat(p.dir.get(), p.name.c_str(), 0) != 0) {
    if (errno == ENOENT) return;
    io_error(root_, path, "remove");
  }
  if (::fsync(p.dir.get()) != 0) io_error(root_, path, "sync the directory of");
}

void ProjectDir::put(std::string_view path, const DiskFile& want) const {
  if (want.kind == DiskFile::Kind::other)
    throw Error(Errc::invalid_argument, fmt::format("{}: remora only writes regular files", path));
  if (read(path) != want) {
    if (want.kind == DiskFile::Kind::file)
      write(path, want.content, want.mode);
    else
      remove(path);
  }
  cleanup(path);
}

void ProjectDir::cleanup(std::string_view path) const {
  Parent p = open_parent(root_, path, false);
  if (!p.dir || p.blocked) return;
  if (::unlinkat(p.dir.get(), temp_name(p.name).c_str(), 0) != 0 && errno != ENOENT)
    io_error(root_, path, "remove the temporary file of");
}

}  // namespace remora
