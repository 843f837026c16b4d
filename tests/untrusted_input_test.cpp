// Untrusted input (docs/untrusted-input.md): each attack of issue 11 that reaches the terminal, the
// project directory, the supervisor's reads or its parsers, tried for real against the real
// `remora` binary or the real code, and shown to be stopped with a clear message.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "review/review.hpp"
#include "review/unified_diff.hpp"
#include "shared/bundle.hpp"
#include "shared/error.hpp"
#include "shared/lmdb_data_file.hpp"
#include "shared/workspace.hpp"
#include "shared/yaml_fields.hpp"
#include "supervisor/project_dir.hpp"
#include "supervisor/project_import.hpp"
#include "supervisor/terminal_text.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using test::shell;
using test::TempDir;
using test::write_text;

const std::string kRemora = REMORA_BIN;

bool has_control_bytes(const std::string& s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
  return false;
}

// `remora run` of d/graph.yaml holding yaml, with its workspace in d/ws.
test::Shell run_graph(const TempDir& d, const std::string& yaml) {
  write_text(d / "graph.yaml", yaml);
  return shell(kRemora + " -w " + (d / "ws").string() + " run " + (d / "graph.yaml").string());
}

std::uint32_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// --- terminal output ---------------------------------------------------------------------------

TEST(TerminalText, ControlCharactersInvalidUtf8AndBidiOverridesAreEscaped) {
  EXPECT_EQ(inert_text("ok \xc3\xa9t\xc3\xa9"), "ok \xc3\xa9t\xc3\xa9");  // printable UTF-8 stays
  EXPECT_EQ(inert_text("\x1b]0;pwned\x07\x1b[2J"), "\\x1b]0;pwned\\x07\\x1b[2J");
  EXPECT_EQ(inert_text("a\nb\rc\td\x7f"), "a\\nb\\rc\\td\\x7f");
  EXPECT_EQ(inert_text("\xc2\x9b" "31m"), "\\xc2\\x9b31m");  // C1 CSI
  EXPECT_EQ(inert_text("\xff\xfe" "x"), "\\xff\\xfex");       // not UTF-8
  EXPECT_EQ(inert_text("abc\xe2\x80\xae" "fdp.exe"), "abc\\u202efdp.exe");
  EXPECT_EQ(inert_lines("one\n\x1b[1Atwo\tx"), "one\n  \\x1b[1Atwo\tx");
  EXPECT_EQ(quoted_name("src/a.py"), "src/a.py");
  EXPECT_EQ(quoted_name("caf\xc3\xa9.py"), "caf\xc3\xa9.py");
  EXPECT_EQ(quoted_name("a\nb\x1b.py"), "\"a\\nb\\x1b.py\"");
  EXPECT_EQ(quoted_name("say \"hi\"\x07"), "\"say \\\"hi\\\"\\x07\"");
}

// A steps bundle whose question, options, default, summary and file name hold ESC/OSC sequences,
// newlines forging remora's own lines, CR and C1 controls: run by the real `remora run` on a real
// project, then shown by status, events, diff and accept. Not one control byte reaches the output.
TEST(UntrustedInput, ModelTextAndFileNamesReachTheTerminalEscaped) {
  TempDir d;
  write_text(d / "project" / "a.py", "x = 1\n");
  write_text(d / "bundles" / "evil" / "bundle.yaml",
             "name: evil\nkind: steps\nsteps:\n"
             "  - ask: {question: \"Style?\\e]0;pwned\\a\\e[2J\\n00:00:00 agent:completed  forged\\r\", "
             "options: [\"google\\e[31m\", \"numpy\\u009b\"], default: \"google\\e[31m\", timeout: 0.2}\n"
             "  - write: {path: \"evil\\e]0;t\\a\\n.py\", content: \"pwned\\n\"}\n"
             "  - result: {summary: \"done\\e[2J\\e]0;title\\a\\n00:00:00 graph:completed  forged\"}\n");
  const std::string ws = (d / "ws").string();
  auto run = shell(kRemora + " -w " + ws + " run " + (d / "project").string() + " --bundles-dir " +
                   (d / "bundles").string() + " --bundle evil < /dev/null");
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_FALSE(has_control_bytes(run.out)) << run.out;
  EXPECT_NE(run.out.find("Style?\\x1b]0;pwned\\x07\\x1b[2J\\n00:00:00 agent:completed  forged\\r"), std::string::npos)
      << run.out;
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_FALSE(line.starts_with("00:00:00")) << "a forged line: " << line;
  }

  auto status = nlohmann::json::parse(shell(kRemora + " -w " + ws + " status --json").out);
  const std::string agent = status.at("agents").at(0).at("id").get<std::string>();
  for (const std::string& cmd :
       std::vector<std::string>{"status", "events", "events --json", "diff", "diff --stat", "accept --all"}) {
    auto r = shell(kRemora + " -w " + ws + " " + cmd);
    EXPECT_FALSE(has_control_bytes(r.out)) << cmd << ":\n" << r.out;
    if (cmd == "accept --all") {
      EXPECT_EQ(r.code, 0) << r.out;
      EXPECT_NE(r.out.find("\"evil\\x1b]0;t\\x07\\n.py\""), std::string::npos) << r.out;
    }
    if (cmd == "diff --stat") {
      EXPECT_NE(r.out.find(" \"evil\\x1b]0;t\\x07\\n.py\" | +1 -0"), std::string::npos) << r.out;
    }
    if (cmd == "status") {
      EXPECT_NE(r.out.find("done\\x1b[2J\\x1b]0;title\\x07\\n00:00:00"), std::string::npos) << r.out;
    }
  }
  EXPECT_EQ(test::read_text(d / "project" / "evil\x1b]0;t\x07\n.py"), "pwned\n");
  (void)agent;
}

