// The agent kernel end to end, with real processes: `remora run` drives real remora-worker
// processes in their (default, strict) sandbox, whose model is a real OpenAI-compatible server on
// 127.0.0.1 (ChatServer, started by the test, counting every request by its X-Request-Id). Shown:
// tool calls round-trip through the workspace and the gateway; a worker SIGKILLed while its
// request is at the server, after a model response before its tool calls, and between two tool
// calls resumes and ends exactly like an agent that was never killed, with one request per turn
// reaching the server; replies without tool calls, malformed replies and max_turns end an agent
// as they should; bad bundles are refused naming file and field; the bundled example runs end to
// end with its question answered through `remora answer`, then is accepted onto disk.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "chat_server.hpp"
#include "proto/keyspace.hpp"
#include "graph_project.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using test::ChatAction;
using test::ChatServer;
using test::GraphProject;
using test::chat_turn;
using test::shell;
using test::tool_call;

const std::string kRemora = REMORA_BIN;

// An agent bundle whose model is the server at base_url.
std::string agent_bundle(const std::string& base_url, const std::string& tools, int max_turns = 4) {
  return "description: does what the test's server says\n"
         "system_prompt: You edit files as asked.\n"
         "user_prompt: \"agent {agent}\"\n"
         "model: {provider: openai, model: test-model, base_url: \"" + base_url + "\", retries: 1, timeout: 30}\n"
         "max_turns: " + std::to_string(max_turns) + "\ntools: " + tools + "\n";
}

std::map<std::string, json> results(const GraphProject& p) {
  std::map<std::string, json> out;
  for (auto& [id, a] : p.agents()) out[id] = a.at("result");
  return out;
}

// What an agent ended with, without what differs between two runs of it (durations).
json comparable(json result) {
  if (result.is_object()) result.erase("duration_ms");
  return result;
}

