// The agent's tools on a real workspace: project files imported into base, an agent overlay over
// it, and each call committed the way the kernel commits it (ToolContext::apply). Command tools
// run real programs.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/json_schema.hpp"
#include "shared/workspace.hpp"
#include "test_support.hpp"
#include "worker/builtin_tools.hpp"
#include "worker/command_tool.hpp"
#include "worker/project_path.hpp"
#include "worker/tool_registry.hpp"

namespace remora::worker {
namespace {

using nlohmann::json;
using Problems = std::vector<std::string>;

std::string text(const ToolResult& r) { return r.content.is_string() ? r.content.get<std::string>() : r.content.dump(); }
std::string error(const ToolResult& r) {
  EXPECT_FALSE(r.ok) << text(r);
  return r.content.value("error", "");
}

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkspaceOptions o;
    o.dir = dir_ / "ws";
    o.durability = Durability::nosync;
    ws_ = Workspace::open(o);
    base_ = ws_->ns("base");
    ws_->write([&](WriteTxn& t) {
      put_file(t, "README.md", "# Demo\nhello\n");
      put_file(t, "src/app.py", "import os\n\ndef main():\n    print('hello')\n");
      put_file(t, "src/util.py", "def helper():\n    return 42\n");
      put_file(t, "src/pkg/deep.py", "X = 1\n");
      put_file(t, "bin/run.sh", "#!/bin/sh\necho hi\n", 0755);
      put_file(t, "data/blob.bin", std::string("\x00\x01\x02", 3));
      put_file(t, "docs/readme", "../README.md", S_IFLNK | 0777);
      put_file(t, "docs/passwd", "../../etc/passwd", S_IFLNK | 0777);
      for (auto id : {"a1", "a2"}) {
        proto::AgentState s;
        s.id = id;
        t.put(base_, keys::run_agent(id), proto::encode(s));
      }
    });
    overlay_ = ws_->create_ns(keys::agent_ns("a1"));
    tools_ = builtin_tools();
  }

  void put_file(WriteTxn& t, const std::string& path, const std::string& content, std::uint32_t mode = 0644) {
    proto::FileEntry f;
    f.content.data = content;
    f.mode = mode;
    t.put(base_, keys::file(path), proto::encode(f));
  }

  // One call as the kernel makes it: validated, run, and committed with its reads.
  ToolResult call(Tool& tool, const json& args) {
    ToolContext ctx(*ws_, overlay_, "a1", "a1.t1.c" + std::to_string(calls_++), dir_ / "scratch", ask_);
    auto r = run_tool_call(tool, args, ctx);
    ws_->write([&](WriteTxn& t) { ctx.apply(t); });
    touched_ = ctx.touched();
    return r;
  }
  ToolResult call(const std::string& name, const json& args) {
    for (auto& t : tools_)
      if (t->spec().name == name) return call(*t, args);
    ADD_FAILURE() << "no tool " << name;
    return {};
  }

  std::optional<proto::FileEntry> file(const std::string& path) {
    auto e = ws_->get(overlay_, keys::file(path));
    if (!e) return std::nullopt;
    return proto::decode<proto::FileEntry>(e->value, path);
  }
  std::string content(const std::string& path) {
    auto f = file(path);
    return f ? f->content.data : "<absent>";
  }

  test::TempDir dir_;
  std::unique_ptr<Workspace> ws_;
  Namespace base_, overlay_;
  Tools tools_;
  ToolContext::AskFn ask_ = [](const proto::Question&) { return std::string("unused"); };
  int calls_ = 0;
  std::vector<std::string> touched_;
};

// ---- paths ----

