// One graph over 2-3 hosts simulated on this machine (separate `remora run --cluster` processes with
// their own workspaces) through a real 3-member etcd cluster (label `cluster`): cross-host
// dependencies, a question answered once from another place, an etcd member killed mid-run, and a
// host's supervisor killed and resumed with nothing run twice.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "cluster/cluster_keys.hpp"
#include "cluster/etcd_client.hpp"
#include "tests/etcd_cluster.hpp"
#include "tests/graph_project.hpp"

namespace remora::test {
namespace {

using namespace std::chrono_literals;
using cluster::EtcdClient;
using cluster::KeyValue;
namespace ckeys = cluster::ckeys;

class ClusterRun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdCluster::available()) GTEST_SKIP() << "etcd is not installed (apt-get install etcd-server): cluster tests skipped";
    etcd_ = std::make_unique<EtcdCluster>();
    client_ = std::make_unique<EtcdClient>(EtcdClient::split_urls(etcd_->urls()));
    p_.bundle("scan", "steps:\n  - work: {ms: 200}\n  - write: {path: \"out/{agent}.txt\", content: \"scanned\"}\n"
                      "  - result: {summary: scanned}\n");
    p_.bundle("ask", "steps:\n  - ask: {question: \"Style for {agent}?\", options: [google, numpy], timeout: 600}\n"
                     "  - write: {path: \"style-{agent}.txt\", content: \"{answer}\"}\n  - result: {summary: asked}\n");
  }

  std::string ws(const std::string& host) const { return p_.path("ws-" + host).string(); }
  // `remora -w ws-HOST run graph.yaml --json --cluster URLS --host HOST --hosts N` (or other args).
  std::unique_ptr<Child> host(const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), {"-w", ws(name)});
    args.insert(args.end(), {"--cluster", etcd_->urls(), "--host", name});
    return std::make_unique<Child>(kRemoraBin, args, p_.path(name + ".out"));
  }
  std::unique_ptr<Child> run_host(const std::string& name, int hosts) {
    return host(name, {"run", p_.graph_path(), "--json", "--hosts", std::to_string(hosts)});
  }

  // Waits (on an etcd watch, 90 s at most) until a key under prefix satisfies pred; returns it.
  KeyValue wait_etcd(const std::string& prefix, const std::function<bool(const KeyValue&)>& pred) {
    std::int64_t rev = 0;
    for (auto& kv : client_->range_prefix(prefix, &rev))
      if (pred(kv)) return kv;
    std::optional<KeyValue> found;
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    client_->watch_prefix(prefix, rev + 1, [&](const std::vector<cluster::WatchEvent>& evs) {
      for (auto& e : evs)
        if (!e.deleted && pred(e.kv)) found = e.kv;
      return !found;
    }, [&] { return std::chrono::steady_clock::now() > deadline; });
    if (!found) throw std::runtime_error("timed out waiting in etcd under " + prefix);
    return *found;
  }
  std::string agent_state(const std::string& graph, const std::string& id) {
    auto kv = client_->get(ckeys::agent(graph, id));
    return kv ? nlohmann::json::parse(kv->value).value("state", "") : "";
  }
  // Events of one host's workspace, from `remora events --json`.
  std::vector<nlohmann::json> events(const std::string& name) {
    auto r = shell(kRemoraBin + " -w " + ws(name) + " events --json");
    std::vector<nlohmann::json> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  int count(const std::string& host_name, const std::string& name, const std::string& agent) {
    int n = 0;
    for (auto& e : events(host_name))
      if (e.value("event", "") == name && e.value("agent_id", "") == agent) ++n;
    return n;
  }
  std::string out(const std::string& name) { return read_text(p_.path(name + ".out")); }
  // Runs the graph over 2 hosts, h0 first (it takes slot 0) and h1 once h0 holds it; kills h0
  // (SIGKILL) once agent `id` is `state` in etcd. Returns h1, still running.
  std::unique_ptr<Child> two_hosts_then_kill_h0(const std::string& graph, const std::string& id,
                                                const std::string& state) {
    auto h0 = run_host("h0", 2);
    auto slot = wait_etcd(ckeys::graph_prefix(graph) + "slot-of/", [](const KeyValue&) { return true; });
    EXPECT_EQ(slot.value, "0");
    auto h1 = run_host("h1", 2);
    // h1 holds slot 1 before h0 dies (on a loaded machine it may still be starting: a host started
    // after the kill would then race it for slot 1).
    wait_etcd(ckeys::graph_prefix(graph) + "slot-of/h1", [](const KeyValue&) { return true; });
    wait_etcd(ckeys::agent_prefix(graph), [&](const KeyValue& kv) {
      return kv.key.ends_with("/" + id) && kv.value.find(state) != std::string::npos;
    });
    h0->kill9();
    EXPECT_EQ(h0->wait(), 137);
    return h1;
  }

  GraphProject p_;
  std::unique_ptr<EtcdCluster> etcd_;
  std::unique_ptr<EtcdClient> client_;
};

