// Records as JSON, for people and scripts: remora-kv dump/get print them, put --type builds them.
// Uses each record's one cereal schema (proto/records.hpp) through cereal's JSON archives.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace remora {

// {"type": "...", "version": N, "record": {...}}; throws proto::CodecError naming key.
nlohmann::json record_to_json(std::string_view bytes, std::string_view key);

// Encodes a record of the named type from JSON fields (missing fields keep their defaults).
// Throws Error(invalid_argument) naming the type or field at fault.
std::string record_from_json(std::string_view type_name, const nlohmann::json& fields);

}  // namespace remora