TEST(ProjectPath, NormalizesAndRefusesEscapes) {
  EXPECT_EQ(project_path("./src//a/./b.py"), "src/a/b.py");
  EXPECT_EQ(project_path("src/x/../b.py"), "src/b.py");
  EXPECT_EQ(project_dir("."), "");
  EXPECT_EQ(project_dir("src/"), "src");
  auto refused = [](std::string_view p) {
    try {
      project_path(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refused("../etc/passwd"), "path '../etc/passwd' leads outside the project; '..' may not climb above the project root");
  EXPECT_EQ(refused("src/../../x"), "path 'src/../../x' leads outside the project; '..' may not climb above the project root");
  EXPECT_EQ(refused("/etc/passwd"), "path '/etc/passwd' is absolute; paths are relative to the project root (e.g. 'src/main.py')");
  EXPECT_EQ(refused(""), "path is empty; give a path relative to the project root (e.g. 'src/main.py')");
  EXPECT_EQ(refused("."), "path '.' is the project root, not a file");
  EXPECT_EQ(refused(std::string_view("a\0b", 3)), "path contains a NUL byte");
  EXPECT_EQ(refused(std::string(496, 'x')), "path is 496 bytes long; the limit is 495");
  EXPECT_EQ(symlink_target("docs/a", "../b/c"), "b/c");
  EXPECT_THROW(symlink_target("docs/a", "../../b"), Error);
  EXPECT_THROW(symlink_target("docs/a", "/etc/passwd"), Error);
}

// ---- files ----

TEST_F(ToolsTest, ReadFileReadsTextInWindows) {
  EXPECT_EQ(text(call("read_file", {{"path", "src/app.py"}})), "import os\n\ndef main():\n    print('hello')\n");
  EXPECT_EQ(text(call("read_file", {{"path", "src/app.py"}, {"offset_line", 2}, {"limit_lines", 2}})),
            "\ndef main():\n[lines 2-3 of 4; read on with offset_line=4]");
  EXPECT_EQ(text(call("read_file", {{"path", "./src/app.py"}, {"offset_line", 4}})), "    print('hello')\n[lines 4-4 of 4]");
  EXPECT_EQ(error(call("read_file", {{"path", "src/app.py"}, {"offset_line", 9}})),
            "'src/app.py' has 4 lines; offset_line 9 is past the end");
  EXPECT_EQ(error(call("read_file", {{"path", "data/blob.bin"}})),
            "'data/blob.bin' is a binary file (3 bytes); read_file reads text files only");
  EXPECT_EQ(error(call("read_file", {{"path", "nope.py"}})),
            "no such file 'nope.py' (list_files and search_files show what exists)");
  EXPECT_EQ(error(call("read_file", {{"path", "src"}})), "'src' is a directory, not a file (list_files shows its files)");
}

TEST_F(ToolsTest, ReadFileOutputIsBoundedInBytes) {
  std::string big;
  for (int i = 0; i < 3000; ++i) big += std::string(99, 'x') + "\n";  // 100 bytes a line
  call("write_file", {{"path", "big.txt"}, {"content", big}});
  auto r = text(call("read_file", {{"path", "big.txt"}}));
  EXPECT_EQ(r, big.substr(0, 1310 * 100) + "[lines 1-1310 of 3000; read on with offset_line=1311]");
}

TEST_F(ToolsTest, PathsOutsideTheProjectAreRefused) {
  EXPECT_EQ(error(call("read_file", {{"path", "../etc/passwd"}})),
            "path '../etc/passwd' leads outside the project; '..' may not climb above the project root");
  EXPECT_EQ(error(call("read_file", {{"path", "/etc/passwd"}})),
            "path '/etc/passwd' is absolute; paths are relative to the project root (e.g. 'src/main.py')");
  EXPECT_EQ(error(call("read_file", {{"path", "docs/passwd"}})),
            "'docs/passwd' is a symbolic link to '../../etc/passwd', outside the project; it cannot be followed");
  EXPECT_EQ(error(call("write_file", {{"path", "docs/passwd"}, {"content", "x"}})),
            "'docs/passwd' is a symbolic link to '../../etc/passwd', outside the project; it cannot be followed");
  EXPECT_EQ(error(call("write_file", {{"path", "../x"}, {"content", "x"}})),
            "path '../x' leads outside the project; '..' may not climb above the project root");
  EXPECT_TRUE(touched_.empty());
}

TEST_F(ToolsTest, SymlinksInsideTheProjectAreFollowed) {
  EXPECT_EQ(text(call("read_file", {{"path", "docs/readme"}})), "# Demo\nhello\n");
  EXPECT_EQ(text(call("write_file", {{"path", "docs/readme"}, {"content", "new\n"}})), "wrote README.md (4 bytes, 1 line)");
  EXPECT_EQ(content("README.md"), "new\n");
  EXPECT_EQ(text(call("delete_file", {{"path", "docs/readme"}})), "deleted docs/readme");  // the link, not its target
  EXPECT_EQ(content("README.md"), "new\n");
  ws_->write([&](WriteTxn& t) {
    put_file(t, "loop/a", "b", S_IFLNK | 0777);
    put_file(t, "loop/b", "a", S_IFLNK | 0777);
    put_file(t, "docs/gone", "nothing-here", S_IFLNK | 0777);
  });
  EXPECT_EQ(error(call("read_file", {{"path", "loop/a"}})), "'loop/a': too many levels of symbolic links");
  EXPECT_EQ(error(call("read_file", {{"path", "docs/gone"}})), "'docs/gone' is a symbolic link to 'docs/nothing-here', which does not exist");
}

TEST_F(ToolsTest, WriteFileKeepsModesAndRefusesDirectories) {
  EXPECT_EQ(text(call("write_file", {{"path", "bin/run.sh"}, {"content", "#!/bin/sh\necho bye\n"}})),
            "wrote bin/run.sh (19 bytes, 2 lines)");
  EXPECT_EQ(file("bin/run.sh")->mode, 0755u);
  EXPECT_EQ(text(call("write_file", {{"path", "new/dir/n.txt"}, {"content", "n"}})), "created new/dir/n.txt (1 byte, 1 line)");
  EXPECT_EQ(file("new/dir/n.txt")->mode, 0644u);
  EXPECT_EQ(text(call("write_file", {{"path", "README.md"}, {"content", "# Demo\nhello\n"}})),
            "README.md unchanged (it already has this content)");
  EXPECT_TRUE(touched_.empty());
  EXPECT_EQ(error(call("write_file", {{"path", "src"}, {"content", "x"}})), "'src' is a directory; give the path of a file in it");
  EXPECT_EQ(error(call("write_file", {{"path", "README.md/x"}, {"content", "x"}})),
            "cannot write 'README.md/x': 'README.md' is a file, not a directory");
  // Writes went to the overlay only.
  auto b = ws_->get(base_, keys::file("bin/run.sh"));
  EXPECT_EQ(proto::decode<proto::FileEntry>(b->value, "b").content.data, "#!/bin/sh\necho hi\n");
}

TEST_F(ToolsTest, EditFileReplacesExactlyOneOccurrence) {
  EXPECT_EQ(text(call("edit_file", {{"path", "src/app.py"}, {"old", "print('hello')"}, {"new", "print('bye')"}})),
            "edited src/app.py at line 4");
  EXPECT_EQ(content("src/app.py"), "import os\n\ndef main():\n    print('bye')\n");
  EXPECT_EQ(error(call("edit_file", {{"path", "src/app.py"}, {"old", "missing"}, {"new", "x"}})),
            "the old text is not in 'src/app.py'; it must match exactly, whitespace and indentation included "
            "(read_file shows the current text)");
  EXPECT_EQ(error(call("edit_file", {{"path", "src/app.py"}, {"old", "i"}, {"new", "x"}})),
            "the old text occurs 3 times in 'src/app.py'; include more of the surrounding lines so that it occurs once");
  EXPECT_EQ(error(call("edit_file", {{"path", "src/app.py"}, {"old", ""}, {"new", "x"}})),
            "invalid arguments for edit_file:\n$.old: must be at least 1 character long, got 0");
}

TEST_F(ToolsTest, DeleteFileLeavesATombstoneInTheOverlay) {
  EXPECT_EQ(text(call("delete_file", {{"path", "src/util.py"}})), "deleted src/util.py");
  EXPECT_FALSE(file("src/util.py"));
  EXPECT_TRUE(ws_->get(base_, keys::file("src/util.py")));
  EXPECT_EQ(error(call("delete_file", {{"path", "src/util.py"}})),
            "no such file 'src/util.py' (list_files and search_files show what exists)");
}

TEST_F(ToolsTest, ListFilesShowsImmediateChildrenInOrder) {
  call("write_file", {{"path", "src/new.py"}, {"content", ""}});
  EXPECT_EQ(text(call("list_files", json::object())),
            "README.md\nbin/ (1 file)\ndata/ (1 file)\ndocs/ (2 files)\nsrc/ (4 files)\n");
  EXPECT_EQ(text(call("list_files", {{"path", "src/"}})), "src/app.py\nsrc/new.py\nsrc/pkg/ (1 file)\nsrc/util.py\n");
  EXPECT_EQ(error(call("list_files", {{"path", "README.md"}})), "'README.md' is a file, not a directory (read_file reads it)");
  EXPECT_EQ(error(call("list_files", {{"path", "nope"}})), "no directory 'nope' (list_files without a path lists the project root)");
}

TEST_F(ToolsTest, ReadsAreRecordedForConflictChecks) {
  call("read_file", {{"path", "src/util.py"}});
  call("write_file", {{"path", "out.txt"}, {"content", "derived from util.py"}});
  ws_->write([&](WriteTxn& t) { put_file(t, "src/util.py", "def helper():\n    return 43\n"); });
  try {
    ws_->merge(overlay_);
    FAIL() << "merge should refuse: the agent read src/util.py before it changed";
  } catch (const MergeConflict& c) {
    ASSERT_EQ(c.conflicts().size(), 1u);
    EXPECT_EQ(c.conflicts()[0].key, keys::file("src/util.py"));
    EXPECT_TRUE(c.conflicts()[0].read_only);
  }
}

// ---- validation ----

TEST_F(ToolsTest, BadArgumentsBecomeErrorResultsThatKeepTypes) {
  EXPECT_EQ(error(call("read_file", {{"path", 3}})), "invalid arguments for read_file:\n$.path: expected a string, got 3");
  EXPECT_EQ(error(call("read_file", {{"path", "a"}, {"offset_line", "3"}, {"extra", true}})),
            "invalid arguments for read_file:\n$.extra: unknown property (allowed: limit_lines, offset_line, path)\n"
            "$.offset_line: expected an integer, got \"3\"");
  EXPECT_EQ(error(call("read_file", json::object())), "invalid arguments for read_file:\n$.path: required property missing");
  EXPECT_EQ(error(call("read_file", json::array())), "invalid arguments for read_file:\n$: expected an object, got []");
}

TEST_F(ToolsTest, BuiltinSchemasAreWellFormed) {
  for (const auto& t : tools_) {
    EXPECT_EQ(json_schema::check_schema(t->spec().parameters, t->spec().name), Problems{});
    EXPECT_FALSE(t->spec().description.empty());
  }
  EXPECT_EQ(builtin_tool_names(),
            (std::vector<std::string>{"ask_user", "delete_file", "edit_file", "get_messages", "kv_get", "kv_put",
                                      "list_files", "read_file", "search_content", "search_files", "send_message",
                                      "submit_result", "write_file"}));
}

// ---- search ----

TEST_F(ToolsTest, SearchFilesMatchesGlobs) {
  EXPECT_EQ(text(call("search_files", {{"pattern", "*.py"}})), "src/app.py\nsrc/pkg/deep.py\nsrc/util.py\n");
  EXPECT_EQ(text(call("search_files", {{"pattern", "src/*.py"}})), "src/app.py\nsrc/util.py\n");
  EXPECT_EQ(text(call("search_files", {{"pattern", "src/**/*.py"}})), "src/app.py\nsrc/pkg/deep.py\nsrc/util.py\n");
  EXPECT_EQ(text(call("search_files", {{"pattern", "**/*.{sh,md}"}})), "README.md\nbin/run.sh\n");
  EXPECT_EQ(text(call("search_files", {{"pattern", "src/[!a]*.py"}})), "src/util.py\n");
  EXPECT_EQ(text(call("search_files", {{"pattern", "d??a/**"}})), "data/blob.bin\n");
  EXPECT_EQ(text(call("search_files", {{"pattern", "*.rs"}})), "no files match '*.rs'");
  EXPECT_EQ(error(call("search_files", {{"pattern", "*.{py"}})), "pattern '*.{py' has an unclosed '{'");
}

TEST_F(ToolsTest, SearchContentPrintsMatchesInPathOrder) {
  EXPECT_EQ(text(call("search_content", {{"pattern", "hello"}})), "README.md:2: hello\nsrc/app.py:4:     print('hello')\n");
  EXPECT_EQ(text(call("search_content", {{"pattern", "^def \\w+"}, {"path", "src"}})),
            "src/app.py:3: def main():\nsrc/util.py:1: def helper():\n");
  EXPECT_EQ(text(call("search_content", {{"pattern", "(?i)HELLO"}, {"path", "README.md"}})), "README.md:2: hello\n");
  EXPECT_EQ(text(call("search_content", {{"pattern", "zzz"}})), "no matches for 'zzz' in 8 files (1 binary file skipped)");
  EXPECT_EQ(error(call("search_content", {{"pattern", "a("}})),
            "bad regular expression (RE2 syntax): missing ): a(");
  EXPECT_EQ(error(call("search_content", {{"pattern", "x"}, {"path", "nope"}})), "no file or directory 'nope'");
  EXPECT_EQ(error(call("search_content", {{"pattern", "x"}, {"max_results", 5000}})),
            "invalid arguments for search_content:\n$.max_results: must be <= 1000, got 5000");
}

TEST_F(ToolsTest, SearchContentIsBounded) {
  std::string many;
  for (int i = 0; i < 300; ++i) many += "match " + std::to_string(i) + "\n";
  // A pattern that backtracking engines take exponential time over; RE2 runs it in linear time.
  std::string evil(20000, 'a');
  call("write_file", {{"path", "many.txt"}, {"content", many}});
  call("write_file", {{"path", "evil.txt"}, {"content", evil + "\n" + std::string(300, 'x') + "\n"}});
  EXPECT_EQ(text(call("search_content", {{"pattern", "(a*)*q"}})), "no matches for '(a*)*q' in 10 files (1 binary file skipped)");

  auto r = text(call("search_content", {{"pattern", "^match"}, {"max_results", 3}}));
  EXPECT_EQ(r, "many.txt:1: match 0\nmany.txt:2: match 1\nmany.txt:3: match 2\n"
               "[stopped at 3 matches; narrow the pattern or path, or raise max_results (up to 1000)]\n");
  r = text(call("search_content", {{"pattern", "x{300}"}}));
  EXPECT_EQ(r, "evil.txt:2: " + std::string(200, 'x') + "...\n");

  SearchLimits tight;
  tight.max_bytes = 100;
  tight.budget = std::chrono::milliseconds(0);
  auto search = search_tools(tight);
  r = text(call(*search[1], {{"pattern", "match"}, {"path", "many.txt"}}));
  EXPECT_EQ(r, "many.txt:1: match 0\nmany.txt:2: match 1\nmany.txt:3: match 2\nmany.txt:4: match 3\nmany.txt:5: match 4\n"
               "[stopped at 5 matches, the output limit of 100 bytes; narrow the pattern or path]\n");
  // A budget spent: the search stops between files and says how far it got.
  r = text(call(*search[1], {{"pattern", "hello"}}));
  EXPECT_EQ(r, "README.md:2: hello\n[stopped after 0 ms, having searched 1 of 10 files; narrow the path]\n");
}

// ---- the agent's channels ----

TEST_F(ToolsTest, AskUserAsksWithTheCallId) {
  std::vector<proto::Question> asked;
  ask_ = [&](const proto::Question& q) {
    asked.push_back(q);
    return std::string("numpy");
  };
  auto r = call("ask_user", {{"question", "Which style?"}, {"options", {"google", "numpy"}}, {"default", "google"}, {"timeout", 30}});
  EXPECT_EQ(r.content, json("numpy"));  // plain text: a scripted reply can use it as {last_result}
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].id, "a1.t1.c0");
  EXPECT_EQ(asked[0].agent_id, "a1");
  EXPECT_EQ(asked[0].question, "Which style?");
  EXPECT_EQ(asked[0].options, (std::vector<std::string>{"google", "numpy"}));
  EXPECT_EQ(asked[0].default_answer, "google");
  EXPECT_EQ(asked[0].timeout_s, 30);
  EXPECT_EQ(error(call("ask_user", {{"question", "?"}, {"options", {"a"}}, {"default", "b"}})),
            "default 'b' is not one of the options");
  EXPECT_EQ(asked.size(), 1u);
}

