#include "discovery/discovery_walk.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>

#include "discovery/discovery_ignore.hpp"
#include "shared/error.hpp"
#include "shared/unique_fd.hpp"

namespace remora {

namespace fs = std::filesystem;

namespace {

// The bytes of file, opened without following a link (a link in the tree could lead anywhere) and
// only if it is a regular file; nullopt with errno set when it cannot be.
std::optional<std::string> read_regular(const fs::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0) return std::nullopt;
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    return std::nullopt;
  }
  std::string text;
  if (!read_to_end(fd.get(), text)) return std::nullopt;
  return text;
}

bool skipped_dir(const fs::path& dir, const std::string& name) {
  static const char* const kNames[] = {"node_modules", "__pycache__", "build", "dist", "target"};
  if (name.empty() || name[0] == '.') return true;
  for (const char* n : kNames)
    if (name == n) return true;
  std::error_code ec;
  return fs::exists(dir / "pyvenv.cfg", ec);
}

class Walk {
 public:
  // every_file: keep files of no known language too (the project import).
  Walk(const DiscoveryOptions& options, std::vector<SkippedFile>& skipped, bool every_file = false)
      : options_(options),
        only_(options.language ? language_named(*options.language) : nullptr),
        every_file_(every_file),
        skipped_(skipped) {
    std::string text;
    for (const auto& p : options.exclude) text += p + "\n";
    excludes_.add("", text);
  }

  void dir(const fs::path& dir, const std::string& rel) {
    const auto mark = rules_.mark();
    for (const char* name : {".gitignore", ".remoraignore"}) {
      std::error_code ec;
      if (!fs::is_regular_file(fs::symlink_status(dir / name, ec))) continue;  // a link is never read
      if (auto text = read_regular(dir / name)) rules_.add(rel, *text);
    }
    std::vector<fs::directory_entry> entries;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      entries.push_back(*it);
    if (ec) skipped_.push_back({rel.empty() ? "." : rel, "unreadable directory: " + ec.message()});
    std::sort(entries.begin(), entries.end());

    for (const auto& e : entries) {
      const std::string name = e.path().filename().string();
      const std::string child = rel.empty() ? name : rel + "/" + name;
      const auto status = e.symlink_status(ec);
      if (fs::is_directory(status)) {
        if (!skipped_dir(e.path(), name) && !ignored(child, true)) this->dir(e.path(), child);
      } else if (fs::is_regular_file(status)) {
        const Language* lang = language_of(e.path());
        if ((!lang && !every_file_) || (only_ && lang != only_) || ignored(child, false)) continue;
        file(e.path(), child, lang);
      }
    }
    rules_.reset(mark);
  }

  void file(const fs::path& file, const std::string& rel, const Language* lang) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec)
      skipped_.push_back({rel, "unreadable: " + ec.message()});
    else if (size > options_.max_file_bytes)
      skipped_.push_back({rel, "larger than " + std::to_string(options_.max_file_bytes) + " bytes"});
    else
      files_.push_back({file, rel, lang});
  }

  std::vector<SourceFile> files() { return std::move(files_); }

 private:
  bool ignored(const std::string& path, bool is_dir) const {
    return rules_.ignored(path, is_dir) || excludes_.ignored(path, is_dir);
  }

  const DiscoveryOptions& options_;
  const Language* only_;
  const bool every_file_;
  std::vector<SkippedFile>& skipped_;
  IgnoreRules rules_, excludes_;
  std::vector<SourceFile> files_;
};

}  // namespace

std::vector<SourceFile> walk_sources(const fs::path& root, const DiscoveryOptions& options,
                                     std::vector<SkippedFile>& skipped) {
  if (options.language && !language_named(*options.language))
    throw Error(Errc::invalid_argument, "unknown language '" + *options.language + "' (python, c, cpp, javascript)");
  std::error_code ec;
  const auto status = fs::status(root, ec);
  Walk walk(options, skipped);
  if (fs::is_directory(status)) {
    walk.dir(root, "");
  } else if (fs::is_regular_file(status)) {
    // A file named on purpose is read even if an ignore rule or its directory would skip it.
    const Language* lang = options.language ? language_named(*options.language) : language_of(root);
    if (!lang) throw Error(Errc::invalid_argument, "cannot tell the language of " + root.string() + " (use --lang)");
    walk.file(fs::canonical(root, ec), root.filename().string(), lang);  // a link named on purpose is followed
  } else {
    throw Error(Errc::invalid_argument, "no such file or directory: " + root.string());
  }
  return walk.files();
}

std::vector<SourceFile> walk_project(const fs::path& root, const DiscoveryOptions& options,
                                     std::vector<SkippedFile>& skipped) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error(Errc::invalid_argument, "not a directory: " + root.string());
  Walk walk(options, skipped, true);
  walk.dir(root, "");
  return walk.files();
}

bool looks_binary(std::string_view bytes) {
  return std::memchr(bytes.data(), '\0', std::min<std::size_t>(bytes.size(), 8192)) != nullptr;
}

std::optional<std::string> read_source(const SourceFile& source, std::string& reason) {
  auto read = read_regular(source.file);
  if (!read) {
    reason = std::string("unreadable: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::string text = std::move(*read);
  if (looks_binary(text)) {
    reason = "binary (a NUL byte in its first 8 KiB)";
    return std::nullopt;
  }
  return text;
}

}  // namespace remora
