// Graphs from discovery: agents per (node x bundle that applies), ids, orderings, graph files.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "supervisor/graph_from_discovery.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_text;

CodeNode node(std::string path, std::string type, std::string qualified_name) {
  CodeNode n;
  n.type = std::move(type);
  n.path = std::move(path);
  n.qualified_name = n.type == "file" ? n.path : std::move(qualified_name);
  n.name = n.qualified_name.substr(n.qualified_name.rfind('.') + 1);
  n.id = node_id(n.path, n.type, n.qualified_name);
  n.language = "python";
  return n;
}

Bundle bundle(std::string name, std::vector<std::string> node_types) {
  Bundle b;
  b.name = std::move(name);
  b.kind = "steps";
  b.node_types = std::move(node_types);
  b.steps = {Step{"result", {{"summary", "ok"}}}};
  return b;
}

std::map<std::string, const AgentSpec*> by_id(const std::vector<AgentSpec>& agents) {
  std::map<std::string, const AgentSpec*> out;
  for (const auto& a : agents) out[a.id] = &a;
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

const std::vector<CodeNode> kNodes = {
    node("src/geo.py", "file", ""),
    node("src/geo.py", "class", "Box"),
    node("src/geo.py", "method", "Box.area"),
    node("src/geo.py", "function", "total"),
};

TEST(GraphFromDiscovery, OneAgentPerNodeAndBundleThatAppliesWithReadableIds) {
  std::map<std::string, Bundle> bundles{{"lint", bundle("lint", {"function", "method"})},
                                        {"summary", bundle("summary", {"file"})}};
  GraphConfig config;
  config.timeout_s = 42;
  auto agents = agents_for_nodes(kNodes, bundles, {}, config);
  std::vector<std::string> ids;
  for (const auto& a : agents) ids.push_back(a.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"lint.src-geo.py.Box.area", "lint.src-geo.py.total", "summary.src-geo.py"}));
  const AgentSpec& area = agents[0];
  EXPECT_EQ(area.bundle, "lint");
  EXPECT_EQ(area.target, "src/geo.py");
  EXPECT_EQ(area.node, to_json(kNodes[2]));
  EXPECT_EQ(area.timeout_s, 42);
  EXPECT_TRUE(area.after.empty());
  // The same nodes give the same ids on every run.
  EXPECT_EQ(agents_for_nodes(kNodes, bundles, {}, config), agents);
}

TEST(GraphFromDiscovery, WhenFieldsMustMatch) {
  auto doc = bundle("doc", {"function"});
  doc.when = {{"doc", nullptr}};  // only undocumented functions
  auto documented = node("a.py", "function", "f"), bare = node("a.py", "function", "g");
  documented.doc = "docstring";
  auto agents = agents_for_nodes({documented, bare}, {{"doc", doc}}, {}, {});
  ASSERT_EQ(agents.size(), 1u);
  EXPECT_EQ(agents[0].id, "doc.a.py.g");
}

TEST(GraphFromDiscovery, CollidingAndOddNamesAreSanitizedAndSuffixed) {
  std::vector<CodeNode> nodes = {node("a b/x.cpp", "function", "operator+"), node("a b/x.cpp", "function", "f"),
                                 node("a b/x.cpp", "function", "f")};
  nodes[2].id = node_id("a b/x.cpp", "function", "f#2");  // an overload: same name, its own id
  auto agents = agents_for_nodes(nodes, {{"lint", bundle("lint", {})}}, {}, {});
  auto ids = by_id(agents);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_TRUE(ids.contains("lint.a_b-x.cpp.operator_." + nodes[0].id.substr(0, 8)));
  EXPECT_TRUE(ids.contains("lint.a_b-x.cpp.f." + nodes[1].id.substr(0, 8)));
  EXPECT_TRUE(ids.contains("lint.a_b-x.cpp.f." + nodes[2].id.substr(0, 8)));

  auto deep = node(std::string(300, 'd') + ".py", "file", "");
  auto long_id = agents_for_nodes({deep}, {{"lint", bundle("lint", {})}}, {}, {})[0].id;
  EXPECT_EQ(long_id.size(), 200u);
  EXPECT_TRUE(long_id.ends_with("." + deep.id.substr(0, 8)));
}

