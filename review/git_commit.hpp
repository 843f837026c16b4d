// `remora accept --commit`: an accepted change recorded as a commit in the git repository that
// holds the project directory, with libgit2. The commit holds HEAD's tree with only the accepted
// files replaced (whatever else is staged or changed stays out of it), and the repository's index
// is brought up to date for those files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "review/unified_diff.hpp"

namespace remora {

// A file of the commit, relative to the project directory: its bytes and mode, or absent (deleted).
struct CommitFile {
  std::string path;
  std::optional<FileSide> content;
};

// Throws Error(invalid_argument) unless record_git_commit can commit there as author: the directory
// lies in a git work tree, and the author is 'Name <email>' or git has a user.name and user.email.
void check_git_commit(const std::filesystem::path& project, const std::string& author);

// Commits files on the current branch (HEAD; an unborn branch gets its first commit). author is
// "Name <email>", or empty for git's user.name and user.email (Error(invalid_argument) when they
// are not set); the committer is git's user, or the author. Returns the commit id (hex), or
// nullopt when HEAD already holds the files as they are.
std::optional<std::string> record_git_commit(const std::filesystem::path& project, const std::vector<CommitFile>& files,
                                      const std::string& message, const std::string& author);

}  // namespace remora
