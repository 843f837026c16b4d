// QueryPack: one language's compiled tree-sitter queries, read from <dir>/<language>/*.scm.
//
// Each pattern captures a definition as @<type>.def and its name as @<type>.name, e.g.
// @class.def/@class.name; the type (class, function, method, struct, ...) becomes the node's type.
// Predicates (#eq?, #match?) are refused rather than silently ignored: the tree-sitter runtime
// leaves them to the caller, and discovery does not evaluate them.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "discovery/discovery_language.hpp"

struct TSQuery;

namespace remora {

class QueryPack {
 public:
  struct Capture {
    std::string type;  // the <type> of @<type>.def / @<type>.name
    bool is_def;       // @<type>.def (the definition) rather than @<type>.name
  };
  struct Query {
    std::filesystem::path file;
    std::shared_ptr<const TSQuery> query;
    std::vector<Capture> captures;  // by capture id
  };

  // Compiles every .scm file of dir/<language>, in name order. Throws Error(invalid_argument)
  // naming the file, line and column of a bad query, or saying that there is no query file.
  QueryPack(const std::filesystem::path& dir, const Language& language);

  const Language& language() const { return *language_; }
  const std::vector<Query>& queries() const { return queries_; }

 private:
  const Language* language_;
  std::vector<Query> queries_;
};

}  // namespace remora
