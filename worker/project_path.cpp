#include "worker/project_path.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <optional>
#include <vector>

#include "proto/keyspace.hpp"
#include "worker/tool.hpp"

namespace remora::worker {
namespace {

constexpr std::size_t kMaxPathBytes = keys::kMaxKeyBytes - keys::kFile.size();

// The normalized form of a relative path, or nullopt when '..' climbs above the root.
std::optional<std::string> lexically_normal(std::string_view p) {
  std::vector<std::string_view> parts;
  while (!p.empty()) {
    auto slash = p.find('/');
    auto part = p.substr(0, slash);
    p = slash == std::string_view::npos ? std::string_view{} : p.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else {
      parts.push_back(part);
    }
  }
  std::string out;
  for (auto part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

std::string normalize(std::string_view given, std::string_view what) {
  if (given.find('\0') != std::string_view::npos) refuse(fmt::format("{} contains a NUL byte", what));
  if (given.starts_with('/'))
    refuse(fmt::format("{} '{}' is absolute; paths are relative to the project root (e.g. 'src/main.py')", what, given));
  auto normal = lexically_normal(given);
  if (!normal)
    refuse(fmt::format("{} '{}' leads outside the project; '..' may not climb above the project root", what, given));
  if (normal->size() > kMaxPathBytes)
    refuse(fmt::format("{} is {} bytes long; the limit is {}", what, normal->size(), kMaxPathBytes));
  return *normal;
}

}  // namespace

std::string project_path(std::string_view given, std::string_view what) {
  if (given.empty()) refuse(fmt::format("{} is empty; give a path relative to the project root (e.g. 'src/main.py')", what));
  auto p = normalize(given, what);
  if (p.empty()) refuse(fmt::format("{} '{}' is the project root, not a file", what, given));
  return p;
}

std::string project_dir(std::string_view given, std::string_view what) { return normalize(given, what); }

bool is_symlink(std::uint32_t mode) { return (mode & S_IFMT) == S_IFLNK; }

std::string symlink_target(std::string_view link_path, std::string_view target) {
  auto slash = link_path.rfind('/');
  std::string joined = slash == std::string_view::npos ? std::string(target)
                                                       : fmt::format("{}/{}", link_path.substr(0, slash), target);
  if (target.starts_with('/') || !lexically_normal(joined))
    refuse(fmt::format("'{}' is a symbolic link to '{}', outside the project; it cannot be followed", link_path, target));
  return project_path(joined, fmt::format("the target of symbolic link '{}'", link_path));
}

}  // namespace remora::worker