TEST_F(ToolsTest, MessagesGoThroughTheOutboxAndComeFromTheInbox) {
  auto r = call("send_message", {{"agent", "a2"}, {"payload", {{"n", 1}, {"list", {1, "x"}}}}});
  EXPECT_EQ(r.content, (json{{"sent", "a1.t1.c0"}, {"to", "a2"}}));
  auto e = ws_->get(overlay_, keys::outbox_message("a1.t1.c0"));
  ASSERT_TRUE(e);
  auto m = proto::decode<proto::Message>(e->value, "m");
  EXPECT_EQ(m.from_agent, "a1");
  EXPECT_EQ(m.to_agent, "a2");
  EXPECT_EQ(json::parse(m.payload_json), (json{{"n", 1}, {"list", {1, "x"}}}));
  EXPECT_EQ(error(call("send_message", {{"agent", "zz"}, {"payload", 1}})), "no agent 'zz' in this graph (agents: a1, a2)");
  EXPECT_EQ(error(call("send_message", {{"agent", "a1"}, {"payload", 1}})),
            "that is this agent itself; send_message is for the other agents of the graph");

  EXPECT_EQ(call("get_messages", json::object()).content, (json{{"messages", json::array()}}));
  ws_->write([&](WriteTxn& t) {
    t.put(overlay_, keys::agent_inbox("a1", "a2.t3.c0"), proto::encode(proto::Message{"a2.t3.c0", "a2", "a1", R"({"ok":true})", 7}));
    t.put(overlay_, keys::agent_inbox("a1", "a2.t10.c0"), proto::encode(proto::Message{"a2.t10.c0", "a2", "a1", "2", 9}));
  });
  EXPECT_EQ(call("get_messages", json::object()).content,
            (json{{"messages", {{{"id", "a2.t3.c0"}, {"from", "a2"}, {"payload", {{"ok", true}}}, {"sent_at_ms", 7}},
                                {{"id", "a2.t10.c0"}, {"from", "a2"}, {"payload", 2}, {"sent_at_ms", 9}}}}}));
}