// A node's id is its own: adding a file whose readable id would be the same (a/util.py beside
// a-util.py) changes no id that was there before.
TEST(GraphFromDiscovery, IdsDoNotChangeWhenAFileIsAdded) {
  const std::map<std::string, Bundle> bundles{{"fn", bundle("fn", {})}};
  const std::vector<CodeNode> before = {node("a-util.py", "function", "helper"), node("b/util.py", "function", "helper")};
  auto after = before;
  after.push_back(node("a/util.py", "function", "helper"));
  after.push_back(node("b-util.py", "function", "helper"));
  const auto first_agents = agents_for_nodes(before, bundles, {}, {});
  const auto second_agents = agents_for_nodes(after, bundles, {}, {});
  auto first = by_id(first_agents);
  auto second = by_id(second_agents);
  EXPECT_TRUE(first.contains("fn.b-util.py.helper"));  // b/util.py: nothing lost, no suffix
  EXPECT_TRUE(first.contains("fn.a-util.py.helper." + before[0].id.substr(0, 8)));
  ASSERT_EQ(second.size(), 4u);  // all distinct
  for (const auto& [id, agent] : first) EXPECT_TRUE(second.contains(id)) << id << " changed";
  EXPECT_TRUE(second.contains("fn.b-util.py.helper." + after[3].id.substr(0, 8)));
}

TEST(GraphFromDiscovery, OrderingsLinkTheAgentsOfANodeThroughBundlesThatDoNotApply) {
  std::map<std::string, Bundle> bundles{{"lint", bundle("lint", {"function", "method"})},
                                        {"types", bundle("types", {"function"})},
                                        {"docstring", bundle("docstring", {"function", "method", "class"})}};
  auto agents = agents_for_nodes(kNodes, bundles, {{"lint", "types"}, {"types", "docstring"}}, {});
  auto ids = by_id(agents);
  // A function has all three: each waits for the one before it only.
  EXPECT_EQ(ids.at("types.src-geo.py.total")->after, std::vector<std::string>{"lint.src-geo.py.total"});
  EXPECT_EQ(ids.at("docstring.src-geo.py.total")->after, std::vector<std::string>{"types.src-geo.py.total"});
  // A method has no types agent: its docstring agent waits for its lint agent.
  EXPECT_EQ(ids.at("docstring.src-geo.py.Box.area")->after, std::vector<std::string>{"lint.src-geo.py.Box.area"});
  // A class has only docstring: nothing to wait for (never another node's agent).
  EXPECT_TRUE(ids.at("docstring.src-geo.py.Box")->after.empty());
  EXPECT_TRUE(ids.at("lint.src-geo.py.total")->after.empty());
}

TEST(GraphFromDiscovery, BadOrderingsAreNamed) {
  std::map<std::string, Bundle> bundles{{"lint", bundle("lint", {})}, {"docstring", bundle("docstring", {})}};
  auto unknown = error_of([&] { agents_for_nodes(kNodes, bundles, {{"lint", "types"}}, {}); });
  EXPECT_NE(unknown.find("bundle 'types' is not one of the bundles run"), std::string::npos) << unknown;
  auto cycle = error_of([&] { agents_for_nodes(kNodes, bundles, {{"lint", "docstring"}, {"docstring", "lint"}}, {}); });
  EXPECT_NE(cycle.find("cycle among bundles docstring, lint"), std::string::npos) << cycle;
  auto nothing = error_of([&] { agents_for_nodes(kNodes, {{"c", bundle("c", {"struct"})}}, {}, {}); });
  EXPECT_NE(nothing.find("no discovered node matches"), std::string::npos) << nothing;

  EXPECT_EQ(parse_bundle_order("lint:docstring"), (BundleOrder{"lint", "docstring"}));
  for (const char* bad : {"lint", ":b", "a:", "a:b:c"})
    EXPECT_NE(error_of([&] { parse_bundle_order(bad); }).find(bad), std::string::npos) << bad;
}

