// The project's files as one agent sees them through its ToolContext: file:<path> keys holding
// FileEntry records, directories implied by the paths. Symbolic links inside the project are
// followed (at most kMaxSymlinkHops of them); one leading outside is refused (project_path.hpp).
// Every file read goes through ToolContext::get, so the kernel records it for conflict checks.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "proto/records.hpp"
#include "worker/tool.hpp"

namespace remora::worker {

inline constexpr int kMaxSymlinkHops = 8;

// A path after following symbolic links, and the file there (nullopt: no file at that path).
struct ResolvedFile {
  std::string path;
  std::optional<proto::FileEntry> entry;
};

// The entry stored at path itself (a symlink is not followed); nullopt when absent.
std::optional<proto::FileEntry> read_entry(ToolContext& ctx, const std::string& path);

// Follows symbolic links from path (a normalized project path).
ResolvedFile resolve_file(ToolContext& ctx, const std::string& path);

// The file at path after following links; throws Error(invalid_argument) saying what is there
// instead ("no such file", "is a directory") when it is not a file.
ResolvedFile require_file(ToolContext& ctx, const std::string& path);

// Whether some file lives under path/.
bool is_directory(ToolContext& ctx, const std::string& path);

// Paths of every file under dir ("" for the whole project), sorted, without reading them.
std::vector<std::string> files_under(ToolContext& ctx, const std::string& dir);

// Stages entry at path, refusing a path that is a directory or lies under a file.
void write_entry(ToolContext& ctx, const std::string& path, const proto::FileEntry& entry);

// Whether content is text a model can read: UTF-8 without NUL bytes.
bool is_text(std::string_view content);

}  // namespace remora::worker