// --- accept writes only ordinary files ---------------------------------------------------------

class AcceptModes : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(root / "a.py", "x = 1\n");
    WorkspaceOptions o;
    o.dir = tmp / "ws";
    o.durability = Durability::nosync;
    ws = Workspace::open(o);
    import_project(*ws, root);
    proto::AgentState st;
    st.id = "tool";
    st.bundle = "b";
    st.target = "a.py";
    st.ns = keys::agent_ns(st.id);
    st.parent_ns = "base";
    st.state = "completed";
    st.review = "pending";
    ws->create_ns(st.ns, st.parent_ns);
    ws->write([&](WriteTxn& t) { t.put(ws->ns("base"), keys::run_agent(st.id), proto::encode(st)); });
  }
  void put(const std::string& path, const std::string& content, std::uint32_t mode) {
    auto ns = ws->ns(keys::agent_ns("tool"));
    ws->write([&](WriteTxn& t) { t.put(ns, keys::file(path), proto::encode(proto::FileEntry{{content}, mode})); });
  }

  TempDir tmp;
  fs::path root = tmp / "project";
  std::unique_ptr<Workspace> ws;
};

// What a command tool that copies /usr/bin/id into its overlay and sets 04755 leaves: diff shows
// the mode whole and says accept refuses it; accept refuses, naming the file and the mode, and
// writes nothing. Likewise setgid, sticky, a symbolic link, a device and a FIFO.
TEST_F(AcceptModes, SetuidSetgidStickyLinksDevicesAndFifosAreRefusedAndShown) {
  const std::string id_bytes = test::read_text("/usr/bin/id");
  const std::pair<std::uint32_t, std::string> cases[] = {
      {04755, "104755"}, {02755, "102755"}, {01755, "101755"},
      {S_IFLNK | 0777, "120777"}, {S_IFCHR | 0666, "020666"}, {S_IFIFO | 0644, "010644"}};
  for (const auto& [mode, shown] : cases) {
    SCOPED_TRACE(shown);
    put("idcopy", id_bytes, mode);
    const auto agents = run_agents(*ws);
    ASSERT_EQ(agents.size(), 1u);
    const auto changes = agent_changes(*ws, agents[0]);
    ASSERT_EQ(changes.size(), 1u);
    const std::string diff = file_diff(changes[0].path, changes[0].before, changes[0].after, false);
    EXPECT_NE(diff.find("new file mode " + shown + "\n"), std::string::npos) << diff;
    EXPECT_NE(diff.find("# remora accept refuses this file: mode " + shown), std::string::npos) << diff;
    Review review(*ws);
    try {
      review.accept("tool", false);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::conflict);
      EXPECT_NE(std::string(e.what()).find("idcopy has mode " + shown), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(fs::symlink_status(root / "idcopy")));
  }
}

