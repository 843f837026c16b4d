// Discovery: the code nodes of a source tree (files, classes, functions, methods, structs,
// namespaces, ...) found by tree-sitter query packs, queries/<language>/*.scm.
//
// Each file gives a `file` node and one node per definition a pack captures as @<type>.def with
// its name as @<type>.name. A definition captured by several patterns (a method is also a
// function) is one node, of the more specific type. Qualified names join the names of the
// enclosing nodes with '.' in every language: `Outer.Inner.f`, and C++'s `ns::Class::method` is
// `ns.Class.method`. A file with syntax errors still gives its nodes; they say where the error is.
// Files are parsed in parallel; the result is sorted by path, then position (outer nodes first),
// then type and name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace remora {

struct CodeNode {
  std::string id;              // node_id(path, type, qualified_name)
  std::string type;            // file, class, function, method, struct, namespace, ...
  std::string name;            // its own name (a file's is its file name)
  std::string qualified_name;  // with the enclosing nodes' names: Outer.Inner.f (a file's is its path)
  std::string language;        // python, c, cpp, javascript
  std::string path;            // relative to the root it was found under, '/'-separated
  std::uint32_t start_byte = 0, end_byte = 0;
  std::uint32_t start_line = 0, end_line = 0;  // 1-based, inclusive
  std::string params;  // the parameter list as written, e.g. "(self, x=1)"; "" for non-functions
  std::string doc;     // what documents it: "docstring" (Python), "comment" (just above it) or ""
  std::string error;   // "" or the first syntax error in it: "syntax error at line 3"

  bool operator==(const CodeNode&) const = default;
};

struct SkippedFile {
  std::string path;
  std::string reason;
};

struct DiscoveryOptions {
  std::filesystem::path queries_dir;    // empty: default_queries_dir()
  std::optional<std::string> language;  // only files of this language
  std::uintmax_t max_file_bytes = 1 << 20;
  std::vector<std::string> exclude;  // more gitignore-style patterns, applied at each root
  unsigned threads = 0;              // 0: one per core
};

struct Discovery {
  std::vector<CodeNode> nodes;
  std::vector<SkippedFile> skipped;  // files over the size limit, binary or unreadable
};

// What was skipped, in a sentence for a user who did not ask for the list: each reason's count
// and one example ("2 files skipped: 1 larger than 1048576 bytes (big.py), 1 binary ... (x.bin)");
// empty when nothing was.
std::string skipped_summary(const std::vector<SkippedFile>& skipped);

// Discovers the nodes under each root (a directory or a file). Throws Error(invalid_argument) for
// a root that does not exist, an unknown language, or a missing or bad query pack.
Discovery discover(const std::vector<std::filesystem::path>& roots, const DiscoveryOptions& options = {});

// The first 16 hex digits of SHA-256("path:type:qualified_name"): stable across runs. Definitions
// sharing a path, type and qualified name (C++ overloads, a getter and its setter) are told apart:
// the n-th (n > 1, in source order) hashes "qualified_name#n".
std::string node_id(const std::string& path, const std::string& type, const std::string& qualified_name);

// The query packs beside the executable (<exe>/../queries, for a build directory inside the
// repository, or <exe>/../share/remora/queries once installed), else the source tree's.
std::filesystem::path default_queries_dir();

nlohmann::json to_json(const CodeNode& node);

}  // namespace remora
