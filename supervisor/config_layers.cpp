#include "supervisor/config_layers.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "shared/error.hpp"
#include "shared/yaml_fields.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace yaml_fields;

// What is wrong with a value of setting name, or "" when it is good.
std::string problem_with(const std::string& name, const std::string& value) {
  if (name == "base_url" && !value.starts_with("http://") && !value.starts_with("https://"))
    return "'" + value + "' is not an http:// or https:// URL";
  if (name == "api_key_env" && !value.empty()) {
    const bool ok = (std::isalpha(static_cast<unsigned char>(value[0])) || value[0] == '_') &&
                    std::ranges::all_of(value, [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; });
    if (!ok) return "'" + value + "' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)";
  }
  return "";
}

// Each setting with what names it in a file, in the environment and on the command line.
struct SettingNames {
  LayeredSetting ModelServerConfig::*member;
  const char* field;
  const char* env;
  const char* flag;
  std::optional<std::string> ModelServerFlags::*flag_value;
  std::string ModelSettings::*in_bundle;
};
constexpr SettingNames kSettings[] = {
    {&ModelServerConfig::base_url, "base_url", "REMORA_MODEL_URL", "--model-url", &ModelServerFlags::base_url,
     &ModelSettings::base_url},
    {&ModelServerConfig::model, "model", "REMORA_MODEL", "--model", &ModelServerFlags::model, &ModelSettings::model},
    {&ModelServerConfig::api_key_env, "api_key_env", "REMORA_API_KEY_ENV", "--api-key-env", &ModelServerFlags::api_key_env,
     &ModelSettings::api_key_env},
};

// Reads the `model:` section of a config file over c. The project's file may also hold the
// run's `config:` section (load_config reads it).
void read_file(const fs::path& file, const std::string& layer, ModelServerConfig& c) {
  YAML::Node root = parse_file(file);
  Problems p(file.string());
  p.with_lines = true;
  {
    Fields top(root, "", p);
    if (layer == "project") top.node("config");
    Fields m(top.node("model"), "model", p);
    for (const auto& s : kSettings) {
      std::string value;
      if (!m.read(s.field, value)) continue;
      const std::string problem = problem_with(s.field, value);
      if (m.check(s.field, problem.empty(), problem)) c.*s.member = {value, layer, file.string()};
    }
  }
  p.throw_if_any();
}

std::optional<std::string> getenv_value(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? std::optional<std::string>(v) : std::nullopt;
}

}  // namespace

ConfigLayerInputs ConfigLayerInputs::from_process(const std::string& config_file, ModelServerFlags flags) {
  ConfigLayerInputs in;
  // The XDG base directory rules: a relative XDG_CONFIG_HOME is ignored.
  const auto xdg = getenv_value("XDG_CONFIG_HOME");
  const auto home = getenv_value("HOME");
  if (xdg && fs::path(*xdg).is_absolute())
    in.user_file = fs::path(*xdg) / "remora" / "config.yaml";
  else if (home && !home->empty())
    in.user_file = fs::path(*home) / ".config" / "remora" / "config.yaml";
  in.project_file = config_file.empty() ? fs::path(kProjectConfigFile) : fs::path(config_file);
  in.project_file_required = !config_file.empty();
  in.env = getenv_value;
  in.flags = std::move(flags);
  return in;
}

ConfigLayerInputs ConfigLayerInputs::flags_only(ModelServerFlags flags) {
  ConfigLayerInputs in;
  in.flags = std::move(flags);
  return in;
}

ModelServerConfig ModelServerConfig::load(const ConfigLayerInputs& in) {
  ModelServerConfig c;
  std::error_code ec;
  if (in.user_file && fs::exists(*in.user_file, ec)) read_file(*in.user_file, "user", c);
  if (in.project_file) {
    if (fs::exists(*in.project_file, ec))
      read_file(*in.project_file, "project", c);
    else if (in.project_file_required)
      throw Error(Errc::invalid_argument, "--config " + in.project_file->string() + ": no such file");
  }
  if (in.env)
    for (const auto& s : kSettings) {
      auto value = in.env(s.env);
      if (!value || value->empty()) continue;  // an empty variable is an unset one
      if (auto problem = problem_with(s.field, *value); !problem.empty())
        throw Error(Errc::invalid_argument, fmt::format("{}: {}", s.env, problem));
      c.*s.member = {*value, "env", s.env};
    }
  for (const auto& s : kSettings) {
    const auto& value = in.flags.*s.flag_value;
    if (!value) continue;
    if (auto problem = problem_with(s.field, *value); !problem.empty())
      throw Error(Errc::invalid_argument, fmt::format("{}: {}", s.flag, problem));
    c.*s.member = {*value, "flag", s.flag};
  }
  return c;
}

std::vector<std::pair<std::string, const LayeredSetting*>> ModelServerConfig::settings() const {
  std::vector<std::pair<std::string, const LayeredSetting*>> out;
  for (const auto& s : kSettings) out.emplace_back(s.field, &(this->*s.member));
  return out;
}

std::string ModelServerConfig::api_key_status() const {
  if (api_key_env.value.empty()) return "none";
  auto value = getenv_value(api_key_env.value);
  return value && !value->empty() ? "set" : "unset";  // resolve_api_key refuses an empty one too
}

void ModelServerConfig::apply(std::map<std::string, Bundle>& bundles) const {
  for (auto& [name, b] : bundles) {
    if (b.kind != "agent" || b.model.provider != "openai") continue;
    ModelSettings& m = b.model;
    for (const auto& s : kSettings)
      if (const LayeredSetting& setting = this->*s.member; setting.overrides()) m.*s.in_bundle = setting.value;
    spdlog::debug("bundle {}: model server {}, model '{}', key variable '{}'", name, m.base_url, m.model, m.api_key_env);
  }
}

json ModelServerConfig::to_json() const {
  json j = json::object();
  for (const auto& [name, s] : settings()) j[name] = {{"value", s->value}, {"layer", s->layer}, {"source", s->source}};
  j["api_key"] = api_key_status();
  return j;
}

std::string ModelServerConfig::to_text() const {
  std::string out;
  for (const auto& [name, s] : settings()) {
    const std::string value = s->value.empty() ? "\"\"" : inert_text(s->value);
    const std::string from = s->overrides() ? s->layer + ": " + inert_text(s->source) : "default";
    out += fmt::format("{:<12} {:<32} ({})\n", name, value, from);
  }
  out += fmt::format("{:<12} {}\n", "api_key", api_key_status());
  return out;
}

}  // namespace remora
