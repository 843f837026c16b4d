// IgnoreRules: the patterns of .gitignore and .remoraignore files, with gitignore's semantics
// (a subset that covers real projects): globs matched per path component with fnmatch(3), `**`
// for any number of directories, a trailing `/` for directories only, a leading or inner `/`
// anchoring the pattern to its file's directory (otherwise it matches a name at any depth), `!` to
// re-include, `#` comments. The last matching pattern wins, and files deeper in the tree come
// later, so they override their parents.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace remora {

class IgnoreRules {
 public:
  // Adds the patterns of an ignore file's text, found in directory `base` (relative to the root,
  // '/'-separated; "" for the root itself).
  void add(const std::string& base, std::string_view text);
  // Whether `path` (relative to the root, '/'-separated) is ignored.
  bool ignored(const std::string& path, bool is_dir) const;

  // The walk adds a directory's rules on the way in and drops them on the way out.
  std::size_t mark() const { return patterns_.size(); }
  void reset(std::size_t mark) { patterns_.resize(mark); }

 private:
  struct Pattern {
    std::string base;                // the ignore file's directory
    std::vector<std::string> parts;  // per path component; "**" for any number of them
    bool negate = false;
    bool dir_only = false;
  };
  std::vector<Pattern> patterns_;
};

}  // namespace remora
