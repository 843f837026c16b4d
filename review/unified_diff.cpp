#include "review/unified_diff.hpp"

#include <dtl/dtl.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "discovery/discovery_walk.hpp"
#include "supervisor/project_dir.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora {

namespace {

constexpr std::size_t kContext = 3;

// Lines with their '\n' (the last may have none), so that a missing final newline is a change.
std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t start = 0; start < text.size();) {
    auto nl = text.find('\n', start);
    auto end = nl == std::string_view::npos ? text.size() : nl + 1;
    out.emplace_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

struct Op {
  dtl::edit_t type;  // dtl::SES_COMMON, SES_ADD, SES_DELETE
  const std::string* line;
};

std::vector<Op> edit_script(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  dtl::Diff<std::string, std::vector<std::string>> d(a, b);
  d.compose();
  std::vector<Op> ops;
  std::size_t ia = 0, ib = 0;  // point into a and b: the script's elements are copies
  for (const auto& [line, info] : d.getSes().getSequence()) {
    if (info.type == dtl::SES_ADD) {
      ops.push_back({info.type, &b[ib++]});
    } else {
      if (info.type == dtl::SES_COMMON) ++ib;
      ops.push_back({info.type, &a[ia++]});
    }
  }
  // Within each run of changes, the removed lines first, as diff -u shows them.
  for (auto run = ops.begin(); run != ops.end();) {
    auto end = std::find_if(run, ops.end(), [](const Op& op) { return op.type == dtl::SES_COMMON; });
    std::stable_partition(run, end, [](const Op& op) { return op.type == dtl::SES_DELETE; });
    run = end == ops.end() ? end : end + 1;
  }
  return ops;
}

struct Colours {
  const char *bold, *cyan, *red, *green, *reset;
};
constexpr Colours kColours{"\033[1m", "\033[36m", "\033[31m", "\033[32m", "\033[m"};
constexpr Colours kPlain{"", "", "", "", ""};

std::string range(std::size_t start, std::size_t count) {
  if (count == 1) return std::to_string(start);
  return fmt::format("{},{}", count == 0 ? start - (start > 0) : start, count);
}

void append_line(std::string& out, char mark, const std::string& line, const Colours& c, const char* colour) {
  // On a terminal (colour), a line's control characters are shown escaped; piped, the diff is
  // the file's bytes, for git apply.
  const bool inert = c.reset[0] != '\0';
  const char* reset = colour[0] ? c.reset : "";
  out += colour;
  out += mark;
  if (!line.empty() && line.back() == '\n') {
    const std::string_view body(line.data(), line.size() - 1);
    out += inert ? inert_lines(body) : std::string(body);
    out += reset;
    out += '\n';
  } else {
    out += inert ? inert_lines(line) : line;
    out += reset;
    out += "\n\\ No newline at end of file\n";
  }
}

std::string hunks(std::string_view before, std::string_view after, const Colours& c) {
  const auto a = lines_of(before), b = lines_of(after);
  const auto ops = edit_script(a, b);
  // An op is shown when it is a change or within kContext ops of one: changes whose gap is at
  // most twice the context share a hunk, as in diff -u.
  std::vector<bool> shown(ops.size(), false);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].type == dtl::SES_COMMON) continue;
    std::size_t lo = i >= kContext ? i - kContext : 0, hi = std::min(ops.size(), i + kContext + 1);
    std::fill(shown.begin() + static_cast<std::ptrdiff_t>(lo), shown.begin() + static_cast<std::ptrdiff_t>(hi), true);
  }
  std::string out;
  std::size_t line_a = 1, line_b = 1;  // the next line number on each side
  for (std::size_t i = 0; i < ops.size();) {
    if (!shown[i]) {
      ++line_a, ++line_b;  // only common lines are ever hidden
      ++i;
      continue;
    }
    std::size_t end = i;
    std::size_t count_a = 0, count_b = 0;
    for (; end < ops.size() && shown[end]; ++end) {
      count_a += ops[end].type != dtl::SES_ADD;
      count_b += ops[end].type != dtl::SES_DELETE;
    }
    out += fmt::format("{}@@ -{} +{} @@{}\n", c.cyan, range(line_a, count_a), range(line_b, count_b), c.reset);
    for (; i < end; ++i) {
      switch (ops[i].type) {
        case dtl::SES_ADD: append_line(out, '+', *ops[i].line, c, c.green); break;
        case dtl::SES_DELETE: append_line(out, '-', *ops[i].line, c, c.red); break;
        default: append_line(out, ' ', *ops[i].line, c, ""); break;
      }
    }
    line_a += count_a;
    line_b += count_b;
  }
  return out;
}

bool binary(const std::optional<FileSide>& side) { return side && looks_binary(side->content); }

}  // namespace

std::string file_diff(std::string_view path, const std::optional<FileSide>& before, const std::optional<FileSide>& after,
                      bool colour) {
  const Colours& c = colour ? kColours : kPlain;
  const std::string a_path = quoted_name(fmt::format("a/{}", path)), b_path = quoted_name(fmt::format("b/{}", path));
  std::string out = fmt::format("{}diff --git {} {}\n", c.bold, a_path, b_path);
  if (!before)
    out += fmt::format("new file mode {}\n", full_mode(after->mode));
  else if (!after)
    out += fmt::format("deleted file mode {}\n", full_mode(before->mode));
  else if (before->mode != after->mode)
    out += fmt::format("old mode {}\nnew mode {}\n", full_mode(before->mode), full_mode(after->mode));
  if (after)
    if (auto why = unwritable_mode(after->mode))
      out += fmt::format("{}# remora accept refuses this file: mode {}: {}{}\n", c.red, full_mode(after->mode), *why,
                         c.bold);
  const std::string from = before ? a_path : "/dev/null";
  const std::string to = after ? b_path : "/dev/null";
  const std::string_view old_text = before ? std::string_view(before->content) : "";
  const std::string_view new_text = after ? std::string_view(after->content) : "";
  if (binary(before) || binary(after)) {
    out += c.reset;
    if (old_text != new_text) out += fmt::format("Binary files {} and {} differ\n", from, to);
    return out;
  }
  if (old_text == new_text) return out + c.reset;  // a mode change, or an empty file added or deleted
  out += fmt::format("--- {}\n+++ {}{}\n", from, to, c.reset);
  return out + hunks(old_text, new_text, c);
}

DiffStat diff_stat(const std::optional<FileSide>& before, const std::optional<FileSide>& after) {
  DiffStat s;
  if (binary(before) || binary(after)) {
    s.binary = true;
    return s;
  }
  const auto a = lines_of(before ? before->content : ""), b = lines_of(after ? after->content : "");
  for (const Op& op : edit_script(a, b)) {
    s.added += op.type == dtl::SES_ADD;
    s.removed += op.type == dtl::SES_DELETE;
  }
  return s;
}

}  // namespace remora
