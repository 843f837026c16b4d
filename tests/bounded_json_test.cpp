// Bounded JSON parsing (shared/bounded_json): the depth and size limits hold exactly, errors name
// them, and input nesting 100k deep (which would overflow the stack once copied or dumped) is
// refused without a crash.
#include <gtest/gtest.h>

#include <string>

#include "shared/bounded_json.hpp"
#include "shared/error.hpp"

namespace remora {
namespace {

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(BoundedJson, AcceptsUpToTheDepthLimitAndRefusesOneMore) {
  const JsonLimits limits{64, 1u << 20};
  auto ok = try_parse_bounded(nested(64), "the reply", limits);
  ASSERT_TRUE(ok.ok()) << ok.error;
  EXPECT_EQ(ok.value.dump(), nested(64));
  auto deep = try_parse_bounded(nested(65), "the reply", limits);
  EXPECT_TRUE(deep.value.is_discarded());
  EXPECT_EQ(deep.error, "the reply nests deeper than 64 levels");
  // Objects count as arrays do, wherever they are.
  EXPECT_TRUE(try_parse_bounded(R"({"a": {"b": [1]}})", "x", {3, 100}).ok());
  EXPECT_EQ(try_parse_bounded(R"({"a": {"b": [1]}})", "x", {2, 100}).error, "x nests deeper than 2 levels");
}

TEST(BoundedJson, RefusesNestingAHundredThousandDeepWithoutCrashing) {
  const std::string text = nested(100000);
  EXPECT_THROW(
      {
        try {
          parse_bounded(text, "the reply", kModelJsonLimits);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), Errc::invalid_argument);
          EXPECT_STREQ(e.what(), "the reply nests deeper than 64 levels");
          throw;
        }
      },
      Error);
  // Unclosed, too: the limit is met before the end is missed.
  EXPECT_EQ(try_parse_bounded(std::string(100000, '['), "t", kModelJsonLimits).error, "t nests deeper than 64 levels");
}

TEST(BoundedJson, RefusesTextOverTheSizeLimit) {
  const std::string text = "\"" + std::string(100, 'x') + "\"";
  EXPECT_TRUE(try_parse_bounded(text, "the reply", {64, text.size()}).ok());
  EXPECT_EQ(try_parse_bounded(text, "the reply", {64, text.size() - 1}).error,
            "the reply is 102 bytes, over the limit of 101");
}

TEST(BoundedJson, NamesWhatIsNotJson) {
  auto r = try_parse_bounded("{\"a\": tru", "the arguments", kModelJsonLimits);
  EXPECT_TRUE(r.value.is_discarded());
  EXPECT_EQ(r.error.rfind("the arguments is not JSON: ", 0), 0u) << r.error;
  EXPECT_FALSE(try_parse_bounded("", "the arguments", kModelJsonLimits).ok());
  EXPECT_FALSE(try_parse_bounded("[1] [2]", "the arguments", kModelJsonLimits).ok()) << "trailing text";
}

}  // namespace
}  // namespace remora
