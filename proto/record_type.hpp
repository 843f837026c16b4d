// Record type tags: the first bytes of every framed record name its type (see codec.hpp).
// Tags are stable on disk: never renumber, only append.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace remora::proto {

enum class RecordType : std::uint8_t {
  json_value = 1,
  file_entry = 2,
  question = 3,
  response = 4,
  model_request = 5,
  model_response = 6,
  message = 7,
  heartbeat = 8,
  agent_result = 9,
  event = 10,
  namespace_info = 11,
  change_set = 12,
  retired_13 = 13,  // KeyList, workspace format 1's own-key index: no longer written or read
  run = 14,
  agent_state = 15,
  question_state = 16,
  control = 17,
  kernel_state = 18,
  project = 19,
  undo_entry = 20,
  agent_changes = 21,
};

inline constexpr RecordType kLastRecordType = RecordType::agent_changes;

inline constexpr std::string_view name_of(RecordType t) {
  switch (t) {
    case RecordType::json_value: return "json_value";
    case RecordType::file_entry: return "file_entry";
    case RecordType::question: return "question";
    case RecordType::response: return "response";
    case RecordType::model_request: return "model_request";
    case RecordType::model_response: return "model_response";
    case RecordType::message: return "message";
    case RecordType::heartbeat: return "heartbeat";
    case RecordType::agent_result: return "agent_result";
    case RecordType::event: return "event";
    case RecordType::namespace_info: return "namespace_info";
    case RecordType::change_set: return "change_set";
    case RecordType::retired_13: return "retired_13";
    case RecordType::run: return "run";
    case RecordType::agent_state: return "agent_state";
    case RecordType::question_state: return "question_state";
    case RecordType::control: return "control";
    case RecordType::kernel_state: return "kernel_state";
    case RecordType::project: return "project";
    case RecordType::undo_entry: return "undo_entry";
    case RecordType::agent_changes: return "agent_changes";
  }
  return "unknown";
}

inline std::optional<RecordType> type_named(std::string_view name) {
  for (int i = 1; i <= static_cast<int>(kLastRecordType); ++i) {
    auto t = static_cast<RecordType>(i);
    if (t != RecordType::retired_13 && name_of(t) == name) return t;
  }
  return std::nullopt;
}

}  // namespace remora::proto
