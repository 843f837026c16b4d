// Fuzz target: a graph file (supervisor/graph_spec: load_graph and load_config), read from disk as
// `remora run --graph` reads it. Every problem must be an Error naming the file, never a crash.
#include "fuzz/fuzz_input.hpp"
#include "shared/error.hpp"
#include "supervisor/graph_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = remora::fuzz::write_file("graph.yaml", remora::fuzz::text_of(data, size));
  try {
    (void)remora::load_config(file);
    (void)remora::load_graph(file);
  } catch (const remora::Error&) {
  }
  return 0;
}
