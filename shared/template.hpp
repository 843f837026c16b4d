// Template: the `{name}` placeholders of bundle prompts and scripted replies. `{{` and `}}` stand
// for literal braces. A template is checked when its bundle is loaded (unknown placeholders and
// unbalanced braces are errors) and rendered in one left-to-right pass, so text substituted in
// (a file's code, a user's answer) is never expanded again.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace remora {

using TemplateVars = std::map<std::string, std::string, std::less<>>;

// The first problem of text as a template over these variable names, if any. A name ending in
// '.' stands for every name it begins ("last_result." admits {last_result.stdout}).
std::optional<std::string> template_problem(std::string_view text, const std::set<std::string, std::less<>>& names);

// Renders text; a placeholder without a value renders as empty.
std::string render(std::string_view text, const TemplateVars& vars);

// Renders every string inside a JSON value (object keys are left alone).
nlohmann::json render_json(const nlohmann::json& value, const TemplateVars& vars);

}  // namespace remora
