#include "discovery/discovery_language.hpp"

#include <algorithm>
#include <string>

// The grammars compiled from .deps/ (remora_grammars in CMakeLists.txt).
extern "C" {
const TSLanguage* tree_sitter_python();
const TSLanguage* tree_sitter_c();
const TSLanguage* tree_sitter_cpp();
const TSLanguage* tree_sitter_javascript();
}

namespace remora {

const std::vector<Language>& languages() {
  // .h is C: C++ headers usually say so (.hpp, .hh, .hxx), and C++'s grammar misreads C that uses
  // C++ keywords (new, class, template) as names.
  static const std::vector<Language> all = {
      {"python", tree_sitter_python(), {".py"}},
      {"c", tree_sitter_c(), {".c", ".h"}},
      {"cpp", tree_sitter_cpp(), {".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx"}},
      {"javascript", tree_sitter_javascript(), {".js", ".mjs", ".cjs"}},
  };
  return all;
}

const Language* language_named(std::string_view name) {
  for (const auto& l : languages())
    if (l.name == name) return &l;
  return nullptr;
}

const Language* language_of(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  for (const auto& l : languages())
    if (std::find(l.extensions.begin(), l.extensions.end(), ext) != l.extensions.end()) return &l;
  return nullptr;
}

}  // namespace remora