TEST_F(ToolsTest, KvKeepsJsonValuesPerAgent) {
  EXPECT_EQ(call("kv_get", {{"key", "plan"}}).content, (json{{"key", "plan"}, {"found", false}}));
  json value = {{"steps", {1, 2.5, "three"}}, {"done", false}};
  EXPECT_EQ(call("kv_put", {{"key", "plan"}, {"value", value}}).content, (json{{"stored", "plan"}}));
  EXPECT_EQ(touched_, (std::vector<std::string>{keys::agent_kv("a1", "plan")}));
  EXPECT_EQ(call("kv_get", {{"key", "plan"}}).content, (json{{"key", "plan"}, {"found", true}, {"value", value}}));
  EXPECT_EQ(error(call("kv_put", {{"key", std::string(600, 'k')}, {"value", 1}})), "key is 600 bytes long; the limit is 488");
}

TEST_F(ToolsTest, SubmitResultTerminatesWithItsArguments) {
  auto r = call("submit_result", {{"summary", "done"}, {"changed_files", {"./src/app.py"}}});
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.terminate);
  EXPECT_EQ(r.content, (json{{"summary", "done"}, {"changed_files", {"src/app.py"}}, {"status", "completed"}}));
  r = call("submit_result", {{"summary", "no"}, {"status", "abandoned"}});
  EXPECT_FALSE(r.terminate);
  EXPECT_EQ(error(r), "invalid arguments for submit_result:\n$.status: expected one of [\"completed\",\"failed\"], got \"abandoned\"");
}

