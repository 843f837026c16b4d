// The record schema: every value remora stores in a workspace is one of these, framed by codec.hpp.
// Each record names its type tag and schema version (in its frame); fields are only ever appended,
// and a record of more than one version reads an older one with serialize_version(ar, version),
// which codec.hpp's decode calls with the version of the frame. JSON-shaped payloads (chat messages, tool
// schemas, event payloads) are kept as JSON text so that the schema does not chase the model API.
#pragma once

#include <cereal/cereal.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/record_type.hpp"

namespace remora::proto {

#define REMORA_RECORD(NAME, TYPE, VERSION)                 \
  static constexpr RecordType kType = RecordType::TYPE;      \
  static constexpr std::uint16_t kVersion = VERSION;         \
  bool operator==(const NAME&) const = default

// Any JSON document (kv_put values, remora-kv put).
struct JsonValue {
  REMORA_RECORD(JsonValue, json_value, 1);
  std::string json;  // JSON text
  template <class A> void serialize(A& ar) { ar(CEREAL_NVP(json)); }
};

// A project file: its bytes and POSIX mode bits.
struct FileEntry {
  REMORA_RECORD(FileEntry, file_entry, 1);
  Bytes content;
  std::uint32_t mode = 0644;
  template <class A> void serialize(A& ar) { ar(CEREAL_NVP(content), CEREAL_NVP(mode)); }
};

// A question from an agent to the human (outbox:question:<id>).
struct Question {
  REMORA_RECORD(Question, question, 1);
  std::string id;
  std::string agent_id;
  std::string question;
  std::vector<std::string> options;
  std::optional<std::string> default_answer;
  double timeout_s = 300;
  std::int64_t created_at_ms = 0;
  std::string status = "pending";  // pending | answered | timeout | withdrawn
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(id), CEREAL_NVP(agent_id), CEREAL_NVP(question), CEREAL_NVP(options),
       CEREAL_NVP(default_answer), CEREAL_NVP(timeout_s), CEREAL_NVP(created_at_ms), CEREAL_NVP(status));
  }
};

// The human's answer (inbox:response:<id>).
struct Response {
  REMORA_RECORD(Response, response, 1);
  std::string answer;
  std::int64_t responded_at_ms = 0;
  std::string source;  // "terminal", "remora answer", "default", "timeout"
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(answer), CEREAL_NVP(responded_at_ms), CEREAL_NVP(source));
  }
};

// One model turn requested by a worker (outbox:model:<id>). Version 2 carries the length of the
// conversation, not the conversation: its messages are the agent's chat messages 0..messages-1
// (agent:<id>:message:<seq>, in the same namespace), so a turn's record does not grow with the
// conversation. Version 1 carried every message in messages_json, which is still read.
struct ModelRequest {
  REMORA_RECORD(ModelRequest, model_request, 2);
  std::string id;
  std::string agent_id;
  std::uint32_t turn = 0;
  std::string messages_json;  // version 1 only: the OpenAI chat messages array
  std::string tools_json;     // OpenAI tools array
  std::string settings_json;  // provider, model, temperature, max_tokens
  std::int64_t created_at_ms = 0;
  std::uint32_t messages = 0;  // version 2: chat messages the request covers
  template <class A> void serialize(A& ar) { serialize_version(ar, kVersion); }
  template <class A> void serialize_version(A& ar, std::uint16_t version) {
    ar(CEREAL_NVP(id), CEREAL_NVP(agent_id), CEREAL_NVP(turn), CEREAL_NVP(messages_json),
       CEREAL_NVP(tools_json), CEREAL_NVP(settings_json), CEREAL_NVP(created_at_ms));
    if (version >= 2) ar(CEREAL_NVP(messages));
  }
};

// The gateway's answer to a ModelRequest (inbox:model:<id>).
struct ModelResponse {
  REMORA_RECORD(ModelResponse, model_response, 1);
  std::string id;
  bool ok = true;
  std::string message_json;  // the assistant message
  std::string error;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  double duration_ms = 0;
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(id), CEREAL_NVP(ok), CEREAL_NVP(message_json), CEREAL_NVP(error),
       CEREAL_NVP(prompt_tokens), CEREAL_NVP(completion_tokens), CEREAL_NVP(duration_ms));
  }
};

