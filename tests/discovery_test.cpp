#include "discovery/discovery.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "discovery/discovery_ignore.hpp"
#include "shared/error.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using test::shell;
using test::TempDir;
using test::write_text;

// One line per node: "lines type qualified_name [params] [doc=...] [error=...]".
std::string describe(const CodeNode& n) {
  std::string s = std::to_string(n.start_line) + "-" + std::to_string(n.end_line) + " " + n.type + " " + n.qualified_name;
  if (!n.params.empty()) s += " " + n.params;
  if (!n.doc.empty()) s += " doc=" + n.doc;
  if (!n.error.empty()) s += " error=" + n.error;
  return s;
}

std::vector<std::string> describe(const Discovery& d) {
  std::vector<std::string> out;
  for (const auto& n : d.nodes) out.push_back(describe(n));
  return out;
}

// The paths of the files discovered, in order.
std::vector<std::string> files(const Discovery& d) {
  std::vector<std::string> out;
  for (const auto& n : d.nodes)
    if (n.type == "file") out.push_back(n.path);
  return out;
}

std::vector<std::string> skipped(const Discovery& d) {
  std::vector<std::string> out;
  for (const auto& s : d.skipped) out.push_back(s.path + ": " + s.reason);
  return out;
}

fs::path fixture(const std::string& language) { return fs::path(REMORA_DISCOVERY_FIXTURES) / language; }

// --- Exact node lists of the fixtures -------------------------------------------------------

TEST(DiscoveryFixtures, Python) {
  EXPECT_EQ(describe(discover({fixture("python")})),
            (std::vector<std::string>{
                "1-52 file sample.py doc=docstring error=syntax error at line 52",
                "6-7 function add (a, b=1) doc=comment",
                "10-15 function outer (*args, **kwargs) doc=docstring",
                "12-13 function outer.inner (x)",
                "18-48 class Shape doc=docstring",
                "21-25 class Shape.Meta",
                "24-25 method Shape.Meta.describe (self)",
                "27-28 method Shape.__init__ (self, name)",
                "31-32 method Shape.size (self)",
                "35-36 method Shape.size (self, value)",
                "40-42 method Shape.draw (self, canvas, *, scale: float = 1.0) doc=comment",
                "41-42 function Shape.draw.helper ()",
                "45-46 function Shape.conditional (self)",
                "51-52 function broken (x) error=syntax error at line 52",
            }));
}

TEST(DiscoveryFixtures, C) {
  EXPECT_EQ(describe(discover({fixture("c")})), (std::vector<std::string>{
                                                     "1-32 file shapes.c error=missing ; at line 31",
                                                     "4-7 struct point doc=comment",
                                                     "6-6 struct point.inner",
                                                     "9-11 struct rect",
                                                     "13-13 union value",
                                                     "15-15 enum color",
                                                     "20-22 function area (const rect *r) doc=comment",
                                                     "24-26 function dup_name (const char *s, size_t n)",
                                                     "28-28 function names (void)",
                                                     "30-32 function broken (int a) error=missing ; at line 31",
                                                 }));
}

TEST(DiscoveryFixtures, Cpp) {
  EXPECT_EQ(describe(discover({fixture("cpp")})), (std::vector<std::string>{
                                                       "1-63 file geo.cpp error=missing ; at line 62",
                                                       "3-34 namespace geo",
                                                       "6-25 class geo.Shape doc=comment",
                                                       "8-8 method geo.Shape.Shape ()",
                                                       "9-9 method geo.Shape.~Shape ()",
                                                       "10-10 method geo.Shape.area ()",
                                                       "11-11 method geo.Shape.operator== (const Shape& o)",
                                                       "13-13 method geo.Shape.scaled (T k)",
                                                       "14-14 method geo.Shape.ref (int i)",
                                                       "15-15 method geo.Shape.ptr ()",
                                                       "17-20 struct geo.Shape.Cache",
                                                       "19-19 method geo.Shape.Cache.clear ()",
                                                       "27-27 method geo.Shape.draw (int depth)",
                                                       "29-32 namespace geo.detail",
                                                       "31-31 function geo.detail.twice (T x)",
                                                       "36-38 namespace a.b",
                                                       "37-37 struct a.b.Point",
                                                       "41-44 class Box",
                                                       "43-43 method Box.get ()",
                                                       "47-49 class Box<int>",
                                                       "48-48 method Box<int>.get ()",
                                                       "51-51 function name_of (int)",
                                                       "53-53 union U",
                                                       "54-54 enum Color",
                                                       "56-59 function main (int argc, char** argv)",
                                                       "61-63 function broken () error=missing ; at line 62",
                                                   }));
}