// The demo's shape over 3 hosts: two scans, and a review after both that asks the human; agents are
// dealt round-robin in dependency order, so the review depends on agents of other hosts.
TEST_F(ClusterRun, DemoGraphOverThreeHostsWithAQuestionAnsweredOnce) {
  p_.graph("name: demo\nagents:\n  - {id: scan-a, bundle: scan}\n  - {id: scan-b, bundle: scan}\n"
           "  - {id: scan-c, bundle: scan}\n  - {id: review, bundle: ask, after: [scan-a, scan-b]}\n");
  std::map<std::string, std::unique_ptr<Child>> hosts;
  for (const char* h : {"h0", "h1", "h2"}) hosts[h] = run_host(h, 3);

  auto q = wait_etcd(ckeys::question_prefix("demo"), [](const KeyValue&) { return true; });
  const std::string qid = q.key.substr(ckeys::question_prefix("demo").size());
  EXPECT_EQ(nlohmann::json::parse(q.value).value("agent", ""), "review");
  // The review asked only once both scans, on other hosts, had completed.
  EXPECT_EQ(agent_state("demo", "scan-a"), "completed");
  EXPECT_EQ(agent_state("demo", "scan-b"), "completed");

  // Answered from a place that holds no workspace: only the etcd members' URLs.
  auto a = shell(kRemoraBin + " -w " + p_.path("nowhere").string() + " answer --cluster " + etcd_->urls() + " " + qid + " 2");
  EXPECT_EQ(a.code, 0) << a.out;
  EXPECT_NE(a.out.find("numpy"), std::string::npos) << a.out;
  auto again = shell(kRemoraBin + " -w " + p_.path("nowhere").string() + " answer --cluster " + etcd_->urls() + " " + qid + " google");
  EXPECT_NE(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("already answered"), std::string::npos) << again.out;

  for (auto& [name, child] : hosts) EXPECT_EQ(child->wait(), 0) << name << ": " << out(name);
  for (const char* id : {"scan-a", "scan-b", "scan-c", "review"}) EXPECT_EQ(agent_state("demo", id), "completed") << id;
  // Each agent ran on exactly one host, once.
  std::map<std::string, int> started;
  for (const char* h : {"h0", "h1", "h2"})
    for (auto& e : events(h))
      if (e.value("event", "") == "agent:started") ++started[e.value("agent_id", "")];
  EXPECT_EQ(started, (std::map<std::string, int>{{"review", 1}, {"scan-a", 1}, {"scan-b", 1}, {"scan-c", 1}}));

  // One ordered event stream, every host's, read from a place that holds no workspace; with
  // --follow --until-end it stops by itself once every agent has ended.
  for (const char* follow : {"", " --follow --until-end"}) {
    auto ev = shell(kRemoraBin + " -w " + p_.path("nowhere").string() + " events --json --graph demo --cluster " +
                    etcd_->urls() + follow);
    ASSERT_EQ(ev.code, 0) << ev.out;
    std::vector<std::string> seen;  // category:action agent
    std::set<std::string> hosts_joined;
    std::uint64_t last = 0;
    std::istringstream lines(ev.out);
    for (std::string line; std::getline(lines, line);) {
      auto e = nlohmann::json::parse(line);
      EXPECT_GE(e.at("revision").get<std::uint64_t>(), last) << line;  // in etcd's order (a txn: one revision)
      last = e.at("revision").get<std::uint64_t>();
      const std::string name = e.value("event", "");
      seen.push_back(name + " " + e.value("agent_id", ""));
      if (name == "host:joined") hosts_joined.insert(e.at("payload").value("host", ""));
    }
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front(), "graph:dealt ");
    EXPECT_EQ(hosts_joined, (std::set<std::string>{"h0", "h1", "h2"}));
    auto at = [&](const std::string& s) { return std::find(seen.begin(), seen.end(), s) - seen.begin(); };
    for (const char* id : {"scan-a", "scan-b", "scan-c", "review"}) {
      EXPECT_LT(at(std::string("agent:running ") + id), at(std::string("agent:completed ") + id)) << id;
      EXPECT_LT(at(std::string("review:published ") + id), static_cast<long>(seen.size())) << id;
    }
    EXPECT_LT(at("agent:completed scan-a"), at("question:asked review"));
    EXPECT_LT(at("question:asked review"), at("question:answered "));
    EXPECT_LT(at("question:answered "), at("agent:completed review"));
    EXPECT_LT(at("agent:completed review"), static_cast<long>(seen.size()));
  }
}

