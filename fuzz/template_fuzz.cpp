// Fuzz target: prompt templates (shared/template), checked as a bundle's are when it is loaded,
// then rendered over a node's variables, as text and inside a JSON value.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_input.hpp"
#include "shared/template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::set<std::string, std::less<>> names = {"path", "name", "code", "last_result."};
  static const remora::TemplateVars vars = {
      {"path", "a/b.py"}, {"name", "f"}, {"code", "def f(): return {x}"}, {"last_result.stdout", "{path}"}};
  const auto text = remora::fuzz::text_of(data, size);
  (void)remora::template_problem(text, names);
  (void)remora::render(text, vars);
  (void)remora::render_json(nlohmann::json::array({std::string(text), {{"k", std::string(text)}}}), vars);
  return 0;
}