// ---- the registry ----

TEST(ToolRegistry, MakesTheBundlesToolsWithTheTerminationTool) {
  Bundle b;
  b.name = "lint";
  b.tools = {"read_file", "write_file", "read_file", "fmt"};
  b.command_tools.push_back({"fmt", "format", json::parse(R"({"type": "object"})"), {"true"}, {}, 5});
  std::vector<std::string> names;
  for (const auto& t : make_tools(b)) names.push_back(t->spec().name);
  EXPECT_EQ(names, (std::vector<std::string>{"read_file", "write_file", "submit_result", "fmt"}));

  b.tools = {"read_file", "raed_file"};
  try {
    make_tools(b);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_EQ(std::string(e.what()),
              "bundle 'lint': unknown tool 'raed_file' (known: ask_user, delete_file, edit_file, get_messages, kv_get, "
              "kv_put, list_files, read_file, search_content, search_files, send_message, submit_result, write_file, fmt)");
  }
  b.tools = {};
  b.command_tools[0].name = "read_file";
  EXPECT_THROW(make_tools(b), Error);
}

// ---- command tools ----

CommandToolSpec command(std::vector<std::string> argv, std::string params, std::vector<std::string> files, double timeout = 30) {
  return {"cmd", "runs a program", json::parse(params), std::move(argv), std::move(files), timeout};
}
const char* kPathParams = R"({"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}})";