TEST_F(ClusterRun, CompletesWithAnEtcdMemberKilledMidRun) {
  p_.bundle("slow", "steps:\n  - work: {ms: 1500}\n  - result: {summary: slow}\n");
  p_.graph("name: chain\nagents:\n  - {id: a, bundle: scan}\n  - {id: b, bundle: slow, after: [a]}\n"
           "  - {id: c, bundle: scan, after: [b]}\n");
  auto h0 = run_host("h0", 2), h1 = run_host("h1", 2);
  wait_etcd(ckeys::agent_prefix("chain"), [](const KeyValue& kv) {
    return kv.key.ends_with("/b") && kv.value.find("running") != std::string::npos;
  });
  etcd_->kill(0);  // every host lists member 0 first
  EXPECT_EQ(h0->wait(), 0) << out("h0");
  EXPECT_EQ(h1->wait(), 0) << out("h1");
  client_ = std::make_unique<EtcdClient>(std::vector<std::string>{etcd_->client_url(1), etcd_->client_url(2)});
  for (const char* id : {"a", "b", "c"}) EXPECT_EQ(agent_state("chain", id), "completed") << id;
}

// The whole etcd cluster out of reach for 10 s while an agent runs: the hosts wait (their requests
// retry for 30 s), then go on; nothing is lost.
TEST_F(ClusterRun, WaitsOutTenSecondsWithoutEtcd) {
  p_.bundle("slow", "steps:\n  - work: {ms: 1500}\n  - result: {summary: slow}\n");
  p_.graph("name: outage\nagents:\n  - {id: a, bundle: scan}\n  - {id: b, bundle: slow, after: [a]}\n"
           "  - {id: c, bundle: scan, after: [b]}\n");
  auto h0 = run_host("h0", 2), h1 = run_host("h1", 2);
  wait_etcd(ckeys::agent_prefix("outage"), [](const KeyValue& kv) {
    return kv.key.ends_with("/b") && kv.value.find("running") != std::string::npos;
  });
  for (int i = 0; i < etcd_->size(); ++i) etcd_->kill(i);
  std::this_thread::sleep_for(10s);  // the outage itself, not a wait for something to happen
  etcd_->restart_all();
  EXPECT_EQ(h0->wait(), 0) << out("h0");
  EXPECT_EQ(h1->wait(), 0) << out("h1");
  client_ = std::make_unique<EtcdClient>(EtcdClient::split_urls(etcd_->urls()));
  for (const char* id : {"a", "b", "c"}) EXPECT_EQ(agent_state("outage", id), "completed") << id;
}

