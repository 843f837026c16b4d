#include "worker/kernel.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/bounded_json.hpp"
#include "shared/chat_message.hpp"
#include "shared/watcher.hpp"
#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "shared/node_vars.hpp"
#include "worker/inbox.hpp"
#include "worker/step_runner.hpp"
#include "worker/tool_calls.hpp"
#include "worker/tool_registry.hpp"

namespace remora::worker {
namespace {

using nlohmann::json;

// A message as JSON text. Error texts may quote a model's bytes cut mid-character: those become
// U+FFFD instead of an exception.
std::string dump_text(const json& message) { return message.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string text_of(const json& content) { return content.is_string() ? content.get<std::string>() : dump_text(content); }

}  // namespace

Kernel::Kernel(Workspace& ws, const proto::AgentState& agent, Bundle bundle, std::vector<std::unique_ptr<Tool>> tools,
               std::filesystem::path scratch_dir)
    : ws_(ws),
      agent_(agent),
      bundle_(std::move(bundle)),
      tools_(std::move(tools)),
      scratch_(std::move(scratch_dir)),
      ns_(ws.ns(agent.ns)) {}

Tool* Kernel::tool_named(const std::string& name) const {
  for (const auto& t : tools_)
    if (t->spec().name == name) return t.get();
  return nullptr;
}

const json& Kernel::last_message() const {
  static const json kNone;
  return messages_.empty() ? kNone : messages_.back();
}

// Parsed once per reply, not once per call: a reply's arguments may be megabytes, and a reply may
// hold hundreds of calls.
const std::vector<ToolCall>& Kernel::calls_of(std::size_t message_index) {
  if (calls_for_ != message_index) {
    calls_ = parse_reply(messages_.at(message_index), "", bundle_.model.json_limits()).calls;
    calls_for_ = message_index;
  }
  return calls_;
}

std::string Kernel::message_record(const json& message) { return proto::encode(proto::JsonValue{dump_text(message)}); }

int Kernel::run() {
  const auto rkey = keys::result(agent_.id);
  if (auto r = ws_.get(ns_, rkey)) {  // ended before, killed before it could exit
    auto result = proto::decode<proto::AgentResult>(r->value, rkey);
    spdlog::info("already ended: {}", result.status);
    return result.status == "completed" ? kCompleted : kFailed;
  }
  const auto skey = keys::kernel_state(agent_.id);
  if (auto e = ws_.get(ns_, skey)) {
    st_ = proto::decode<proto::KernelState>(e->value, skey);
    for (auto& [k, m] : ws_.list(ns_, keys::agent(agent_.id, "message:")))
      messages_.push_back(parse_bounded(proto::decode<proto::JsonValue>(m.value, k).json, k, kRecordJsonLimits));
    if (messages_.size() != st_.messages)
      throw Error(Errc::corrupt, fmt::format("{}: {} messages stored, the state says {}", skey, messages_.size(), st_.messages));
    spdlog::info("resuming at turn {} ({} messages, next call {})", st_.turn, st_.messages, st_.next_call);
  } else {
    start();
  }

  for (;;) {
    if (!st_.pending_request.empty()) {
      take_response();
      if (!st_.pending_request.empty()) return kFailed;  // the model call failed: result written
      continue;
    }
    const json& last = last_message();
    if (last.value("role", "") != "assistant" && last.value("role", "") != "tool") {
      request_turn();
      continue;
    }
    const std::size_t reply_at = messages_.size() - 1 - st_.next_call;
    const std::vector<ToolCall>& calls = calls_of(reply_at);
    if (calls.empty()) return finish("completed", text_of(messages_[reply_at].value("content", json(""))), "");
    if (st_.next_call > 0 && last.contains(kChatMeta) && last[kChatMeta].value("terminate", false)) {
      json args = last[kChatMeta].value("arguments", json::object());
      bool ok = args.value("status", "completed") != "failed";
      return finish(ok ? "completed" : "failed", args.value("summary", ""), ok ? "" : args.value("summary", "failed"));
    }
    if (st_.next_call < calls.size()) {
      run_call(calls[st_.next_call], st_.next_call, st_.next_call + 1 == calls.size());
      continue;
    }
    if (st_.turn >= bundle_.max_turns)
      return finish("failed", "",
                    fmt::format("reached max_turns ({}) without calling {}", bundle_.max_turns, bundle_.termination_tool));
    request_turn();
  }
}

void Kernel::start() {
  auto vars = node_vars(ws_, ns_, agent_);
  st_.started_at_ms = now_ms();
  st_.messages = 2;
  messages_ = {{{"role", "system"}, {"content", render(bundle_.system_prompt, vars)}},
               {{"role", "user"}, {"content", render(bundle_.user_prompt, vars)}}};
  ws_.write([&](WriteTxn& t) {
    t.put(ns_, keys::chat_message(agent_.id, 0), message_record(messages_[0]));
    t.put(ns_, keys::chat_message(agent_.id, 1), message_record(messages_[1]));
    t.put(ns_, keys::kernel_state(agent_.id), proto::encode(st_));
  });
}

// The request of the turn after `next`'s position, with `next` moved to it (turn counted, the
// request pending, no call made yet).
std::pair<std::string, std::string> Kernel::next_request(proto::KernelState& next) const {
  ++next.turn;
  proto::ModelRequest req;
  req.id = fmt::format("{}.t{}", agent_.id, next.turn);
  req.agent_id = agent_.id;
  req.turn = next.turn;
  req.messages = next.messages;  // the supervisor reads them where they are: the record stays small
  json tools = json::array();
  for (const auto& t : tools_) tools.push_back(t->spec().to_openai());
  req.tools_json = tools.dump();
  const auto& m = bundle_.model;
  req.settings_json = json{{"provider", m.provider}, {"model", m.model}, {"temperature", m.temperature},
                           {"max_tokens", m.max_tokens}, {"bundle", bundle_.name}}
                          .dump();
  req.created_at_ms = now_ms();
  next.pending_request = req.id;
  next.next_call = 0;
  return {keys::model_request(req.id), proto::encode(req)};
}

void Kernel::request_turn() {
  proto::KernelState next = st_;
  auto request = next_request(next);
  commit([&](WriteTxn& t) {
    t.put(ns_, request.first, request.second);
    t.put(ns_, keys::kernel_state(agent_.id), proto::encode(next));
  }, true);
  st_ = next;
  spdlog::debug("turn {}: requested {}", st_.turn, st_.pending_request);
}

void Kernel::commit(const std::function<void(WriteTxn&)>& fn, bool writes_state) {
  const auto state_key = keys::kernel_state(agent_.id);
  ws_.write([&](WriteTxn& t) {
    for (const auto& [k, v] : held_)
      if (!writes_state || k != state_key) t.put(ns_, k, v);  // a newer state goes in with fn's
    fn(t);
  });
  held_.clear();
}

void Kernel::take_response() {
  const auto key = keys::model_response(st_.pending_request);
  // No deadline: the response comes, or the supervisor ends this worker.
  auto resp = proto::decode<proto::ModelResponse>(remora::await_key(ws_, ns_, key)->value, key);
  if (!resp.ok) {
    finish("failed", "", "model call failed: " + resp.error);
    return;
  }
  const JsonLimits limits = bundle_.model.json_limits();
  ParsedReply parsed;
  try {
    // Its size was bounded as the server's reply; the message re-serialized may differ slightly.
    json message = parse_bounded(resp.message_json, "the reply", {limits.max_depth, kRecordJsonLimits.max_bytes});
    parsed = parse_reply(message, st_.pending_request, limits);
  } catch (const Error& e) {
    finish("failed", "", std::string("model reply unusable: ") + e.what());
    return;
  }
  proto::KernelState next = st_;
  next.pending_request.clear();
  next.next_call = 0;
  next.prompt_tokens += resp.prompt_tokens;
  next.completion_tokens += resp.completion_tokens;
  next.messages = st_.messages + 1;
  // Held for the commit of what follows (the first tool call's, or the result's): the response is
  // committed already, so a worker killed before then takes it again and does the same.
  held_.emplace_back(keys::chat_message(agent_.id, st_.messages), message_record(parsed.message));
  held_.emplace_back(keys::kernel_state(agent_.id), proto::encode(next));
  messages_.push_back(std::move(parsed.message));
  calls_ = std::move(parsed.calls);
  calls_for_ = messages_.size() - 1;
  st_ = next;
  spdlog::debug("turn {}: {} tool call(s)", st_.turn, calls_.size());
}

void Kernel::run_call(const ToolCall& call, std::size_t index, bool last) {
  const std::string call_id = fmt::format("{}.t{}.c{}", agent_.id, st_.turn, index);
  ToolContext ctx(ws_, ns_, agent_.id, call_id, scratch_, [this](const proto::Question& q) {
    proto::Question full = q;
    if (full.agent_id.empty()) full.agent_id = agent_.id;
    if (full.created_at_ms == 0) full.created_at_ms = now_ms();
    // Before it waits for a human: the assistant message held back shows beside its question.
    if (!held_.empty()) commit([](WriteTxn&) {});
    return ask_and_wait(ws_, ns_, full);
  });
  const auto t0 = std::chrono::steady_clock::now();
  ToolResult r;
  Tool* tool = tool_named(call.name);
  if (!call.parse_error.empty()) {
    r = ToolResult::error(call.parse_error);
  } else if (!tool) {
    std::vector<std::string> names;
    for (const auto& t : tools_) names.push_back(t->spec().name);
    r = ToolResult::error(fmt::format("unknown tool '{}' (available: {})", call.name, fmt::join(names, ", ")));
  } else {
    r = run_tool_call(*tool, call.arguments, ctx);
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  json meta = {{"tool", call.name}, {"ok", r.ok}, {"duration_ms", ms}};
  if (r.terminate) {
    meta["terminate"] = true;
    meta["arguments"] = call.arguments;
  }
  json message = {{"role", "tool"}, {"tool_call_id", call.id}, {"name", call.name},
                  {"content", r.ok ? text_of(r.content) : dump_text(r.content)}, {kChatMeta, meta}};
  proto::KernelState next = st_;
  ++next.next_call;
  for (const auto& k : ctx.touched()) {
    if (!keys::starts_with(k, keys::kFile)) continue;
    auto path = k.substr(keys::kFile.size());
    if (std::ranges::count(next.changed_files, path) == 0) next.changed_files.push_back(path);
  }
  next.messages = st_.messages + 1;
  // After the reply's last call the next turn's request goes in the same commit (what run() would
  // do next, and it reads nothing the call wrote): one commit fewer a turn.
  std::optional<std::pair<std::string, std::string>> request;
  if (last && !r.terminate && next.turn < bundle_.max_turns) request = next_request(next);
  const auto record = message_record(message);
  commit([&](WriteTxn& t) {
    ctx.apply(t);
    t.put(ns_, keys::chat_message(agent_.id, st_.messages), record);
    if (request) t.put(ns_, request->first, request->second);
    t.put(ns_, keys::kernel_state(agent_.id), proto::encode(next));
  }, true);
  messages_.push_back(std::move(message));
  st_ = next;
  spdlog::debug("call {} {} -> {}", call_id, call.name, r.ok ? "ok" : "error");
  if (request) spdlog::debug("turn {}: requested {}", st_.turn, st_.pending_request);
}

int Kernel::finish(const std::string& status, const std::string& summary, const std::string& error) {
  proto::AgentResult r;
  r.agent_id = agent_.id;
  r.status = status;
  r.summary = summary;
  r.error = error;
  r.turns = st_.turn;
  r.prompt_tokens = st_.prompt_tokens;
  r.completion_tokens = st_.completion_tokens;
  r.duration_ms = static_cast<double>(now_ms() - st_.started_at_ms);
  for (auto& d : ws_.diff(ns_, keys::kFile)) r.changed_files.push_back(d.key.substr(keys::kFile.size()));
  auto bytes = proto::encode(r);
  commit([&](WriteTxn& t) { t.put(ns_, keys::result(agent_.id), bytes); });
  if (status == "completed")
    spdlog::info("completed in {} turn(s): {}", r.turns, summary);
  else
    spdlog::error("failed after {} turn(s): {}", r.turns, error);
  return status == "completed" ? kCompleted : kFailed;
}

}  // namespace remora::worker
