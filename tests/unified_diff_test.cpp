// Unified diffs: the exact format, and GNU patch turning the old bytes into the new ones.
#include <gtest/gtest.h>

#include <random>

#include "review/unified_diff.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

using test::TempDir;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(UnifiedDiff, ChangedFile) {
  auto d = file_diff("f.txt", FileSide{"a\nb\nc\n", 0644}, FileSide{"a\nB\nc\nd", 0644}, false);
  EXPECT_EQ(d,
            "diff --git a/f.txt b/f.txt\n"
            "--- a/f.txt\n"
            "+++ b/f.txt\n"
            "@@ -1,3 +1,4 @@\n"
            " a\n"
            "-b\n"
            "+B\n"
            " c\n"
            "+d\n"
            "\\ No newline at end of file\n");
  auto s = diff_stat(FileSide{"a\nb\nc\n", 0644}, FileSide{"a\nB\nc\nd", 0644});
  EXPECT_EQ(s.added, 2u);
  EXPECT_EQ(s.removed, 1u);
}

TEST(UnifiedDiff, AddedDeletedModeAndBinary) {
  EXPECT_EQ(file_diff("n.py", std::nullopt, FileSide{"x\ny\n", 0755}, false),
            "diff --git a/n.py b/n.py\nnew file mode 100755\n--- /dev/null\n+++ b/n.py\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  EXPECT_EQ(file_diff("o.py", FileSide{"x\n", 0644}, std::nullopt, false),
            "diff --git a/o.py b/o.py\ndeleted file mode 100644\n--- a/o.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n");
  EXPECT_EQ(file_diff("m.sh", FileSide{"x\n", 0644}, FileSide{"x\n", 0755}, false),
            "diff --git a/m.sh b/m.sh\nold mode 100644\nnew mode 100755\n");
  EXPECT_EQ(file_diff("b.bin", FileSide{std::string("a\0b", 3), 0644}, FileSide{"text\n", 0644}, false),
            "diff --git a/b.bin b/b.bin\nBinary files a/b.bin and b/b.bin differ\n");
  EXPECT_TRUE(diff_stat(FileSide{std::string("a\0b", 3), 0644}, std::nullopt).binary);
}

TEST(UnifiedDiff, ChangesShareAHunkWhenAtMostSixLinesApart) {
  std::string before;
  for (int i = 0; i < 30; ++i) before += "line " + std::to_string(i) + "\n";
  auto edit = [&](int a, int b) {
    std::string after = before;
    for (int i : {a, b}) {
      auto at = after.find("line " + std::to_string(i) + "\n");
      after.replace(at, 4, "LINE");
    }
    return file_diff("f", FileSide{before, 0644}, FileSide{after, 0644}, false);
  };
  EXPECT_EQ(count(edit(5, 12), "@@ -"), 1u);  // six common lines between: one hunk
  EXPECT_EQ(count(edit(5, 13), "@@ -"), 2u);  // seven: two
  EXPECT_NE(edit(5, 13).find("@@ -3,7 +3,7 @@"), std::string::npos) << edit(5, 13);
}

TEST(UnifiedDiff, ColourOnlyWhenAsked) {
  auto plain = file_diff("f", FileSide{"a\n", 0644}, FileSide{"b\n", 0644}, false);
  auto colour = file_diff("f", FileSide{"a\n", 0644}, FileSide{"b\n", 0644}, true);
  EXPECT_EQ(plain.find('\033'), std::string::npos);
  EXPECT_NE(colour.find("\033[31m-a\033[m\n"), std::string::npos) << colour;
  EXPECT_NE(colour.find("\033[32m+b\033[m\n"), std::string::npos) << colour;
  EXPECT_NE(colour.find("\033[36m@@ -1 +1 @@\033[m\n"), std::string::npos) << colour;
}

// Random texts and random edits; GNU patch must turn each before into its after.
TEST(UnifiedDiff, PatchAppliesEveryDiff) {
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto line = [&] { return std::string(1, static_cast<char>('a' + pick(4))) + "\n"; };
  auto join = [&](const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += l;
    if (!s.empty() && pick(4) == 0) s.pop_back();  // no final newline
    return s;
  };
  TempDir tmp;
  for (int round = 0; round < 60; ++round) {
    const bool added = round % 10 == 0, deleted = round % 10 == 1;
    std::vector<std::string> lines(static_cast<std::size_t>(added ? 0 : pick(40) + deleted));  // patch cannot delete an empty file
    for (auto& l : lines) l = line();
    std::optional<FileSide> before, after;
    if (!added) before = FileSide{join(lines), 0644};
    if (!deleted) {
      for (int edits = pick(6) + 1; edits > 0; --edits) {
        auto at = lines.begin() + pick(static_cast<int>(lines.size()) + 1);
        if (pick(2) == 0 || at == lines.end())
          lines.insert(at, line());
        else
          lines.erase(at);
      }
      after = FileSide{join(lines), 0644};
      if (before && after->content == before->content) after->content += "tail\n";
    }
    std::filesystem::remove_all(tmp / "tree");
    std::filesystem::create_directories(tmp / "tree");
    if (before) test::write_text(tmp / "tree/f.txt", before->content);
    test::write_text(tmp / "p.diff", file_diff("f.txt", before, after, false));
    auto r = test::shell("patch -s -p1 -d " + (tmp / "tree").string() + " < " + (tmp / "p.diff").string());
    ASSERT_EQ(r.code, 0) << r.out << test::read_text(tmp / "p.diff");
    if (after)
      ASSERT_EQ(test::read_text(tmp / "tree/f.txt"), after->content) << test::read_text(tmp / "p.diff");
    else
      ASSERT_FALSE(std::filesystem::exists(tmp / "tree/f.txt")) << test::read_text(tmp / "p.diff");
  }
}

}  // namespace
}  // namespace remora
