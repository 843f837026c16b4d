// Language: the languages discovery knows, each with its tree-sitter grammar and file extensions.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

struct TSLanguage;

namespace remora {

struct Language {
  std::string_view name;  // python, c, cpp, javascript: also the query pack's directory name
  const TSLanguage* grammar;
  std::vector<std::string_view> extensions;
};

// Every language, in a fixed order.
const std::vector<Language>& languages();
// The language of a file from its extension, or nullptr.
const Language* language_of(const std::filesystem::path& file);
// The language called `name`, or nullptr.
const Language* language_named(std::string_view name);

}  // namespace remora
