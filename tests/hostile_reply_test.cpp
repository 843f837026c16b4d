// A hostile model server (a real one on 127.0.0.1) against the whole of remora: `remora run` with
// real workers in their strict sandbox. Replies nesting 100k deep, as the reply itself, inside a
// `<tool_call>` block or inside a call's arguments string, and a reply over the bundle's size
// limit: the supervisor and the workers survive, the agent concerned fails with a reason naming the
// limit (or its tool call gets an error result naming it), and the rest of the graph completes;
// tool calls whose fields have the wrong types are those calls' errors.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "chat_server.hpp"
#include "graph_project.hpp"

namespace remora {
namespace {

using nlohmann::json;
using test::ChatAction;
using test::ChatServer;
using test::GraphProject;
using test::chat_turn;
using test::tool_call;

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string bundle_body(const std::string& base_url, const std::string& extra_model = "") {
  return "description: talks to a hostile server\nsystem_prompt: s\nuser_prompt: \"agent {agent}\"\n"
         "model: {provider: openai, model: m, base_url: \"" + base_url + "\", retries: 0, timeout: 30" +
         extra_model + "}\nmax_turns: 3\ntools: [kv_put, submit_result]\n";
}

TEST(HostileReply, DeepNestingAndOversizedRepliesFailOnlyTheirAgentNamingTheLimit) {
  std::mutex mu;
  std::map<std::string, std::string> tool_results;  // agent -> the content of its first tool result
  ChatServer server([&](const json& req, int) -> ChatAction {
    const auto t = chat_turn(req);
    if (t.turn == 2) {
      std::lock_guard lk(mu);
      tool_results[t.agent] = req.at("messages").back().value("content", "");
      return ChatAction::tool_calls({tool_call("c1", "submit_result", {{"summary", "saw the error"}})});
    }
    if (t.agent == "deep")  // ~200 KB: tool_calls nesting arrays 100k deep
      return ChatAction::raw(R"({"choices": [{"message": {"role": "assistant", "tool_calls": )" + nested(100000) +
                             "}}]}");
    if (t.agent == "deep-tag")
      return ChatAction::text("<tool_call>{\"name\": \"kv_put\", \"arguments\": " + nested(100000) + "}</tool_call>");
    if (t.agent == "deep-args")
      return ChatAction::tool_calls({{{"id", "c0"},
                                      {"type", "function"},
                                      {"function", {{"name", "kv_put"}, {"arguments", nested(100000)}}}}});
    if (t.agent == "huge") return ChatAction::text(std::string(2u << 20, 'x'));
    if (t.agent == "ill-typed")  // a call that is no object; an id and a name of the wrong types
      return ChatAction::raw(R"({"choices": [{"message": {"role": "assistant", "tool_calls": )"
                             R"([5, {"id": 7, "function": {"name": {"x": 1}, "arguments": "{}"}}]}}]})");
    if (t.agent == "ill-typed-tag") return ChatAction::text(R"(<tool_call>{"name": {"path": "a.py"}}</tool_call>)");
    return ChatAction::tool_calls({tool_call("c0", "submit_result", {{"summary", "fine"}})});
  });
  GraphProject p;
  p.bundle("hostile", bundle_body(server.base_url()), "agent");
  p.bundle("small", bundle_body(server.base_url(), ", max_reply_mb: 1"), "agent");
  p.graph("config: {error_policy: continue, restart: {policy: temporary}}\nagents:\n"
          "  - {id: deep, bundle: hostile}\n  - {id: deep-tag, bundle: hostile}\n"
          "  - {id: deep-args, bundle: hostile}\n  - {id: huge, bundle: small}\n"
          "  - {id: ill-typed, bundle: hostile}\n  - {id: ill-typed-tag, bundle: hostile}\n"
          "  - {id: fine, bundle: hostile}\n  - {id: after, bundle: hostile, after: [fine]}\n");
  const int code = p.run_to_end();
  EXPECT_EQ(code, 1) << "failed agents, and no signal: " << p.output().substr(0, 3000);
  auto agents = p.agents();

  EXPECT_EQ(agents.at("deep").at("state"), "failed");
  const auto deep = agents.at("deep").at("reason").get<std::string>();
  EXPECT_NE(deep.find("the reply nests deeper than 64 levels (model.max_json_depth)"), std::string::npos) << deep;
  EXPECT_EQ(agents.at("deep").at("restarts"), 0);

  EXPECT_EQ(agents.at("huge").at("state"), "failed");
  const auto huge = agents.at("huge").at("reason").get<std::string>();
  EXPECT_NE(huge.find("the reply is over the limit of 1048576 bytes (model.max_reply_mb)"), std::string::npos) << huge;

  // A deep call in text or in an arguments string is that call's error: the worker lives on and
  // the model sees why.
  for (const char* id : {"deep-tag", "deep-args"}) {
    EXPECT_EQ(agents.at(id).at("state"), "completed") << id << ": " << agents.at(id).dump();
    std::lock_guard lk(mu);
    EXPECT_NE(tool_results[id].find("nests deeper than 64 levels"), std::string::npos) << id << ": " << tool_results[id];
  }
  EXPECT_NE(tool_results["deep-tag"].find("a <tool_call> block"), std::string::npos) << tool_results["deep-tag"];
  EXPECT_NE(tool_results["deep-args"].find("the arguments"), std::string::npos) << tool_results["deep-args"];

  // Fields of the wrong type are the calls' errors too (json::value() used to throw on them).
  for (const char* id : {"ill-typed", "ill-typed-tag"}) {
    EXPECT_EQ(agents.at(id).at("state"), "completed") << id << ": " << agents.at(id).dump();
    std::lock_guard lk(mu);
    EXPECT_FALSE(tool_results[id].empty()) << id;
  }

  EXPECT_EQ(agents.at("fine").at("state"), "completed");
  EXPECT_EQ(agents.at("after").at("state"), "completed");
}

TEST(HostileReply, ABundleMayNotRaiseTheDepthPastWhatRecordsHold) {
  GraphProject p;
  p.bundle("deep", bundle_body("http://127.0.0.1:9/v1", ", max_json_depth: 201"), "agent");
  p.graph("agents:\n  - {id: a, bundle: deep}\n");
  EXPECT_EQ(p.run_to_end(), 2);
  EXPECT_NE(p.output().find("model.max_json_depth: must be <= 200"), std::string::npos) << p.output();
}

}  // namespace
}  // namespace remora