TEST_F(ToolsTest, CommandToolWritesBackOnlyChangedFiles) {
  CommandTool sed(command({"sed", "-i", "s/hello/HELLO/", "{path}", "{other}"},
                          R"({"type": "object", "required": ["path", "other"], "properties": {
                               "path": {"type": "string"}, "other": {"type": "string"}}})",
                          {"path", "other"}));
  auto r = call(sed, {{"path", "./src//app.py"}, {"other", "src/util.py"}});
  ASSERT_TRUE(r.ok) << text(r);
  EXPECT_EQ(r.content, (json{{"exit_code", 0}, {"stdout", ""}, {"stderr", ""}, {"changed_files", {"src/app.py"}}}));
  EXPECT_EQ(content("src/app.py"), "import os\n\ndef main():\n    print('HELLO')\n");
  EXPECT_EQ(touched_, (std::vector<std::string>{keys::file("src/app.py")}));
  // The private copy is gone.
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "scratch"));
}

TEST_F(ToolsTest, CommandToolSeesTheOverlayAndKeepsModes) {
  call("write_file", {{"path", "bin/run.sh"}, {"content", "#!/bin/sh\necho overlay\n"}});
  CommandTool py(command({"python3", "-c",
                          "import os, sys; p = sys.argv[1]; s = open(p).read(); print(oct(os.stat(p).st_mode & 0o777), s.split()[-1]);"
                          "open(p, 'w').write(s.upper()); os.makedirs('sub'); open('sub/created.txt', 'w').write('c')",
                          "{path}"},
                         kPathParams, {"path"}));
  auto r = call(py, {{"path", "bin/run.sh"}});
  ASSERT_TRUE(r.ok) << text(r);
  EXPECT_EQ(r.content["stdout"], "0o755 overlay\n");
  EXPECT_EQ(r.content["changed_files"], (json{"bin/run.sh"}));
  EXPECT_EQ(content("bin/run.sh"), "#!/BIN/SH\nECHO OVERLAY\n");
  EXPECT_EQ(file("bin/run.sh")->mode, 0755u);
  EXPECT_FALSE(file("sub/created.txt"));  // written outside the named files: ignored
}

