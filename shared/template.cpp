#include "shared/template.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vector>

namespace remora {
namespace {

// Walks text, calling literal(c) for plain characters and placeholder(name) for `{name}`.
// Returns a problem, if the template is malformed.
template <class Literal, class Placeholder>
std::optional<std::string> walk(std::string_view text, Literal&& literal, Placeholder&& placeholder) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      literal(c);
      ++i;
    } else if (c == '{') {
      auto close = text.find('}', i);
      if (close == std::string_view::npos) return fmt::format("unclosed '{{' at offset {}", i);
      auto name = text.substr(i + 1, close - i - 1);
      if (name.empty() || name.find_first_of("{ \n") != std::string_view::npos)
        return fmt::format("bad placeholder '{{{}}}' at offset {} (write '{{{{' for a literal brace)", name, i);
      if (auto problem = placeholder(name)) return problem;
      i = close;
    } else if (c == '}') {
      return fmt::format("unmatched '}}' at offset {} (write '}}}}' for a literal brace)", i);
    } else {
      literal(c);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> template_problem(std::string_view text, const std::set<std::string, std::less<>>& names) {
  return walk(
      text, [](char) {},
      [&](std::string_view name) -> std::optional<std::string> {
        if (names.contains(name) && !name.ends_with('.')) return std::nullopt;
        for (const std::string& n : names)  // "x." in names: any "x.field"
          if (n.ends_with('.') && name.size() > n.size() && name.starts_with(n)) return std::nullopt;
        std::vector<std::string> known;
        for (const std::string& n : names) known.push_back(n.ends_with('.') ? n + "<field>" : n);
        return fmt::format("unknown placeholder '{{{}}}' (known: {})", name, fmt::join(known, ", "));
      });
}

std::string render(std::string_view text, const TemplateVars& vars) {
  std::string out;
  out.reserve(text.size());
  auto problem = walk(
      text, [&](char c) { out += c; },
      [&](std::string_view name) -> std::optional<std::string> {
        if (auto it = vars.find(name); it != vars.end()) out += it->second;
        return std::nullopt;
      });
  if (problem) return std::string(text);  // unchecked text: left as written
  return out;
}

nlohmann::json render_json(const nlohmann::json& value, const TemplateVars& vars) {
  if (value.is_string()) return render(value.get_ref<const std::string&>(), vars);
  if (value.is_array() || value.is_object()) {
    nlohmann::json out = value;
    for (auto& [k, v] : out.items()) v = render_json(v, vars);
    return out;
  }
  return value;
}

}  // namespace remora