TEST(DiscoveryFixtures, JavaScript) {
  EXPECT_EQ(describe(discover({fixture("javascript")})),
            (std::vector<std::string>{
                "1-43 file app.js error=missing identifier at line 42",
                "4-7 function greet (name) doc=comment",
                "5-5 function greet.inner (s)",
                "9-9 function add (a, b)",
                "10-10 function square x",
                "11-11 function legacy (a)",
                "13-13 function ids ()",
                "16-33 class Widget doc=comment",
                "18-18 method Widget.constructor (el)",
                "19-19 method Widget.size ()",
                "20-20 method Widget.size (v)",
                "21-21 method Widget.create ()",
                "22-22 method Widget.load (url)",
                "23-23 method Widget.#secret ()",
                "24-24 method Widget.[Symbol.iterator] ()",
                "25-25 method Widget.onClick (e)",
                "27-32 method Widget.render ()",
                "28-30 class Widget.render.Local",
                "29-29 method Widget.render.Local.m ()",
                "35-37 class Anon",
                "36-36 method Anon.run ()",
                "41-43 function broken (a) error=missing identifier at line 42",
            }));
}

// Every node's fields agree with its file: language, path, a byte range whose text starts on its
// start line and holds its name, and an id that hashes what it says.
TEST(DiscoveryFixtures, NodesAgreeWithTheirSource) {
  for (const char* lang : {"python", "c", "cpp", "javascript"}) {
    Discovery d = discover({fixture(lang)});
    ASSERT_FALSE(d.nodes.empty()) << lang;
    std::set<std::string> ids;
    for (const auto& n : d.nodes) {
      SCOPED_TRACE(std::string(lang) + " " + describe(n));
      EXPECT_EQ(n.language, lang);
      const std::string text = test::read_text(fixture(lang) / n.path);
      ASSERT_LE(n.end_byte, text.size());
      ASSERT_LT(n.start_byte, n.end_byte);
      const std::string before = text.substr(0, n.start_byte);
      const std::string body = text.substr(n.start_byte, n.end_byte - n.start_byte);
      const auto lines_in = [](const std::string& s) { return static_cast<std::uint32_t>(std::count(s.begin(), s.end(), '\n')); };
      EXPECT_EQ(1 + lines_in(before), n.start_line);
      EXPECT_EQ(n.start_line + lines_in(body) - (body.back() == '\n' ? 1 : 0), n.end_line);
      if (n.type != "file") {
        EXPECT_NE(body.find(n.name.substr(n.name.rfind('.') + 1)), std::string::npos);
      }
      if (!n.params.empty()) {
        EXPECT_NE(body.find(n.params), std::string::npos);
      }
      EXPECT_TRUE(ids.insert(n.id).second) << "duplicate id";
      EXPECT_EQ(n.id.size(), 16u);
    }
  }
}

// --- Node identity ------------------------------------------------------------------------------

TEST(DiscoveryIds, AreTheSha256OfPathTypeAndQualifiedName) {
  // python3 -c 'import hashlib; print(hashlib.sha256(b"pkg/a.py:method:Shape.area").hexdigest()[:16])'
  EXPECT_EQ(node_id("pkg/a.py", "method", "Shape.area"), "345fffec4c5825c2");
  TempDir d;
  write_text(d / "pkg/a.py", "class Shape:\n    def area(self):\n        return 0\n");
  Discovery found = discover({d.path()});
  ASSERT_EQ(found.nodes.size(), 3u);
  EXPECT_EQ(found.nodes[2].id, "345fffec4c5825c2");
  EXPECT_EQ(found.nodes[0].id, node_id("pkg/a.py", "file", "pkg/a.py"));
}

