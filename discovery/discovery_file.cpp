#include "discovery/discovery_file.hpp"

#include <tree_sitter/api.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>

#include "shared/error.hpp"

namespace remora {

namespace {

std::string text_of(TSNode n, const std::string& text) {
  return text.substr(ts_node_start_byte(n), ts_node_end_byte(n) - ts_node_start_byte(n));
}

bool is(TSNode n, const char* type) { return !ts_node_is_null(n) && std::strcmp(ts_node_type(n), type) == 0; }

std::uint32_t line_of(TSPoint p) { return p.row + 1; }

// The last line a node covers: one ending at the start of a line (after its newline) ends on the
// line before.
std::uint32_t end_line_of(TSNode n) {
  TSPoint s = ts_node_start_point(n), e = ts_node_end_point(n);
  return e.column == 0 && e.row > s.row ? e.row : e.row + 1;
}

// A definition's name as one line: C++ scopes (A::f) use '.', like the qualified names.
std::string clean_name(std::string name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name.compare(i, 2, "::") == 0) {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      out += '.';
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(name[i]))) {
      if (!out.empty() && out.back() != ' ' && out.back() != '.') out += ' ';
    } else {
      out += name[i];
    }
  }
  return out;
}

// Where the first syntax error under n is, or "" when there is none.
std::string first_error(TSNode n) {
  if (ts_node_is_missing(n)) return std::string("missing ") + ts_node_type(n) + " at line " + std::to_string(line_of(ts_node_start_point(n)));
  if (is(n, "ERROR")) return "syntax error at line " + std::to_string(line_of(ts_node_start_point(n)));
  for (std::uint32_t i = 0; i < ts_node_child_count(n); ++i) {
    TSNode c = ts_node_child(n, i);
    if (ts_node_has_error(c))
      if (auto e = first_error(c); !e.empty()) return e;
  }
  return "";
}

// The parameter list of a function-like definition: its `parameters` (or JavaScript's single
// arrow `parameter`), looked for through C/C++ declarators (int *f(int x)) and a JavaScript
// declarator's value (const f = (x) => ...), never in a body.
std::string params_of(TSNode n, const std::string& text) {
  std::vector<TSNode> next;
  TSTreeCursor c = ts_tree_cursor_new(n);
  std::string found;
  if (ts_tree_cursor_goto_first_child(&c)) {
    do {
      const char* field = ts_tree_cursor_current_field_name(&c);
      TSNode child = ts_tree_cursor_current_node(&c);
      const std::string f = field ? field : "";
      const std::string type = ts_node_type(child);
      if (f == "parameters" || f == "parameter") {
        found = text_of(child, text);
        break;
      }
      // C++'s reference_declarator holds its declarator without a field name.
      if (f == "declarator" || f == "value" || type.ends_with("declarator")) next.push_back(child);
    } while (ts_tree_cursor_goto_next_sibling(&c));
  }
  ts_tree_cursor_delete(&c);
  for (std::size_t i = 0; found.empty() && i < next.size(); ++i) found = params_of(next[i], text);
  return found;
}

// Python: a body whose first statement is a string literal is documented by that docstring.
bool has_docstring(TSNode body) {
  for (std::uint32_t i = 0; i < ts_node_named_child_count(body); ++i) {
    TSNode s = ts_node_named_child(body, i);
    if (is(s, "comment")) continue;
    if (!is(s, "expression_statement") || ts_node_named_child_count(s) != 1) return false;
    TSNode e = ts_node_named_child(s, 0);
    return is(e, "string") || is(e, "concatenated_string");
  }
  return false;
}

// Whether a comment ends on the line just above a definition (or above what wraps it: decorators,
// a template header, export, const) and starts its own line.
bool has_comment_above(TSNode def, TSNode root, const std::string& text) {
  static const char* const kWrappers[] = {"decorated_definition", "template_declaration", "export_statement",
                                          "lexical_declaration", "variable_declaration"};
  for (TSNode p = ts_node_parent(def); !ts_node_is_null(p); p = ts_node_parent(p)) {
    if (std::none_of(std::begin(kWrappers), std::end(kWrappers), [&](const char* w) { return is(p, w); })) break;
    def = p;
  }
  std::size_t b = ts_node_start_byte(def);
  int newlines = 0;
  while (b > 0 && std::isspace(static_cast<unsigned char>(text[b - 1]))) newlines += text[--b] == '\n';
  if (b == 0 || newlines > 1) return false;
  TSNode c = ts_node_descendant_for_byte_range(root, static_cast<std::uint32_t>(b - 1), static_cast<std::uint32_t>(b));
  if (!std::string_view(ts_node_type(c)).ends_with("comment") || ts_node_end_byte(c) != b) return false;
  for (std::size_t i = ts_node_start_byte(c); i > 0 && text[i - 1] != '\n'; --i)
    if (!std::isspace(static_cast<unsigned char>(text[i - 1]))) return false;
  return true;
}

// A method is also a function: of two types captured for the same definition, the specific one
// wins. Between two other types the first found is kept.
bool more_specific(const std::string& type, const std::string& than) { return than == "function" && type != "function"; }

struct Definition {
  TSNode node;
  std::string type;
  std::string name;
};

}  // namespace

