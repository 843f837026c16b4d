// Project import: a project directory copied into the workspace's base, where agents read it.
//
// Every file the discovery walk keeps (see discovery_walk.hpp: dot-directories, node_modules,
// virtualenvs, build directories and whatever .gitignore or .remoraignore ignores are skipped;
// so are binary files and files over the size limit) becomes `file:<path>` in base holding its
// bytes and permission bits. One transaction writes the new and changed files, deletes the files
// of base that are no longer on disk, and records `run:project`; files whose bytes and mode are
// unchanged are not rewritten. Symbolic links are never followed (a link could lead out of the
// root) and never imported.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "discovery/discovery.hpp"
#include "shared/workspace.hpp"

namespace remora {

struct ImportResult {
  std::size_t added = 0, changed = 0, removed = 0, unchanged = 0;
  std::vector<SkippedFile> skipped;  // binary, over the size limit, unreadable
  std::uint64_t revision = 0;        // the revision that committed the import
};

// Imports root (a directory) into base. options.exclude and options.max_file_bytes apply as in
// discovery. Throws Error(invalid_argument) when root is not a directory.
ImportResult import_project(Workspace& ws, const std::filesystem::path& root, const DiscoveryOptions& options = {});

// The project a workspace was imported from (run:project), if any.
std::optional<proto::Project> imported_project(const Workspace& ws);

}  // namespace remora
