// Landlock: the filesystem rules (and, where the kernel has them, TCP rules and scopes) that a
// worker restricts itself to, inherited by every program it starts. Everything the ruleset
// handles and no rule grants is denied with EACCES.
#pragma once

#include <filesystem>
#include <vector>

namespace remora::worker {

struct LandlockRules {
  std::vector<std::filesystem::path> read_only;         // files and directories: read, list, execute
  std::vector<std::filesystem::path> read_write_dirs;   // everything beneath them
  std::vector<std::filesystem::path> read_write_files;  // read, write and truncate these files
};

// A ruleset built from rules (abi: the kernel's, at least 1): the filesystem rules, and from ABI 4
// no TCP bind or connect, from ABI 6 no signal to, nor abstract UNIX socket of, a process outside
// the sandbox. Built before the worker leaves root, since each path is opened here, by whoever we
// are now: a nobody that may not enter the directories above its paths still gets them. A
// read-only path that does not exist is left out; a read-write one must exist. Throws
// std::system_error naming the call or path on any failure.
class LandlockRuleset {
 public:
  LandlockRuleset(const LandlockRules& rules, int abi);
  ~LandlockRuleset();
  LandlockRuleset(const LandlockRuleset&) = delete;
  LandlockRuleset& operator=(const LandlockRuleset&) = delete;

  // Grants everything beneath the directory open at dir_fd (read-write), before restrict_self:
  // for a directory that is only there once the rules are built (the private directory's tmpfs).
  void allow_read_write_dir(int dir_fd, const std::filesystem::path& name_for_errors);
  // Restricts this process for good (no_new_privs must be set), and everything it starts.
  void restrict_self();
  // The ruleset's descriptor (close-on-exec), for a child to restrict itself with between fork
  // and exec: landlock_restrict_self(fd(), 0), a system call that is safe there.
  int fd() const { return fd_; }

 private:
  int fd_;
  int abi_;
};

}  // namespace remora::worker