TEST_F(AcceptModes, WrittenFilesAndDirectoriesBelongToTheProjectDirectorysOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root gives files away";
  ASSERT_EQ(::chown(root.c_str(), 65534, 65534), 0);
  put("new/dir/tool.py", "print('hi')\n", 0755);
  put("a.py", "x = 2\n", 0644);
  Review review(*ws);
  review.accept("tool", false);
  for (const fs::path& p : std::vector<fs::path>{root / "new", root / "new" / "dir", root / "new" / "dir" / "tool.py", root / "a.py"}) {
    struct stat st {};
    ASSERT_EQ(::lstat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, 65534u) << p;
    EXPECT_EQ(st.st_gid, 65534u) << p;
  }
  EXPECT_EQ(mode_of(root / "new" / "dir" / "tool.py"), 0755u);
}

// The real CLI: `remora diff` shows the setuid mode and `remora accept` exits 1 naming it.
TEST_F(AcceptModes, TheCommandsShowAndRefuseTheSetuidBit) {
  put("idcopy", test::read_text("/usr/bin/id"), 04755);
  const std::string dir = (tmp / "ws").string();
  ws.reset();
  auto diff = shell(kRemora + " -w " + dir + " diff tool");
  EXPECT_EQ(diff.code, 0) << diff.out;
  EXPECT_NE(diff.out.find("new file mode 104755\n# remora accept refuses this file: mode 104755: the setuid bit is set"),
            std::string::npos)
      << diff.out;
  auto accept = shell(kRemora + " -w " + dir + " accept tool");
  EXPECT_EQ(accept.code, 1) << accept.out;
  EXPECT_NE(accept.out.find("cannot accept tool: idcopy has mode 104755 (the setuid bit is set)"), std::string::npos)
      << accept.out;
  EXPECT_FALSE(fs::exists(root / "idcopy"));
}

// The attack itself: a command tool run by a real sandboxed worker copies /usr/bin/id into its
// overlay with mode 04755. diff shows the bit, accept --all refuses it and writes nothing.
TEST(UntrustedInput, ACommandToolsSetuidCopyOfIdIsShownAndNeverAccepted) {
  TempDir d;
  write_text(d / "project" / "a.py", "x = 1\n");
  write_text(d / "bundles" / "suid" / "tools" / "plant.sh", "cp /usr/bin/id \"$1\" && chmod 4755 \"$1\"\n");
  write_text(d / "bundles" / "suid" / "bundle.yaml",
             "name: suid\nnode_types: [file]\nsystem_prompt: x\nuser_prompt: y\nmodel: {provider: scripted}\n"
             "tools: [plant, submit_result]\ncommand_tools:\n  - name: plant\n"
             "    parameters: {type: object, properties: {path: {type: string}}, required: [path]}\n"
             "    command: [sh, \"{bundle_dir}/plant.sh\", \"{path}\"]\nscript:\n"
             "  - tool_calls: [{name: plant, arguments: {path: idcopy}}]\n"
             "  - tool_calls: [{name: submit_result, arguments: {summary: planted, changed_files: [idcopy], status: completed}}]\n");
  const std::string ws = (d / "ws").string();
  auto run = shell(kRemora + " -w " + ws + " run " + (d / "project").string() + " --bundles-dir " +
                   (d / "bundles").string() + " --bundle suid < /dev/null");
  ASSERT_EQ(run.code, 0) << run.out;
  auto diff = shell(kRemora + " -w " + ws + " diff");
  EXPECT_NE(diff.out.find("new file mode 104755\n# remora accept refuses this file: mode 104755: the setuid bit is set"),
            std::string::npos)
      << diff.out;
  auto accept = shell(kRemora + " -w " + ws + " accept --all");
  EXPECT_EQ(accept.code, 1) << accept.out;
  EXPECT_NE(accept.out.find("idcopy has mode 104755 (the setuid bit is set)"), std::string::npos) << accept.out;
  EXPECT_FALSE(fs::exists(d / "project" / "idcopy"));
}

// --- nothing read through a link out of its tree -----------------------------------------------

fs::path bundle_with_tools(const TempDir& d) {
  const fs::path dir = d / "bundles" / "b";
  write_text(dir / "bundle.yaml", "name: b\nkind: steps\nsteps: [{result: ok}]\n");
  write_text(dir / "tools" / "ok.sh", "echo ok\n");
  return dir;
}

// The message of the Error f throws; "" when it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string load_error(const fs::path& dir) {
  return error_of([&] { load_bundle(dir); });
}