// A graph of agents, each killed or not, that all end the same way: the killed ones must end
// exactly like their twins.
TEST(Kernel, AWorkerKilledAtEachCommitOfATurnResumesWithOneRequestPerTurn) {
  std::promise<void> arrived, release;
  auto released = release.get_future().share();
  std::atomic<int> inflight_calls{0};
  ChatServer server([&](const json& req, int) -> ChatAction {
    const auto t = chat_turn(req);
    const std::string kind = t.agent.substr(0, t.agent.find('-'));
    const json ask = {{"question", "go on, " + t.agent + "?"}, {"options", {"yes", "no"}}, {"timeout", 600}};
    const json write = {{"path", "out.txt"}, {"content", "written by the " + kind + " kind"}};
    if (t.turn == 2)
      return ChatAction::tool_calls({tool_call(
          "c9", "submit_result", {{"summary", kind + " answered '" + t.answer + "'"}, {"changed_files", {"out.txt"}}})});
    if (kind == "first")
      return ChatAction::tool_calls({tool_call("c0", "ask_user", ask), tool_call("c1", "write_file", write)});
    if (kind == "between")
      return ChatAction::tool_calls({tool_call("c0", "write_file", write), tool_call("c1", "ask_user", ask)});
    if (t.agent == "inflight-k" && inflight_calls++ == 0) {  // held at the server while its worker is killed
      arrived.set_value();
      released.wait_for(60s);
    }
    // The text fallback: a <tool_call> block in the content, as some servers send them.
    return ChatAction::message(
        {{"role", "assistant"},
         {"content", "Writing it.\n<tool_call>" + json{{"name", "write_file"}, {"arguments", write}}.dump() + "</tool_call>"}});
  });

  GraphProject p;
  p.bundle("editor", agent_bundle(server.base_url(), "[write_file, ask_user, submit_result]"), "agent");
  const std::vector<std::string> kinds{"first", "between", "inflight"};
  std::string g = "config:\n  heartbeat: {interval: 0.05}\n  restart: {backoff_initial: 0}\nagents:\n";
  for (const auto& k : kinds)
    for (const char* twin : {"-k", "-c"}) g += "  - {id: " + k + twin + ", bundle: editor}\n";
  p.graph(g);
  p.start();

  // Drive the run from its event log: answer every question; kill the "-k" agents' workers once.
  std::set<std::string> killed;
  auto kill_worker = [&](const std::string& agent) {
    long pid = p.worker_pid(agent);
    ASSERT_EQ(::kill(static_cast<pid_t>(pid), SIGKILL), 0);
    ASSERT_TRUE(test::wait_exit(pid, 30000)) << agent;
    killed.insert(agent);
  };
  std::map<std::string, std::string> asked;  // question id -> agent
  auto arrived_f = arrived.get_future();
  for (bool done = false; !done;) {
    auto e = p.next_event();
    const auto name = e.category + ":" + e.action;
    const auto payload = json::parse(e.payload_json);
    if (name == "graph:completed" || name == "graph:failed") done = true;
    if (name == "model:request" && e.agent_id == "inflight-k" && !killed.count(e.agent_id)) {
      ASSERT_EQ(arrived_f.wait_for(60s), std::future_status::ready);
      kill_worker(e.agent_id);  // its request is at the server, unanswered
      release.set_value();
    }
    if (name == "agent:blocked") {
      const auto qid = payload.at("question_id").get<std::string>();
      if (asked.count(qid)) continue;  // asked again by the restarted worker: answered already
      asked[qid] = e.agent_id;
      if (e.agent_id.ends_with("-k") && !killed.count(e.agent_id)) kill_worker(e.agent_id);  // blocked in ask_user
      auto r = shell(kRemora + " -w " + p.ws() + " answer " + qid + " yes");
      ASSERT_EQ(r.code, 0) << r.out;
    }
  }
  ASSERT_EQ(p.wait(), 0) << p.output().substr(0, 3000);
  EXPECT_EQ(killed, (std::set<std::string>{"first-k", "between-k", "inflight-k"}));
  // ask_user is call 0 of "first" (killed before any tool result), call 1 of "between" (after one).
  EXPECT_EQ(asked.at("first-k.t1.c0"), "first-k");
  EXPECT_EQ(asked.at("between-k.t1.c1"), "between-k");

  auto agents = p.agents();
  auto res = results(p);
  auto started = p.started();
  for (const auto& k : kinds) {
    SCOPED_TRACE(k);
    const auto& killed_r = res.at(k + "-k");
    const auto& twin_r = res.at(k + "-c");
    EXPECT_EQ(agents.at(k + "-k").at("state"), "completed");
    EXPECT_EQ(agents.at(k + "-k").at("restarts"), 1);
    EXPECT_EQ(agents.at(k + "-c").at("restarts"), 0);
    EXPECT_EQ(comparable(killed_r), comparable(twin_r));
    EXPECT_EQ(killed_r.at("turns"), 2);
    EXPECT_EQ(killed_r.at("prompt_tokens"), 22);  // ChatServer's usage: 11 + 7 per reply, counted once
    EXPECT_EQ(killed_r.at("completion_tokens"), 14);
    EXPECT_EQ(killed_r.at("summary"), k + " answered '" + (k == "inflight" ? "" : "yes") + "'");
    EXPECT_EQ(p.overlay_file(k + "-k", "out.txt"), "written by the " + k + " kind");
    EXPECT_EQ(p.overlay_file(k + "-k", "out.txt"), p.overlay_file(k + "-c", "out.txt"));
    // Every turn of every agent reached the server exactly once, killed or not.
    for (const char* twin : {"-k", "-c"})
      for (int turn : {1, 2}) {
        const auto id = fmt::format("{}{}.t{}", k, twin, turn);
        EXPECT_EQ(server.count_with_header("x-request-id", id), 1u) << id;
      }
    // The gateway served workers that were strictly sandboxed (no network of their own).
    EXPECT_EQ(started.at(k + "-k").at("level"), "strict");
    EXPECT_TRUE(started.at(k + "-k").at("skipped").empty()) << started.at(k + "-k").dump();
  }
  EXPECT_EQ(server.request_count(), 12u);
  // The graph's token usage: every reply counted once (11 + 7 per reply, 12 replies).
  auto status = json::parse(shell(kRemora + " -w " + p.ws() + " status --json").out);
  EXPECT_EQ(status.at("prompt_tokens"), 132);
  EXPECT_EQ(status.at("completion_tokens"), 84);
  auto text = shell(kRemora + " -w " + p.ws() + " status").out;
  EXPECT_NE(text.find("completed, "), std::string::npos) << text;
  EXPECT_NE(text.find(", 216 tokens (132 prompt, 84 completion)"), std::string::npos) << text;
}