TEST(DiscoveryIds, SameNameTwiceGetsDistinctIds) {
  Discovery d = discover({fixture("python")});
  std::vector<std::string> ids;
  for (const auto& n : d.nodes)
    if (n.qualified_name == "Shape.size") ids.push_back(n.id);
  EXPECT_EQ(ids, (std::vector<std::string>{node_id("sample.py", "method", "Shape.size"),
                                           node_id("sample.py", "method", "Shape.size#2")}));
}

// A method matches both the function and the method patterns: it is one node, a method.
TEST(DiscoveryIds, MethodIsOneNodeNotAlsoAFunction) {
  TempDir d;
  write_text(d / "m.py", "class A:\n    def f(self):\n        pass\n\n    @staticmethod\n    def g():\n        pass\n");
  EXPECT_EQ(describe(discover({d.path()})), (std::vector<std::string>{
                                                 "1-7 file m.py",
                                                 "1-7 class A",
                                                 "2-3 method A.f (self)",
                                                 "6-7 method A.g ()",  // the def line, as in Python's ast: decorators are not part of it
                                             }));
}

// --- The walk -----------------------------------------------------------------------------------

TEST(DiscoveryWalk, SkipsToolAndBuildDirectories) {
  TempDir d;
  for (const char* f : {".git/hooks/x.py", ".venv/lib/y.py", ".hidden/z.py", "node_modules/pkg/m.js",
                        "src/__pycache__/c.py", "build/b.py", "dist/d.py", "target/t.py", "env/lib/v.py"})
    write_text(d / f, "def f(): pass\n");
  write_text(d / "env/pyvenv.cfg", "home = /usr/bin\n");
  write_text(d / "src/app.py", "def main(): pass\n");
  write_text(d / "src/lib/util.js", "function u() {}\n");
  write_text(d / ".eslintrc.js", "module.exports = {};\n");  // a dot-file is not a dot-directory
  write_text(d / "README.md", "# not code\n");
  EXPECT_EQ(files(discover({d.path()})), (std::vector<std::string>{".eslintrc.js", "src/app.py", "src/lib/util.js"}));
}

TEST(DiscoveryWalk, HonoursGitignoreAndRemoraignore) {
  TempDir d;
  write_text(d / ".gitignore",
             "# generated code\n"
             "*.gen.py\n"
             "!keep.gen.py\n"
             "/top.py\n"
             "logs/\n"
             "docs/**/*.js\n"
             "cache.py/\n");
  write_text(d / ".remoraignore", "secret/\n");
  // A deeper file adds its own patterns and overrides its parents'.
  write_text(d / "sub/.gitignore", "local.py\n!special.gen.py\n");
  for (const char* f : {"a.gen.py", "keep.gen.py", "sub/special.gen.py", "sub/other.gen.py", "top.py", "sub/top.py",
                        "logs/l.py", "sub/logs/l.py", "docs/a.js", "docs/x/y/z.js", "other/docs/q.js", "cache.py",
                        "secret/s.py", "sub/local.py", "local.py", "main.py"})
    write_text(d / f, "x = 1\n");
  EXPECT_EQ(files(discover({d.path()})),
            (std::vector<std::string>{"cache.py", "keep.gen.py", "local.py", "main.py", "other/docs/q.js",
                                      "sub/special.gen.py", "sub/top.py"}));
}

TEST(DiscoveryWalk, ExcludePatternsAlwaysWin) {
  TempDir d;
  write_text(d / ".gitignore", "!vendor/\n");
  write_text(d / "vendor/v.py", "x = 1\n");
  write_text(d / "app.py", "x = 1\n");
  DiscoveryOptions o;
  o.exclude = {"/vendor/"};
  EXPECT_EQ(files(discover({d.path()}, o)), (std::vector<std::string>{"app.py"}));
}

