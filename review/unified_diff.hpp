// Unified diffs of project files, in the format of `git diff` (which `git apply` and `patch -p1`
// take): a `diff --git a/P b/P` line, `new file mode`, `deleted file mode` or `old mode`/`new
// mode` lines when they apply, `--- a/P` and `+++ b/P` (`/dev/null` for a side that is absent),
// then hunks with three lines of context. A last line without a newline is followed by
// `\ No newline at end of file`. Files holding a NUL byte in their first 8 KiB are binary:
// `Binary files a/P and b/P differ`. The line diff is dtl's (Wu, Manber, Myers O(NP)).
//
// Modes are shown whole, with the file type, as git does ("100644", "104755"); a mode remora
// accept refuses (see unwritable_mode in project_dir.hpp) is followed by a line saying so. Paths
// holding unusual characters are quoted as git quotes them (terminal_text.hpp). With colour (a
// terminal), control characters in lines are shown escaped; without, lines are the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace remora {

// One side of a file change: its bytes and permission bits, or absent.
struct FileSide {
  std::string content;
  std::uint32_t mode = 0644;
};

struct DiffStat {
  std::size_t added = 0, removed = 0;  // lines
  bool binary = false;
};

// The diff of path from before to after (at least one present). colour adds ANSI colours: bold
// headers, cyan hunk headers, red removed and green added lines.
std::string file_diff(std::string_view path, const std::optional<FileSide>& before, const std::optional<FileSide>& after,
                      bool colour);

// The lines file_diff would show added and removed.
DiffStat diff_stat(const std::optional<FileSide>& before, const std::optional<FileSide>& after);

}  // namespace remora
