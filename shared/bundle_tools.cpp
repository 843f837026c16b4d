#include "shared/bundle_tools.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "proto/bytes.hpp"
#include "shared/error.hpp"
#include "shared/unique_fd.hpp"

namespace remora {

namespace {

std::string kind_of(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFLNK: return "a symbolic link";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR:
    case S_IFBLK: return "a device";
    case S_IFSOCK: return "a socket";
    default: return "not a regular file";
  }
}

std::string size_text(std::uint64_t bytes) {
  return bytes >= (1u << 20) ? fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20))
                             : fmt::format("{} bytes", bytes);
}

// The names in the directory fd (which stays open: the listing uses a duplicate), sorted.
std::vector<std::string> names_in(int dir_fd, const std::filesystem::path& where) {
  DIR* d = ::fdopendir(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  if (!d) throw Error(Errc::io, fmt::format("cannot list {}: {}", where.string(), std::strerror(errno)));
  std::vector<std::string> out;
  while (auto* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  std::ranges::sort(out);
  return out;
}

}  // namespace

std::map<std::string, std::string> read_bundle_tools(const std::filesystem::path& bundle_dir,
                                                     std::vector<std::string>& problems) {
  std::map<std::string, std::string> out;
  UniqueFd bundle(::open(bundle_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!bundle) throw Error(Errc::io, fmt::format("cannot open {}: {}", bundle_dir.string(), std::strerror(errno)));
  UniqueFd tools(::openat(bundle.get(), "tools", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!tools) {
    if (errno == ENOENT) return out;
    struct stat st;
    if (::fstatat(bundle.get(), "tools", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
      problems.push_back(fmt::format("tools: {}, not a directory: a bundle's tools must be in it (never followed)",
                                     kind_of(st.st_mode)));
    else
      problems.push_back(fmt::format("tools: cannot be opened: {}", std::strerror(errno)));
    return out;
  }
  std::size_t total = 0;
  for (const auto& name : names_in(tools.get(), bundle_dir / "tools")) {
    auto problem = [&](const std::string& what) { problems.push_back(fmt::format("tools/{}: {}", name, what)); };
    struct stat st;
    if (::fstatat(tools.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      problem(fmt::format("cannot be read: {}", std::strerror(errno)));
      continue;
    }
    if (S_ISDIR(st.st_mode)) continue;
    if (!S_ISREG(st.st_mode)) {
      problem(kind_of(st.st_mode) + "; a bundle's tools must be regular files in it (a link is never followed)");
      continue;
    }
    // O_NOFOLLOW and O_NONBLOCK: whatever replaced the file since the stat is not followed or
    // waited on; fstat says what was opened.
    UniqueFd fd(::openat(tools.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd || ::fstat(fd.get(), &st) != 0) {
      problem(errno == ELOOP ? "a symbolic link; a bundle's tools must be regular files in it"
                             : fmt::format("cannot be read: {}", std::strerror(errno)));
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      problem(kind_of(st.st_mode) + "; a bundle's tools must be regular files in it");
      continue;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > kMaxToolFileBytes) {
      problem(fmt::format("{} is over the limit of {} for one tool file", size_text(size), size_text(kMaxToolFileBytes)));
      continue;
    }
    if (total + size > kMaxToolBytes) {
      problem(fmt::format("the bundle's tool files come to more than the limit of {} together",
                          size_text(kMaxToolBytes)));
      continue;
    }
    std::string text;
    if (!read_to_end(fd.get(), text, kMaxToolFileBytes)) {
      problem(fmt::format("cannot be read: {}", std::strerror(errno)));
      continue;
    }
    if (text.size() > kMaxToolFileBytes) {  // it grew since the stat
      problem(fmt::format("over the limit of {} for one tool file", size_text(kMaxToolFileBytes)));
      continue;
    }
    if (!proto::is_utf8(text)) {
      problem("not UTF-8 text");
      continue;
    }
    total += text.size();
    out.emplace(name, std::move(text));
  }
  return out;
}

}  // namespace remora
