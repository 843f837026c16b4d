// Three-way merge of one text file, line by line, with libgit2's git_merge_file (the merge of
// `git merge-file`): what an agent changed and what changed on disk since the version it started
// from, combined when they touch different lines; the conflicting hunks otherwise.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "review/unified_diff.hpp"

namespace remora {

struct ThreeWayMerge {
  // Set when the merge is clean: the merged bytes and mode.
  std::optional<FileSide> merged;
  // When it is not: each conflicting hunk as git marks it (diff3 style: the agent's lines, the
  // lines it started from, the lines on disk), one string per hunk.
  std::vector<std::string> conflicts;
};

// Why the file cannot be merged line by line (a side is binary), or nothing.
std::optional<std::string> unmergeable(const std::optional<FileSide>& ancestor, const FileSide& ours,
                                       const FileSide& theirs);

// Merges ours (the agent's version) and theirs (the disk's) from their common ancestor (absent:
// the file did not exist). Modes merge the same way: a side that kept the ancestor's mode takes
// the other's; two different new modes conflict. `ours_label` names the agent in the markers.
ThreeWayMerge merge_three_way(std::string_view path, const std::optional<FileSide>& ancestor, const FileSide& ours,
                              const FileSide& theirs, const std::string& ours_label);

}  // namespace remora
