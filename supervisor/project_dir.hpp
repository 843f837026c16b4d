// ProjectDir: the project directory on disk, as review reads and writes it.
//
// Files are named by their path relative to the root, '/'-separated, as in `file:<path>` keys. A
// path is refused (Error invalid_argument) unless it is relative, with no empty, `.` or `..`
// component. Every directory on the way is opened with O_NOFOLLOW: a symbolic link is never
// followed, so nothing is read or written outside the root, whatever the path says.
//
// Writes are atomic: the bytes go to a temporary file in the same directory (named
// `.remora-<hash of the name>.tmp`), which is fsynced, given its mode, renamed over the file, and
// the directory fsynced. A process killed at any moment leaves the file either old or new, never
// torn; the temporary file it may leave is removed by the next write or cleanup of that path.
//
// Only ordinary files are written: a mode with the setuid, setgid or sticky bit, or of a symbolic
// link, device, FIFO, socket or directory, is refused (unwritable_mode). Files and directories
// remora creates get the owner and group of the project directory (remora runs as root; what it
// writes for a user must be the user's, never root's).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace remora {

// What a path holds on disk.
struct DiskFile {
  enum class Kind { absent, file, other };  // other: a directory, symbolic link, device, ...
  Kind kind = Kind::absent;
  std::string content;     // for a file
  std::uint32_t mode = 0;  // permission bits (07777), for a file
  bool operator==(const DiskFile&) const = default;

  static DiskFile absent() { return {}; }
  static DiskFile file(std::string content, std::uint32_t mode) { return {Kind::file, std::move(content), mode}; }
};

// Throws Error(invalid_argument) naming the path unless it is a plain relative path (see above).
void check_project_path(std::string_view path);

// A FileEntry mode as git shows it: with its file type, "100644", "104755", "120777".
std::string full_mode(std::uint32_t mode);

// Why remora does not write a file of this mode ("the setuid bit is set", "a symbolic link"), or
// nullopt for an ordinary file: permission bits 0777, no file type or a regular file's.
std::optional<std::string> unwritable_mode(std::uint32_t mode);

class ProjectDir {
 public:
  explicit ProjectDir(std::filesystem::path root);
  const std::filesystem::path& root() const { return root_; }

  // What path holds now. A directory on the way that is missing makes it absent; one that is
  // not a directory (a symbolic link, say) makes it `other`.
  DiskFile read(std::string_view path) const;
  // Makes path hold content with mode (creating missing directories), atomically. Throws
  // Error(invalid_argument) naming the path and mode when unwritable_mode refuses the mode.
  void write(std::string_view path, std::string_view content, std::uint32_t mode) const;
  // Removes path if it is there (a file or a symbolic link; never a directory).
  void remove(std::string_view path) const;
  // Makes path hold what `want` says (write or remove), unless it already does.
  void put(std::string_view path, const DiskFile& want) const;
  // Removes the temporary file an interrupted write of path may have left.
  void cleanup(std::string_view path) const;

 private:
  std::filesystem::path root_;
  std::uint32_t uid_ = 0, gid_ = 0;  // the owner of the root, given to what remora creates
};

}  // namespace remora
