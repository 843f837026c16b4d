#include "discovery/parse_arena.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "discovery/discovery_file.hpp"
#include "discovery/discovery_language.hpp"
#include "discovery/discovery_query_pack.hpp"

namespace remora {
namespace {

TEST(ParseArena, BlocksAreAlignedAndTheLastOneGrowsInPlace) {
  ParseArena arena(1 << 16);
  ParseArena::Scope scope(arena);
  void* a = arena.allocate(3);
  void* b = arena.allocate(40);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(arena.holds(a) && arena.holds(b));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 16, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) % 16, 0u);
  std::memset(b, 'x', 40);
  EXPECT_EQ(arena.reallocate(b, 400), b);  // the last block: grown where it is
  void* moved = arena.reallocate(a, 100);  // not the last: copied
  EXPECT_NE(moved, a);
  EXPECT_EQ(static_cast<char*>(b)[39], 'x');
}

TEST(ParseArena, ReleasingTheLastBlockGivesItsSpaceBack) {
  ParseArena arena(1 << 16);
  ParseArena::Scope scope(arena);
  void* a = arena.allocate(64);
  arena.release(a);
  EXPECT_EQ(arena.allocate(64), a);
}

TEST(ParseArena, PastItsCapacityItRefusesSoThatMallocTakesOver) {
  ParseArena arena(1 << 12);
  ParseArena::Scope scope(arena);
  EXPECT_EQ(arena.allocate(1 << 13), nullptr);
  void* a = arena.allocate(1000);
  ASSERT_NE(a, nullptr);
  void* grown = arena.reallocate(a, 1 << 13);  // too big for the arena: a malloc'd copy
  ASSERT_NE(grown, nullptr);
  EXPECT_FALSE(arena.holds(grown));
  std::free(grown);
}

TEST(ParseArena, ItTellsWhetherAnAllocationOfTheScopeWentToMalloc) {
  ParseArena arena(1 << 12);
  {
    ParseArena::Scope scope(arena);
    ASSERT_NE(arena.allocate(100), nullptr);
    EXPECT_TRUE(arena.holds_everything());
    EXPECT_EQ(arena.allocate(1 << 13), nullptr);  // too big: malloc takes it
    EXPECT_FALSE(arena.holds_everything());
  }
  ParseArena::Scope scope(arena);  // a new Scope starts clean
  EXPECT_TRUE(arena.holds_everything());
}

TEST(ParseArena, AClosedScopeEmptiesTheArena) {
  ParseArena arena(1 << 16);
  void* first;
  {
    ParseArena::Scope scope(arena);
    first = arena.allocate(128);
    arena.allocate(128);
  }
  ParseArena::Scope scope(arena);
  EXPECT_EQ(arena.allocate(128), first);
}

// Files parsed one after another in the same arena give the same nodes as a fresh parser: nothing
// tree-sitter allocated for one file survives into the next.
TEST(ParseArena, FilesParsedInTurnInOneArenaGiveTheSameNodes) {
  const Language& python = *language_named("python");
  QueryPack pack(default_queries_dir(), python);
  const std::string a = "class A:\n    \"\"\"doc\"\"\"\n    def f(self, x=1):\n        pass\n";
  const std::string b = "# about g\ndef g(*args):\n    def h(): pass\n    return h\n" + std::string(20000, '\n') + "x = (\n";
  SourceFile fa{"a.py", "a.py", &python}, fb{"b.py", "b.py", &python};
  const auto want_a = FileParser().parse(fa, a, pack), want_b = FileParser().parse(fb, b, pack);
  ASSERT_EQ(want_a.size(), 3u);
  ASSERT_EQ(want_b.size(), 3u);
  FileParser parser;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(parser.parse(fa, a, pack), want_a);
    ASSERT_EQ(parser.parse(fb, b, pack), want_b);
  }
}

// A tree in the arena is dropped with it, undeleted; one that spilled into malloc (an arena too
// small for it) is deleted as usual: the same nodes, and nothing leaked (the sanitizer build's
// leak check would fail this test).
TEST(ParseArena, AFileTooBigForTheArenaIsParsedTheSameAndFreed) {
  const Language& python = *language_named("python");
  QueryPack pack(default_queries_dir(), python);
  std::string text;
  for (int i = 0; i < 200; ++i) text += "def f" + std::to_string(i) + "(x):\n    return [x, x + 1, {'k': x}]\n";
  SourceFile f{"big.py", "big.py", &python};
  FileParser roomy;
  const auto want = roomy.parse(f, text, pack);
  ASSERT_EQ(want.size(), 201u);
  EXPECT_TRUE(roomy.dropped_last_tree());
  FileParser small(std::size_t{1} << 14);  // 16 KiB: the tree spills
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(small.parse(f, text, pack), want);
    EXPECT_FALSE(small.dropped_last_tree());
  }
}

}  // namespace
}  // namespace remora
