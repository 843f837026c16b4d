// search_files (glob over paths) and search_content (RE2 over file lines): model-chosen patterns
// run in linear time, and a search stops at its result, output and time limits, saying so.
#include <fmt/format.h>
#include <re2/re2.h>

#include <cctype>

#include "shared/counted.hpp"
#include "worker/builtin_tools.hpp"
#include "worker/project_files.hpp"
#include "worker/project_path.hpp"

namespace remora::worker {
namespace {

using nlohmann::json;

std::unique_ptr<RE2> compile(const std::string& pattern, const std::string& what) {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_dot_nl(true);
  auto re = std::make_unique<RE2>(pattern, o);
  if (!re->ok()) refuse(fmt::format("{}: {}", what, re->error()));
  return re;
}

// A glob as a regular expression over whole project paths. '*' and '?' stay within one path
// segment, '**' spans segments, [abc] [!a-z] are classes, {a,b} alternatives, '\' escapes. A
// pattern without '/' matches file names at any depth ("*.py" is "**/*.py").
std::string glob_regex(std::string_view glob) {
  if (glob.starts_with('/')) refuse(fmt::format("pattern '{}' is absolute; patterns are relative to the project root", glob));
  while (glob.starts_with("./")) glob.remove_prefix(2);
  std::string re = glob.find('/') == std::string_view::npos ? "(?:.*/)?" : "";
  int braces = 0;
  for (std::size_t i = 0; i < glob.size(); ++i) {
    const char c = glob[i];
    const bool segment_start = i == 0 || glob[i - 1] == '/';
    if (c == '*' && i + 1 < glob.size() && glob[i + 1] == '*' && segment_start &&
        (i + 2 == glob.size() || glob[i + 2] == '/')) {
      re += i + 2 == glob.size() ? ".*" : "(?:.*/)?";
      i += 2;  // past "**" and its '/'
    } else if (c == '*') {
      while (i + 1 < glob.size() && glob[i + 1] == '*') ++i;
      re += "[^/]*";
    } else if (c == '?') {
      re += "[^/]";
    } else if (c == '[') {
      std::size_t j = i + 1;
      const bool negate = j < glob.size() && (glob[j] == '!' || glob[j] == '^');
      if (negate) ++j;
      const std::size_t close = j < glob.size() ? glob.find(']', j + 1) : std::string_view::npos;  // "[]]" holds ']'
      if (close == std::string_view::npos) {
        re += "\\[";
        continue;
      }
      re += negate ? "[^" : "[";
      for (std::size_t k = j; k < close; ++k) {
        const char m = glob[k];
        if (m == '-' && k != j && k + 1 != close) re += '-';
        else if (std::isalnum(static_cast<unsigned char>(m)) || static_cast<unsigned char>(m) >= 0x80) re += m;
        else re += '\\', re += m;
      }
      re += ']';
      i = close;
    } else if (c == '{') {
      ++braces;
      re += "(?:";
    } else if (c == ',' && braces > 0) {
      re += '|';
    } else if (c == '}' && braces > 0) {
      --braces;
      re += ')';
    } else if (c == '\\' && i + 1 < glob.size()) {
      re += RE2::QuoteMeta(glob.substr(++i, 1));
    } else {
      re += RE2::QuoteMeta(glob.substr(i, 1));
    }
  }
  if (braces > 0) refuse(fmt::format("pattern '{}' has an unclosed '{{'", glob));
  return re;
}

ToolResult search_files(const json& args, ToolContext& ctx, const SearchLimits& limits) {
  const auto& pattern = args.at("pattern").get_ref<const std::string&>();
  const auto re = compile(glob_regex(pattern), fmt::format("bad pattern '{}'", pattern));
  std::string out;
  std::size_t found = 0;
  for (const auto& path : files_under(ctx, "")) {
    if (!RE2::FullMatch(path, *re)) continue;
    if (++found <= limits.max_files) out += path + "\n";
  }
  if (found == 0) return {true, fmt::format("no files match '{}'", pattern)};
  if (found > limits.max_files)
    out += fmt::format("[{} of {} files shown; narrow the pattern]\n", limits.max_files, found);
  return {true, out};
}

ToolResult search_content(const json& args, ToolContext& ctx, const SearchLimits& limits) {
  const auto& pattern = args.at("pattern").get_ref<const std::string&>();
  const auto re = compile(pattern, "bad regular expression (RE2 syntax)");
  const auto scope = project_dir(args.value("path", std::string{}));
  const std::size_t max_results = args.value("max_results", limits.max_results);
  const auto started = std::chrono::steady_clock::now();

  auto files = files_under(ctx, scope);
  if (files.empty() && !scope.empty()) {
    if (!read_entry(ctx, scope)) refuse(fmt::format("no file or directory '{}'", scope));
    files.push_back(scope);
  }
  std::string out, stopped;
  std::size_t matches = 0, searched = 0, binary = 0;
  for (const auto& path : files) {
    if (searched > 0 && std::chrono::steady_clock::now() - started >= limits.budget) {
      stopped = fmt::format("stopped after {} ms, having searched {} of {} files; narrow the path",
                            limits.budget.count(), searched, files.size());
      break;
    }
    ++searched;
    const auto entry = read_entry(ctx, path);  // a symlink's target is searched under its own path
    if (!entry || is_symlink(entry->mode)) continue;
    const std::string_view text = entry->content.data;
    if (!is_text(text)) {
      ++binary;
      continue;
    }
    std::size_t line = 0;
    for (std::size_t pos = 0; pos < text.size() && stopped.empty();) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      const auto content = text.substr(pos, end - pos);
      pos = end + 1;
      ++line;
      if (!RE2::PartialMatch(content, *re)) continue;
      if (matches == max_results) {
        stopped = fmt::format("stopped at {} matches; narrow the pattern or path, or raise max_results (up to {})",
                              max_results, limits.max_results_cap);
        break;
      }
      std::string shown(content.substr(0, limits.max_line_chars));
      if (content.size() > limits.max_line_chars) shown += "...";
      auto hit = fmt::format("{}:{}: {}\n", path, line, shown);
      if (out.size() + hit.size() > limits.max_bytes) {
        stopped = fmt::format("stopped at {} matches, the output limit of {} bytes; narrow the pattern or path",
                              matches, limits.max_bytes);
        break;
      }
      out += hit;
      ++matches;
    }
    if (!stopped.empty()) break;
  }
  if (matches == 0 && stopped.empty())
    return {true, fmt::format("no matches for '{}' in {}{}", pattern, counted(searched, "file"),
                              binary ? fmt::format(" ({} skipped)", counted(binary, "binary file")) : "")};
  if (!stopped.empty()) out += "[" + stopped + "]\n";
  return {true, out};
}

}  // namespace