// How an agent ends when the model does not play along: a reply with no tool calls completes it
// with the reply as its summary; a malformed reply fails it naming the problem (not retried); a
// model that never calls the termination tool fails it at max_turns; a call with bad arguments is
// an error result the model sees, not a crash.
TEST(Kernel, RepliesWithoutToolCallsMalformedRepliesAndMaxTurnsEndTheAgentClearly) {
  std::mutex mu;
  std::map<std::string, json> seen_tool_errors;
  ChatServer server([&](const json& req, int) -> ChatAction {
    const auto t = chat_turn(req);
    if (t.agent == "chatty") return ChatAction::text("Nothing to change here.");
    if (t.agent == "malformed") return ChatAction::raw(R"({"id": "x", "choices": []})");
    if (t.agent == "looping") {
      const auto& last = req.at("messages").back();
      if (last.value("role", "") == "tool") {
        std::lock_guard lk(mu);
        seen_tool_errors[std::to_string(t.turn)] = last;
      }
      // write_file without its content: an error result, every turn.
      return ChatAction::tool_calls({tool_call("c0", "write_file", {{"path", "x.txt"}, {"contents", 3}})});
    }
    return ChatAction::error(400, "unexpected agent " + t.agent);
  });
  GraphProject p;
  p.bundle("editor", agent_bundle(server.base_url(), "[write_file, submit_result]", 3), "agent");
  p.graph("config: {error_policy: continue, restart: {policy: temporary}}\n"
          "agents:\n  - {id: chatty, bundle: editor}\n  - {id: malformed, bundle: editor}\n"
          "  - {id: looping, bundle: editor}\n");
  EXPECT_EQ(p.run_to_end(), 1) << p.output().substr(0, 3000);
  auto agents = p.agents();
  EXPECT_EQ(agents.at("chatty").at("state"), "completed");
  EXPECT_EQ(agents.at("chatty").at("result").at("summary"), "Nothing to change here.");
  EXPECT_EQ(agents.at("chatty").at("result").at("turns"), 1);

  EXPECT_EQ(agents.at("malformed").at("state"), "failed");
  const auto reason = agents.at("malformed").at("reason").get<std::string>();
  EXPECT_NE(reason.find("model call failed: malformed reply from " + server.base_url() + "/chat/completions"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("\"choices\""), std::string::npos) << reason;
  EXPECT_EQ(server.count_with_header("x-request-id", "malformed.t1"), 1u) << "a malformed reply is not retried";
  EXPECT_EQ(agents.at("malformed").at("restarts"), 0);

  EXPECT_EQ(agents.at("looping").at("state"), "failed");
  EXPECT_EQ(agents.at("looping").at("reason"), "error: reached max_turns (3) without calling submit_result");
  EXPECT_EQ(agents.at("looping").at("result").at("turns"), 3);
  std::lock_guard lk(mu);
  ASSERT_EQ(seen_tool_errors.size(), 2u);  // turns 2 and 3 carry turn 1's and 2's error results
  const auto content = seen_tool_errors.at("2").value("content", "");
  EXPECT_NE(content.find("content"), std::string::npos) << content;  // names the missing argument
  EXPECT_NE(content.find("contents"), std::string::npos) << content;  // and the unknown one
  EXPECT_FALSE(seen_tool_errors.at("2").contains("_remora")) << "the kernel's bookkeeping is not sent";
}

// A turn's model request names how many messages it covers; the supervisor reads only the new
// ones: the request record stays the same size however long the conversation, and the server
// still gets the whole conversation, in order, every turn.
TEST(Kernel, ATurnsRequestRecordDoesNotGrowWithTheConversation) {
  constexpr int kTurns = 40;
  const std::string value(1000, 'v');  // each tool call adds a kilobyte to the conversation
  ChatServer server([&](const json& req, int) -> ChatAction {
    const auto t = chat_turn(req);
    if (t.turn > kTurns) return ChatAction::tool_calls({tool_call("s", "submit_result", {{"summary", "done"}})});
    return ChatAction::tool_calls(
        {tool_call("c" + std::to_string(t.turn), "kv_put", {{"key", "k" + std::to_string(t.turn)}, {"value", value}})});
  });
  GraphProject p;
  p.bundle("long", agent_bundle(server.base_url(), "[kv_put, submit_result]", kTurns + 1), "agent");
  p.graph("agents:\n  - {id: talker, bundle: long}\n");
  ASSERT_EQ(p.run_to_end(), 0) << p.output().substr(0, 3000);

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), static_cast<std::size_t>(kTurns + 1));
  std::sort(requests.begin(), requests.end(), [](const auto& a, const auto& b) {
    return a.body.at("messages").size() < b.body.at("messages").size();
  });
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& messages = requests[i].body.at("messages");
    ASSERT_EQ(messages.size(), 2 + 2 * i) << "turn " << i + 1;  // system, user, then a reply and a result a turn
    if (i > 0) {  // the conversation only grows: each turn's messages start with the last turn's
      const auto& before = requests[i - 1].body.at("messages");
      for (std::size_t m = 0; m < before.size(); ++m) ASSERT_EQ(messages[m], before[m]) << "turn " << i + 1;
      EXPECT_EQ(messages.back().value("role", ""), "tool");
      EXPECT_FALSE(messages.back().contains("_remora")) << "the kernel's bookkeeping is not sent";
    }
  }

  auto& ws = p.open();
  const auto ns = ws.ns(p.agent("talker").ns);
  std::size_t smallest = SIZE_MAX, largest = 0;
  for (auto& [key, e] : ws.list(ns, std::string(keys::kModelRequest))) {
    smallest = std::min(smallest, e.value.size());
    largest = std::max(largest, e.value.size());
  }
  ASSERT_GT(largest, 0u);
  EXPECT_LT(largest - smallest, 16u) << "request records of " << smallest << " to " << largest
                                     << " bytes over a conversation of 40 kilobytes";

  // A turn is two commits (the reply with its call's result, then the next request with the last
  // call's), each writing the kernel's state once.
  std::map<std::uint64_t, int> state_writes;  // revision -> puts of agent:talker:kernel
  for (const auto& c : ws.changes(1, keys::kernel_state("talker")).changes) ++state_writes[c.revision];
  ASSERT_GE(state_writes.size(), static_cast<std::size_t>(kTurns));
  for (const auto& [rev, n] : state_writes) EXPECT_EQ(n, 1) << "revision " << rev;
}

