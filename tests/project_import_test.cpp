// Project import: a directory into base in one transaction, incrementally, by the walk's rules.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "supervisor/project_import.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_text;

class ProjectImport : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkspaceOptions o;
    o.dir = tmp / "ws";
    o.durability = Durability::nosync;
    ws = Workspace::open(o);
    fs::create_directories(root);
  }

  // Every file: key of base, path -> (content, mode).
  std::map<std::string, std::pair<std::string, std::uint32_t>> base_files() const {
    std::map<std::string, std::pair<std::string, std::uint32_t>> out;
    for (auto& [k, e] : ws->list(ws->ns("base"), keys::kFile)) {
      auto f = proto::decode<proto::FileEntry>(e.value, k);
      out[k.substr(keys::kFile.size())] = {f.content.data, f.mode};
    }
    return out;
  }

  TempDir tmp;
  fs::path root = tmp / "project";
  std::unique_ptr<Workspace> ws;
};

TEST_F(ProjectImport, ImportsFilesWithTheirModesInOneTransaction) {
  write_text(root / "a.py", "print('a')\n");
  write_text(root / "src/b.c", "int b;\n");
  write_text(root / "README.md", "# project\n");
  write_text(root / "run.sh", "#!/bin/sh\n");
  fs::permissions(root / "run.sh", fs::perms(0755));
  fs::permissions(root / "a.py", fs::perms(0600));

  const auto before = ws->revision();
  auto r = import_project(*ws, root);
  EXPECT_EQ(ws->revision(), before + 1);  // one batch
  EXPECT_EQ(r.revision, before + 1);
  EXPECT_EQ(r.added, 4u);
  EXPECT_EQ(r.changed + r.removed + r.unchanged, 0u);

  auto files = base_files();
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files["a.py"], (std::pair<std::string, std::uint32_t>{"print('a')\n", 0600}));
  EXPECT_EQ(files["src/b.c"].first, "int b;\n");
  EXPECT_EQ(files["README.md"].first, "# project\n");  // files of no known language too
  EXPECT_EQ(files["run.sh"].second, 0755u);

  auto project = imported_project(*ws);
  ASSERT_TRUE(project);
  EXPECT_EQ(fs::path(project->root), fs::canonical(root));
  EXPECT_EQ(project->imported_rev, r.revision);
  EXPECT_EQ(project->files, 4u);
}

TEST_F(ProjectImport, ReimportWritesOnlyWhatChanged) {
  write_text(root / "same.py", "x = 1\n");
  write_text(root / "edited.py", "x = 1\n");
  write_text(root / "chmod.sh", "echo\n");
  write_text(root / "gone.py", "x = 1\n");
  import_project(*ws, root);
  auto base = ws->ns("base");
  const auto same_rev = ws->get(base, keys::file("same.py"))->mod_rev;

  write_text(root / "edited.py", "x = 2\n");
  fs::permissions(root / "chmod.sh", fs::perms(0700));
  fs::remove(root / "gone.py");
  write_text(root / "new/added.py", "y = 1\n");
  auto r = import_project(*ws, root);
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(r.changed, 2u);  // bytes, and mode alone
  EXPECT_EQ(r.removed, 1u);
  EXPECT_EQ(r.unchanged, 1u);
  EXPECT_EQ(ws->get(base, keys::file("same.py"))->mod_rev, same_rev);  // not rewritten

  auto files = base_files();
  EXPECT_EQ(files.size(), 4u);
  EXPECT_FALSE(files.contains("gone.py"));
  EXPECT_EQ(files["edited.py"].first, "x = 2\n");
  EXPECT_EQ(files["chmod.sh"].second, 0700u);
  EXPECT_EQ(files["new/added.py"].first, "y = 1\n");

  auto again = import_project(*ws, root);
  EXPECT_EQ(again.unchanged, 4u);
  EXPECT_EQ(again.added + again.changed + again.removed, 0u);
}

TEST_F(ProjectImport, SkipsWhatTheWalkSkipsAndNeverFollowsLinks) {
  TempDir outside;
  write_text(outside / "secret.txt", "outside the root\n");
  write_text(outside / "dir/inner.py", "x = 1\n");
  write_text(root / "kept.py", "x = 1\n");
  write_text(root / ".git/config", "[core]\n");
  write_text(root / ".venv/lib.py", "x = 1\n");
  write_text(root / "node_modules/m/index.js", "x\n");
  write_text(root / "build/out.txt", "x\n");
  write_text(root / ".gitignore", "*.log\nignored/\n");
  write_text(root / "debug.log", "x\n");
  write_text(root / "ignored/x.py", "x\n");
  write_text(root / "big.txt", std::string(300, 'x'));
  write_text(root / "blob.bin", std::string("ab\0cd", 5));
  fs::create_symlink(outside / "secret.txt", root / "link.txt");
  fs::create_directory_symlink(outside / "dir", root / "linked_dir");

  DiscoveryOptions options;
  options.max_file_bytes = 200;
  auto r = import_project(*ws, root, options);
  auto files = base_files();
  std::vector<std::string> paths;
  for (auto& [p, f] : files) paths.push_back(p);
  EXPECT_EQ(paths, (std::vector<std::string>{".gitignore", "kept.py"}));
  std::map<std::string, std::string> skipped;
  for (auto& s : r.skipped) skipped[s.path] = s.reason;
  EXPECT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped["big.txt"].find("larger than 200 bytes"), std::string::npos);
  EXPECT_NE(skipped["blob.bin"].find("binary"), std::string::npos);
}

TEST_F(ProjectImport, RefusesARootThatIsNotADirectory) {
  write_text(root / "a.py", "x\n");
  try {
    import_project(*ws, root / "a.py");
    FAIL() << "imported a file as a project";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("a.py"), std::string::npos);
  }
}

}  // namespace
}  // namespace remora