TEST_F(ToolsTest, CommandToolCreatesAndDeletesNamedFiles) {
  CommandTool mv(command({"mv", "{path}", "{to}"},
                         R"({"type": "object", "required": ["path", "to"], "properties": {
                              "path": {"type": "string"}, "to": {"type": "string"}}})",
                         {"path", "to"}));
  auto r = call(mv, {{"path", "src/util.py"}, {"to", "lib/util.py"}});
  ASSERT_TRUE(r.ok) << text(r);
  EXPECT_EQ(r.content["changed_files"], (json{"src/util.py", "lib/util.py"}));
  EXPECT_FALSE(file("src/util.py"));
  EXPECT_EQ(content("lib/util.py"), "def helper():\n    return 42\n");

  CommandTool ln(command({"ln", "-sf", "/etc/passwd", "{path}"}, kPathParams, {"path"}));
  EXPECT_EQ(error(call(ln, {{"path", "README.md"}})), "the program left 'README.md' as something other than a regular file");
  EXPECT_EQ(content("README.md"), "# Demo\nhello\n");
  EXPECT_EQ(error(call(ln, {{"path", "docs/passwd"}})),
            "'docs/passwd' is a symbolic link to '../../etc/passwd', outside the project; it cannot be followed");
  EXPECT_EQ(error(call(ln, {{"path", "../outside"}})),
            "path '../outside' leads outside the project; '..' may not climb above the project root");
}