TEST(DiscoveryWalk, IgnoreRulesFollowGitignoreSemantics) {
  IgnoreRules r;
  r.add("", "*.log\n/root_only\nbuild-*/\n!important.log\nlib/**/gen\nout/**\n\\#hash\ntrailing   \n");
  r.add("pkg", "mod.py\n");
  EXPECT_TRUE(r.ignored("a.log", false));
  EXPECT_TRUE(r.ignored("deep/er/a.log", false));
  EXPECT_FALSE(r.ignored("important.log", false));
  EXPECT_FALSE(r.ignored("x/important.log", false));
  EXPECT_TRUE(r.ignored("root_only", false));
  EXPECT_FALSE(r.ignored("sub/root_only", false));
  EXPECT_TRUE(r.ignored("build-x", true));
  EXPECT_FALSE(r.ignored("build-x", false));  // a directory-only pattern
  EXPECT_TRUE(r.ignored("lib/gen", false));
  EXPECT_TRUE(r.ignored("lib/a/b/gen", false));
  EXPECT_FALSE(r.ignored("src/lib/gen", false));
  EXPECT_TRUE(r.ignored("out/x/y.py", false));
  EXPECT_FALSE(r.ignored("out", true));  // out/** is what is inside out, not out itself
  EXPECT_TRUE(r.ignored("#hash", false));
  EXPECT_TRUE(r.ignored("trailing", false));
  EXPECT_TRUE(r.ignored("pkg/mod.py", false));
  EXPECT_TRUE(r.ignored("pkg/sub/mod.py", false));
  EXPECT_FALSE(r.ignored("mod.py", false));
  EXPECT_FALSE(r.ignored("pkgx/mod.py", false));
}

TEST(DiscoveryWalk, SkipsBinaryFilesWithAReason) {
  TempDir d;
  std::string binary = "def f():\n    pass\n";
  binary += std::string(1, '\0') + "\x01\x02";
  write_text(d / "blob.py", binary);
  write_text(d / "ok.py", "def g(): pass\n");
  Discovery found = discover({d.path()});
  EXPECT_EQ(files(found), (std::vector<std::string>{"ok.py"}));
  EXPECT_EQ(skipped(found), (std::vector<std::string>{"blob.py: binary (a NUL byte in its first 8 KiB)"}));
}

TEST(DiscoveryWalk, SkipsFilesOverTheSizeLimit) {
  TempDir d;
  write_text(d / "at_limit.py", "x = 1\n" + std::string((1 << 20) - 7, '#') + "\n");
  write_text(d / "over_limit.py", "x = 1\n" + std::string(1 << 20, '#') + "\n");
  Discovery found = discover({d.path()});
  EXPECT_EQ(files(found), (std::vector<std::string>{"at_limit.py"}));
  EXPECT_EQ(skipped(found), (std::vector<std::string>{"over_limit.py: larger than 1048576 bytes"}));

  DiscoveryOptions small;
  small.max_file_bytes = 100;
  write_text(d / "tiny.py", "def t(): pass\n");
  EXPECT_EQ(files(discover({d.path()}, small)), (std::vector<std::string>{"tiny.py"}));
}

TEST(DiscoveryWalk, InvalidUtf8NeverStopsTheWalk) {
  TempDir d;
  // Invalid bytes in a string and a comment: the file parses.
  write_text(d / "a.py", "def f():\n    s = \"\xff\xfe\"\n    # \xc3\x28\n    return s\n");
  // An invalid byte inside a name is a syntax error there, and the rest of the file still counts.
  write_text(d / "b.py", "def caf\xe9():\n    pass\n\nclass Ok:\n    def m(self): pass\n");
  write_text(d / "c.py", "def after(): pass\n");
  EXPECT_EQ(describe(discover({d.path()})), (std::vector<std::string>{
                                                 "1-4 file a.py",
                                                 "1-4 function f ()",
                                                 "1-5 file b.py error=syntax error at line 1",
                                                 "1-2 function caf () error=syntax error at line 1",
                                                 "4-5 class Ok",
                                                 "5-5 method Ok.m (self)",
                                                 "1-1 file c.py",
                                                 "1-1 function after ()",
                                             }));
  // JSON output survives the invalid bytes.
  auto r = shell(std::string(REMORA_BIN) + " discover --json " + d.path().string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"qualified_name\":\"Ok.m\""), std::string::npos) << r.out;
}