class DiscoveredProject : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(tmp / "proj/src/geo.py", "class Box:\n    def area(self):\n        return 1\n");
    write_text(tmp / "proj/tests/test_geo.py", "def test_area():\n    pass\n");
    write_text(tmp / "bundles/note/bundle.yaml",
               "name: note\nkind: steps\nsteps:\n  - result: {summary: noted}\n");
  }
  TempDir tmp;
};

TEST_F(DiscoveredProject, PathsAreResolvedAgainstTheRoot) {
  DiscoverSpec d;
  resolve_paths(d, {"proj"}, std::nullopt, tmp.path());
  EXPECT_EQ(d.root, fs::canonical(tmp / "proj"));  // the one directory named is the project
  EXPECT_TRUE(d.paths.empty());

  resolve_paths(d, {"src", "tests/test_geo.py"}, std::nullopt, tmp / "proj");
  EXPECT_EQ(d.root, fs::canonical(tmp / "proj"));  // several: the base directory
  EXPECT_EQ(d.paths, (std::vector<std::string>{"src", "tests/test_geo.py"}));

  resolve_paths(d, {"proj/src"}, fs::path("proj"), tmp.path());
  EXPECT_EQ(d.paths, std::vector<std::string>{"src"});

  auto outside = error_of([&] { resolve_paths(d, {"bundles"}, fs::path("proj"), tmp.path()); });
  EXPECT_NE(outside.find("bundles is outside the project root"), std::string::npos) << outside;
  auto missing = error_of([&] { resolve_paths(d, {"nope"}, std::nullopt, tmp.path()); });
  EXPECT_NE(missing.find("no such file or directory: nope"), std::string::npos) << missing;
}

TEST_F(DiscoveredProject, DiscoveredGraphKeepsTheNodesUnderThePaths) {
  DiscoverSpec d;
  d.bundles = {"note"};
  resolve_paths(d, {"src"}, fs::path("."), tmp / "proj");
  auto g = discovered_graph(d, {tmp / "bundles"}, {}, "proj");
  std::vector<std::string> ids;
  for (const auto& a : g.agents) ids.push_back(a.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"note.src-geo.py", "note.src-geo.py.Box", "note.src-geo.py.Box.area"}));
  EXPECT_EQ(g.project, fs::canonical(tmp / "proj"));
  EXPECT_EQ(g.bundles.size(), 1u);
  EXPECT_EQ(g.agents[2].node.at("type"), "method");

  d.bundles = {"note", "nope"};
  auto unknown = error_of([&] { discovered_graph(d, {tmp / "bundles"}, {}, "proj"); });
  EXPECT_NE(unknown.find("unknown bundle 'nope' (looked in: " + (tmp / "bundles").string() + ")"), std::string::npos)
      << unknown;
}

TEST_F(DiscoveredProject, AGraphFileMayDiscoverItsAgents) {
  write_text(tmp / "graph.yaml",
             "config: {max_concurrency: 2}\n"
             "discover:\n  root: proj\n  paths: [proj/tests]\n  bundles: [note]\n");
  auto g = load_graph(tmp / "graph.yaml");
  EXPECT_EQ(g.name, "graph");
  EXPECT_EQ(g.config.max_concurrency, 2u);
  EXPECT_EQ(g.project, fs::canonical(tmp / "proj"));
  ASSERT_EQ(g.agents.size(), 2u);
  EXPECT_EQ(g.agents[0].id, "note.tests-test_geo.py");
  EXPECT_EQ(GraphSpec::from_json(g.to_json()), g);

  write_text(tmp / "both.yaml",
             "discover: {bundles: [note], after: [note]}\nagents: [{id: a, bundle: note}]\n");
  auto both = error_of([&] { load_graph(tmp / "both.yaml"); });
  EXPECT_NE(both.find("agents: a graph lists its agents or discovers them, not both"), std::string::npos) << both;
  EXPECT_NE(both.find("discover.after: --after 'note': expected FIRST:THEN"), std::string::npos) << both;
}

}  // namespace
}  // namespace remora
