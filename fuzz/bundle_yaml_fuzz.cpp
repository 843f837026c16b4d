// Fuzz target: a bundle's bundle.yaml (shared/bundle: load_bundle), read from a bundle directory as
// the supervisor reads it, then stored and read back as the worker does (Bundle::to_json and
// from_json). Every problem must be an Error naming the file and field, never a crash.
#include "fuzz/fuzz_input.hpp"
#include "shared/bundle.hpp"
#include "shared/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = remora::fuzz::write_file("fuzz/bundle.yaml", remora::fuzz::text_of(data, size));
  try {
    auto bundle = remora::load_bundle(file.parent_path());
    auto stored = bundle.to_json().dump();
    if (!(remora::Bundle::from_json(nlohmann::json::parse(stored)) == bundle)) __builtin_trap();
  } catch (const remora::Error&) {
  }
  return 0;
}