// A host's supervisor killed while one of its agents has completed and another runs: resumed on the
// same workspace, the completed one is not run again, the other hosts wait for it, and all complete.
TEST_F(ClusterRun, KilledHostResumesWithNothingRunTwice) {
  p_.bundle("slow", "steps:\n  - work: {ms: 3000}\n  - write: {path: \"slow-{agent}.txt\", content: \"x\"}\n"
                    "  - result: {summary: slow}\n");
  // Dealt in dependency order over 2 slots: a, b, c, d -> 0, 1, 0, 1.
  const std::string agents = "agents:\n  - {id: a, bundle: scan}\n  - {id: b, bundle: scan, after: [a]}\n"
                             "  - {id: c, bundle: slow}\n  - {id: d, bundle: scan, after: [c]}\n";
  for (const char* dir : {"src", "one-src"}) write_text(p_.path(std::string(dir) + "/readme.txt"), "the project\n");
  p_.graph("name: resumed\nproject: src\n" + agents);
  auto h1 = two_hosts_then_kill_h0("resumed", "a", "completed");  // slot 0 (a and c) was h0's
  EXPECT_NE(agent_state("resumed", "c"), "completed");

  auto resumed = host("h0", {"resume", "--json"});
  EXPECT_EQ(resumed->wait(), 0) << out("h0");
  EXPECT_EQ(h1->wait(), 0) << out("h1");
  for (const char* id : {"a", "b", "c", "d"}) EXPECT_EQ(agent_state("resumed", id), "completed") << id;
  EXPECT_EQ(count("h0", "agent:started", "a"), 1);
  EXPECT_EQ(count("h0", "agent:completed", "a"), 1);
  EXPECT_EQ(count("h0", "agent:completed", "c"), 1);
  EXPECT_EQ(count("h1", "agent:started", "d"), 1);

  // The result equals an uninterrupted run's: the same graph on one host, every change accepted.
  write_text(p_.path("one.yaml"), "name: resumed-one\nproject: one-src\n" + agents);
  ASSERT_EQ(shell(kRemoraBin + " -w " + ws("one") + " run " + p_.path("one.yaml").string() + " --json").code, 0);
  ASSERT_EQ(shell(kRemoraBin + " -w " + ws("one") + " accept --all").code, 0);
  auto accepted = shell(kRemoraBin + " -w " + ws("h1") + " accept --all --cluster " + etcd_->urls() + " 2>&1");
  ASSERT_EQ(accepted.code, 0) << accepted.out;
  auto tree = [&](const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& f : std::filesystem::recursive_directory_iterator(p_.path(dir)))
      if (f.is_regular_file()) files[std::filesystem::relative(f.path(), p_.path(dir)).string()] = read_text(f.path());
    return files;
  };
  EXPECT_EQ(tree("src"), tree("one-src"));
  EXPECT_EQ(tree("src").size(), 5u);  // readme.txt and what a, b, c and d wrote
}

// A host that arrives while every slot is held waits on the slot keys (an etcd watch) and takes
// the slot whose host was killed once that host's lease expires; it runs the slot's agents, which
// had not completed, and the other host's dependent agent goes on after them.
TEST_F(ClusterRun, ANewHostTakesTheSlotOfAKilledHostWhenItsLeaseExpires) {
  p_.bundle("slow", "steps:\n  - work: {ms: 3000}\n  - result: {summary: slow}\n");
  p_.graph("name: takeover\nagents:\n  - {id: a, bundle: slow}\n  - {id: b, bundle: scan, after: [a]}\n");
  auto h1 = two_hosts_then_kill_h0("takeover", "a", "running");  // slot 0 (a) was h0's
  auto h2 = run_host("h2", 2);  // both slots held (h0's until its lease expires): it waits
  EXPECT_EQ(h2->wait(), 0) << out("h2");
  EXPECT_EQ(h1->wait(), 0) << out("h1");
  EXPECT_EQ(client_->get(ckeys::graph_prefix("takeover") + "slot-of/h2")->value, "0");
  for (const char* id : {"a", "b"}) EXPECT_EQ(agent_state("takeover", id), "completed") << id;
  EXPECT_EQ(count("h2", "agent:started", "a"), 1);
  EXPECT_EQ(count("h2", "agent:completed", "a"), 1);
  EXPECT_EQ(count("h1", "agent:completed", "b"), 1);
}