// A message between agents of a graph (agent:<to>:inbox:<id>).
struct Message {
  REMORA_RECORD(Message, message, 1);
  std::string id;
  std::string from_agent;
  std::string to_agent;
  std::string payload_json;
  std::int64_t sent_at_ms = 0;
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(id), CEREAL_NVP(from_agent), CEREAL_NVP(to_agent), CEREAL_NVP(payload_json), CEREAL_NVP(sent_at_ms));
  }
};

// Liveness of a worker (agent:<id>:heartbeat).
struct Heartbeat {
  REMORA_RECORD(Heartbeat, heartbeat, 1);
  std::int64_t pid = 0;
  std::int64_t at_ms = 0;
  std::uint64_t sequence = 0;
  template <class A> void serialize(A& ar) { ar(CEREAL_NVP(pid), CEREAL_NVP(at_ms), CEREAL_NVP(sequence)); }
};

// What an agent produced (agent:<id>:result).
struct AgentResult {
  REMORA_RECORD(AgentResult, agent_result, 1);
  std::string agent_id;
  std::string status;  // completed | failed
  std::string summary;
  std::vector<std::string> changed_files;
  std::uint32_t turns = 0;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  double duration_ms = 0;
  std::string error;
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(agent_id), CEREAL_NVP(status), CEREAL_NVP(summary), CEREAL_NVP(changed_files),
       CEREAL_NVP(turns), CEREAL_NVP(prompt_tokens), CEREAL_NVP(completion_tokens), CEREAL_NVP(duration_ms),
       CEREAL_NVP(error));
  }
};

// One entry of the event log (event:<rev>:<seq>), committed with the change it reports.
struct Event {
  REMORA_RECORD(Event, event, 1);
  std::string id;
  std::uint64_t revision = 0;
  std::int64_t timestamp_ms = 0;
  std::string category;  // agent, tool, model, graph, user, checkpoint, events
  std::string action;    // started, blocked, ...
  std::string graph_id;
  std::string agent_id;
  std::string node_id;
  std::string session_id;
  std::string payload_json = "{}";
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(id), CEREAL_NVP(revision), CEREAL_NVP(timestamp_ms), CEREAL_NVP(category), CEREAL_NVP(action),
       CEREAL_NVP(graph_id), CEREAL_NVP(agent_id), CEREAL_NVP(node_id), CEREAL_NVP(session_id),
       CEREAL_NVP(payload_json));
  }
};

// A workspace namespace (engine metadata). Ids are never reused; a dropped namespace keeps its
// record so that old change-log entries still name it.
struct NamespaceInfo {
  REMORA_RECORD(NamespaceInfo, namespace_info, 1);
  std::uint32_t id = 0;
  std::string name;
  std::uint32_t parent_id = 0;  // meaningless for base (id 0)
  std::uint64_t created_rev = 0;
  std::uint64_t dropped_rev = 0;  // 0 while live
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(id), CEREAL_NVP(name), CEREAL_NVP(parent_id), CEREAL_NVP(created_rev), CEREAL_NVP(dropped_rev));
  }
};

enum class ChangeOp : std::uint8_t {
  put = 1,        // a value was written
  del = 2,        // the key now reads as absent in this namespace
  discard = 3,    // the namespace's own entry was removed (merge/drop); reads fall through
  ns_create = 4,  // key is empty
  ns_drop = 5,    // key is empty
};

inline constexpr std::string_view name_of(ChangeOp op) {
  switch (op) {
    case ChangeOp::put: return "put";
    case ChangeOp::del: return "del";
    case ChangeOp::discard: return "discard";
    case ChangeOp::ns_create: return "ns_create";
    case ChangeOp::ns_drop: return "ns_drop";
  }
  return "unknown";
}

struct ChangeEntry {
  std::uint32_t ns = 0;
  ChangeOp op = ChangeOp::put;
  std::string key;
  template <class A> void serialize(A& ar) { ar(CEREAL_NVP(ns), CEREAL_NVP(op), CEREAL_NVP(key)); }
  bool operator==(const ChangeEntry&) const = default;
};

