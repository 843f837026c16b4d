#include "supervisor/project_import.hpp"

#include <set>
#include <string>
#include <utility>

#include "discovery/discovery_walk.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "supervisor/project_dir.hpp"

namespace remora {

ImportResult import_project(Workspace& ws, const std::filesystem::path& root, const DiscoveryOptions& options) {
  ImportResult result;
  const auto abs_root = std::filesystem::weakly_canonical(std::filesystem::absolute(root));
  const ProjectDir dir(abs_root);
  std::vector<std::pair<std::string, std::string>> files;  // key, encoded FileEntry
  for (const SourceFile& f : walk_project(abs_root, options, result.skipped)) {
    DiskFile disk = dir.read(f.path);
    if (disk.kind != DiskFile::Kind::file) {
      result.skipped.push_back({f.path, "no longer a regular file"});
    } else if (looks_binary(disk.content)) {
      result.skipped.push_back({f.path, "binary (a NUL byte in its first 8 KiB)"});
    } else {
      files.emplace_back(keys::file(f.path), proto::encode(proto::FileEntry{{std::move(disk.content)}, disk.mode}));
    }
  }

  const Namespace base = ws.ns(keys::kBase);
  ImportResult counts;
  result.revision = ws.write([&](WriteTxn& t) {
    counts = {};
    std::set<std::string_view> on_disk;
    for (const auto& [key, bytes] : files) {
      on_disk.insert(key);
      auto cur = t.get(base, key);
      if (cur && cur->value == bytes) {
        ++counts.unchanged;
        continue;
      }
      ++(cur ? counts.changed : counts.added);
      t.put(base, key, bytes);
    }
    std::vector<std::string> gone;
    t.scan(base, keys::kFile, [&](std::string_view key, const Entry&) {
      if (!on_disk.contains(key)) gone.emplace_back(key);
      return true;
    });
    for (const auto& key : gone) t.del(base, key);
    counts.removed = gone.size();
    proto::Project project{abs_root.string(), t.revision(), now_ms(), files.size()};
    t.put(base, keys::kRunProject, proto::encode(project));
  });
  result.added = counts.added;
  result.changed = counts.changed;
  result.removed = counts.removed;
  result.unchanged = counts.unchanged;
  return result;
}

std::optional<proto::Project> imported_project(const Workspace& ws) {
  auto e = ws.get(ws.ns(keys::kBase), keys::kRunProject);
  if (!e) return std::nullopt;
  return proto::decode<proto::Project>(e->value, keys::kRunProject);
}

}  // namespace remora