TEST(DiscoveryWalk, DoesNotFollowSymbolicLinks) {
  TempDir d;
  write_text(d / "src/a.py", "def f(): pass\n");
  fs::create_directory_symlink(d / "src", d / "src/loop");
  fs::create_symlink(d / "src/a.py", d / "link.py");
  EXPECT_EQ(files(discover({d.path()})), (std::vector<std::string>{"src/a.py"}));
}

TEST(DiscoveryWalk, LanguageFilterAndFileRoots) {
  TempDir d;
  write_text(d / "a.py", "def f(): pass\n");
  write_text(d / "b.js", "function g() {}\n");
  write_text(d / "c.h", "struct s { int x; };\n");
  write_text(d / "d.hpp", "namespace n {}\n");
  write_text(d / "script", "def h(): pass\n");
  DiscoveryOptions js;
  js.language = "javascript";
  EXPECT_EQ(files(discover({d.path()}, js)), (std::vector<std::string>{"b.js"}));
  Discovery all = discover({d.path()});
  EXPECT_EQ(files(all), (std::vector<std::string>{"a.py", "b.js", "c.h", "d.hpp"}));
  EXPECT_EQ(all.nodes[5].language, "c");
  EXPECT_EQ(all.nodes[7].language, "cpp");

  // A file named as a root is read even when ignored, with the language --lang gives it.
  write_text(d / ".gitignore", "a.py\n");
  EXPECT_EQ(describe(discover({d / "a.py"})), (std::vector<std::string>{"1-1 file a.py", "1-1 function f ()"}));
  DiscoveryOptions py;
  py.language = "python";
  EXPECT_EQ(describe(discover({d / "script"}, py)), (std::vector<std::string>{"1-1 file script", "1-1 function h ()"}));
  try {
    discover({d / "script"});
    ADD_FAILURE() << "no error for a file of no known language";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_EQ(std::string(e.what()), "cannot tell the language of " + (d / "script").string() + " (use --lang)");
  }
}

// Many files over a pool of threads give the same, sorted result as one thread.
TEST(DiscoveryWalk, ParallelResultIsDeterministic) {
  TempDir d;
  for (int i = 0; i < 200; ++i)
    write_text(d / ("pkg" + std::to_string(i % 7)) / ("m" + std::to_string(i) + ".py"),
               "class C" + std::to_string(i) + ":\n    def m(self):\n        pass\n\ndef f():\n    pass\n");
  DiscoveryOptions one, many;
  one.threads = 1;
  many.threads = 8;
  Discovery a = discover({d.path()}, one), b = discover({d.path()}, many);
  EXPECT_EQ(a.nodes.size(), 200u * 4);
  EXPECT_EQ(a.nodes, b.nodes);
  EXPECT_TRUE(std::is_sorted(a.nodes.begin(), a.nodes.end(), [](const CodeNode& x, const CodeNode& y) {
    return std::tie(x.path, x.start_line) < std::tie(y.path, y.start_line);
  }));
}

// --- Query packs --------------------------------------------------------------------------------

class QueryPackTest : public ::testing::Test {
 protected:
  void SetUp() override { write_text(d_ / "src/a.py", "class A:\n    def f(self): pass\n"); }
  // The message of the error discover() gives with this python pack.
  std::string error_with(const std::string& scm) {
    write_text(d_ / "q/python/nodes.scm", scm);
    DiscoveryOptions o;
    o.queries_dir = d_ / "q";
    try {
      discover({d_ / "src"}, o);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      return e.what();
    }
    ADD_FAILURE() << "no error for\n" << scm;
    return "";
  }
  TempDir d_;
};

TEST_F(QueryPackTest, AUserPackReplacesTheDefault) {
  write_text(d_ / "q/python/mine.scm", "(class_definition name: (identifier) @klass.name) @klass.def\n");
  DiscoveryOptions o;
  o.queries_dir = d_ / "q";
  EXPECT_EQ(describe(discover({d_ / "src"}, o)), (std::vector<std::string>{"1-2 file a.py", "1-2 klass A"}));
}

