// ModelServerConfig: the model server a run's `openai` bundles talk to (base_url, model, the
// variable holding the API key), layered as git and cargo layer theirs, each layer over the ones
// before it: built-in defaults, the user's file, the project's file, the environment, flags.
//
//   defaults < $XDG_CONFIG_HOME/remora/config.yaml (~/.config/...) < remora.yaml (or --config FILE)
//            < REMORA_MODEL_URL, REMORA_MODEL, REMORA_API_KEY_ENV < --model-url, --model, --api-key-env
//
// A bundle's own `model:` values sit just above the defaults: a setting that no file, variable or
// flag gives is the bundle's. Files are untrusted input: bad ones are refused naming file and line.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shared/bundle.hpp"

namespace remora {

// One setting's value and the layer that gave it.
struct LayeredSetting {
  std::string value;
  std::string layer = "default";  // default | user | project | env | flag
  std::string source;             // the file's path, the variable's or the flag's name; "" for default
  bool overrides() const { return layer != "default"; }
};

// What the command line says, each flag given or not.
struct ModelServerFlags {
  std::optional<std::string> base_url;     // --model-url
  std::optional<std::string> model;        // --model
  std::optional<std::string> api_key_env;  // --api-key-env
};

// Where the layers are read from. Absent files are skipped, except a project file given by flag.
struct ConfigLayerInputs {
  std::optional<std::filesystem::path> user_file;     // $XDG_CONFIG_HOME/remora/config.yaml
  std::optional<std::filesystem::path> project_file;  // ./remora.yaml, or --config FILE
  bool project_file_required = false;                 // named by --config: must exist
  // The environment: a variable's value, nullopt when unset. None: no environment layer.
  std::function<std::optional<std::string>(const std::string&)> env;
  ModelServerFlags flags;

  // Every layer, from this process: XDG_CONFIG_HOME (else HOME/.config), ./remora.yaml unless
  // config_file names the project file, the process's environment, and these flags.
  static ConfigLayerInputs from_process(const std::string& config_file, ModelServerFlags flags);
  // Flags only, over the settings stored with a run (what `remora resume` applies).
  static ConfigLayerInputs flags_only(ModelServerFlags flags);
};

// The project's file in the current directory.
inline constexpr const char* kProjectConfigFile = "remora.yaml";

struct ModelServerConfig {
  LayeredSetting base_url{ModelSettings{}.base_url, "default", ""};
  LayeredSetting model;
  LayeredSetting api_key_env;

  // The layers of inputs, in order. Throws Error(invalid_argument) naming the file and line, the
  // variable or the flag at fault (a bad base_url, an unknown field, a --config file that does
  // not exist).
  static ModelServerConfig load(const ConfigLayerInputs& inputs);

  // The settings by name, in the order they print.
  std::vector<std::pair<std::string, const LayeredSetting*>> settings() const;
  // "set" when api_key_env names a variable that holds a value here, "unset" when it names one
  // that does not, "none" when it names none. Never the key.
  std::string api_key_status() const;

  // Sets every setting a layer gave on each `openai` agent bundle; the others keep their own.
  void apply(std::map<std::string, Bundle>& bundles) const;

  // {"base_url": {"value", "layer", "source"}, ..., "api_key": "set"}
  nlohmann::json to_json() const;
  // One line per setting, "name  value  (where from)", then the key's status.
  std::string to_text() const;
};

}  // namespace remora