FileParser::FileParser(std::size_t arena_capacity) : arena_(arena_capacity) { ParseArena::install(); }

std::vector<CodeNode> FileParser::parse(const SourceFile& source, const std::string& text, const QueryPack& pack) {
  // Declared first, closed last: every tree-sitter object below is deleted before it closes (the
  // tree may instead be dropped with the arena, at the end).
  ParseArena::Scope scope(arena_);
  dropped_last_tree_ = false;  // until this parse has dropped its tree
  std::unique_ptr<TSParser, void (*)(TSParser*)> parser(ts_parser_new(), ts_parser_delete);
  std::unique_ptr<TSQueryCursor, void (*)(TSQueryCursor*)> cursor(ts_query_cursor_new(), ts_query_cursor_delete);
  const std::string language(pack.language().name);
  if (!ts_parser_set_language(parser.get(), pack.language().grammar))
    throw Error(Errc::io, "the " + language + " grammar's ABI is not supported by this tree-sitter runtime");
  std::unique_ptr<TSTree, void (*)(TSTree*)> tree(
      ts_parser_parse_string(parser.get(), nullptr, text.data(), static_cast<std::uint32_t>(text.size())), ts_tree_delete);
  if (!tree) throw Error(Errc::io, "tree-sitter could not parse " + source.file.string());
  const TSNode root = ts_tree_root_node(tree.get());
  const bool python = language == "python";

  std::vector<CodeNode> nodes;
  CodeNode file;
  file.type = "file";
  file.name = std::filesystem::path(source.path).filename().string();
  file.qualified_name = source.path;
  file.end_byte = static_cast<std::uint32_t>(text.size());
  file.start_line = 1;
  file.end_line = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n') +
                                             (text.empty() || text.back() != '\n' ? 1 : 0));
  file.doc = python && has_docstring(root) ? "docstring" : "";
  if (ts_node_has_error(root)) file.error = first_error(root);
  nodes.push_back(file);

  // Every captured definition, once per syntax node (same byte range).
  std::map<std::pair<std::uint32_t, std::uint32_t>, Definition> defs;
  for (const auto& q : pack.queries()) {
    ts_query_cursor_exec(cursor.get(), const_cast<TSQuery*>(q.query.get()), root);
    TSQueryMatch m;
    while (ts_query_cursor_next_match(cursor.get(), &m)) {
      const TSQueryCapture *def = nullptr, *name = nullptr;
      for (std::uint16_t i = 0; i < m.capture_count; ++i) (q.captures[m.captures[i].index].is_def ? def : name) = &m.captures[i];
      if (!def || !name) continue;
      Definition d{def->node, q.captures[def->index].type, clean_name(text_of(name->node, text))};
      auto [it, added] = defs.try_emplace({ts_node_start_byte(d.node), ts_node_end_byte(d.node)}, d);
      if (!added && more_specific(d.type, it->second.type)) it->second = d;
    }
  }

  // Outer definitions first (start ascending, end descending), so the enclosing ones of each are
  // on the stack when it comes.
  std::vector<Definition> order;
  for (auto& [range, d] : defs) order.push_back(d);
  std::sort(order.begin(), order.end(), [](const Definition& a, const Definition& b) {
    return std::pair(ts_node_start_byte(a.node), ts_node_end_byte(b.node)) < std::pair(ts_node_start_byte(b.node), ts_node_end_byte(a.node));
  });
  std::vector<std::size_t> stack;  // indices in nodes
  for (const auto& d : order) {
    CodeNode n;
    n.type = d.type;
    n.name = d.name;
    n.start_byte = ts_node_start_byte(d.node);
    n.end_byte = ts_node_end_byte(d.node);
    while (!stack.empty() && !(nodes[stack.back()].start_byte <= n.start_byte && n.end_byte <= nodes[stack.back()].end_byte))
      stack.pop_back();
    n.qualified_name = stack.empty() ? d.name : nodes[stack.back()].qualified_name + "." + d.name;
    n.start_line = line_of(ts_node_start_point(d.node));
    n.end_line = end_line_of(d.node);
    n.params = params_of(d.node, text);
    TSNode body = ts_node_child_by_field_name(d.node, "body", 4);
    if (python && !ts_node_is_null(body) && has_docstring(body))
      n.doc = "docstring";
    else if (has_comment_above(d.node, root, text))
      n.doc = "comment";
    if (ts_node_has_error(d.node)) n.error = first_error(d.node);
    nodes.push_back(std::move(n));
    stack.push_back(nodes.size() - 1);
  }
  // Overloads and a property's getter and setter share a qualified name: the n-th of them (n > 1,
  // in source order) hashes "qualified_name#n", so that ids stay unique.
  std::map<std::pair<std::string, std::string>, int> seen;
  for (auto& n : nodes) {
    n.language = language;
    n.path = source.path;
    const int k = ++seen[{n.type, n.qualified_name}];
    n.id = node_id(n.path, n.type, k == 1 ? n.qualified_name : n.qualified_name + "#" + std::to_string(k));
  }
  // A tree wholly in the arena goes with it when the Scope closes: deleting it node by node would
  // walk every node only to hand the arena back what it drops anyway.
  dropped_last_tree_ = arena_.holds_everything();
  if (dropped_last_tree_) (void)tree.release();
  return nodes;
}

}  // namespace remora
