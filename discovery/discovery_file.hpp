// FileParser: the code nodes of one source file, from its syntax tree and its language's query
// pack. One per thread: a tree-sitter parser and query cursor are not thread-safe (the compiled
// queries are, and are shared).
#pragma once

#include <string>
#include <vector>

#include "discovery/discovery.hpp"
#include "discovery/discovery_query_pack.hpp"
#include "discovery/discovery_walk.hpp"

struct TSParser;
struct TSQueryCursor;

namespace remora {

class FileParser {
 public:
  FileParser();
  ~FileParser();
  FileParser(const FileParser&) = delete;
  FileParser& operator=(const FileParser&) = delete;

  // The file's node first, then its definitions in source order.
  std::vector<CodeNode> parse(const SourceFile& source, const std::string& text, const QueryPack& pack);

 private:
  TSParser* parser_;
  TSQueryCursor* cursor_;
};

}  // namespace remora