// The change-log record of one revision: every key it touched, in order.
struct ChangeSet {
  REMORA_RECORD(ChangeSet, change_set, 1);
  std::vector<ChangeEntry> changes;
  template <class A> void serialize(A& ar) { ar(CEREAL_NVP(changes)); }
};

// The run a supervisor is executing (run:graph): the validated graph and how it stands.
struct Run {
  REMORA_RECORD(Run, run, 1);
  std::string graph_id;
  std::string graph_name;
  std::string graph_json;  // the validated graph (agents, dependencies, config), normalized
  std::string session_id;  // changes each time a supervisor takes the run over
  // running | stopped (by `remora restore`, to be resumed) | completed | failed | cancelled
  std::string state = "running";
  std::int64_t started_at_ms = 0;
  std::int64_t ended_at_ms = 0;
  std::int64_t supervisor_pid = 0;
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(graph_id), CEREAL_NVP(graph_name), CEREAL_NVP(graph_json), CEREAL_NVP(session_id),
       CEREAL_NVP(state), CEREAL_NVP(started_at_ms), CEREAL_NVP(ended_at_ms), CEREAL_NVP(supervisor_pid));
  }
  // Whether a run in this state has more to do: `remora resume` continues it.
  static bool unfinished(std::string_view state) { return state == "running" || state == "stopped"; }
};

// One agent of the run as the supervisor sees it (run:agent:<id>).
struct AgentState {
  REMORA_RECORD(AgentState, agent_state, 1);
  std::string id;
  std::string bundle;
  std::string target;
  std::string ns;  // its overlay namespace
  std::string state = "pending";  // pending queued running blocked completed failed cancelled skipped
  std::string reason;
  std::uint32_t restarts = 0;
  std::vector<std::int64_t> restart_times_ms;  // within the restart window
  std::int64_t pid = 0;
  std::int64_t started_at_ms = 0;   // first start
  std::int64_t ended_at_ms = 0;
  std::int64_t not_before_ms = 0;   // restart backoff: do not start before this time
  std::uint32_t attempt = 0;        // 0 for the first run, +1 for every restart
  std::uint32_t heartbeat_ms = 2000;  // how often the worker must refresh its heartbeat
  std::string node_json = "{}";       // the code node it works on (discovery's JSON form)
  std::string parent_ns = "base";     // what its overlay reads through (a dependency's overlay)
  std::string review;                 // "" | pending (changes await review) | accepted | rejected
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(id), CEREAL_NVP(bundle), CEREAL_NVP(target), CEREAL_NVP(ns), CEREAL_NVP(state), CEREAL_NVP(reason),
       CEREAL_NVP(restarts), CEREAL_NVP(restart_times_ms), CEREAL_NVP(pid), CEREAL_NVP(started_at_ms),
       CEREAL_NVP(ended_at_ms), CEREAL_NVP(not_before_ms), CEREAL_NVP(attempt), CEREAL_NVP(heartbeat_ms),
       CEREAL_NVP(node_json), CEREAL_NVP(parent_ns), CEREAL_NVP(review));
  }
};

// The supervisor's index of a question (run:question:<id>): where it lives and how it stands.
struct QuestionState {
  REMORA_RECORD(QuestionState, question_state, 1);
  std::string id;
  std::string agent_id;
  std::string ns;
  std::string status = "pending";  // pending | answered | timeout | withdrawn
  std::int64_t asked_at_ms = 0;
  std::int64_t closed_at_ms = 0;
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(id), CEREAL_NVP(agent_id), CEREAL_NVP(ns), CEREAL_NVP(status), CEREAL_NVP(asked_at_ms),
       CEREAL_NVP(closed_at_ms));
  }
};

// A request to the running supervisor from another shell (run:control:<id>), e.g. remora cancel.
struct Control {
  REMORA_RECORD(Control, control, 1);
  std::string action;  // cancel | stop (end the run "stopped", its agents resumable)
  std::string target;  // cancel: an agent id, or "*" for all; stop: why
  std::int64_t requested_at_ms = 0;
  template <class A> void serialize(A& ar) { ar(CEREAL_NVP(action), CEREAL_NVP(target), CEREAL_NVP(requested_at_ms)); }
};