TEST_F(ToolsTest, CommandToolReportsExitCodesAndBoundsOutput) {
  CommandTool sh(command({"sh", "-c", "echo out; echo err >&2; exit 3"}, R"({"type": "object"})", {}));
  auto r = call(sh, json::object());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.content, (json{{"exit_code", 3}, {"stdout", "out\n"}, {"stderr", "err\n"}, {"changed_files", json::array()}}));

  CommandTool loud(command({"python3", "-c", "import sys; sys.stdout.write('x' * 100000)"}, R"({"type": "object"})", {}),
                   {}, 1000);
  r = call(loud, json::object());
  EXPECT_EQ(r.content["stdout"], std::string(1000, 'x') + "\n[99000 more bytes not shown]");

  CommandTool missing(command({"no-such-program-here"}, R"({"type": "object"})", {}));
  EXPECT_EQ(error(call(missing, json::object())), "program 'no-such-program-here' is not on the PATH");
}

TEST_F(ToolsTest, CommandToolIsKilledAtItsTimeout) {
  auto start = std::chrono::steady_clock::now();
  // The shell's child holds the output open too: the whole session is killed.
  CommandTool slow(command({"sh", "-c", "sleep 100; echo never"}, kPathParams, {"path"}, 0.3));
  auto r = call(slow, {{"path", "src/app.py"}});
  EXPECT_EQ(error(r), "cmd was killed after its timeout of 0.3 s; no file was changed");
  EXPECT_EQ(r.content["signal"], "SIGKILL");
  EXPECT_TRUE(touched_.empty());
  // A program that exits but leaves a child behind holding its output is done when it exits.
  CommandTool stray(command({"sh", "-c", "sleep 100 & echo started"}, R"({"type": "object"})", {}));
  r = call(stray, json::object());
  EXPECT_EQ(r.content, (json{{"exit_code", 0}, {"stdout", "started\n"}, {"stderr", ""}, {"changed_files", json::array()}}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(CommandTemplate, ChecksTheDeclaration) {
  EXPECT_EQ(check_command_template(command({"black", "-q", "--line-length={n}", "{path}", "{{literal}}"},
                                           R"({"type": "object", "required": ["path"], "properties": {
                                                "path": {"type": "string"}, "n": {"type": "integer", "default": 88}}})",
                                           {"path"})),
            Problems{});
  auto bad = command({"{prog}", "{path}", "{style}", "{opts}", "{nope}", "{{fine}}"},
                     R"({"type": "object", "required": ["path", "opts"], "properties": {
                          "path": {"type": "string"}, "style": {"type": "strng"}, "n": {"type": "integer"},
                          "opts": {"type": "array"}}})",
                     {"n", "missing"}, 0);
  bad.name = "bad name";
  EXPECT_EQ(check_command_template(bad),
            (Problems{"name: 'bad name' is not a tool name (1 to 64 letters, digits, '_' or '-')", "timeout_s: must be > 0",
                      "parameters.properties.style.type: unknown type 'strng' (known: array, boolean, integer, null, "
                      "number, object, string)"}));
  bad.parameters["properties"]["style"]["type"] = "string";
  EXPECT_EQ(check_command_template(bad),
            (Problems{"name: 'bad name' is not a tool name (1 to 64 letters, digits, '_' or '-')", "timeout_s: must be > 0",
                      "files[0]: parameter 'n' holds a path, so its type must be \"string\"",
                      "files[1]: 'missing' is not one of the parameters (n, opts, path, style)",
                      "command[0]: the program cannot come from an argument ({prog})",
                      "command[2]: placeholder {style} names an optional parameter without a default; make it required "
                      "or give it a default",
                      "command[3]: placeholder {opts} names an array; only strings, numbers and booleans fit in an argument",
                      "command[4]: unknown placeholder {nope} (parameters: n, opts, path, style; write {{ and }} for "
                      "literal braces)"}));
  EXPECT_EQ(check_command_template(command({}, R"({"type": "string"})", {})),
            (Problems{"parameters.type: must be \"object\": arguments are named", "command: must name a program"}));
}

TEST_F(ToolsTest, CommandTemplatesExpandOnceAndWhole) {
  CommandTool echo(command({"printf", "%s|", "{path}", "{{path}}", "a {n} b", "{x"},
                           R"({"type": "object", "required": ["path", "n"], "properties": {
                                "path": {"type": "string"}, "n": {"type": "number"}}})",
                           {}));
  auto r = call(echo, {{"path", "{n} $(id) *"}, {"n", 2.5}});
  EXPECT_EQ(r.content["stdout"], "{n} $(id) *|{path}|a 2.5 b|{x|");
}

}  // namespace
}  // namespace remora::worker
