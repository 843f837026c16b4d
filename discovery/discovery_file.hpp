// FileParser: the code nodes of one source file, from its syntax tree and its language's query
// pack. One per thread: each file is parsed and queried in the thread's ParseArena (the compiled
// queries are shared).
#pragma once

#include <string>
#include <vector>

#include "discovery/discovery.hpp"
#include "discovery/discovery_query_pack.hpp"
#include "discovery/discovery_walk.hpp"
#include "discovery/parse_arena.hpp"

namespace remora {

class FileParser {
 public:
  // `arena_capacity`: address space for one file's tree; a file needing more spills to malloc.
  explicit FileParser(std::size_t arena_capacity = std::size_t{64} << 20);

  // The file's node first, then its definitions in source order.
  std::vector<CodeNode> parse(const SourceFile& source, const std::string& text, const QueryPack& pack);
  // Whether the last parse's tree lay wholly in the arena and was dropped with it (not deleted).
  bool dropped_last_tree() const { return dropped_last_tree_; }

 private:
  // The tree-sitter parser and query cursor are made anew in it for each file: what they allocate
  // while a file is parsed must not outlive the arena's Scope.
  ParseArena arena_;
  bool dropped_last_tree_ = false;
};

}  // namespace remora