TEST(UntrustedInput, BundleToolsThatAreLinksFifosOrDevicesAreRefusedNeverRead) {
  TempDir d;
  const fs::path dir = bundle_with_tools(d);
  fs::create_symlink("/etc/shadow", dir / "tools" / "shadow");
  fs::create_symlink("/proc/self/environ", dir / "tools" / "environ");
  ASSERT_EQ(::mkfifo((dir / "tools" / "pipe").c_str(), 0644), 0);
  const std::string err = load_error(dir);  // a FIFO opened for reading would block here
  EXPECT_NE(err.find("tools/shadow: a symbolic link"), std::string::npos) << err;
  EXPECT_NE(err.find("tools/environ: a symbolic link"), std::string::npos) << err;
  EXPECT_NE(err.find("tools/pipe: a FIFO"), std::string::npos) << err;
  EXPECT_EQ(err.find("root:"), std::string::npos) << err;  // nothing of /etc/shadow

  TempDir d2;
  const fs::path dir2 = bundle_with_tools(d2);
  fs::remove_all(dir2 / "tools");
  fs::create_symlink("/etc", dir2 / "tools");
  EXPECT_NE(load_error(dir2).find("tools: a symbolic link, not a directory"), std::string::npos) << load_error(dir2);

  TempDir d3;
  const fs::path dir3 = bundle_with_tools(d3);
  fs::rename(dir3 / "bundle.yaml", d3 / "real.yaml");  // outside the bundle
  fs::create_symlink(d3 / "real.yaml", dir3 / "bundle.yaml");
  EXPECT_NE(load_error(dir3).find("a symbolic link, which remora never follows"), std::string::npos) << load_error(dir3);
}

TEST(UntrustedInput, AHugeToolFileFailsFromItsSizeBeforeAnyByteIsRead) {
  TempDir d;
  const fs::path dir = bundle_with_tools(d);
  {
    int fd = ::open((dir / "tools" / "huge.bin").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 300ll << 20), 0);  // 300 MiB, sparse
    ::close(fd);
  }
  for (int i = 0; i < 9; ++i) write_text(dir / "tools" / ("part" + std::to_string(i)), std::string(1000 * 1000, 'x'));
  const std::string err = load_error(dir);
  EXPECT_NE(err.find("tools/huge.bin: 300.0 MiB is over the limit of 1.0 MiB for one tool file"), std::string::npos) << err;
  EXPECT_NE(err.find("tools/part8: the bundle's tool files come to more than the limit of 8.0 MiB together"),
            std::string::npos)
      << err;
  // The real command: a clear message and exit 2, not a minute of silence.
  auto r = run_graph(d, "agents:\n  - {id: x, bundle: b}\n");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("huge.bin: 300.0 MiB is over the limit"), std::string::npos) << r.out;
}

TEST(UntrustedInput, ProjectImportAndDiscoveryNeverFollowALinkOutOfTheTree) {
  TempDir d;
  write_text(d / "outside" / "secret.py", "SECRET = 1\n");
  write_text(d / "outside" / "ignore", "*.py\n");
  write_text(d / "project" / "a.py", "x = 1\n");
  fs::create_symlink(d / "outside" / "secret.py", d / "project" / "link.py");
  fs::create_symlink(d / "outside", d / "project" / "dir");
  fs::create_symlink(d / "outside" / "ignore", d / "project" / ".gitignore");  // would hide a.py if read
  WorkspaceOptions o;
  o.dir = d / "ws";
  auto ws = Workspace::open(o);
  import_project(*ws, d / "project");
  auto files = ws->list(ws->ns("base"), keys::kFile);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].first, keys::file("a.py"));
  auto r = shell(kRemora + " discover " + (d / "project").string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("a.py:1 file a.py"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("secret"), std::string::npos) << r.out;
}

// --- workspace files are private, and workers still work ---------------------------------------

