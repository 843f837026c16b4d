#include "supervisor/graph_spec.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "shared/error.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A directory with bundles/<name>/bundle.yaml for a few bundles, and graph files next to them.
class GraphSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle("trivial");
    bundle("lint");
  }

  void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  void bundle(const std::string& name, const std::string& dir = "bundles", const std::string& description = "") {
    write(d_ / dir / name / "bundle.yaml",
          "name: " + name + "\ndescription: '" + description + "'\nkind: steps\nsteps: [{result: done}]\n");
  }
  fs::path graph(const std::string& yaml, const std::string& name = "g.yaml") {
    write(d_ / name, yaml);
    return d_ / name;
  }
  // The message of the Error load_graph throws for yaml, checking its code.
  std::string error(const std::string& yaml, Errc code = Errc::invalid_argument) {
    fs::path file = graph(yaml);
    try {
      load_graph(file);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "load_graph did not throw for\n" << yaml;
    return "";
  }
  // The expected message: each problem prefixed with the graph file.
  std::string lines(const std::vector<std::string>& problems) const {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "\n") + (d_ / "g.yaml").string() + ": " + p;
    return msg;
  }

  test::TempDir d_;
};

TEST_F(GraphSpecTest, DefaultsAreUpstreamRemoras) {
  GraphSpec spec = load_graph(graph("agents:\n  - {id: a, bundle: trivial}\n", "demo.yaml"));
  EXPECT_EQ(spec.name, "demo");
  EXPECT_EQ(spec.config.max_concurrency, 4u);
  EXPECT_EQ(spec.config.timeout_s, 300);
  EXPECT_EQ(spec.config.error_policy, ErrorPolicy::skip_downstream);
  EXPECT_TRUE(spec.config.interactive);
  EXPECT_EQ(spec.config.cancel_grace_s, 5);
  EXPECT_EQ(spec.config.heartbeat, (HeartbeatConfig{2, 10}));
  EXPECT_EQ(spec.config.restart, (RestartPolicy{RestartMode::transient, 3, 60, 1, 100}));
  ASSERT_EQ(spec.agents.size(), 1u);
  const AgentSpec& a = spec.agents[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.bundle, "trivial");
  EXPECT_EQ(a.target, "");
  EXPECT_TRUE(a.after.empty());
  EXPECT_EQ(a.timeout_s, 300);
  EXPECT_EQ(a.restart, spec.config.restart);
  ASSERT_EQ(spec.bundles.size(), 1u);  // only the bundles agents use
  EXPECT_EQ(spec.bundles.at("trivial"), load_bundle(d_ / "bundles" / "trivial"));
  EXPECT_EQ(spec.agent("a"), &spec.agents[0]);
  EXPECT_EQ(spec.agent("b"), nullptr);
}

