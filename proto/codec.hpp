// The record frame: [0xFE magic][type u8][schema version u16 LE][cereal portable-binary body].
// 0xFE never starts UTF-8 text, so a frame is never mistaken for a plain string. Decoding checks
// magic, type, version and that the body is consumed exactly; any failure is a CodecError whose
// message names the key, never a crash.
#pragma once

#include <cereal/archives/portable_binary.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "proto/bounded_input_archive.hpp"
#include "proto/records.hpp"

namespace remora::proto {

inline constexpr unsigned char kMagic = 0xFE;
inline constexpr std::size_t kFrameHeader = 4;

class CodecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class R>
std::string encode(const R& record) {
  std::ostringstream os(std::ios::binary);
  os.put(static_cast<char>(kMagic));
  os.put(static_cast<char>(R::kType));
  os.put(static_cast<char>(R::kVersion & 0xFF));
  os.put(static_cast<char>(R::kVersion >> 8));
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(record);
  }
  return std::move(os).str();
}

struct FrameHeader {
  RecordType type;
  std::uint16_t version;
};

// Reads the frame header; throws CodecError naming `key` when the bytes are not a record.
inline FrameHeader peek(std::string_view bytes, std::string_view key) {
  if (bytes.size() < kFrameHeader || static_cast<unsigned char>(bytes[0]) != kMagic) {
    throw CodecError("record at key '" + std::string(key) + "' is not a remora record (" +
                     std::to_string(bytes.size()) + " bytes, no frame header)");
  }
  auto t = static_cast<unsigned char>(bytes[1]);
  if (t == 0 || t > static_cast<unsigned char>(kLastRecordType)) {
    throw CodecError("record at key '" + std::string(key) + "' has unknown type tag " + std::to_string(t));
  }
  auto v = static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[2]) |
                                      (static_cast<unsigned char>(bytes[3]) << 8));
  return {static_cast<RecordType>(t), v};
}

template <class R>
R decode(std::string_view bytes, std::string_view key) {
  auto h = peek(bytes, key);
  if (h.type != R::kType) {
    throw CodecError("record at key '" + std::string(key) + "' is a " + std::string(name_of(h.type)) +
                     ", expected " + std::string(name_of(R::kType)));
  }
  if (h.version > R::kVersion || h.version == 0) {
    throw CodecError("record at key '" + std::string(key) + "' has schema version " + std::to_string(h.version) +
                     " of " + std::string(name_of(R::kType)) + "; this build reads up to " +
                     std::to_string(R::kVersion));
  }
  R out;
  std::size_t left = 0;
  try {
    BoundedInputArchive ar(bytes.substr(kFrameHeader));
    if constexpr (requires { out.serialize_version(ar, h.version); })
      out.serialize_version(ar, h.version);  // a record of several versions reads the frame's
    else
      ar(out);
    left = ar.remaining();
  } catch (const std::exception& e) {
    throw CodecError("record at key '" + std::string(key) + "' is truncated or corrupt (" +
                     std::string(name_of(R::kType)) + "): " + e.what());
  }
  if (left != 0) {
    throw CodecError("record at key '" + std::string(key) + "' has trailing bytes after its " +
                     std::string(name_of(R::kType)) + " body");
  }
  return out;
}

// Calls f(record) with the decoded record of whatever type the frame names.
template <class F>
decltype(auto) visit(std::string_view bytes, std::string_view key, F&& f) {
  switch (peek(bytes, key).type) {
    case RecordType::json_value: return f(decode<JsonValue>(bytes, key));
    case RecordType::file_entry: return f(decode<FileEntry>(bytes, key));
    case RecordType::question: return f(decode<Question>(bytes, key));
    case RecordType::response: return f(decode<Response>(bytes, key));
    case RecordType::model_request: return f(decode<ModelRequest>(bytes, key));
    case RecordType::model_response: return f(decode<ModelResponse>(bytes, key));
    case RecordType::message: return f(decode<Message>(bytes, key));
    case RecordType::heartbeat: return f(decode<Heartbeat>(bytes, key));
    case RecordType::agent_result: return f(decode<AgentResult>(bytes, key));
    case RecordType::event: return f(decode<Event>(bytes, key));
    case RecordType::namespace_info: return f(decode<NamespaceInfo>(bytes, key));
    case RecordType::change_set: return f(decode<ChangeSet>(bytes, key));
    case RecordType::retired_13: break;
    case RecordType::run: return f(decode<Run>(bytes, key));
    case RecordType::agent_state: return f(decode<AgentState>(bytes, key));
    case RecordType::question_state: return f(decode<QuestionState>(bytes, key));
    case RecordType::control: return f(decode<Control>(bytes, key));
    case RecordType::kernel_state: return f(decode<KernelState>(bytes, key));
    case RecordType::project: return f(decode<Project>(bytes, key));
    case RecordType::undo_entry: return f(decode<UndoEntry>(bytes, key));
    case RecordType::agent_changes: return f(decode<AgentChanges>(bytes, key));
  }
  throw CodecError("record at key '" + std::string(key) + "' has a retired type");
}

}  // namespace remora::proto
