#include "review/three_way_merge.hpp"

#include <git2.h>

#include <fmt/format.h>

#include "shared/error.hpp"

namespace remora {

namespace {

// libgit2 wants git_libgit2_init once per process before any call.
void init_libgit2() {
  static const int once = git_libgit2_init();
  (void)once;
}

bool binary(std::string_view s) { return s.find('\0') != std::string_view::npos; }

git_merge_file_input input(const std::string& content) {
  git_merge_file_input in;
  git_merge_file_input_init(&in, GIT_MERGE_FILE_INPUT_VERSION);
  in.ptr = content.data();
  in.size = content.size();
  in.mode = 0100644;  // modes are merged apart (see merge_three_way)
  return in;
}

// The conflicting hunks of git's marked-up result: from a `<<<<<<<` line to its `>>>>>>>` line.
std::vector<std::string> marked_hunks(std::string_view text) {
  std::vector<std::string> hunks;
  std::string hunk;
  bool inside = false;
  for (std::size_t pos = 0; pos < text.size();) {
    auto end = text.find('\n', pos);
    auto line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end + 1 - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (!inside && line.starts_with("<<<<<<< ")) inside = true;
    if (!inside) continue;
    hunk += line;
    if (!hunk.ends_with('\n')) hunk += '\n';
    if (line.starts_with(">>>>>>> ")) {
      hunks.push_back(std::move(hunk));
      hunk.clear();
      inside = false;
    }
  }
  if (inside) hunks.push_back(std::move(hunk));
  return hunks;
}

}  // namespace

std::optional<std::string> unmergeable(const std::optional<FileSide>& ancestor, const FileSide& ours,
                                       const FileSide& theirs) {
  if ((ancestor && binary(ancestor->content)) || binary(ours.content) || binary(theirs.content))
    return "a binary file cannot be merged line by line";
  return std::nullopt;
}

ThreeWayMerge merge_three_way(std::string_view path, const std::optional<FileSide>& ancestor, const FileSide& ours,
                              const FileSide& theirs, const std::string& ours_label) {
  init_libgit2();
  static const std::string kNothing;
  const auto anc = input(ancestor ? ancestor->content : kNothing);
  const auto our = input(ours.content);
  const auto their = input(theirs.content);
  git_merge_file_options opts;
  git_merge_file_options_init(&opts, GIT_MERGE_FILE_OPTIONS_VERSION);
  opts.ancestor_label = "what the agent started from";
  opts.our_label = ours_label.c_str();
  opts.their_label = "on disk";
  opts.flags = GIT_MERGE_FILE_STYLE_DIFF3;
  git_merge_file_result result{};
  if (git_merge_file(&result, &anc, &our, &their, &opts) != 0) {
    const git_error* e = git_error_last();
    throw Error(Errc::io, fmt::format("three-way merge of {} failed: {}", path, e && e->message ? e->message : "libgit2 error"));
  }
  ThreeWayMerge out;
  std::string text(result.ptr ? result.ptr : "", result.len);
  const bool clean = result.automergeable != 0;
  git_merge_file_result_free(&result);

  const std::uint32_t base_mode = ancestor ? ancestor->mode : ours.mode;
  std::optional<std::uint32_t> mode;
  if (ours.mode == base_mode || ours.mode == theirs.mode) mode = theirs.mode;
  else if (theirs.mode == base_mode) mode = ours.mode;
  if (!mode)
    out.conflicts.push_back(fmt::format("mode: {:o} in {}, {:o} on disk, {:o} before\n", ours.mode, ours_label,
                                        theirs.mode, base_mode));
  if (!clean) {
    auto hunks = marked_hunks(text);
    if (hunks.empty()) hunks.push_back("(libgit2 found the changes conflicting)\n");
    out.conflicts.insert(out.conflicts.end(), hunks.begin(), hunks.end());
  }
  if (out.conflicts.empty()) out.merged = FileSide{std::move(text), *mode};
  return out;
}

}  // namespace remora