// A message from an agent on one host to an agent on another: carried through etcd into the
// addressee's inbox before it starts (it runs after the sender), and shown in the cluster's stream.
void talk_and_listen(GraphProject& p) {
  const std::string agent_head = "system_prompt: s\nuser_prompt: u\nmodel: {provider: scripted}\n";
  p.bundle("talk", agent_head + "tools: [send_message, submit_result]\nscript:\n"
                    "  - tool_calls: [{name: send_message, arguments: {agent: listener, payload: {note: hello across}}}]\n"
                    "  - tool_calls: [{name: submit_result, arguments: {summary: sent}}]\n", "agent");
  p.bundle("listen", agent_head + "tools: [get_messages, submit_result]\nscript:\n"
                      "  - tool_calls: [{name: get_messages, arguments: {}}]\n"
                      "  - tool_calls: [{name: submit_result, arguments: {summary: \"{last_result}\"}}]\n", "agent");
  p.graph("name: talking\nagents:\n  - {id: talker, bundle: talk}\n  - {id: listener, bundle: listen, after: [talker]}\n");
}

TEST_F(ClusterRun, AMessageReachesAnAgentOnAnotherHost) {
  talk_and_listen(p_);
  auto h0 = run_host("h0", 2), h1 = run_host("h1", 2);
  EXPECT_EQ(h0->wait(), 0) << out("h0");
  EXPECT_EQ(h1->wait(), 0) << out("h1");
  auto host_of = [&](const std::string& id) {
    return nlohmann::json::parse(client_->get(ckeys::agent("talking", id))->value).value("host", "");
  };
  ASSERT_NE(host_of("talker"), host_of("listener"));
  auto status = shell(kRemoraBin + " -w " + ws(host_of("listener")) + " status --json");
  ASSERT_EQ(status.code, 0) << status.out;
  const auto st = nlohmann::json::parse(status.out);
  ASSERT_EQ(st.at("agents").size(), 1u) << st;
  const std::string summary = st.at("agents")[0].at("result").value("summary", "");
  EXPECT_NE(summary.find("hello across"), std::string::npos) << summary;
  EXPECT_NE(summary.find("talker"), std::string::npos) << summary;  // from whom
  EXPECT_EQ(count(host_of("listener"), "agent:message_received", "listener"), 1);
  // The cluster's one stream shows the message.
  auto left = shell(kRemoraBin + " -w " + ws(host_of("talker")) + " events --json --graph talking --cluster " +
                    etcd_->urls() + " --pattern agent:message");
  EXPECT_NE(left.out.find("\"to\":\"listener\""), std::string::npos) << left.out;
}

// The main job (tools/demo: docstring, then lint, on each Python file of examples/sample_project)
// over 3 hosts: each question answered once from a place with no workspace, every agent's changes
// accepted from one host, and the project ends as the same job on one host leaves it.
TEST_F(ClusterRun, TheDemoJobOverThreeHostsEndsAsOnOneHost) {
  namespace fs = std::filesystem;
  const fs::path examples = REMORA_EXAMPLES;
  for (const char* copy : {"one", "many"}) fs::copy(examples / "sample_project", p_.path(copy), fs::copy_options::recursive);
  const std::vector<std::string> job{"--bundles-dir", (examples / "bundles").string(), "--bundle", "docstring",
                                     "--bundle", "lint", "--after", "docstring:lint", "--json"};
  auto with_job = [&](std::vector<std::string> args) {
    args.insert(args.end(), job.begin(), job.end());
    return args;
  };

  // On one host: each question answered as it is asked.
  p_.start_cmd(with_job({"run", p_.path("one").string()}));
  for (;;) {
    auto e = p_.next_event();
    if (e.category == "graph" && (e.action == "completed" || e.action == "failed" || e.action == "cancelled")) break;
    if (e.category + ":" + e.action != "agent:blocked") continue;
    const std::string qid = nlohmann::json::parse(e.payload_json).at("question_id");
    ASSERT_EQ(shell(kRemoraBin + " -w " + p_.ws() + " answer " + qid + " google").code, 0);
  }
  ASSERT_EQ(p_.wait(), 0) << p_.output();
  auto one = shell(kRemoraBin + " -w " + p_.ws() + " accept --all 2>&1");
  ASSERT_EQ(one.code, 0) << one.out;

  // Over 3 hosts, answered from nowhere.
  std::map<std::string, std::unique_ptr<Child>> hosts;
  for (const char* h : {"h0", "h1", "h2"}) hosts[h] = host(h, with_job({"run", p_.path("many").string(), "--hosts", "3"}));
  auto plan = wait_etcd("/remora/graph/", [](const KeyValue& kv) { return kv.key.ends_with("/plan"); });
  std::size_t questions = 0;
  const auto slot_of = nlohmann::json::parse(plan.value).at("slot_of");
  for (auto& [id, slot] : slot_of.items())
    if (id.starts_with("docstring.")) ++questions;
  ASSERT_GT(questions, 1u);
  std::set<std::string> answered;
  while (answered.size() < questions) {
    auto q = wait_etcd(ckeys::kQuestionRoot, [&](const KeyValue& kv) { return !answered.count(kv.key); });
    answered.insert(q.key);
    auto a = shell(kRemoraBin + " -w " + p_.path("nowhere").string() + " answer --cluster " + etcd_->urls() + " " +
                   q.key.substr(q.key.rfind('/') + 1) + " google");
    ASSERT_EQ(a.code, 0) << a.out;
  }
  for (auto& [name, child] : hosts) ASSERT_EQ(child->wait(), 0) << name << ": " << out(name);
  auto many = shell(kRemoraBin + " -w " + ws("h1") + " accept --all --cluster " + etcd_->urls() + " 2>&1");
  ASSERT_EQ(many.code, 0) << many.out;

  std::size_t compared = 0;
  for (const auto& f : fs::directory_iterator(p_.path("one"))) {
    if (f.path().extension() != ".py") continue;
    EXPECT_EQ(read_text(p_.path("many") / f.path().filename()), read_text(f.path())) << f.path().filename();
    EXPECT_NE(read_text(f.path()), read_text(examples / "sample_project" / f.path().filename())) << "unchanged";
    ++compared;
  }
  EXPECT_EQ(compared, questions);
}

