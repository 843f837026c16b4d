// Accept merges line by line: the real `remora accept` over a real project directory, where the
// file on disk and an accepted sibling changed other lines than the agent (merged three-way) or
// the same lines (refused, the conflicting hunks shown, nothing written); and `accept --commit`
// recording accepts as commits in a temporary git repository.
#include <nlohmann/json.hpp>

#include "review_fixture.hpp"

namespace remora {
namespace {

const std::string kRemora = REMORA_BIN;

// Ten numbered lines, with line k (1-based) replaced by `with` for each pair.
std::string lines(const std::map<int, std::string>& changed = {}) {
  std::string out;
  for (int k = 1; k <= 10; ++k) out += (changed.contains(k) ? changed.at(k) : "line " + std::to_string(k)) + "\n";
  return out;
}

class ReviewMerge : public ReviewTest {
 protected:
  void SetUp() override {
    write_text(root / "ten.txt", lines());
    ReviewTest::SetUp();
  }
  test::Shell remora(const std::string& args) { return test::shell(kRemora + " -w " + ws_dir.string() + " " + args); }
  void summary(const std::string& id, const std::string& text) {
    proto::AgentResult r;
    r.agent_id = id;
    r.status = "completed";
    r.summary = text;
    auto ns = ws->ns(keys::agent_ns(id));
    ws->write([&](WriteTxn& t) { t.put(ns, keys::result(id), proto::encode(r)); });
  }
  test::Shell git(const std::string& args) { return test::shell("git -C " + root.string() + " " + args); }
  void git_init() {
    for (const std::string args : {"init -q -b main", "config user.name 'Git User'", "config user.email git@example.com",
                                   "add -A", "commit -q -m initial"})
      ASSERT_EQ(git(args).code, 0) << args;
  }
};

TEST_F(ReviewMerge, ChangesToOtherLinesOnDiskAndByAnAcceptedSiblingAreMerged) {
  add_agent("a");
  add_agent("b");
  edit("a", "ten.txt", lines({{2, "a's line 2"}}));
  edit("b", "ten.txt", lines({{9, "b's line 9"}}));
  write_text(root / "ten.txt", lines({{5, "the human's line 5"}}));

  auto a = remora("accept a");
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_NE(a.out.find("accepted a: ten.txt (merged with the changes made since: ten.txt)"), std::string::npos) << a.out;
  EXPECT_EQ(test::read_text(root / "ten.txt"), lines({{2, "a's line 2"}, {5, "the human's line 5"}}));

  // b started from the imported file; base has moved (a's accept) and so has the disk.
  auto b = remora("accept b --json");
  ASSERT_EQ(b.code, 0) << b.out;
  auto j = nlohmann::json::parse(b.out);
  EXPECT_EQ(j["merged"], nlohmann::json::array({"ten.txt"}));
  EXPECT_EQ(j["forced"], false);
  const auto all_three = lines({{2, "a's line 2"}, {5, "the human's line 5"}, {9, "b's line 9"}});
  EXPECT_EQ(test::read_text(root / "ten.txt"), all_three);
  EXPECT_EQ(base_tree(), disk_tree(root));
  EXPECT_EQ(agent("b").review, "accepted");

  // Undo takes b's merge back to what the disk held before it.
  auto undo = remora("undo");
  ASSERT_EQ(undo.code, 0) << undo.out;
  EXPECT_EQ(test::read_text(root / "ten.txt"), lines({{2, "a's line 2"}, {5, "the human's line 5"}}));
  EXPECT_EQ(base_tree(), disk_tree(root));
}

TEST_F(ReviewMerge, ChangesToTheSameLinesAreRefusedShowingTheHunksAndNothingIsWritten) {
  add_agent("a");
  edit("a", "ten.txt", lines({{4, "a's line 4"}}));
  edit("a", "greet.py", "def greet():\n    return 'hello'\n");
  const auto on_disk = lines({{4, "the human's line 4"}});
  write_text(root / "ten.txt", on_disk);
  const Tree disk_before = disk_tree(root);
  const Tree base_before = base_tree();

  auto a = remora("accept a");
  EXPECT_EQ(a.code, 1) << a.out;
  EXPECT_NE(a.out.find("accept of a refused: it and the changes made since it started (on disk or by an accepted "
                       "agent) change the same lines of ten.txt; nothing was written"),
            std::string::npos)
      << a.out;
  for (const std::string shown : {"<<<<<<< agent a\n", "a's line 4\n", "||||||| what the agent started from\n",
                                  "line 4\n", "=======\n", "the human's line 4\n", ">>>>>>> on disk\n"})
    EXPECT_NE(a.out.find(shown), std::string::npos) << shown << " not in: " << a.out;
  EXPECT_EQ(a.out.find("line 9"), std::string::npos) << "only the conflicting hunk is shown: " << a.out;
  EXPECT_EQ(disk_tree(root), disk_before);  // greet.py, which merged cleanly, is not written either
  EXPECT_EQ(base_tree(), base_before);
  EXPECT_EQ(undo_records(), 0u);
  EXPECT_EQ(agent("a").review, "pending");

  // The same with an accepted sibling instead of the human.
  write_text(root / "ten.txt", lines());
  add_agent("b");
  edit("b", "ten.txt", lines({{4, "b's line 4"}}));
  ASSERT_EQ(remora("accept b").code, 0);
  auto again = remora("accept a --json");
  EXPECT_EQ(again.code, 1) << again.out;
  EXPECT_NE(again.out.find(">>>>>>> on disk"), std::string::npos) << again.out;
  EXPECT_EQ(test::read_text(root / "ten.txt"), lines({{4, "b's line 4"}}));

  // --force takes the agent's version.
  auto forced = remora("accept a --force");
  ASSERT_EQ(forced.code, 0) << forced.out;
  EXPECT_EQ(test::read_text(root / "ten.txt"), lines({{4, "a's line 4"}}));
  EXPECT_EQ(base_tree(), disk_tree(root));
}

TEST_F(ReviewMerge, AnAcceptKilledWhileWritingAMergeIsRolledBack) {
  add_agent("a");
  edit("a", "ten.txt", lines({{2, "a's line 2"}}));
  edit("a", "greet.py", "def greet():\n    return 'hello'\n");
  write_text(root / "ten.txt", lines({{5, "the human's line 5"}}));
  const Tree before = disk_tree(root);
  for (const std::string point : {"accept:file_written:1", "accept:file_written:2", "accept:files_written"}) {
    auto killed = test::shell("REMORA_FAULT=" + point + " " + kRemora + " -w " + ws_dir.string() + " accept a");
    EXPECT_EQ(killed.code, 128 + SIGKILL) << point << ": " << killed.out;
    auto status = remora("status --json");  // any command recovers first
    EXPECT_EQ(disk_tree(root), before) << point;
    EXPECT_TRUE(ws->list(ws->ns("base"), keys::kRunAccepting).empty()) << point;
  }
  ASSERT_EQ(remora("accept a").code, 0);
  EXPECT_EQ(test::read_text(root / "ten.txt"), lines({{2, "a's line 2"}, {5, "the human's line 5"}}));
}

TEST_F(ReviewMerge, CommitRecordsTheAcceptInTheProjectsGitRepository) {
  git_init();
  add_agent("a");
  edit("a", "ten.txt", lines({{2, "a's line 2"}}));
  remove("a", "old.py");
  summary("a", "numbered line 2");
  write_text(root / "unrelated.txt", "not staged, not committed\n");

  auto a = remora("accept a --commit --author 'Ann Agent <ann@example.com>'");
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_NE(a.out.find("  committed "), std::string::npos) << a.out;
  EXPECT_EQ(git("log -1 --format='%an <%ae>|%cn|%s'").out, "Ann Agent <ann@example.com>|Git User|numbered line 2\n");
  EXPECT_EQ(git("show --stat --format= HEAD").out.find("unrelated"), std::string::npos);
  EXPECT_EQ(git("show HEAD:ten.txt").out, lines({{2, "a's line 2"}}));
  EXPECT_NE(git("show HEAD:old.py").code, 0);  // deleted in the commit
  EXPECT_EQ(git("status --porcelain").out, "?? unrelated.txt\n");  // index and work tree agree with it

  // The default author is git's user; --json names the commit.
  add_agent("b");
  edit("b", "ten.txt", lines({{2, "a's line 2"}, {7, "b's line 7"}}));
  summary("b", "numbered line 7");
  auto b = remora("accept b --commit --json");
  ASSERT_EQ(b.code, 0) << b.out;
  auto j = nlohmann::json::parse(b.out);
  EXPECT_EQ(j["commit"], git("rev-parse HEAD").out.substr(0, 40));
  EXPECT_EQ(git("log -1 --format='%an|%s'").out, "Git User|numbered line 7\n");
  EXPECT_EQ(git("rev-list --count HEAD").out, "3\n");

  // $REMORA_COMMIT_AUTHOR, when --author is not given.
  add_agent("c");
  edit("c", "shapes.py", "class Circle:\n    radius = 1\n");
  auto c = test::shell("REMORA_COMMIT_AUTHOR='Env Author <env@example.com>' " + kRemora + " -w " + ws_dir.string() +
                       " accept c --commit");
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_EQ(git("log -1 --format='%an <%ae>|%s'").out, "Env Author <env@example.com>|remora: the changes of agent c\n");
}

TEST_F(ReviewMerge, CommitOutsideAGitWorkTreeIsRefusedBeforeAnythingIsWritten) {
  add_agent("a");
  edit("a", "ten.txt", lines({{2, "a's line 2"}}));
  const Tree before = disk_tree(root);
  auto a = remora("accept a --commit");
  EXPECT_EQ(a.code, 2) << a.out;
  EXPECT_NE(a.out.find("--commit: the project " + root.string() + " is not in a git work tree"), std::string::npos)
      << a.out;
  EXPECT_EQ(disk_tree(root), before);
  EXPECT_EQ(agent("a").review, "pending");
  auto bad_author = remora("accept a --author 'Ann'");
  EXPECT_EQ(bad_author.code, 2) << bad_author.out;
  EXPECT_NE(bad_author.out.find("--author goes with --commit"), std::string::npos) << bad_author.out;
}

}  // namespace
}  // namespace remora