// Where a model-driven agent stands (agent:<id>:kernel), committed with every step of its loop.
// The conversation itself is kept one message per key (agent:<id>:message:<seq>).
struct KernelState {
  REMORA_RECORD(KernelState, kernel_state, 1);
  std::uint32_t turn = 0;          // model turns requested so far
  std::uint32_t messages = 0;      // messages committed so far
  std::uint32_t next_call = 0;     // index of the next tool call of the last reply to run
  std::string pending_request;     // a model request awaiting its response, if any
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  std::int64_t started_at_ms = 0;
  std::vector<std::string> changed_files;  // project paths written or deleted so far
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(turn), CEREAL_NVP(messages), CEREAL_NVP(next_call), CEREAL_NVP(pending_request),
       CEREAL_NVP(prompt_tokens), CEREAL_NVP(completion_tokens), CEREAL_NVP(started_at_ms), CEREAL_NVP(changed_files));
  }
};

// The project directory a workspace was imported from (run:project).
struct Project {
  REMORA_RECORD(Project, project, 1);
  std::string root;  // absolute path
  std::uint64_t imported_rev = 0;
  std::int64_t imported_at_ms = 0;
  std::uint64_t files = 0;
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(root), CEREAL_NVP(imported_rev), CEREAL_NVP(imported_at_ms), CEREAL_NVP(files));
  }
};

// One file as it was before an accept changed it (part of an UndoEntry).
struct UndoFile {
  std::string path;
  bool existed = false;  // false: the accept created it, undo deletes it
  Bytes content;
  std::uint32_t mode = 0644;
  template <class A> void serialize(A& ar) { ar(CEREAL_NVP(path), CEREAL_NVP(existed), CEREAL_NVP(content), CEREAL_NVP(mode)); }
  bool operator==(const UndoFile&) const = default;
};

// What `remora undo` needs to revert one accept (run:undo:<seq>), committed before the accept
// touches the disk.
struct UndoEntry {
  REMORA_RECORD(UndoEntry, undo_entry, 1);
  std::string agent_id;
  std::int64_t accepted_at_ms = 0;
  std::string state = "pending";  // pending (disk being written) | done | undone
  std::vector<UndoFile> files;
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(agent_id), CEREAL_NVP(accepted_at_ms), CEREAL_NVP(state), CEREAL_NVP(files));
  }
};

// One file: entry of an agent's overlay, carried to another host's workspace for review (part of
// AgentChanges). `kind` is OwnEntry::Kind (0 value, 1 tombstone, 2 read); `saw` says what version
// of the file the agent's overlay saw below it when it first touched it.
struct CarriedEntry {
  enum Saw : std::uint8_t {
    saw_nothing = 0,   // no file there
    saw_overlay = 1,   // an overlay below (an agent it builds on, carried with it)
    saw_base = 2,      // base's version, in `ancestor` (a FileEntry record)
    saw_unknown = 3,   // a base version the host no longer holds
  };
  std::string key;
  std::uint8_t kind = 0;
  Bytes value;  // a value's FileEntry record
  std::uint8_t saw = saw_nothing;
  Bytes ancestor;
  template <class A> void serialize(A& ar) {
    ar(CEREAL_NVP(key), CEREAL_NVP(kind), CEREAL_NVP(value), CEREAL_NVP(saw), CEREAL_NVP(ancestor));
  }
  bool operator==(const CarriedEntry&) const = default;
};

// A completed agent of a cluster run and its overlay's file: entries and result, as its host publishes them
// for the review host (docs/scale-out.md): etcd /remora/review/<graph>/, never in a workspace.
struct AgentChanges {
  REMORA_RECORD(AgentChanges, agent_changes, 1);
  AgentState agent;
  std::string host;
  std::vector<CarriedEntry> entries;
  template <class A> void serialize(A& ar) { ar(CEREAL_NVP(agent), CEREAL_NVP(host), CEREAL_NVP(entries)); }
};

#undef REMORA_RECORD

}  // namespace remora::proto
