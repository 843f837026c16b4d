// The source walk: which files of a tree discovery reads, and reading them.
//
// Skipped without a word: dot-directories (.git, .venv, ...), node_modules, __pycache__, build
// dirs (build, dist, target), virtualenvs (a directory holding pyvenv.cfg), whatever .gitignore,
// .remoraignore or an --exclude pattern ignores, symbolic links (a link can lead out of the tree
// or into a cycle), and files of no known language. Skipped with a reason: files over the size
// limit, binary files, unreadable files and directories. Nothing stops the walk. Files (and the
// .gitignore and .remoraignore files) are opened with O_NOFOLLOW, so a link swapped in after the
// walk saw a file is not followed either; only a root named on purpose may be a link.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "discovery/discovery.hpp"
#include "discovery/discovery_language.hpp"

namespace remora {

struct SourceFile {
  std::filesystem::path file;  // where to read it
  std::string path;            // relative to the root, '/'-separated: the path of its nodes
  const Language* language;    // nullptr for a file of no known language (walk_project)
};

// The files to parse under root: a directory, or a single file (read whatever its name, in the
// language its extension or options.language says). Throws Error(invalid_argument) when root
// does not exist, or is a file of no known language.
std::vector<SourceFile> walk_sources(const std::filesystem::path& root, const DiscoveryOptions& options,
                                     std::vector<SkippedFile>& skipped);

// Every file under the directory root that the same rules keep, whatever its language: what
// `remora run` imports into the workspace. Throws Error(invalid_argument) when root is not a
// directory.
std::vector<SourceFile> walk_project(const std::filesystem::path& root, const DiscoveryOptions& options,
                                     std::vector<SkippedFile>& skipped);

// Whether bytes look binary: a NUL byte in their first 8 KiB.
bool looks_binary(std::string_view bytes);

// A source file's bytes, or nullopt with the reason when it is binary (a NUL byte in its first
// 8 KiB) or cannot be read. Any bytes are text otherwise: invalid UTF-8 is parsed as it is.
std::optional<std::string> read_source(const SourceFile& source, std::string& reason);

}  // namespace remora