// Each kind of bad bundle is refused before anything runs (exit 2), its message naming the file
// and the field; every problem of a file is reported, not just the first.
TEST(Kernel, BadBundlesAreRefusedNamingTheFileAndTheField) {
  GraphProject p;
  const std::string model = "model: {provider: scripted}\n";
  struct Case {
    std::string name, body;
    std::vector<std::string> messages;
  } cases[] = {
      {"missing", "description: no prompts\n" + model + "tools: [submit_result]\n",
       {"bundles/missing/bundle.yaml: system_prompt: required", "bundles/missing/bundle.yaml: user_prompt: required"}},
      {"unknown_tool", "system_prompt: s\nuser_prompt: u\n" + model + "tools: [read_file, teleport, submit_result]\n",
       {"bundles/unknown_tool/bundle.yaml: tools: unknown tool 'teleport'"}},
      {"bad_template", "system_prompt: \"fix {pth}\"\nuser_prompt: \"in {path\"\n" + model + "tools: [submit_result]\n",
       {"bundles/bad_template/bundle.yaml: system_prompt: unknown placeholder '{pth}'",
        "bundles/bad_template/bundle.yaml: user_prompt: unclosed '{' at offset 3"}},
      {"bad_schema",
       "system_prompt: s\nuser_prompt: u\n" + model + "tools: [fmt, submit_result]\n"
       "command_tools:\n  - name: fmt\n    description: formats\n    parameters: {type: objekt}\n"
       "    command: [true]\n",
       {"bundles/bad_schema/bundle.yaml: command_tools[0].parameters"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    p.bundle(c.name, c.body, "agent");
    p.graph("agents:\n  - {id: a, bundle: " + c.name + "}\n");
    auto r = shell("cd " + p.path("").string() + " && " + kRemora + " -w ws run graph.yaml");
    EXPECT_EQ(r.code, 2) << r.out;
    for (const auto& m : c.messages) EXPECT_NE(r.out.find(m), std::string::npos) << "want: " << m << "\ngot: " << r.out;
    EXPECT_NE(shell(kRemora + " -w " + p.ws() + " status").code, 0) << "nothing ran";
  }
  // A key the bundle names must be in the supervisor's environment before anything starts.
  p.bundle("keyed", "system_prompt: s\nuser_prompt: u\nmodel: {provider: openai, model: m, api_key_env: REMORA_TEST_UNSET_KEY}\n"
                    "tools: [submit_result]\n", "agent");
  p.graph("agents:\n  - {id: a, bundle: keyed}\n");
  auto r = shell("cd " + p.path("").string() + " && env -u REMORA_TEST_UNSET_KEY " + kRemora + " -w ws run graph.yaml");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("bundle keyed: model.api_key_env names the environment variable REMORA_TEST_UNSET_KEY, which "
                       "is not set in the supervisor's environment"),
            std::string::npos)
      << r.out;
}

// The README's main job, in a test: docstring and lint over a copy of the sample project, with the
// scripted provider; each docstring question is answered (numpy) through `remora answer`; the
// overlays hold the expected edits; `remora accept --all` writes them to disk.
TEST(Kernel, TheBundledExampleRunsEndToEnd) {
  test::TempDir dir;
  const auto project = dir / "project";
  fs::copy(REMORA_EXAMPLES "/sample_project", project, fs::copy_options::recursive);
  GraphProject p;  // for its workspace and event log
  p.start_cmd({"run", project.string(), "--bundles-dir", REMORA_EXAMPLES "/bundles", "--bundle", "docstring",
               "--bundle", "lint", "--after", "docstring:lint", "--json"});
  std::map<std::string, std::string> asked;  // question id -> agent
  for (bool done = false; !done;) {
    auto e = p.next_event();
    const auto name = e.category + ":" + e.action;
    done = name == "graph:completed" || name == "graph:failed";
    if (name != "agent:blocked") continue;
    const auto payload = json::parse(e.payload_json);
    const auto qid = payload.at("question_id").get<std::string>();
    EXPECT_FALSE(asked.count(qid)) << qid << " asked twice";
    asked[qid] = e.agent_id;
    EXPECT_EQ(payload.at("options"), json({"google", "numpy", "sphinx"}));
    auto r = shell(kRemora + " -w " + p.ws() + " answer " + qid + " numpy");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  ASSERT_EQ(p.wait(), 0) << p.output().substr(0, 3000);
  std::set<std::string> asking;
  for (auto& [q, a] : asked) asking.insert(a);
  EXPECT_EQ(asking, (std::set<std::string>{"docstring.greet.py", "docstring.legacy.py", "docstring.shapes.py"}));

  auto agents = p.agents();
  EXPECT_EQ(agents.size(), 6u);
  for (auto& [id, a] : agents) EXPECT_EQ(a.at("state"), "completed") << id << " " << a.dump();
  const auto shapes = p.overlay_file("docstring.shapes.py", "shapes.py").value_or("");
  EXPECT_NE(shapes.find("    def area(self):\n        \"\"\""), std::string::npos) << shapes;
  EXPECT_NE(shapes.find("Parameters\n    ----------\n    shapes\n"), std::string::npos) << shapes;
  EXPECT_NE(shapes.find("\"\"\"Whether this is the unit circle.\"\"\""), std::string::npos) << "kept: " << shapes;
  const auto legacy = p.overlay_file("lint.legacy.py", "legacy.py").value_or("");
  EXPECT_NE(legacy.find("if key is None:"), std::string::npos) << legacy;
  EXPECT_EQ(legacy.find('\t'), std::string::npos) << legacy;
  EXPECT_EQ(legacy.find("  \n"), std::string::npos) << legacy;
  EXPECT_NE(agents.at("lint.legacy.py").at("result").at("summary").get<std::string>().find("fixed"), std::string::npos)
      << agents.at("lint.legacy.py").dump();
  // Nothing on disk until accepted.
  EXPECT_EQ(test::read_text(project / "legacy.py"), test::read_text(REMORA_EXAMPLES "/sample_project/legacy.py"));
  p.close();
  auto r = shell(kRemora + " -w " + p.ws() + " accept --all");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto on_disk = test::read_text(project / "legacy.py");
  EXPECT_NE(on_disk.find("if key is None:"), std::string::npos) << on_disk;
  EXPECT_NE(on_disk.find("Parameters\n    ----------"), std::string::npos) << "docstring then lint: " << on_disk;
}

// examples/bundles-openai: the same bundles driven by a model server. Here the test's server plays
// the model for lint over the sample project's legacy.py: check, fix, submit.
TEST(Kernel, TheOpenAiExampleBundlesRunAgainstAServer) {
  ChatServer server([&](const json& req, int) -> ChatAction {
    int turn = 1;
    std::string path;  // the user prompt is "Check {path}.\n"
    for (const auto& m : req.at("messages")) {
      turn += m.value("role", "") == "assistant";
      if (m.value("role", "") == "user") path = m.value("content", "").substr(6, m.value("content", "").find(".\n") - 6);
    }
    if (turn == 1) return ChatAction::tool_calls({tool_call("a", "check_style", {{"path", path}})});
    if (turn == 2) return ChatAction::tool_calls({tool_call("b", "fix_style", {{"path", path}})});
    return ChatAction::tool_calls({tool_call("c", "submit_result", {{"summary", "fixed " + path}, {"changed_files", {path}}})});
  });
  test::TempDir dir;
  fs::copy(REMORA_EXAMPLES "/bundles-openai", dir / "bundles", fs::copy_options::recursive);  // follows tools/
  fs::copy(REMORA_EXAMPLES "/sample_project", dir / "project", fs::copy_options::recursive);
  for (const char* name : {"docstring", "lint"}) {
    auto text = test::read_text(dir / "bundles" / name / "bundle.yaml");
    const std::string from = "base_url: http://localhost:8000/v1";
    ASSERT_NE(text.find(from), std::string::npos) << name;
    text.replace(text.find(from), from.size(), "base_url: " + server.base_url());
    test::write_text(dir / "bundles" / name / "bundle.yaml", text);
  }
  GraphProject p;
  p.start_cmd({"run", (dir / "project").string(), "--bundles-dir", (dir / "bundles").string(), "--bundle", "lint",
               "--json"});
  for (bool done = false; !done;) {
    auto e = p.next_event();
    done = e.category == "graph" && (e.action == "completed" || e.action == "failed");
  }
  EXPECT_EQ(p.wait(), 0) << p.output().substr(0, 3000);
  auto agents = p.agents();
  ASSERT_EQ(agents.size(), 3u) << p.output().substr(0, 3000);
  EXPECT_EQ(server.request_count(), 9u);
  EXPECT_EQ(agents.at("lint.legacy.py").at("state"), "completed") << agents.at("lint.legacy.py").dump();
  EXPECT_EQ(agents.at("lint.legacy.py").at("result").at("turns"), 3);
  EXPECT_NE(p.overlay_file("lint.legacy.py", "legacy.py").value_or("").find("if key is None:"), std::string::npos);
  EXPECT_EQ(agents.at("lint.legacy.py").at("result").at("summary"), "fixed legacy.py");
  const auto first = server.requests().at(0).body;
  EXPECT_EQ(first.at("model"), "Qwen/Qwen2.5-Coder-7B-Instruct");
  std::set<std::string> tools;
  for (const auto& t : first.at("tools")) tools.insert(t.at("function").at("name").get<std::string>());
  EXPECT_TRUE(tools.count("check_style") && tools.count("fix_style") && tools.count("submit_result")) << first.dump();
}

}  // namespace
}  // namespace remora