TEST_F(GraphSpecTest, OverridesAreMergedOverTheConfig) {
  GraphSpec spec = load_graph(graph(R"(name: custom
config:
  max_concurrency: 2
  timeout: 30.5
  error_policy: stop_graph
  interactive: false
  cancel_grace: 0
  heartbeat: {interval: 1, timeout: 3}
  restart: {policy: temporary, max_restarts: 5, window: 60, backoff_initial: 2, backoff_max: 8}
agents:
  - id: b
    bundle: lint
    target: src/b.py
    after: [a]
    timeout: 7
    restart: {policy: permanent, backoff_max: 20}
  - {id: a, bundle: trivial}
)"));
  EXPECT_EQ(spec.name, "custom");
  GraphConfig c;
  c.max_concurrency = 2;
  c.timeout_s = 30.5;
  c.error_policy = ErrorPolicy::stop_graph;
  c.interactive = false;
  c.cancel_grace_s = 0;
  c.heartbeat = {1, 3};
  c.restart = {RestartMode::temporary, 5, 60, 2, 8};
  EXPECT_EQ(spec.config, c);
  ASSERT_EQ(spec.agents.size(), 2u);
  EXPECT_EQ(spec.agents[0].id, "a");
  EXPECT_EQ(spec.agents[0].timeout_s, 30.5);
  EXPECT_EQ(spec.agents[0].restart, c.restart);
  const AgentSpec& b = spec.agents[1];
  EXPECT_EQ(b.id, "b");
  EXPECT_EQ(b.target, "src/b.py");
  EXPECT_EQ(b.after, std::vector<std::string>{"a"});
  EXPECT_EQ(b.timeout_s, 7);
  EXPECT_EQ(b.restart, (RestartPolicy{RestartMode::permanent, 5, 60, 2, 20}));
  EXPECT_EQ(spec.bundles.size(), 2u);
}

TEST_F(GraphSpecTest, BundleDirectoriesAreSearchedInOrder) {
  bundle("shared", "first", "from first");
  bundle("shared", "second", "from second");
  bundle("only2", "second");
  GraphSpec spec = load_graph(graph(R"(bundles: [first, second]
agents:
  - {id: a, bundle: shared}
  - {id: b, bundle: only2}
)"));
  EXPECT_EQ(spec.bundles.at("shared").description, "from first");
  EXPECT_EQ(spec.bundles.at("only2").name, "only2");
}

TEST_F(GraphSpecTest, TheOrderOfLinesDoesNotMatter) {
  GraphSpec one = load_graph(graph(R"(name: g
agents:
  - {id: a, bundle: trivial}
  - {id: b, bundle: lint, after: [a]}
  - {id: c, bundle: lint, after: [a, b]}
  - {id: d, bundle: trivial, after: [c, b, a]}
)",
                                   "one.yaml"));
  GraphSpec two = load_graph(graph(R"(name: g
agents:
  - {id: d, bundle: trivial, after: [a, c, b, c]}
  - {id: c, bundle: lint, after: [b, a]}
  - {id: a, bundle: trivial}
  - {id: b, bundle: lint, after: [a, a]}
)",
                                   "two.yaml"));
  EXPECT_EQ(one, two);
  EXPECT_EQ(one.topo_order(), two.topo_order());
  EXPECT_EQ(one.topo_order(), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(two.agent("d")->after, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(GraphSpecTest, TopoOrderBreaksTiesById) {
  GraphSpec spec = load_graph(graph(R"(agents:
  - {id: z, bundle: trivial, after: [b]}
  - {id: a, bundle: trivial, after: [m]}
  - {id: m, bundle: trivial}
  - {id: b, bundle: trivial}
)"));
  EXPECT_EQ(spec.topo_order(), (std::vector<std::string>{"b", "m", "a", "z"}));
}

TEST_F(GraphSpecTest, DependentsAreTransitiveAndSorted) {
  GraphSpec spec = load_graph(graph(R"(agents:
  - {id: a, bundle: trivial}
  - {id: d, bundle: trivial, after: [a]}
  - {id: c, bundle: trivial, after: [b]}
  - {id: b, bundle: trivial, after: [a]}
  - {id: e, bundle: trivial}
  - {id: f, bundle: trivial, after: [c, e]}
)"));
  EXPECT_EQ(spec.dependents("a"), (std::vector<std::string>{"b", "c", "d", "f"}));
  EXPECT_EQ(spec.dependents("b"), (std::vector<std::string>{"c", "f"}));
  EXPECT_EQ(spec.dependents("e"), (std::vector<std::string>{"f"}));
  EXPECT_TRUE(spec.dependents("f").empty());
  EXPECT_TRUE(spec.dependents("nope").empty());
}

TEST_F(GraphSpecTest, JsonRoundTripsExactly) {
  GraphSpec spec = load_graph(graph(R"(config:
  timeout: 0.1
  error_policy: continue
  restart: {policy: permanent, window: 12.25}
agents:
  - {id: a, bundle: trivial, target: x.py, timeout: 12.75, restart: {max_restarts: 0}}
  - {id: b, bundle: lint, after: [a]}
)"));
  json j = spec.to_json();
  EXPECT_EQ(j["config"]["error_policy"], "continue");
  EXPECT_EQ(j["agents"][1]["after"], json({"a"}));
  EXPECT_EQ(j["bundles"]["lint"], spec.bundles.at("lint").to_json());
  EXPECT_EQ(GraphSpec::from_json(j), spec);
  EXPECT_EQ(GraphSpec::from_json(json::parse(j.dump())), spec);
}

TEST_F(GraphSpecTest, FromJsonRejectsACorruptDocument) {
  json good = load_graph(graph("agents: [{id: a, bundle: trivial}, {id: b, bundle: trivial, after: [a]}]\n")).to_json();
  auto code_of = [](const json& j) -> std::optional<Errc> {
    try {
      GraphSpec::from_json(j);
    } catch (const Error& e) {
      return e.code();
    }
    return std::nullopt;
  };
  EXPECT_EQ(code_of(json::object()), Errc::corrupt);
  json bad = good;
  bad["config"]["error_policy"] = "explode";
  EXPECT_EQ(code_of(bad), Errc::corrupt);
  bad = good;
  bad["agents"][0]["timeout"] = "soon";
  EXPECT_EQ(code_of(bad), Errc::corrupt);
  bad = good;
  bad["agents"][1]["after"] = {"zz"};
  EXPECT_EQ(code_of(bad), Errc::corrupt);
  bad = good;
  bad["bundles"]["trivial"]["steps"] = json::array();
  EXPECT_EQ(code_of(bad), Errc::corrupt);
}

TEST_F(GraphSpecTest, UnknownDependency) {
  EXPECT_EQ(error("agents:\n  - {id: a, bundle: trivial}\n  - {id: b, bundle: trivial, after: [a, zz]}\n"),
            lines({"agent 'b' depends on unknown agent 'zz'"}));
}

TEST_F(GraphSpecTest, UnknownBundleSaysWhereItLooked) {
  EXPECT_EQ(error("bundles: [bundles, more]\nagents:\n  - {id: x, bundle: nope}\n"),
            lines({"agent 'x' uses unknown bundle 'nope' (looked in: " + (d_ / "bundles").string() + ", " +
                   (d_ / "more").string() + ")"}));
}

TEST_F(GraphSpecTest, BundleErrorsAreIncluded) {
  write(d_ / "bundles" / "broken" / "bundle.yaml", "name: broken\nkind: steps\nsteps: [{write: {path: a}}]\n");
  EXPECT_EQ(error("agents:\n  - {id: x, bundle: broken}\n  - {id: y, bundle: broken, after: [nobody]}\n"),
            (d_ / "bundles" / "broken" / "bundle.yaml").string() + ": steps[0].write.content: required\n" +
                lines({"agent 'y' depends on unknown agent 'nobody'"}));
}

TEST_F(GraphSpecTest, DuplicateAndInvalidIds) {
  EXPECT_EQ(error(R"(agents:
  - {id: a, bundle: trivial}
  - {id: "b c", bundle: trivial}
  - {id: a, bundle: lint}
  - {bundle: lint}
  - {id: d, bundle: "../lint"}
)"),
            lines({"agents[3].id: required", "agents[4].bundle: '../lint' is not a valid bundle name ([A-Za-z0-9._-]+)",
                   "duplicate agent id 'a'", "agent id 'b c' is not valid ([A-Za-z0-9._-]+)"}));
}

TEST_F(GraphSpecTest, CycleIsPrintedFromItsSmallestId) {
  EXPECT_EQ(error(R"(agents:
  - {id: c, bundle: trivial, after: [a]}
  - {id: d, bundle: trivial, after: [c]}
  - {id: b, bundle: trivial, after: [c]}
  - {id: a, bundle: trivial, after: [b]}
)"),
            lines({"dependency cycle: a -> b -> c -> a"}));
}

TEST_F(GraphSpecTest, SelfCycle) {
  EXPECT_EQ(error("agents:\n  - {id: a, bundle: trivial, after: [a]}\n"), lines({"dependency cycle: a -> a"}));
}

TEST_F(GraphSpecTest, BadConfigValues) {
  EXPECT_EQ(
      error(R"(config:
  max_concurrency: 0
  timeout: 0
  error_policy: explode
  interactive: maybe
  cancel_grace: -1
  heartbeat: {interval: 5, timeout: 5}
  restart: {policy: sometimes, max_restarts: -1, window: -2, backoff_initial: 10, backoff_max: 5}
agents:
  - {id: a, bundle: trivial, timeout: -3, restart: {backoff_initial: 200}}
)"),
      lines({"config.max_concurrency: must be >= 1", "config.timeout: must be > 0",
             "config.error_policy: 'explode' is not one of stop_graph | skip_downstream | continue",
             "config.interactive: expected true or false", "config.cancel_grace: must be >= 0",
             "config.heartbeat.timeout: 5 must be > interval (5)",
             "config.restart.policy: 'sometimes' is not one of permanent | transient | temporary",
             "config.restart.max_restarts: expected an integer from 0 to 4294967295", "config.restart.window: must be >= 0",
             "config.restart.backoff_max: 5 must be >= backoff_initial (10)", "agents[0].timeout: must be > 0",
             "agents[0].restart.backoff_max: 5 must be >= backoff_initial (200)"}));
}

// max_restarts within a window that the backoffs alone outlast could never be exhausted.
TEST_F(GraphSpecTest, ARestartWindowShorterThanItsBackoffsIsRefused) {
  EXPECT_EQ(error(R"(config:
  restart: {policy: permanent, window: 60, backoff_initial: 30, backoff_max: 30}
agents:
  - {id: a, bundle: trivial, restart: {window: 2, backoff_initial: 1, max_restarts: 1}}
  - {id: b, bundle: trivial, restart: {policy: temporary}}
)"),
            lines({"config.restart.window: 60s is not longer than the backoffs of 3 restarts (60s and more): a worker "
                   "failing at once would never exhaust its budget; lengthen the window or shorten the backoff"}));
  EXPECT_NO_THROW(load_graph(graph("config:\n  restart: {window: 7.5, backoff_initial: 1, max_restarts: 3}\n"
                                   "agents:\n  - {id: a, bundle: trivial}\n")));
}

TEST_F(GraphSpecTest, UnknownFieldsAtEveryLevel) {
  EXPECT_EQ(error(R"(config:
  paralel: 3
  heartbeat: {every: 1}
  restart: {policy: permanent, tries: 2}
agents:
  - {id: a, bundle: trivial, deps: [b]}
agent: typo
)"),
            lines({"config.heartbeat.every: unknown field", "config.restart.tries: unknown field",
                   "config.paralel: unknown field", "agents[0].deps: unknown field", "agent: unknown field"}));
}

TEST_F(GraphSpecTest, WrongShapes) {
  EXPECT_EQ(error("bundles: bundles\nconfig: [1]\nagents:\n  - just-a-name\n  - {id: a, bundle: trivial, after: a}\n"),
            lines({"bundles: expected a list of strings", "config: expected a map", "agents[0]: expected a map",
                   "agents[1].after: expected a list of strings"}));
  EXPECT_EQ(error("name: g\n"), lines({"agents: required"}));
  EXPECT_EQ(error("agents: []\n"), lines({"agents: must have at least one agent"}));
  EXPECT_EQ(error("agents:\n  - {id: a, id: b, bundle: trivial}\n"), lines({"agents[0].id: duplicate field"}));
}

TEST_F(GraphSpecTest, YamlSyntaxErrorNamesTheLine) {
  EXPECT_EQ(error("agents:\n  - {id: a, bundle: trivial}\n  - {id: b, bundle: trivial}}\n"),
            lines({"line 3: illegal flow end"}));
}

TEST_F(GraphSpecTest, MissingFile) {
  try {
    load_graph(d_ / "absent.yaml");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::not_found);
    EXPECT_EQ(std::string(e.what()), (d_ / "absent.yaml").string() + ": no such file");
  }
}

AgentSpec agent(const std::string& id, const std::string& bundle, std::vector<std::string> after = {}) {
  AgentSpec a;
  a.id = id;
  a.bundle = bundle;
  a.after = std::move(after);
  return a;
}

std::string validate_error(const GraphSpec& spec) {
  try {
    validate(spec);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "validate did not throw";
  return "";
}

TEST(GraphSpecValidate, ChecksAnInMemorySpec) {
  GraphSpec spec;
  spec.name = "mem";
  Bundle hang;
  hang.name = "b";
  hang.kind = "steps";
  hang.steps = {Step{"hang", json::object()}};
  spec.bundles["b"] = hang;
  spec.agents = {agent("a", "b", {"c"}), agent("c", "b", {"a"}), agent("d", "b")};
  EXPECT_EQ(validate_error(spec), "dependency cycle: a -> c -> a");

  spec.agents[1].after.clear();
  EXPECT_NO_THROW(validate(spec));

  spec.agents.push_back(agent("d", "missing", {"x"}));
  spec.agents.push_back(agent("e/f", "b"));
  EXPECT_EQ(validate_error(spec),
            "duplicate agent id 'd'\n"
            "agent id 'e/f' is not valid ([A-Za-z0-9._-]+)\n"
            "agent 'd' depends on unknown agent 'x'\n"
            "agent 'd' uses unknown bundle 'missing'");
}

TEST(GraphSpecNames, NameOf) {
  EXPECT_EQ(name_of(ErrorPolicy::stop_graph), "stop_graph");
  EXPECT_EQ(name_of(ErrorPolicy::skip_downstream), "skip_downstream");
  EXPECT_EQ(name_of(ErrorPolicy::continue_), "continue");
  EXPECT_EQ(name_of(RestartMode::permanent), "permanent");
  EXPECT_EQ(name_of(RestartMode::transient), "transient");
  EXPECT_EQ(name_of(RestartMode::temporary), "temporary");
}

}  // namespace
}  // namespace remora