// The same graph run again once its run in etcd has ended: the ended run is cleared, so the new run
// asks its question again (the old answer does not stand for it); an id asked in two graphs' runs
// is answered by naming the graph.
TEST_F(ClusterRun, AGraphRunAgainAfterItsRunEndedStartsAfresh) {
  p_.graph("name: again\nagents:\n  - {id: q, bundle: ask}\n");
  std::int64_t last = 0;
  for (const auto& [round, answer] : std::vector<std::pair<std::string, std::string>>{{"r1", "google"}, {"r2", "numpy"}}) {
    auto h = run_host(round, 1);  // a fresh workspace each round
    auto q = wait_etcd(ckeys::question_prefix("again"), [&](const KeyValue& kv) { return kv.mod_revision > last; });
    last = q.mod_revision;
    const std::string qid = q.key.substr(ckeys::question_prefix("again").size());
    const std::string answer_cmd = kRemoraBin + " -w " + p_.path("nowhere").string() + " answer --cluster " + etcd_->urls() + " ";
    if (round == "r2") {
      client_->put(ckeys::question("other", qid), R"({"graph": "other", "options": []})");
      auto two = shell(answer_cmd + qid + " " + answer + " 2>&1");
      EXPECT_NE(two.code, 0) << two.out;
      EXPECT_NE(two.out.find("several graphs (again, other)"), std::string::npos) << two.out;
    }
    auto a = shell(answer_cmd + (round == "r2" ? "--graph again " : "") + qid + " " + answer + " 2>&1");
    ASSERT_EQ(a.code, 0) << a.out;
    ASSERT_EQ(h->wait(), 0) << out(round);
    std::vector<std::string> answers;
    for (auto& e : events(round))
      if (e.value("event", "") == "agent:resumed") answers.push_back(e.at("payload").value("answer", ""));
    EXPECT_EQ(answers, std::vector<std::string>{answer}) << round;
  }
  EXPECT_EQ(agent_state("again", "q"), "completed");
}

