// Close-on-exec for descriptors that libraries open without it: LMDB opens data.mdb (and, in some
// versions, lock.mdb) without FD_CLOEXEC and has no flag for it, and Boost.Interprocess opens the
// doorbell's file plainly. Marking them keeps a workspace handle from reaching any program a
// process of remora executes (a command tool's program, a worker started by the supervisor).
#pragma once

#include <filesystem>
#include <vector>

namespace remora {

// Sets FD_CLOEXEC on fd. Throws std::system_error naming what on failure.
void set_close_on_exec(int fd, const char* what);

// Sets FD_CLOEXEC on every descriptor of this process that refers to one of files (compared by
// device and inode, so any path or link to them counts), found by listing /proc/self/fd.
// Returns how many it marked. A file that does not exist is skipped.
int close_on_exec_for(const std::vector<std::filesystem::path>& files);

}  // namespace remora