Tools search_tools(const SearchLimits& limits) {
  Tools t;
  t.push_back(std::make_unique<FunctionTool>("search_files",
      "Find files whose paths match a glob: * and ? within one directory level, ** across levels, [abc], "
      "{a,b}. A pattern without / matches file names at any depth (*.py finds every Python file). Paths "
      "are listed in order.",
      R"json({"type": "object", "additionalProperties": false, "required": ["pattern"], "properties": {
        "pattern": {"type": "string", "minLength": 1, "description": "Glob, e.g. src/**/*.py or *.{h,cpp}"}}})json",
      [limits](const json& a, ToolContext& ctx) { return search_files(a, ctx, limits); }));
  t.push_back(std::make_unique<FunctionTool>("search_content",
      "Search the lines of text files for a regular expression (RE2 syntax; (?i) for case-insensitive). "
      "Each match is printed as path:line: text, in path order.",
      fmt::format(R"json({{"type": "object", "additionalProperties": false, "required": ["pattern"], "properties": {{
        "pattern": {{"type": "string", "minLength": 1, "description": "Regular expression matched against each line"}},
        "path": {{"type": "string", "description": "Directory or file to search, relative to the project root; default: the whole project"}},
        "max_results": {{"type": "integer", "minimum": 1, "maximum": {}, "description": "Most matches to print; default {}"}}}}}})json",
                  limits.max_results_cap, limits.max_results),
      [limits](const json& a, ToolContext& ctx) { return search_content(a, ctx, limits); }));
  return t;
}

}  // namespace remora::worker
