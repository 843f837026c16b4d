// The workspace key-space: every key remora stores, who writes it, and which record it holds.
// This is the one place key names are spelled; everything else calls these functions.
//
//   namespace  key                              record          written by
//   base       file:<path>                      FileEntry       import / accept (merge)
//   <agent>    file:<path>                      FileEntry       the agent's worker (its overlay)
//   <agent>    outbox:question:<id>             Question        worker (ask_user)
//   <agent>    inbox:response:<id>              Response        supervisor (the human's answer)
//   <agent>    outbox:model:<id>                ModelRequest    worker (one per turn)
//   <agent>    inbox:model:<id>                 ModelResponse   supervisor (model gateway)
//   <agent>    agent:<id>:heartbeat             Heartbeat       worker
//   <agent>    agent:<id>:result                AgentResult     worker
//   <agent>    agent:<id>:inbox:<msg>           Message         another agent (via supervisor)
//   <agent>    agent:<id>:kv:<key>              JsonValue       worker (kv_put)
//   base       event:<rev 20 digits>:<seq>      Event           supervisor
//   base       run:graph                        Run             supervisor
//   base       run:agent:<id>                   AgentState      supervisor
//   base       run:bundle:<name>                JsonValue       supervisor (the bundle, for workers)
//   base       run:question:<id>                QuestionState   supervisor
//   base       run:control:<id>                 Control         remora cancel (another shell)
//   base       run:peer:<id>                    JsonValue       supervisor (a cluster run: an agent
//                                                               of the graph on another host)
//   base       run:outgoing:<from>:<id>         Message         supervisor (a message to another
//                                                               host's agent, until carried to etcd)
//   <agent>    agent:<id>:step                  JsonValue       worker (steps bundles: next step)
//   <agent>    agent:<id>:kernel                KernelState     worker (model loop position)
//   <agent>    agent:<id>:message:<seq 6>       JsonValue       worker (one chat message)
//   <agent>    outbox:message:<id>              Message         worker (send_message; delivered by
//                                                               the supervisor to agent:<to>:inbox:)
//   base       run:project                      Project         import (remora run PATHS)
//   base       run:undo:<seq 10>                UndoEntry       remora accept
//   base       run:accepting:<path>             FileEntry       remora accept (what a merged file is
//                                                               being written as; gone once done)
//   base       run:base_file:<rev 20>:<path>    FileEntry       remora accept / undo (a file's base
//                                                               version they replaced, written at
//                                                               rev: the ancestor of a 3-way merge)
//
// Keys are UTF-8 text without NUL bytes, at most kMaxKeyBytes long (an LMDB key limit).
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "proto/record_type.hpp"

