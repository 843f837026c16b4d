// Fuzz target: the record decoder (proto/codec.hpp) on any bytes a workspace value may hold, as
// `remora-kv dump` reads them: the frame header picks the type, the body is decoded with that
// type's cereal schema, and the record is shown as JSON (shared/record_json). Every bad input must
// be a CodecError naming the key, never a crash or an allocation the bytes do not justify.
#include "fuzz/fuzz_input.hpp"
#include "proto/codec.hpp"
#include "shared/error.hpp"
#include "shared/record_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)remora::record_to_json(remora::fuzz::text_of(data, size), "fuzz").dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const remora::proto::CodecError&) {
  }
  return 0;
}