TEST(UntrustedInput, WorkspaceFilesAreNotReadableByOthersAndWorkersStillWork) {
  TempDir d;
  write_text(d / "project" / "a.py", "x = 1\n");
  write_text(d / "project" / "b.py", "y = 2\n");
  write_text(d / "bundles" / "w" / "bundle.yaml",
             "name: w\nkind: steps\nsteps:\n  - write: {path: \"{target}\", content: \"done\\n\"}\n"
             "  - result: {summary: wrote}\n");
  const fs::path ws = d / "ws";
  auto run = shell(kRemora + " -w " + ws.string() + " run " + (d / "project").string() + " --bundles-dir " +
                   (d / "bundles").string() + " --bundle w < /dev/null");
  ASSERT_EQ(run.code, 0) << run.out;  // every worker (uid nobody on strict) completed
  EXPECT_NE(run.out.find("completed=2"), std::string::npos) << run.out;
  auto cp = shell(kRemora + " -w " + ws.string() + " checkpoint -m modes");
  ASSERT_EQ(cp.code, 0) << cp.out;
  EXPECT_EQ(mode_of(ws), 0700u);
  for (const char* f : {"data.mdb", "lock.mdb", "doorbell", "review.lock", "supervisor.lock"})
    EXPECT_EQ(mode_of(ws / f), 0600u) << f;
  EXPECT_EQ(mode_of(ws / "logs"), 0700u);
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(ws / "logs")) files += e.is_regular_file();
  for (const auto& e : fs::recursive_directory_iterator(ws / "checkpoints"))
    if (e.is_regular_file()) {
      EXPECT_EQ(mode_of(e.path()) & 077, 0u) << e.path();
      ++files;
    }
  for (const auto& e : fs::directory_iterator(ws / "logs")) EXPECT_EQ(mode_of(e.path()), 0600u) << e.path();
  EXPECT_GE(files, 4u);  // two logs, a checkpoint's data and manifest
  EXPECT_EQ(mode_of(ws / "checkpoints"), 0700u);
}

// --- a damaged data.mdb ------------------------------------------------------------------------

class DamagedWorkspace : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkspaceOptions o;
    o.dir = dir;
    auto ws = Workspace::open(o);
    const auto base = ws->ns("base");
    const std::string value(2000, 'v');
    ws->write([&](WriteTxn& t) {
      for (int i = 0; i < 2000; ++i) t.put(base, "k" + std::to_string(i), value);
    });
    size = fs::file_size(data);
    ASSERT_GT(size, 1u << 20);
  }

  // `remora status` on the workspace: exit 3 and the message, never a signal.
  void expect_clear_error(const std::string& why) {
    auto r = shell(kRemora + " -w " + dir.string() + " status");
    EXPECT_EQ(r.code, 3) << r.out;
    EXPECT_NE(r.out.find("workspace file " + data.string() + " is damaged: " + why), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("remora restore"), std::string::npos) << r.out;
    WorkspaceOptions o;
    o.dir = dir;
    try {
      Workspace::open(o);
      ADD_FAILURE() << "opened";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::corrupt) << e.what();
    }
  }
  void garble(std::size_t offset, std::string_view bytes) {
    int fd = ::open(data.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }

  TempDir tmp;
  fs::path dir = tmp / "ws";
  fs::path data = dir / "data.mdb";
  std::uintmax_t size = 0;
};

TEST_F(DamagedWorkspace, TruncatedToHalf) {
  fs::resize_file(data, size / 2);
  expect_clear_error("it is " + std::to_string(size / 2) + " bytes, but its meta page");
}

TEST_F(DamagedWorkspace, TruncatedToItsTwoMetaPages) {
  fs::resize_file(data, 2 * 4096);
  expect_clear_error("it is 8192 bytes, but its meta page");
}

TEST_F(DamagedWorkspace, TruncatedInsideItsMetaPages) {
  fs::resize_file(data, 4096 + 100);
  expect_clear_error("it is 4196 bytes, shorter than its two meta pages");
}

TEST_F(DamagedWorkspace, EmptyIsNotANewWorkspace) {
  fs::resize_file(data, 0);
  expect_clear_error("it is empty (0 bytes), not a new workspace");
}

TEST_F(DamagedWorkspace, GarbledMetaPages) {
  garble(16, "\xde\xad\xbe\xef");
  expect_clear_error("meta page 0 does not hold LMDB's magic number");
}

TEST_F(DamagedWorkspace, AMetaPageWithAnImpossibleRoot) {
  garble(4096 + 16 + 24 + 48 + 40, std::string("\xff\xff\xff\x0f\x00\x00\x00\x00", 8));
  expect_clear_error("meta page 1 gives a database root");
}

TEST_F(DamagedWorkspace, RestoreStillRepairsIt) {
  auto cp = shell(kRemora + " -w " + dir.string() + " checkpoint -m good --json");
  ASSERT_EQ(cp.code, 0) << cp.out;
  const std::string id = nlohmann::json::parse(cp.out).at("id").get<std::string>();
  fs::resize_file(data, size / 2);
  auto r = shell(kRemora + " -w " + dir.string() + " restore " + id + " --yes");
  EXPECT_EQ(r.code, 0) << r.out;
  WorkspaceOptions o;
  o.dir = dir;
  auto ws = Workspace::open(o);
  EXPECT_TRUE(ws->get(ws->ns("base"), "k1999"));
}