TEST_F(QueryPackTest, BadQueriesAreNamedWithFileLineAndColumn) {
  const std::string file = (d_ / "q/python/nodes.scm").string();
  EXPECT_EQ(error_with("(class_definition) @class.def\n(no_such_node) @x.def\n"),
            file + ":2:2: bad query: unknown node type 'no_such_node'");
  EXPECT_EQ(error_with("(class_definition\n  nope: (identifier))"), file + ":2:3: bad query: unknown field 'nope'");
  EXPECT_EQ(error_with("(class_definition"), file + ":1:18: bad query: syntax error");
  EXPECT_EQ(error_with("(class_definition name: (identifier) @name) @definition"),
            file + ": capture @name is neither @<type>.def nor @<type>.name");
  EXPECT_EQ(error_with("(class_definition) @class.def"), file + ": @class.def has no @class.name");
  EXPECT_EQ(error_with("(class_definition name: (identifier) @class.name (#eq? @class.name \"A\")) @class.def"),
            file + ":1:1: predicates (#eq?, #match?, ...) are not supported in query packs");
}

TEST_F(QueryPackTest, AMissingPackIsAnError) {
  fs::create_directories(d_ / "empty");
  DiscoveryOptions o;
  o.queries_dir = d_ / "empty";
  try {
    discover({d_ / "src"}, o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "no query pack for python: no .scm file in " + (d_ / "empty/python").string());
  }
}

// --- remora discover ------------------------------------------------------------------------

TEST(DiscoverCommand, PrintsOneLinePerNode) {
  TempDir d;
  write_text(d / "pkg/a.py", "class A:\n    def f(self): pass\n");
  write_text(d / "b.js", "function g() {}\n");
  auto r = shell(std::string(REMORA_BIN) + " discover " + d.path().string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "b.js:1 file b.js\nb.js:1 function g\npkg/a.py:1 file pkg/a.py\npkg/a.py:1 class A\npkg/a.py:2 method A.f\n");

  r = shell(std::string(REMORA_BIN) + " discover --json --lang python " + d.path().string());
  EXPECT_EQ(r.code, 0) << r.out;
  std::vector<nlohmann::json> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], (nlohmann::json{{"id", node_id("pkg/a.py", "method", "A.f")},
                                      {"type", "method"},
                                      {"name", "f"},
                                      {"qualified_name", "A.f"},
                                      {"language", "python"},
                                      {"path", "pkg/a.py"},
                                      {"start_byte", 13},
                                      {"end_byte", 30},
                                      {"start_line", 2},
                                      {"end_line", 2},
                                      {"params", "(self)"},
                                      {"doc", nullptr},
                                      {"error", nullptr}}));
}

TEST(DiscoverCommand, BadInputExitsWithCode2AndOneLine) {
  TempDir d;
  write_text(d / "a.py", "x = 1\n");
  write_text(d / "q/python/nodes.scm", "(class_definition\n");
  const std::string bin = REMORA_BIN;
  auto r = shell(bin + " discover " + (d / "missing").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "remora: no such file or directory: " + (d / "missing").string() + "\n");
  r = shell(bin + " discover --queries " + (d / "q").string() + " " + d.path().string());
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "remora: " + (d / "q/python/nodes.scm").string() + ":2:1: bad query: syntax error\n");
  r = shell(bin + " discover --lang cobol " + d.path().string());
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "remora: unknown language 'cobol' (python, c, cpp, javascript)\n");
}

TEST(DiscoverCommand, SyntaxErrorsOnTheFileLineAndSkippedFilesWithVerbose) {
  TempDir d;
  write_text(d / "bad.py", "def f(:\n    pass\n");
  write_text(d / "big.py", std::string(200, '#') + "\n");
  auto args = " discover --max-size 100 --exclude bad.py " + d.path().string() + " " + (d / "bad.py").string();
  auto out = shell(std::string(REMORA_BIN) + args + " 2>/dev/null");
  EXPECT_EQ(out.code, 0) << out.out;
  EXPECT_NE(out.out.find("bad.py:1 file bad.py  (missing ) at line 1)\n"), std::string::npos) << out.out;
  // Only stderr: stdout goes to /dev/null.
  auto err = shell("(" + std::string(REMORA_BIN) + " -v" + args + " 2>&1 >/dev/null)");
  EXPECT_EQ(err.code, 0) << err.out;
  EXPECT_EQ(err.out, "remora: skipped big.py: larger than 100 bytes\n");
}

}  // namespace
}  // namespace remora
