#include "discovery/discovery_query_pack.hpp"

#include <tree_sitter/api.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "shared/error.hpp"

namespace remora {

namespace fs = std::filesystem;

namespace {

// "file:line:column" of a byte offset in a query's source.
std::string where(const fs::path& file, const std::string& source, std::size_t offset) {
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < offset && i < source.size(); ++i)
    if (source[i] == '\n') ++line, line_start = i + 1;
  return file.string() + ":" + std::to_string(line) + ":" + std::to_string(offset - line_start + 1);
}

std::string describe(TSQueryError e, const std::string& source, std::size_t offset) {
  // The word at the offset names the unknown node type, field or capture.
  std::size_t end = offset;
  while (end < source.size() && (std::isalnum(static_cast<unsigned char>(source[end])) || source[end] == '_' ||
                                 source[end] == '.' || source[end] == '-'))
    ++end;
  std::string word = source.substr(offset, end - offset);
  switch (e) {
    case TSQueryErrorNodeType: return "unknown node type '" + word + "'";
    case TSQueryErrorField: return "unknown field '" + word + "'";
    case TSQueryErrorCapture: return "unknown capture '" + word + "'";
    case TSQueryErrorStructure: return "impossible pattern (no such node has these children)";
    case TSQueryErrorLanguage: return "grammar version not supported";
    default: return "syntax error";
  }
}

QueryPack::Query compile(const fs::path& file, const Language& language) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw Error(Errc::invalid_argument, "cannot read query file " + file.string());
  const std::string source = text.str();

  std::uint32_t offset = 0;
  TSQueryError error = TSQueryErrorNone;
  TSQuery* q = ts_query_new(language.grammar, source.data(), static_cast<std::uint32_t>(source.size()), &offset, &error);
  if (!q) throw Error(Errc::invalid_argument, where(file, source, offset) + ": bad query: " + describe(error, source, offset));
  QueryPack::Query query{file, std::shared_ptr<const TSQuery>(q, [](const TSQuery* p) { ts_query_delete(const_cast<TSQuery*>(p)); }), {}};

  for (std::uint32_t p = 0; p < ts_query_pattern_count(q); ++p) {
    std::uint32_t steps = 0;
    ts_query_predicates_for_pattern(q, p, &steps);
    if (steps > 0)
      throw Error(Errc::invalid_argument, where(file, source, ts_query_start_byte_for_pattern(q, p)) +
                                              ": predicates (#eq?, #match?, ...) are not supported in query packs");
  }
  std::set<std::string> defs, names;
  for (std::uint32_t c = 0; c < ts_query_capture_count(q); ++c) {
    std::uint32_t len = 0;
    const char* s = ts_query_capture_name_for_id(q, c, &len);
    std::string name(s, len);
    auto dot = name.rfind('.');
    std::string type = dot == std::string::npos ? "" : name.substr(0, dot);
    std::string role = dot == std::string::npos ? "" : name.substr(dot + 1);
    if (type.empty() || (role != "def" && role != "name"))
      throw Error(Errc::invalid_argument,
                  file.string() + ": capture @" + name + " is neither @<type>.def nor @<type>.name");
    (role == "def" ? defs : names).insert(type);
    query.captures.push_back({type, role == "def"});
  }
  for (const auto& t : defs)
    if (!names.count(t)) throw Error(Errc::invalid_argument, file.string() + ": @" + t + ".def has no @" + t + ".name");
  return query;
}

}  // namespace

QueryPack::QueryPack(const fs::path& dir, const Language& language) : language_(&language) {
  const fs::path lang_dir = dir / std::string(language.name);
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::directory_iterator(lang_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".scm") files.push_back(it->path());
  if (files.empty())
    throw Error(Errc::invalid_argument,
                "no query pack for " + std::string(language.name) + ": no .scm file in " + lang_dir.string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) queries_.push_back(compile(f, language));
}

}  // namespace remora