// The sender's host killed after its supervisor committed the message for another host and before
// it reached etcd: resumed, the host carries it, and the addressee gets it once.
TEST_F(ClusterRun, AMessageCommittedBeforeItsHostDiedReachesTheOtherHost) {
  talk_and_listen(p_);
  // h0 first, so it takes slot 0 (the talker's); it kills itself at the fault point.
  std::vector<std::string> args{"REMORA_FAULT=cluster:message_unsent", kRemoraBin, "-w", ws("h0"), "run", p_.graph_path(),
                                "--json", "--hosts", "2", "--cluster", etcd_->urls(), "--host", "h0"};
  auto h0 = std::make_unique<Child>("/usr/bin/env", args, p_.path("h0.out"));
  wait_etcd(ckeys::graph_prefix("talking") + "slot-of/", [](const KeyValue&) { return true; });
  auto h1 = run_host("h1", 2);
  EXPECT_EQ(h0->wait(), 137) << out("h0");
  EXPECT_TRUE(client_->range_prefix(ckeys::message_prefix("talking")).empty());  // not in etcd yet
  auto resumed = host("h0", {"resume", "--json"});
  EXPECT_EQ(resumed->wait(), 0) << out("h0");
  EXPECT_EQ(h1->wait(), 0) << out("h1");
  EXPECT_EQ(client_->range_prefix(ckeys::message_prefix("talking")).size(), 1u);
  auto status = shell(kRemoraBin + " -w " + ws("h1") + " status --json");
  const auto st = nlohmann::json::parse(status.out);
  EXPECT_NE(st.at("agents")[0].at("result").value("summary", "").find("hello across"), std::string::npos) << st;
  EXPECT_EQ(count("h1", "agent:message_received", "listener"), 1);
}

// On the review host an agent can be rejected before the agent building on it has completed on its
// host: that one is then pulled over base, and its accept merges its own edits three-way from the
// version it started from (the rejected agent's), without the rejected agent's.
TEST_F(ClusterRun, AnAgentWhoseBaseAgentWasRejectedIsPulledOverBase) {
  write_text(p_.path("src/notes.txt"), "l1\nl2\nl3\nl4\nl5\n");
  p_.bundle("first", "steps:\n  - write: {path: notes.txt, content: \"l1 first\\nl2\\nl3\\nl4\\nl5\\n\"}\n"
                     "  - result: {summary: first}\n");
  // b-second waits for an answer given only once a-first is rejected: it cannot complete first.
  p_.bundle("second", "steps:\n  - ask: {question: \"go on?\", timeout: 600}\n"
                      "  - write: {path: notes.txt, content: \"l1 first\\nl2\\nl3\\nl4\\nl5 second\\n\"}\n"
                      "  - result: {summary: second}\n");
  p_.bundle("other", "steps:\n  - write: {path: \"out/{agent}.txt\", content: x}\n  - result: {summary: other}\n");
  p_.graph("name: rejected\nproject: src\nagents:\n  - {id: a-first, bundle: first, target: notes.txt}\n"
           "  - {id: b-second, bundle: second, target: notes.txt, after: [a-first]}\n  - {id: c-other, bundle: other}\n");
  auto h0 = run_host("h0", 2);
  wait_etcd(ckeys::graph_prefix("rejected") + "slot-of/", [](const KeyValue&) { return true; });
  auto h1 = run_host("h1", 2);  // slot 1: c-other; h0 has a-first and b-second
  wait_etcd(ckeys::agent_prefix("rejected"), [](const KeyValue& kv) {
    return kv.key.ends_with("/a-first") && kv.value.find("completed") != std::string::npos;
  });
  ASSERT_EQ(h1->wait(), 0) << out("h1");
  const std::string cluster = " --cluster " + etcd_->urls();
  auto q = wait_etcd(ckeys::question_prefix("rejected"), [](const KeyValue&) { return true; });
  const std::string qid = q.key.substr(ckeys::question_prefix("rejected").size());
  auto rejected = shell(kRemoraBin + " -w " + ws("h1") + " reject a-first" + cluster + " 2>&1");
  ASSERT_EQ(rejected.code, 0) << rejected.out;
  auto answered = shell(kRemoraBin + " -w " + p_.path("nowhere").string() + " answer" + cluster + " " + qid + " yes 2>&1");
  ASSERT_EQ(answered.code, 0) << answered.out;
  ASSERT_EQ(h0->wait(), 0) << out("h0");
  auto accepted = shell(kRemoraBin + " -w " + ws("h1") + " accept b-second" + cluster + " 2>&1");
  ASSERT_EQ(accepted.code, 0) << accepted.out;
  EXPECT_EQ(read_text(p_.path("src/notes.txt")), "l1\nl2\nl3\nl4\nl5 second\n");  // a-first's line 1 is not in it
}

