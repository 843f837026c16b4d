// Bundle templates: checking ({name} known, braces balanced) and rendering in one pass.
#include "shared/template.hpp"

#include <gtest/gtest.h>

namespace remora {
namespace {

const std::set<std::string, std::less<>> kNames{"path", "name", "last_result", "last_result."};

TEST(Template, RendersPlaceholdersAndLiteralBraces) {
  TemplateVars vars{{"path", "a.py"}, {"name", "f"}};
  EXPECT_EQ(render("document {name} in {path}: {{\"x\": 1}}", vars), "document f in a.py: {\"x\": 1}");
  EXPECT_EQ(render("{name}", {}), "");  // no value: empty
}

TEST(Template, SubstitutedTextIsNeverExpandedAgain) {
  TemplateVars vars{{"path", "{name}"}, {"name", "f"}};
  EXPECT_EQ(render("{path} {name}", vars), "{name} f");
}

TEST(Template, ProblemsNameThePlaceholderAndTheOffset) {
  EXPECT_EQ(template_problem("in {path}", kNames), std::nullopt);
  EXPECT_EQ(*template_problem("in {nope}", kNames),
            "unknown placeholder '{nope}' (known: last_result, last_result.<field>, name, path)");
  EXPECT_EQ(*template_problem("a {path", kNames), "unclosed '{' at offset 2");
  EXPECT_NE(template_problem("a } b", kNames), std::nullopt);
  EXPECT_NE(template_problem("{}", kNames), std::nullopt);
}

TEST(Template, ANameEndingInADotAdmitsItsFields) {
  EXPECT_EQ(template_problem("{last_result.stdout}", kNames), std::nullopt);
  EXPECT_NE(template_problem("{last_result.}", kNames), std::nullopt);
  EXPECT_NE(template_problem("{path.x}", kNames), std::nullopt);
  EXPECT_EQ(render("{last_result.stdout}", {{"last_result.stdout", "ok"}}), "ok");
}

TEST(Template, RendersEveryStringOfAJsonValueButNotKeys) {
  auto out = render_json(nlohmann::json::parse(R"({"{path}": ["{path}", 3, {"k": "{name}"}]})"),
                         {{"path", "a.py"}, {"name", "f"}});
  EXPECT_EQ(out, nlohmann::json::parse(R"({"{path}": ["a.py", 3, {"k": "f"}]})"));
}

}  // namespace
}  // namespace remora