// The check reads a file other processes may be committing to: a commit landing between its
// reads must never make a live workspace look damaged (`remora answer` once said so mid-run).
TEST(LiveWorkspace, CheckedWhileCommitsGrowItItIsNeverCalledDamaged) {
  TempDir tmp;
  WorkspaceOptions o;
  o.dir = tmp / "ws";
  o.durability = Durability::nosync;
  auto ws = Workspace::open(o);
  const auto base = ws->ns("base");
  std::atomic<bool> done{false};
  std::thread writer([&] {
    const std::string value(3000, 'v');  // most commits add pages, so the file grows under the check
    for (int i = 0; i < 3000; ++i) ws->write([&](WriteTxn& t) { t.put(base, "k" + std::to_string(i), value); });
    done = true;
  });
  int checks = 0, faults = 0;
  std::string first_fault;
  while (!done) {
    try {
      check_lmdb_data_file(o.dir / "data.mdb");
    } catch (const Error& e) {
      if (faults++ == 0) first_fault = e.what();
    }
    ++checks;
  }
  writer.join();
  EXPECT_EQ(faults, 0) << "of " << checks << " checks; the first: " << first_fault;
  EXPECT_GT(checks, 0);
  EXPECT_NO_THROW(check_lmdb_data_file(o.dir / "data.mdb"));
}

// --- parsers of graph and bundle files ---------------------------------------------------------

std::string parse_error(const fs::path& file) {
  return error_of([&] { yaml_fields::parse_file(file); });
}

TEST(UntrustedInput, DeepHugeOrExplodingYamlIsRefusedNamingFileAndLine) {
  TempDir d;
  const fs::path deep = d / "deep.yaml";
  write_text(deep, "name: x\nagents:\n  - " + std::string(100000, '[') + std::string(100000, ']') + "\n");
  EXPECT_EQ(parse_error(deep), deep.string() + ": line 3: nested more than 64 levels deep: too deep to read");
  std::string block = "a:\n";
  for (int i = 1; i < 70; ++i) block += std::string(2 * i, ' ') + "a:\n";
  write_text(d / "block.yaml", block);
  EXPECT_NE(parse_error(d / "block.yaml").find(": line 65: nested more than 64 levels"), std::string::npos)
      << parse_error(d / "block.yaml");
  // A billion laughs: each alias stands for ten of the one before.
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) laughs += (k ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  write_text(d / "laughs.yaml", laughs);
  EXPECT_NE(parse_error(d / "laughs.yaml").find("more than 1000000 nodes"), std::string::npos)
      << parse_error(d / "laughs.yaml");
  {
    int fd = ::open((d / "big.yaml").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 17 << 20), 0);
    ::close(fd);
  }
  EXPECT_NE(parse_error(d / "big.yaml").find("is over the limit of 16 MiB for a YAML file"), std::string::npos);

  // The real command on the deep graph: exit 2 and the message.
  auto r = shell(kRemora + " -w " + (d / "ws").string() + " run " + deep.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("line 3: nested more than 64 levels deep"), std::string::npos) << r.out;
}

TEST(UntrustedInput, AnOutOfRangeNumberSaysTheRange) {
  TempDir d;
  auto r = run_graph(d, "config: {max_concurrency: 99999999999}\nagents: []\n");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("config.max_concurrency: expected an integer from 1 to 4294967295"), std::string::npos) << r.out;
}

TEST(UntrustedInput, FilesSkippedOverTheSizeLimitAreReportedNotSilentlyDropped) {
  TempDir d;
  write_text(d / "project" / "big.py", "x = 1\n" + std::string(2 << 20, '#') + "\n");
  auto discover = shell(kRemora + " discover " + (d / "project").string());
  EXPECT_EQ(discover.code, 0) << discover.out;
  EXPECT_NE(discover.out.find("remora: 1 file skipped: 1 larger than 1048576 bytes (big.py)"), std::string::npos)
      << discover.out;
  write_text(d / "bundles" / "w" / "bundle.yaml", "name: w\nkind: steps\nsteps: [{result: ok}]\n");
  auto run = shell(kRemora + " -w " + (d / "ws").string() + " run " + (d / "project").string() + " --bundles-dir " +
                   (d / "bundles").string() + " --bundle w < /dev/null");
  EXPECT_EQ(run.code, 2) << run.out;
  EXPECT_NE(run.out.find("nothing to run"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("1 larger than 1048576 bytes (big.py)"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace remora