// Review from one place: after a run over 3 hosts, any one host's workspace pulls the other hosts'
// completed agents (their overlays, through etcd) and accepts them all into its project directory:
// an agent that builds on another's edits (same node, so the same host) is accepted with it, and a
// remote agent's edit of a file a human changed since is merged three-way, as on one host.
TEST_F(ClusterRun, EveryAgentsChangesAreReviewedAndAcceptedFromOnePlace) {
  write_text(p_.path("src/notes.txt"), "l1\nl2\nl3\nl4\nl5\n");
  p_.bundle("touch", "steps:\n  - write: {path: notes.txt, content: \"l1 edited\\nl2\\nl3\\nl4\\nl5\\n\"}\n"
                     "  - result: {summary: touched}\n");
  p_.graph("name: reviewed\nproject: src\nagents:\n  - {id: edit-1, bundle: touch, target: notes.txt}\n"
           "  - {id: edit-2, bundle: scan, target: notes.txt, after: [edit-1]}\n"
           "  - {id: scan-a, bundle: scan}\n  - {id: scan-b, bundle: scan}\n");
  std::map<std::string, std::unique_ptr<Child>> hosts;
  for (const char* h : {"h0", "h1", "h2"}) hosts[h] = run_host(h, 3);
  for (auto& [name, child] : hosts) ASSERT_EQ(child->wait(), 0) << name << ": " << out(name);

  auto host_of = [&](const std::string& id) {
    return nlohmann::json::parse(client_->get(ckeys::agent("reviewed", id))->value).value("host", "");
  };
  const std::string editor = host_of("edit-1");
  EXPECT_EQ(host_of("edit-2"), editor);  // it builds on edit-1's edits: dealt to the same host
  const std::string here = editor == "h0" ? "h1" : "h0";  // review from a host that did not edit
  const std::string remora_here = kRemoraBin + " -w " + ws(here);
  const std::string cluster = " --cluster " + etcd_->urls();
  write_text(p_.path("src/notes.txt"), "l1\nl2\nl3\nl4\nl5 by a human\n");  // changed on disk since

  auto diff = shell(remora_here + " diff --stat" + cluster + " 2>&1");
  EXPECT_EQ(diff.code, 0) << diff.out;
  EXPECT_NE(diff.out.find("pulled 3 agents from the cluster"), std::string::npos) << diff.out;  // all but its own
  for (const char* f : {"notes.txt", "out/edit-2.txt", "out/scan-a.txt", "out/scan-b.txt"})
    EXPECT_NE(diff.out.find(f), std::string::npos) << f << " in\n" << diff.out;

  auto accept = shell(remora_here + " accept --all --json" + cluster + " 2>&1");
  EXPECT_EQ(accept.code, 0) << accept.out;
  EXPECT_EQ(accept.out.find("pulled"), std::string::npos) << "pulled twice:\n" << accept.out;
  EXPECT_EQ(read_text(p_.path("src/notes.txt")), "l1 edited\nl2\nl3\nl4\nl5 by a human\n");  // merged
  for (const char* id : {"edit-2", "scan-a", "scan-b"})
    EXPECT_EQ(read_text(p_.path(std::string("src/out/") + id + ".txt")), "scanned") << id;

  auto status = shell(remora_here + " status --json");
  ASSERT_EQ(status.code, 0) << status.out;
  std::map<std::string, std::string> review;
  const auto st = nlohmann::json::parse(status.out);
  for (auto& a : st.at("agents")) {
    review[a.value("id", "")] = a.value("review", "");
    EXPECT_FALSE(a.at("result").is_null()) << a;  // a remote agent's summary came with it
  }
  EXPECT_EQ(review, (std::map<std::string, std::string>{
                        {"edit-1", "accepted"}, {"edit-2", "accepted"}, {"scan-a", "accepted"}, {"scan-b", "accepted"}}));

  // A record in etcd that does not decode is refused, naming its key; nothing is pulled.
  client_->put(ckeys::review("reviewed", "ghost"), R"({"parts": 1, "bytes": 3})");
  client_->put("/remora/review/reviewed/part/ghost/0", "bad");
  auto bad = shell(kRemoraBin + " -w " + ws(editor) + " status" + cluster + " 2>&1");
  EXPECT_NE(bad.code, 0) << bad.out;
  EXPECT_NE(bad.out.find("/remora/review/reviewed/agent/ghost"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace remora::test
