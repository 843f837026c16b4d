// A workspace's map is read-only-shared in every process (ReadOnlyMap): the kernel's writeback
// then passes it by instead of write-protecting it for every page a commit syncs. Pinned through
// the kernel's own account of the mapping (/proc/self/smaps: no `sh`, no `mw` flag), after the
// open, after this process grows the map, and after another process grows it.
#include "shared/read_only_map.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "shared/workspace.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;

// The VmFlags of each mapping of `file` in this process.
std::vector<std::string> map_flags(const fs::path& file) {
  const auto want = fs::canonical(file).string();
  std::ifstream in("/proc/self/smaps");
  std::vector<std::string> flags;
  std::string line;
  bool ours = false;
  while (std::getline(in, line)) {
    if (line.rfind("VmFlags:", 0) == 0) {
      if (ours) flags.push_back(line.substr(8) + " ");
      continue;
    }
    // A mapping's first line: "start-end perms offset dev inode path"; its fields are "Name: value".
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, path;
    fields >> range >> perms >> offset >> dev >> inode;
    if (range.find('-') == std::string::npos || range.back() == ':') continue;
    std::getline(fields >> std::ws, path);
    ours = path == want;
  }
  return flags;
}

void expect_read_only_shared(const fs::path& dir) {
  const auto flags = map_flags(dir / "data.mdb");
  ASSERT_EQ(flags.size(), 1u) << "one mapping of data.mdb";
  EXPECT_NE(flags[0].find(" rd "), std::string::npos) << flags[0];
  EXPECT_NE(flags[0].find(" ms "), std::string::npos) << flags[0];  // a shared mapping: commits seen at once
  EXPECT_EQ(flags[0].find(" sh "), std::string::npos) << flags[0];  // but not writable-shared
  EXPECT_EQ(flags[0].find(" mw "), std::string::npos) << flags[0];
}

// A workspace opened with a map of `map_bytes`, holding base:k = v.
std::unique_ptr<Workspace> open_with_one_key(const fs::path& dir, std::size_t map_bytes) {
  WorkspaceOptions o;
  o.dir = dir;
  o.initial_map_bytes = map_bytes;
  auto ws = Workspace::open(o);
  ws->write([&](WriteTxn& t) { t.put(ws->ns("base"), "k", "v"); });
  return ws;
}

TEST(ReadOnlyMap, AWorkspaceIsMappedReadOnlyShared) {
  test::TempDir dir;
  auto ws = open_with_one_key(dir.path(), std::size_t{64} << 20);
  expect_read_only_shared(dir.path());
  ws.reset();
  WorkspaceOptions o;
  o.dir = dir.path();
  ws = Workspace::open(o);  // a workspace that exists already
  expect_read_only_shared(dir.path());
  EXPECT_EQ(ws->get(ws->ns("base"), "k")->value, "v");
}

TEST(ReadOnlyMap, StaysSoWhenThisProcessGrowsTheMap) {
  test::TempDir dir;
  auto ws = open_with_one_key(dir.path(), std::size_t{1} << 20);
  auto base = ws->ns("base");
  const std::string big(3 << 20, 'x');  // a commit that does not fit grows the map and runs again
  ws->write([&](WriteTxn& t) { t.put(base, "big", big); });
  EXPECT_GE(ws->map_size(), std::size_t{4} << 20);
  expect_read_only_shared(dir.path());
  EXPECT_EQ(ws->get(base, "big")->value, big);
  EXPECT_EQ(ws->get(base, "k")->value, "v");
}

TEST(ReadOnlyMap, StaysSoWhenAnotherProcessGrowsTheMap) {
  test::TempDir dir;
  auto ws = open_with_one_key(dir.path() / "ws", std::size_t{1} << 20);
  const auto before = ws->map_size();
  const std::string big(3 << 20, 'y');
  std::ofstream(dir.path() / "big") << big;
  auto put = test::shell(std::string(REMORA_KV) + " -w " + (dir.path() / "ws").string() + " put big --file " +
                         (dir.path() / "big").string());
  ASSERT_EQ(put.code, 0) << put.out;
  auto e = ws->get(ws->ns("base"), "big");  // the map another process grew is adopted and mapped again
  ASSERT_TRUE(e);
  EXPECT_NE(e->value.find(big), std::string::npos);
  EXPECT_GT(ws->map_size(), before);
  expect_read_only_shared(dir.path() / "ws");
}

}  // namespace
}  // namespace remora
