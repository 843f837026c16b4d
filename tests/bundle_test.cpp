#include "shared/bundle.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "shared/error.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Writes DIR/NAME/bundle.yaml and returns DIR/NAME.
fs::path write_bundle(const test::TempDir& d, const std::string& name, const std::string& yaml) {
  fs::path dir = d / name;
  fs::create_directories(dir);
  std::ofstream(dir / "bundle.yaml") << yaml;
  return dir;
}

// The message of the Error load_bundle throws, checking its code.
std::string load_error(const fs::path& dir, Errc code = Errc::invalid_argument) {
  try {
    load_bundle(dir);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "load_bundle(" << dir << ") did not throw";
  return "";
}

std::string from_json_error(const json& j) {
  try {
    Bundle::from_json(j);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "from_json(" << j.dump() << ") did not throw";
  return "";
}

// The error a bundle whose only step is `step` loads with, its lines stripped of the file prefix
// (which is checked here, once).
std::string step_error(const std::string& step) {
  test::TempDir d;
  fs::path dir = write_bundle(d, "b", "name: b\nkind: steps\nsteps:\n  - " + step + "\n");
  const std::string prefix = (dir / "bundle.yaml").string() + ": ";
  std::istringstream lines(load_error(dir));
  std::string line, out;
  while (std::getline(lines, line)) {
    EXPECT_EQ(line.rfind(prefix, 0), 0u) << line;
    out += (out.empty() ? "" : "\n") + line.substr(std::min(prefix.size(), line.size()));
  }
  return out;
}

const char* const kEveryKind = R"(name: every
description: one step of each kind
kind: steps
steps:
  - write: {path: "out/{agent}.txt", content: "done by {agent}"}
  - delete: {path: old.txt}
  - ask: {question: "Proceed?", options: [yes, no], default: yes, timeout: 60}
  - ask: {question: "Name?"}
  - work: {ms: 100}
  - fail: {message: broken}
  - fail: "also broken"
  - fail: {}
  - crash: {signal: SEGV, attempts: [0, 2]}
  - crash: {signal: KILL}
  - hang: {}
  - hang:
  - result: {summary: "all {answer}"}
  - result: finished
)";

TEST(BundleLoad, EveryStepKindRoundTrips) {
  test::TempDir d;
  Bundle b = load_bundle(write_bundle(d, "every", kEveryKind));
  EXPECT_EQ(b.name, "every");
  EXPECT_EQ(b.description, "one step of each kind");
  EXPECT_EQ(b.kind, "steps");
  const std::vector<Step> expected = {
      {"write", {{"path", "out/{agent}.txt"}, {"content", "done by {agent}"}}},
      {"delete", {{"path", "old.txt"}}},
      {"ask", {{"question", "Proceed?"}, {"options", {"yes", "no"}}, {"default", "yes"}, {"timeout", 60}}},
      {"ask", {{"question", "Name?"}, {"timeout", 300}}},  // the default timeout, filled in
      {"work", {{"ms", 100}}},
      {"fail", {{"message", "broken"}}},
      {"fail", {{"message", "also broken"}}},
      {"fail", {{"message", "failed"}}},
      {"crash", {{"signal", "SEGV"}, {"attempts", {0, 2}}}},
      {"crash", {{"signal", "KILL"}}},
      {"hang", json::object()},
      {"hang", json::object()},
      {"result", {{"summary", "all {answer}"}}},
      {"result", {{"summary", "finished"}}},
  };
  ASSERT_EQ(b.steps.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(b.steps[i], expected[i]) << "step " << i << ": " << b.steps[i].args.dump();
    EXPECT_TRUE(b.steps[i].args.is_object());
  }

  json j = b.to_json();
  EXPECT_EQ(j["name"], "every");
  EXPECT_EQ(j["steps"][0], json({{"kind", "write"}, {"args", expected[0].args}}));
  EXPECT_EQ(Bundle::from_json(j), b);
  EXPECT_EQ(Bundle::from_json(json::parse(j.dump())), b);
}

// A steps bundle, like an agent bundle, names the discovered nodes it applies to.
TEST(BundleLoad, AStepsBundleNamesTheNodesItAppliesTo) {
  test::TempDir d;
  Bundle b = load_bundle(write_bundle(d, "files", "name: files\nkind: steps\nnode_types: [file]\n"
                                                  "when: {language: python}\nsteps: [{result: ok}]\n"));
  EXPECT_EQ(b.node_types, std::vector<std::string>{"file"});
  EXPECT_TRUE(b.applies_to({{"type", "file"}, {"language", "python"}}));
  EXPECT_FALSE(b.applies_to({{"type", "function"}, {"language", "python"}}));
  EXPECT_FALSE(b.applies_to({{"type", "file"}, {"language", "c"}}));
  EXPECT_EQ(Bundle::from_json(json::parse(b.to_json().dump())), b);
}

TEST(BundleLoad, AcceptsADirectoryWithATrailingSlash) {
  test::TempDir d;
  write_bundle(d, "lint", "name: lint\nkind: steps\nsteps: [{result: ok}]\n");
  EXPECT_EQ(load_bundle(d / "lint/").name, "lint");
}

TEST(BundleErrors, MissingFile) {
  test::TempDir d;
  EXPECT_EQ(load_error(d / "nope", Errc::not_found), (d / "nope" / "bundle.yaml").string() + ": no such file");
}

TEST(BundleErrors, YamlSyntaxNamesTheLine) {
  test::TempDir d;
  fs::path dir =
      write_bundle(d, "bad", "name: bad\nkind: steps\nsteps:\n  - write: {path: x, content: y}}\n  - result: ok\n");
  EXPECT_EQ(load_error(dir), (dir / "bundle.yaml").string() + ": line 4: illegal flow end");
}

TEST(BundleErrors, MissingRequiredFields) {
  EXPECT_EQ(step_error("write: {path: x}"), "steps[0].write.content: required");
  EXPECT_EQ(step_error("delete: {}"), "steps[0].delete.path: required");
  EXPECT_EQ(step_error("ask: {options: [a]}"), "steps[0].ask.question: required");
  EXPECT_EQ(step_error("work:"), "steps[0].work.ms: required");
  EXPECT_EQ(step_error("crash: {attempts: [1]}"), "steps[0].crash.signal: required");
  EXPECT_EQ(step_error("result: {}"), "steps[0].result.summary: required");

  test::TempDir d;
  fs::path dir = write_bundle(d, "b", "description: nothing else\n");
  const std::string file = (dir / "bundle.yaml").string();
  // Without a kind, a bundle is an agent bundle, and says what that needs.
  EXPECT_EQ(load_error(dir), file + ": name: required\n" + file + ": system_prompt: required\n" + file +
                                 ": user_prompt: required\n" + file + ": tools: required\n" + file +
                                 ": script: required for the scripted provider (the replies it gives, in order)");
}

TEST(BundleErrors, UnknownStepKind) {
  EXPECT_EQ(step_error("jump: {to: 3}"), "steps[0]: unknown step kind 'jump'");
  EXPECT_EQ(step_error("{write: {path: a, content: b}, delete: {path: c}}"),
            "steps[0]: expected a map with one key, the step kind");
}

TEST(BundleErrors, UnknownAndDuplicateFields) {
  EXPECT_EQ(step_error("write: {path: a, content: b, mode: 644}"), "steps[0].write.mode: unknown field");
  EXPECT_EQ(step_error("hang: {forever: true}"), "steps[0].hang.forever: unknown field");
  EXPECT_EQ(step_error("result: {summary: a, summary: b}"), "steps[0].result.summary: duplicate field");
  test::TempDir d;
  fs::path dir = write_bundle(d, "b", "name: b\nkind: steps\nowner: me\nsteps: [{result: ok}]\n");
  EXPECT_EQ(load_error(dir), (dir / "bundle.yaml").string() + ": owner: unknown field");
}

TEST(BundleErrors, WrongTypes) {
  EXPECT_EQ(step_error("work: {ms: soon}"), "steps[0].work.ms: expected a number");
  EXPECT_EQ(step_error("work: {ms: .inf}"), "steps[0].work.ms: expected a number");
  EXPECT_EQ(step_error("ask: {question: q, options: yes}"), "steps[0].ask.options: expected a list of strings");
  EXPECT_EQ(step_error("ask: {question: [q]}"), "steps[0].ask.question: expected a string");
  EXPECT_EQ(step_error("crash: {signal: KILL, attempts: [first]}"),
            "steps[0].crash.attempts: expected a list of integers");
  EXPECT_EQ(step_error("write: [a, b]"), "steps[0].write: expected a map");
  EXPECT_EQ(step_error("hang: now"), "steps[0].hang: expected a map");  // only fail and result have a shorthand
  test::TempDir d;
  fs::path dir = write_bundle(d, "b", "name: b\nkind: steps\nsteps: {write: {path: a, content: b}}\n");
  EXPECT_EQ(load_error(dir), (dir / "bundle.yaml").string() + ": steps: expected a list");
}

TEST(BundleErrors, BadValues) {
  EXPECT_EQ(step_error("crash: {signal: HUP}"),
            "steps[0].crash.signal: 'HUP' is not one of KILL, SEGV, ABRT, TERM, BUS, FPE, ILL");
  EXPECT_EQ(step_error("ask: {question: q, options: [yes, no], default: maybe}"),
            "steps[0].ask.default: 'maybe' is not one of the options");
  EXPECT_EQ(step_error("ask: {question: q, options: []}"), "steps[0].ask.options: must not be empty");
  EXPECT_EQ(step_error("ask: {question: q, timeout: 0}"), "steps[0].ask.timeout: must be > 0");
  EXPECT_EQ(step_error("work: {ms: -1}"), "steps[0].work.ms: must be >= 0");
  EXPECT_EQ(step_error("crash: {signal: ILL, attempts: [1, -1]}"), "steps[0].crash.attempts: must not be negative");
  test::TempDir d;
  fs::path dir = write_bundle(d, "b", "name: b\nkind: script\nsteps: []\n");
  const std::string file = (dir / "bundle.yaml").string();
  // An unknown kind is the one problem: the other fields mean nothing without a kind.
  EXPECT_EQ(load_error(dir), file + ": kind: unknown bundle kind 'script' (known: agent, steps)");
}

TEST(BundleErrors, NameMustMatchTheDirectory) {
  test::TempDir d;
  fs::path dir = write_bundle(d, "lint", "name: lint2\nkind: steps\nsteps: [{result: ok}]\n");
  EXPECT_EQ(load_error(dir),
            (dir / "bundle.yaml").string() + ": name: 'lint2' does not match the directory name 'lint'");
}

TEST(BundleErrors, ReportsEveryProblemInTheFile) {
  test::TempDir d;
  fs::path dir = write_bundle(d, "lint", R"(name: lint
kind: steps
colour: blue
steps:
  - write: {path: a}
  - ask: {options: [a, b], default: c}
  - teleport: {}
  - crash: {signal: HUP, attempts: [0]}
)");
  const std::string file = (dir / "bundle.yaml").string();
  EXPECT_EQ(load_error(dir),
            file + ": steps[0].write.content: required\n" +     //
                file + ": steps[1].ask.question: required\n" +  //
                file + ": steps[1].ask.default: 'c' is not one of the options\n" + file +
                ": steps[2]: unknown step kind 'teleport'\n" + file +
                ": steps[3].crash.signal: 'HUP' is not one of KILL, SEGV, ABRT, TERM, BUS, FPE, ILL\n" + file +
                ": colour: unknown field");
}

TEST(BundleJson, FromJsonValidatesWithoutAFilePrefix) {
  json j = {{"name", "x"},
            {"description", ""},
            {"kind", "steps"},
            {"steps", {{{"kind", "result"}, {"args", json::object()}}}}};
  EXPECT_EQ(from_json_error(j), "steps[0].result.summary: required");
  j["steps"] = {{{"kind", "jump"}, {"args", json::object()}}};
  EXPECT_EQ(from_json_error(j), "steps[0]: unknown step kind 'jump'");
  j["steps"] = {{{"kind", "work"}, {"args", {{"ms", 1}}}, {"when", "now"}}};
  EXPECT_EQ(from_json_error(j), "steps[0].when: unknown field");
  EXPECT_EQ(from_json_error(json::array()), "expected a map");
}

TEST(BundleJson, FromJsonNormalizesShorthands) {
  json j = {
      {"name", "x"},
      {"kind", "steps"},
      {"steps", {{{"kind", "fail"}, {"args", "broken"}}, {{"kind", "result"}, {"args", "done"}}, {{"kind", "hang"}}}}};
  Bundle b = Bundle::from_json(j);
  ASSERT_EQ(b.steps.size(), 3u);
  EXPECT_EQ(b.steps[0].args, json({{"message", "broken"}}));
  EXPECT_EQ(b.steps[1].args, json({{"summary", "done"}}));
  EXPECT_EQ(b.steps[2].args, json::object());
  EXPECT_EQ(Bundle::from_json(b.to_json()), b);
}

TEST(BundleExpand, ReplacesEveryPlaceholder) {
  EXPECT_EQ(expand("{agent}/{target}#{attempt}: {answer} by {agent}", "lint-a", "src/a.py", 2, "yes"),
            "lint-a/src/a.py#2: yes by lint-a");
  EXPECT_EQ(expand("{other} {agent", "a", "t", 0, "x"), "{other} {agent");
  // Substituted text is not expanded again.
  EXPECT_EQ(expand("{answer}{target}", "a", "{agent}", 1, "{target}"), "{target}{agent}");
}

}  // namespace
}  // namespace remora
