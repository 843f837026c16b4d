// The agent's own channels: ask_user (the human), send_message / get_messages (other agents of
// the graph), kv_get / kv_put (its key-value store) and submit_result (its result, ending the loop).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "shared/bounded_json.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "worker/builtin_tools.hpp"
#include "worker/project_path.hpp"

namespace remora::worker {
namespace {

using nlohmann::json;

ToolResult ask_user(const json& args, ToolContext& ctx) {
  proto::Question q;
  q.id = ctx.call_id();  // stable across restarts: a re-run call finds the answer given meanwhile
  q.agent_id = ctx.agent_id();
  q.question = args.at("question").get<std::string>();
  q.options = args.value("options", std::vector<std::string>{});
  if (args.contains("default")) q.default_answer = args["default"].get<std::string>();
  q.timeout_s = args.value("timeout", q.timeout_s);
  q.created_at_ms = now_ms();
  if (q.default_answer && !q.options.empty() && std::ranges::count(q.options, *q.default_answer) == 0)
    refuse(fmt::format("default '{}' is not one of the options", *q.default_answer));
  return {true, json(ctx.ask(q))};  // the answer as plain text
}

ToolResult send_message(const json& args, ToolContext& ctx) {
  const auto to = args.at("agent").get<std::string>();
  if (to == ctx.agent_id()) refuse("that is this agent itself; send_message is for the other agents of the graph");
  std::vector<std::string> agents;
  for (const auto& k : ctx.keys(std::string(keys::kRunAgent))) agents.push_back(k.substr(keys::kRunAgent.size()));
  for (const auto& k : ctx.keys(std::string(keys::kRunPeer))) agents.push_back(k.substr(keys::kRunPeer.size()));
  std::ranges::sort(agents);
  if (std::ranges::count(agents, to) == 0)
    refuse(fmt::format("no agent '{}' in this graph (agents: {})", to, fmt::join(agents, ", ")));
  proto::Message m{ctx.call_id(), ctx.agent_id(), to, args.at("payload").dump(), now_ms()};
  ctx.put(keys::outbox_message(m.id), proto::encode(m));
  return {true, json{{"sent", m.id}, {"to", to}}};
}

ToolResult get_messages(const json&, ToolContext& ctx) {
  std::vector<proto::Message> messages;
  for (const auto& key : ctx.keys(keys::agent_inbox(ctx.agent_id(), "")))
    if (auto bytes = ctx.get(key)) messages.push_back(proto::decode<proto::Message>(*bytes, key));
  std::ranges::stable_sort(messages, {}, &proto::Message::sent_at_ms);  // keys are in id order already
  json out = json::array();
  for (const auto& m : messages)
    out.push_back({{"id", m.id}, {"from", m.from_agent}, {"payload", parse_bounded(m.payload_json, "message " + m.id, kRecordJsonLimits)}, {"sent_at_ms", m.sent_at_ms}});
  return {true, json{{"messages", std::move(out)}}};
}

std::string kv_key(ToolContext& ctx, const json& args) {
  const auto& k = args.at("key").get_ref<const std::string&>();
  if (k.find('\0') != std::string::npos) refuse("key contains a NUL byte");
  auto key = keys::agent_kv(ctx.agent_id(), k);
  if (key.size() > keys::kMaxKeyBytes)
    refuse(fmt::format("key is {} bytes long; the limit is {}", k.size(), keys::kMaxKeyBytes - (key.size() - k.size())));
  return key;
}

ToolResult kv_get(const json& args, ToolContext& ctx) {
  const auto key = kv_key(ctx, args);
  auto bytes = ctx.get(key);
  json out{{"key", args.at("key")}, {"found", bytes.has_value()}};
  if (bytes) out["value"] = parse_bounded(proto::decode<proto::JsonValue>(*bytes, key).json, key, kRecordJsonLimits);
  return {true, out};
}

ToolResult kv_put(const json& args, ToolContext& ctx) {
  ctx.put(kv_key(ctx, args), proto::encode(proto::JsonValue{args.at("value").dump()}));
  return {true, json{{"stored", args.at("key")}}};
}

ToolResult submit_result(const json& args, ToolContext&) {
  json changed = json::array();
  for (const auto& p : args.value("changed_files", json::array())) changed.push_back(project_path(p.get<std::string>(), "changed_files"));
  return {true,
          json{{"summary", args.at("summary")}, {"changed_files", std::move(changed)}, {"status", args.value("status", "completed")}},
          true};
}

}  // namespace

Tools agent_tools() {
  Tools t;
  t.push_back(std::make_unique<FunctionTool>("ask_user",
      "Ask the human a question and wait for the answer. Offer options when the answer is a choice.",
      R"json({"type": "object", "additionalProperties": false, "required": ["question"], "properties": {
        "question": {"type": "string", "minLength": 1, "description": "The question, complete enough to answer without context"},
        "options": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Answers to choose from"},
        "default": {"type": "string", "description": "The answer taken if the human does not reply in time (one of the options)"},
        "timeout": {"type": "number", "minimum": 1, "description": "Seconds to wait for the human; default 300"}}})json",
      ask_user));
  t.push_back(std::make_unique<FunctionTool>("send_message",
      "Send a JSON message to another agent of this graph; it reads it with get_messages.",
      R"json({"type": "object", "additionalProperties": false, "required": ["agent", "payload"], "properties": {
        "agent": {"type": "string", "minLength": 1, "description": "Id of the receiving agent"},
        "payload": {"description": "Any JSON value"}}})json",
      send_message));
  t.push_back(std::make_unique<FunctionTool>("get_messages",
      "Read every message other agents have sent to this agent, oldest first.",
      R"json({"type": "object", "additionalProperties": false, "properties": {}})json", get_messages));
  t.push_back(std::make_unique<FunctionTool>("kv_get", "Read a value this agent stored with kv_put.",
      R"json({"type": "object", "additionalProperties": false, "required": ["key"], "properties": {
        "key": {"type": "string", "minLength": 1}}})json",
      kv_get));
  t.push_back(std::make_unique<FunctionTool>("kv_put",
      "Store a JSON value under a key, private to this agent and kept across restarts.",
      R"json({"type": "object", "additionalProperties": false, "required": ["key", "value"], "properties": {
        "key": {"type": "string", "minLength": 1},
        "value": {"description": "Any JSON value"}}})json",
      kv_put));
  t.push_back(std::make_unique<FunctionTool>("submit_result",
      "Finish the task: report what was done. Call it once, last; nothing runs after it.",
      R"json({"type": "object", "additionalProperties": false, "required": ["summary"], "properties": {
        "summary": {"type": "string", "description": "What was done, in a few sentences"},
        "changed_files": {"type": "array", "items": {"type": "string"}, "description": "Paths of the files changed"},
        "status": {"type": "string", "enum": ["completed", "failed"], "description": "failed if the task could not be done; default completed"}}})json",
      submit_result));
  return t;
}

}  // namespace remora::worker