namespace remora::keys {

inline constexpr std::string_view kBase = "base";
inline constexpr std::size_t kMaxKeyBytes = 500;

inline constexpr std::string_view kFile = "file:";
inline constexpr std::string_view kOutbox = "outbox:";
inline constexpr std::string_view kInbox = "inbox:";
inline constexpr std::string_view kQuestion = "outbox:question:";
inline constexpr std::string_view kResponse = "inbox:response:";
inline constexpr std::string_view kModelRequest = "outbox:model:";
inline constexpr std::string_view kModelResponse = "inbox:model:";
inline constexpr std::string_view kOutboxMessage = "outbox:message:";
inline constexpr std::string_view kAgent = "agent:";
inline constexpr std::string_view kEvent = "event:";
inline constexpr std::string_view kRun = "run:";
inline constexpr std::string_view kRunGraph = "run:graph";
inline constexpr std::string_view kRunAgent = "run:agent:";
inline constexpr std::string_view kRunBundle = "run:bundle:";
inline constexpr std::string_view kRunQuestion = "run:question:";
inline constexpr std::string_view kRunControl = "run:control:";
inline constexpr std::string_view kRunPeer = "run:peer:";
inline constexpr std::string_view kRunOutgoing = "run:outgoing:";
inline constexpr std::string_view kRunProject = "run:project";
inline constexpr std::string_view kRunAccepting = "run:accepting:";
inline constexpr std::string_view kRunBaseFile = "run:base_file:";
inline constexpr std::string_view kRunUndo = "run:undo:";

inline std::string cat(std::string_view a, std::string_view b) {
  std::string s;
  s.reserve(a.size() + b.size());
  s.append(a).append(b);
  return s;
}

inline std::string file(std::string_view path) { return cat(kFile, path); }
inline std::string question(std::string_view id) { return cat(kQuestion, id); }
inline std::string response(std::string_view id) { return cat(kResponse, id); }
inline std::string model_request(std::string_view id) { return cat(kModelRequest, id); }
inline std::string model_response(std::string_view id) { return cat(kModelResponse, id); }
inline std::string agent(std::string_view id, std::string_view leaf) {
  return cat(cat(cat(kAgent, id), ":"), leaf);
}
// Whether key is agent(id, leaf), without building it.
inline bool is_agent_key(std::string_view key, std::string_view id, std::string_view leaf) {
  return key.size() == kAgent.size() + id.size() + 1 + leaf.size() && key.starts_with(kAgent) &&
         key.substr(kAgent.size(), id.size()) == id && key[kAgent.size() + id.size()] == ':' && key.ends_with(leaf);
}
inline std::string heartbeat(std::string_view agent_id) { return agent(agent_id, "heartbeat"); }
inline std::string result(std::string_view agent_id) { return agent(agent_id, "result"); }
inline std::string agent_inbox(std::string_view agent_id, std::string_view msg_id) {
  return agent(agent_id, cat("inbox:", msg_id));
}
inline std::string agent_kv(std::string_view agent_id, std::string_view key) {
  return agent(agent_id, cat("kv:", key));
}
inline std::string run_agent(std::string_view id) { return cat(kRunAgent, id); }
inline std::string run_bundle(std::string_view name) { return cat(kRunBundle, name); }
inline std::string run_question(std::string_view id) { return cat(kRunQuestion, id); }
inline std::string run_control(std::string_view id) { return cat(kRunControl, id); }
inline std::string run_peer(std::string_view id) { return cat(kRunPeer, id); }
inline std::string run_outgoing(std::string_view from, std::string_view id) { return cat(cat(cat(kRunOutgoing, from), ":"), id); }
inline std::string agent_step(std::string_view agent_id) { return agent(agent_id, "step"); }
inline std::string kernel_state(std::string_view agent_id) { return agent(agent_id, "kernel"); }
inline std::string outbox_message(std::string_view id) { return cat(kOutboxMessage, id); }
inline std::string chat_message(std::string_view agent_id, std::uint32_t seq) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06u", seq);
  return agent(agent_id, cat("message:", buf));
}
inline std::string run_undo(std::uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%010llu", static_cast<unsigned long long>(seq));
  return cat(kRunUndo, buf);
}
inline std::string run_accepting(std::string_view path) { return cat(kRunAccepting, path); }
// The base version of path written at revision rev, kept when accept or undo replaced it.
inline std::string run_base_file(std::uint64_t rev, std::string_view path) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020llu:", static_cast<unsigned long long>(rev));
  return cat(cat(kRunBaseFile, buf), path);
}
// The overlay namespace of an agent.
inline std::string agent_ns(std::string_view agent_id) { return cat("agent/", agent_id); }
// The agent whose overlay ns is (agent_ns's inverse); none for another namespace.
inline std::optional<std::string> agent_of_ns(std::string_view ns) {
  constexpr std::string_view prefix = "agent/";
  if (ns.substr(0, prefix.size()) != prefix) return std::nullopt;
  return std::string(ns.substr(prefix.size()));
}
// Whether key can be stored: not empty, at most kMaxKeyBytes, no NUL byte (Workspace refuses the
// rest, naming why).
inline bool valid_key(std::string_view key) {
  return !key.empty() && key.size() <= kMaxKeyBytes && key.find('\0') == std::string_view::npos;
}

// Zero-padded so that lexical order is revision order.
inline std::string event(std::uint64_t revision, std::uint32_t seq) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "event:%020llu:%04u", static_cast<unsigned long long>(revision), seq);
  return buf;
}

inline bool starts_with(std::string_view key, std::string_view prefix) {
  return key.substr(0, prefix.size()) == prefix;
}

// The record type a key is expected to hold, when the key-space fixes one.
inline std::optional<proto::RecordType> expected_type(std::string_view key) {
  using proto::RecordType;
  if (starts_with(key, kFile)) return RecordType::file_entry;
  if (starts_with(key, kQuestion)) return RecordType::question;
  if (starts_with(key, kResponse)) return RecordType::response;
  if (starts_with(key, kModelRequest)) return RecordType::model_request;
  if (starts_with(key, kModelResponse)) return RecordType::model_response;
  if (starts_with(key, kOutboxMessage)) return RecordType::message;
  if (key == kRunProject) return RecordType::project;
  if (starts_with(key, kRunUndo)) return RecordType::undo_entry;
  if (starts_with(key, kRunAccepting) || starts_with(key, kRunBaseFile)) return RecordType::file_entry;
  if (starts_with(key, kEvent)) return RecordType::event;
  if (key == kRunGraph) return RecordType::run;
  if (starts_with(key, kRunAgent)) return RecordType::agent_state;
  if (starts_with(key, kRunBundle)) return RecordType::json_value;
  if (starts_with(key, kRunQuestion)) return RecordType::question_state;
  if (starts_with(key, kRunControl)) return RecordType::control;
  if (starts_with(key, kRunPeer)) return RecordType::json_value;
  if (starts_with(key, kRunOutgoing)) return RecordType::message;
  if (starts_with(key, kAgent)) {
    auto rest = key.substr(kAgent.size());
    auto colon = rest.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto leaf = rest.substr(colon + 1);
    if (leaf == "heartbeat") return RecordType::heartbeat;
    if (leaf == "result") return RecordType::agent_result;
    if (starts_with(leaf, "inbox:")) return RecordType::message;
    if (starts_with(leaf, "kv:")) return RecordType::json_value;
    if (leaf == "step") return RecordType::json_value;
    if (leaf == "kernel") return RecordType::kernel_state;
    if (starts_with(leaf, "message:")) return RecordType::json_value;
  }
  return std::nullopt;
}

}  // namespace remora::keys
