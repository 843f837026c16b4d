// read_file, write_file, edit_file, delete_file, list_files: the project's files as the agent's
// overlay shows them.
#include <fmt/format.h>

#include <algorithm>

#include "proto/keyspace.hpp"
#include "shared/counted.hpp"
#include "worker/builtin_tools.hpp"
#include "worker/project_files.hpp"
#include "worker/project_path.hpp"

namespace remora::worker {
namespace {

using nlohmann::json;

constexpr std::size_t kDefaultLines = 2000;       // read_file without limit_lines
constexpr std::size_t kMaxReadBytes = 128 * 1024;  // read_file output, cut at a line end
constexpr std::size_t kMaxListed = 1000;           // list_files entries

std::size_t count_lines(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<std::size_t>(std::ranges::count(text, '\n')) + (text.back() != '\n');
}

ToolResult read_file(const json& args, ToolContext& ctx) {
  const auto path = project_path(args.at("path").get<std::string>());
  const auto file = require_file(ctx, path);
  const std::string_view text = file.entry->content.data;
  if (!is_text(text))
    refuse(fmt::format("'{}' is a binary file ({} bytes); read_file reads text files only", path, text.size()));
  const std::size_t total = count_lines(text);
  const std::size_t first = args.value("offset_line", std::size_t{1});
  const std::size_t limit = args.value("limit_lines", kDefaultLines);
  if (total == 0) return {true, fmt::format("[{} is empty]", path)};
  if (first > total) refuse(fmt::format("'{}' has {} lines; offset_line {} is past the end", path, total, first));

  // Lines [first, first + limit), stopping early at a line end once kMaxReadBytes is reached.
  std::size_t pos = 0, line = 1;
  for (; line < first; ++line) pos = text.find('\n', pos) + 1;
  const std::size_t begin = pos;
  std::size_t last = first - 1;
  while (last < total && last - first + 1 < limit) {
    std::size_t end = text.find('\n', pos);
    end = end == std::string_view::npos ? text.size() : end + 1;
    if (end - begin > kMaxReadBytes && last >= first) break;
    pos = end;
    ++last;
  }
  std::string out(text.substr(begin, pos - begin));
  if (first > 1 || last < total) {
    if (!out.ends_with('\n')) out += '\n';
    out += fmt::format("[lines {}-{} of {}", first, last, total);
    out += last < total ? fmt::format("; read on with offset_line={}]", last + 1) : "]";
  }
  return {true, out};
}

ToolResult write_file(const json& args, ToolContext& ctx) {
  const auto path = project_path(args.at("path").get<std::string>());
  const auto& content = args.at("content").get_ref<const std::string&>();
  auto file = resolve_file(ctx, path);
  proto::FileEntry entry;
  if (file.entry) {
    if (file.entry->content.data == content) return {true, fmt::format("{} unchanged (it already has this content)", path)};
    entry.mode = file.entry->mode;
  }
  entry.content.data = content;
  write_entry(ctx, file.path, entry);
  return {true, fmt::format("{} {} ({}, {})", file.entry ? "wrote" : "created", file.path, counted(content.size(), "byte"),
                            counted(count_lines(content), "line"))};
}

ToolResult edit_file(const json& args, ToolContext& ctx) {
  const auto path = project_path(args.at("path").get<std::string>());
  const auto& old_text = args.at("old").get_ref<const std::string&>();
  const auto& new_text = args.at("new").get_ref<const std::string&>();
  auto file = require_file(ctx, path);
  std::string& text = file.entry->content.data;
  if (!is_text(text)) refuse(fmt::format("'{}' is a binary file; edit_file edits text files only", path));
  const auto at = text.find(old_text);
  if (at == std::string::npos)
    refuse(fmt::format("the old text is not in '{}'; it must match exactly, whitespace and indentation included "
                       "(read_file shows the current text)", path));
  std::size_t count = 1;
  for (auto p = text.find(old_text, at + old_text.size()); p != std::string::npos; p = text.find(old_text, p + old_text.size()))
    ++count;
  if (count > 1)
    refuse(fmt::format("the old text occurs {} times in '{}'; include more of the surrounding lines so that it occurs once",
                       count, path));
  const auto line = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n') + 1;
  text.replace(at, old_text.size(), new_text);
  write_entry(ctx, file.path, *file.entry);
  return {true, fmt::format("edited {} at line {}", file.path, line)};
}

ToolResult delete_file(const json& args, ToolContext& ctx) {
  const auto path = project_path(args.at("path").get<std::string>());
  if (!read_entry(ctx, path)) require_file(ctx, path);  // throws, saying what is there instead
  ctx.del(keys::file(path));
  return {true, fmt::format("deleted {}", path)};
}

ToolResult list_files(const json& args, ToolContext& ctx) {
  const auto dir = project_dir(args.value("path", std::string{}));
  const auto files = files_under(ctx, dir);
  if (files.empty()) {
    if (dir.empty()) return {true, "[the project has no files]"};
    if (read_entry(ctx, dir)) refuse(fmt::format("'{}' is a file, not a directory (read_file reads it)", dir));
    refuse(fmt::format("no directory '{}' (list_files without a path lists the project root)", dir));
  }
  // Immediate children: files, and directories with how many files they hold.
  std::vector<std::pair<std::string, std::size_t>> children;  // name ("sub/" for a directory), files in it
  const std::size_t skip = dir.empty() ? 0 : dir.size() + 1;
  for (const auto& f : files) {
    auto slash = f.find('/', skip);
    std::string name = slash == std::string::npos ? f : f.substr(0, slash + 1);
    if (!children.empty() && children.back().first == name) ++children.back().second;
    else children.emplace_back(std::move(name), 1);
  }
  std::ranges::sort(children);
  std::string out;
  for (std::size_t i = 0; i < children.size() && i < kMaxListed; ++i) {
    const auto& [name, n] = children[i];
    out += name.ends_with('/') ? fmt::format("{} ({})\n", name, counted(n, "file")) : name + "\n";
  }
  if (children.size() > kMaxListed)
    out += fmt::format("[{} more entries not shown; list a subdirectory or use search_files]\n", children.size() - kMaxListed);
  return {true, out};
}

}  // namespace

Tools file_tools() {
  Tools t;
  t.push_back(std::make_unique<FunctionTool>("read_file",
      "Read a text file of the project. Long files come in windows of lines: the reply ends with a note "
      "saying which lines were shown and the offset_line to read on from.",
      R"json({"type": "object", "additionalProperties": false, "required": ["path"], "properties": {
        "path": {"type": "string", "description": "File path relative to the project root, e.g. src/app.py"},
        "offset_line": {"type": "integer", "minimum": 1, "description": "First line to read (1-based); default 1"},
        "limit_lines": {"type": "integer", "minimum": 1, "description": "How many lines to read; default 2000"}}})json",
      read_file));
  t.push_back(std::make_unique<FunctionTool>("write_file",
      "Create a file or replace its whole content. An existing file keeps its permissions; a new one gets "
      "0644. Prefer edit_file to change part of a file.",
      R"json({"type": "object", "additionalProperties": false, "required": ["path", "content"], "properties": {
        "path": {"type": "string", "description": "File path relative to the project root"},
        "content": {"type": "string", "description": "The complete new content of the file"}}})json",
      write_file));
  t.push_back(std::make_unique<FunctionTool>("edit_file",
      "Replace one exact occurrence of old with new in a file. old must occur exactly once: copy it from "
      "read_file output, whitespace included, with enough surrounding lines to be unique.",
      R"json({"type": "object", "additionalProperties": false, "required": ["path", "old", "new"], "properties": {
        "path": {"type": "string", "description": "File path relative to the project root"},
        "old": {"type": "string", "minLength": 1, "description": "The exact text to replace"},
        "new": {"type": "string", "description": "The text to put in its place"}}})json",
      edit_file));
  t.push_back(std::make_unique<FunctionTool>("delete_file", "Delete a file of the project.",
      R"json({"type": "object", "additionalProperties": false, "required": ["path"], "properties": {
        "path": {"type": "string", "description": "File path relative to the project root"}}})json",
      delete_file));
  t.push_back(std::make_unique<FunctionTool>("list_files",
      "List the files and directories directly inside a directory of the project; directories end with / "
      "and show how many files they hold.",
      R"json({"type": "object", "additionalProperties": false, "properties": {
        "path": {"type": "string", "description": "Directory relative to the project root; default: the root"}}})json",
      list_files));
  return t;
}

}  // namespace remora::worker
