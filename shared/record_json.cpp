#include "shared/record_json.hpp"

#include <cereal/archives/json.hpp>
#include <sstream>

#include "proto/codec.hpp"
#include "shared/error.hpp"

namespace remora {
namespace {

// cereal writes std::optional as {"nullopt": bool, "data": v}; people read and write null or v.
bool is_optional_shape(const nlohmann::json& j) {
  return j.is_object() && j.contains("nullopt") && j["nullopt"].is_boolean() && j.size() <= 2;
}

nlohmann::json lift(const nlohmann::json& j) {
  if (is_optional_shape(j)) return j["nullopt"].get<bool>() ? nlohmann::json(nullptr) : lift(j.value("data", nlohmann::json()));
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto& [k, v] : j.items()) out[k] = lift(v);
    return out;
  }
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (auto& v : j) out.push_back(lift(v));
    return out;
  }
  return j;
}

// Overlays user fields on a record's cereal-shaped default document.
nlohmann::json lower(const nlohmann::json& shape, const nlohmann::json& user) {
  if (is_optional_shape(shape)) {
    return user.is_null() ? nlohmann::json{{"nullopt", true}} : nlohmann::json{{"nullopt", false}, {"data", user}};
  }
  if (shape.is_object() && user.is_object()) {
    nlohmann::json out = shape;
    for (auto& [k, v] : user.items()) out[k] = shape.contains(k) ? lower(shape[k], v) : v;
    return out;
  }
  return user;
}

template <class R>
nlohmann::json cereal_json(const R& r) {
  std::ostringstream os;
  {
    cereal::JSONOutputArchive ar(os, cereal::JSONOutputArchive::Options::NoIndent());
    ar(cereal::make_nvp("record", r));
  }
  return nlohmann::json::parse(os.str()).at("record");
}

template <class R>
nlohmann::json to_json(const R& r) {
  return lift(cereal_json(r));
}

template <class R>
std::string from_json(const nlohmann::json& fields) {
  auto doc = lower(cereal_json(R{}), fields);
  R r;
  std::istringstream is(nlohmann::json{{"record", doc}}.dump());
  try {
    cereal::JSONInputArchive ar(is);
    ar(cereal::make_nvp("record", r));
  } catch (const std::exception& e) {
    throw Error(Errc::invalid_argument,
                "fields do not fit a " + std::string(proto::name_of(R::kType)) + " record: " + e.what());
  }
  return proto::encode(r);
}

}  // namespace

nlohmann::json record_to_json(std::string_view bytes, std::string_view key) {
  auto h = proto::peek(bytes, key);
  nlohmann::json out;
  out["type"] = std::string(proto::name_of(h.type));
  out["version"] = h.version;
  try {
    out["record"] = proto::visit(bytes, key, [](const auto& r) { return to_json(r); });
  } catch (const nlohmann::json::exception& e) {  // e.g. a string of bytes that are not UTF-8 (found by fuzzing)
    throw proto::CodecError("record at key '" + std::string(key) + "' (" + std::string(proto::name_of(h.type)) +
                            ") cannot be shown as JSON: " + e.what());
  }
  return out;
}

std::string record_from_json(std::string_view type_name, const nlohmann::json& fields) {
  auto t = proto::type_named(type_name);
  if (!t) throw Error(Errc::invalid_argument, "unknown record type '" + std::string(type_name) + "'");
  if (!fields.is_object()) throw Error(Errc::invalid_argument, "record fields must be a JSON object");
  switch (*t) {
    case proto::RecordType::json_value: return from_json<proto::JsonValue>(fields);
    case proto::RecordType::file_entry: return from_json<proto::FileEntry>(fields);
    case proto::RecordType::question: return from_json<proto::Question>(fields);
    case proto::RecordType::response: return from_json<proto::Response>(fields);
    case proto::RecordType::model_request: return from_json<proto::ModelRequest>(fields);
    case proto::RecordType::model_response: return from_json<proto::ModelResponse>(fields);
    case proto::RecordType::message: return from_json<proto::Message>(fields);
    case proto::RecordType::heartbeat: return from_json<proto::Heartbeat>(fields);
    case proto::RecordType::agent_result: return from_json<proto::AgentResult>(fields);
    case proto::RecordType::event: return from_json<proto::Event>(fields);
    case proto::RecordType::run: return from_json<proto::Run>(fields);
    case proto::RecordType::agent_state: return from_json<proto::AgentState>(fields);
    case proto::RecordType::question_state: return from_json<proto::QuestionState>(fields);
    case proto::RecordType::control: return from_json<proto::Control>(fields);
    case proto::RecordType::kernel_state: return from_json<proto::KernelState>(fields);
    case proto::RecordType::project: return from_json<proto::Project>(fields);
    case proto::RecordType::undo_entry: return from_json<proto::UndoEntry>(fields);
    case proto::RecordType::agent_changes: return from_json<proto::AgentChanges>(fields);
    case proto::RecordType::namespace_info:
    case proto::RecordType::change_set:
    case proto::RecordType::retired_13: break;
  }
  throw Error(Errc::invalid_argument, "record type '" + std::string(type_name) + "' is engine metadata");
}

}  // namespace remora
