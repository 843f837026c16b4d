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

// Restricts this process for good (abi: the kernel's, at least 1): the filesystem rules, and from
// ABI 4 no TCP bind or connect, from ABI 6 no signal to, nor abstract UNIX socket of, a process
// outside the sandbox. A read-only path that does not exist is left out; a read-write one must
// exist. Throws std::system_error naming the call or path on any failure.
void landlock_restrict_self(const LandlockRules& rules, int abi);

}  // namespace remora::worker
