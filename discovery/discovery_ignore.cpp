#include "discovery/discovery_ignore.hpp"

#include <fnmatch.h>

namespace remora {

namespace {

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto slash = s.find('/', start);
    if (slash == std::string_view::npos) slash = s.size();
    if (slash > start) out.emplace_back(s.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// Whether path components [j..] match pattern components [i..]. A "**" matches any number of
// components, except at the end, where it matches at least one (`dir/**` is what is inside dir).
bool match(const std::vector<std::string>& parts, std::size_t i, const std::vector<std::string>& comps, std::size_t j) {
  if (i == parts.size()) return j == comps.size();
  if (parts[i] == "**") {
    std::size_t first = i + 1 == parts.size() ? j + 1 : j;
    for (std::size_t k = first; k <= comps.size(); ++k)
      if (match(parts, i + 1, comps, k)) return true;
    return false;
  }
  return j < comps.size() && ::fnmatch(parts[i].c_str(), comps[j].c_str(), 0) == 0 && match(parts, i + 1, comps, j + 1);
}

}  // namespace

void IgnoreRules::add(const std::string& base, std::string_view text) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Trailing spaces are dropped unless escaped with a backslash.
    while (!line.empty() && line.back() == ' ' && !(line.size() >= 2 && line[line.size() - 2] == '\\')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;

    Pattern p;
    p.base = base;
    if (line[0] == '!') {
      p.negate = true;
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      p.dir_only = true;
      line.pop_back();
    }
    const bool anchored = line.find('/') != std::string::npos;
    p.parts = split(line);
    if (p.parts.empty()) continue;
    // A pattern without a slash matches a name at any depth below its ignore file.
    if (!anchored) p.parts.insert(p.parts.begin(), "**");
    patterns_.push_back(std::move(p));
  }
}

bool IgnoreRules::ignored(const std::string& path, bool is_dir) const {
  bool result = false;
  for (const auto& p : patterns_) {
    if (p.dir_only && !is_dir) continue;
    std::string_view rel = path;
    if (!p.base.empty()) {
      if (rel.size() <= p.base.size() || rel.compare(0, p.base.size(), p.base) != 0 || rel[p.base.size()] != '/') continue;
      rel.remove_prefix(p.base.size() + 1);
    }
    if (match(p.parts, 0, split(rel), 0)) result = !p.negate;
  }
  return result;
}

}  // namespace remora
