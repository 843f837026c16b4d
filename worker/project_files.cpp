#include "worker/project_files.hpp"

#include <fmt/format.h>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "worker/project_path.hpp"

namespace remora::worker {

std::optional<proto::FileEntry> read_entry(ToolContext& ctx, const std::string& path) {
  const auto key = keys::file(path);
  auto bytes = ctx.get(key);
  if (!bytes) return std::nullopt;
  return proto::decode<proto::FileEntry>(*bytes, key);
}

ResolvedFile resolve_file(ToolContext& ctx, const std::string& path) {
  ResolvedFile r{path, read_entry(ctx, path)};
  for (int hops = 0; r.entry && is_symlink(r.entry->mode); ++hops) {
    if (hops == kMaxSymlinkHops)
      refuse(fmt::format("'{}': too many levels of symbolic links", path));
    r.path = symlink_target(r.path, r.entry->content.data);
    r.entry = read_entry(ctx, r.path);
  }
  return r;
}

ResolvedFile require_file(ToolContext& ctx, const std::string& path) {
  auto r = resolve_file(ctx, path);
  if (r.entry) return r;
  if (r.path != path)
    refuse(fmt::format("'{}' is a symbolic link to '{}', which does not exist", path, r.path));
  if (is_directory(ctx, path))
    refuse(fmt::format("'{}' is a directory, not a file (list_files shows its files)", path));
  refuse(fmt::format("no such file '{}' (list_files and search_files show what exists)", path));
}

bool is_directory(ToolContext& ctx, const std::string& path) { return !ctx.keys(keys::file(path + "/")).empty(); }

std::vector<std::string> files_under(ToolContext& ctx, const std::string& dir) {
  auto found = ctx.keys(keys::file(dir.empty() ? dir : dir + "/"));
  for (auto& k : found) k.erase(0, keys::kFile.size());
  return found;
}

void write_entry(ToolContext& ctx, const std::string& path, const proto::FileEntry& entry) {
  if (is_directory(ctx, path))
    refuse(fmt::format("'{}' is a directory; give the path of a file in it", path));
  for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    auto parent = path.substr(0, slash);
    if (read_entry(ctx, parent))
      refuse(fmt::format("cannot write '{}': '{}' is a file, not a directory", path, parent));
  }
  ctx.put(keys::file(path), proto::encode(entry));
}

bool is_text(std::string_view content) {
  return content.find('\0') == std::string_view::npos && proto::is_utf8(content);
}

}  // namespace remora::worker
