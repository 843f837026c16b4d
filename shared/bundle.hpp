// Bundle: what an agent does, loaded from a directory holding bundle.yaml.
//
// This file knows the `steps` kind: a fixed sequence of steps that a worker executes in order,
// committing each step's effects together with its position so that a restarted worker resumes
// at the next step. It drives real workers without a model (tests, scripted pipelines, demos).
//
//   name: trivial                 # required; must match the directory name
//   description: ...              # optional
//   kind: steps                   # required
//   steps:                        # required, at least one
//     - write: {path: "out/{agent}.txt", content: "done by {agent}"}
//     - delete: {path: "old.txt"}
//     - ask: {question: "Proceed?", options: [yes, no], default: yes, timeout: 60}
//     - work: {ms: 100}           # simulated work (blocks the worker that long)
//     - fail: {message: "broken"} # ends the agent failed with that error
//     - crash: {signal: SEGV, attempts: [0]}   # raise the signal on these attempts (all if absent)
//     - hang: {}                  # stop heartbeating and block forever
//     - result: {summary: "..."}  # the summary reported on completion
//     - attempt: {action: connect, port: 8080}  # a hostile action: only the test worker (tests/hostile/) has them
//
// Strings may use {agent}, {target}, {attempt} and {answer} (the last answer to an ask step).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "shared/bounded_json.hpp"

namespace remora {

struct Step {
  std::string kind;     // write delete ask work fail crash hang result attempt
  nlohmann::json args;  // always an object, validated for its kind
  bool operator==(const Step&) const = default;
};

// How an agent bundle reaches its model. Served by the supervisor's model gateway: workers never
// see base_url or the key.
struct ModelSettings {
  std::string provider = "scripted";  // scripted (replies from the bundle's `script`) | openai
  std::string model;                  // the model name sent to the server
  double temperature = 0.1;
  std::uint32_t max_tokens = 4096;
  std::string base_url = "http://localhost:8000/v1";  // openai: the server's /v1 root
  std::string api_key_env;  // openai: the environment variable (of the supervisor) holding the key
  double timeout_s = 120;   // one HTTP request
  std::uint32_t retries = 3;       // on 429, 5xx and connection errors, with exponential backoff
  std::uint32_t concurrency = 8;   // requests in flight to this server, across all agents
  // A reply (and the tool arguments in it) past these is refused: the agent fails naming the limit.
  std::uint32_t max_reply_mb = kModelJsonLimits.max_bytes >> 20;  // the reply's body, in MiB (16)
  std::uint32_t max_json_depth = kModelJsonLimits.max_depth;  // nesting of objects and arrays (64; at most 200)
  JsonLimits json_limits() const { return {max_json_depth, std::size_t{max_reply_mb} << 20}; }
  bool operator==(const ModelSettings&) const = default;
};

// A tool that runs a program over a private copy of the agent's view of files: `command` is the
// argv, each element expanded with the call's arguments ({path}, {style}, ...). Arguments named
// in `files` are project paths: those files are copied in before and read back after the run.
struct CommandToolSpec {
  std::string name;
  std::string description;
  nlohmann::json parameters;  // JSON schema of the arguments (an object schema)
  std::vector<std::string> command;
  std::vector<std::string> files;  // argument names holding project paths (default: ["path"] if present)
  double timeout_s = 60;
  bool operator==(const CommandToolSpec&) const = default;
};

// One reply of the scripted provider: text and/or tool calls whose arguments are templates over
// the node ({path}, {name}, ...) and the conversation ({last_result}: the previous tool result;
// {last_result.F}: its field F when it is a JSON object).
struct ScriptedTurn {
  std::string content;
  nlohmann::json tool_calls = nlohmann::json::array();  // [{name, arguments: {...}}]
  bool operator==(const ScriptedTurn&) const = default;
};

// The tools every agent bundle may name (worker/builtin_tools.* implements them).
inline constexpr std::array<std::string_view, 13> kBuiltinTools = {
    "read_file",      "write_file",   "edit_file", "delete_file", "list_files", "search_files", "search_content",
    "ask_user",       "send_message", "get_messages", "kv_get",   "kv_put",     "submit_result"};

struct Bundle {
  std::string name;
  std::string description;
  std::string kind = "agent";  // agent (a model loop) | steps (a fixed sequence, see above)

  // which discovered nodes it applies to (both kinds)
  std::vector<std::string> node_types;  // node types it applies to; empty: every type
  nlohmann::json when = nlohmann::json::object();  // node fields that must equal these values

  // agent bundles
  std::string system_prompt;  // templates over the node: {path} {name} {qualified_name} {type}
  std::string user_prompt;    // {language} {code} {start_line} {end_line} {params} {doc} {agent}
  ModelSettings model;
  std::uint32_t max_turns = 8;
  std::vector<std::string> tools;  // built-in tool names and command tool names it may use
  std::vector<CommandToolSpec> command_tools;
  std::string termination_tool = "submit_result";
  std::vector<ScriptedTurn> script;  // the scripted provider's replies, in order
  // The files of <bundle dir>/tools/ (scripts its command tools run), by file name. Stored with
  // the bundle, so that a sandboxed worker needs no access to the bundle's directory: a command
  // tool finds them in its private copy, at the path {bundle_dir} expands to.
  std::map<std::string, std::string> resources;

  // steps bundles
  std::vector<Step> steps;

  // Whether this bundle applies to a discovered node (its JSON form, see discovery.hpp).
  bool applies_to(const nlohmann::json& node) const;

  nlohmann::json to_json() const;
  // Throws Error(invalid_argument) naming the field at fault.
  static Bundle from_json(const nlohmann::json& j);
  bool operator==(const Bundle&) const = default;
};

// Reads and validates DIR/bundle.yaml. Every problem found is reported, each naming the file and
// the field (e.g. "bundles/lint/bundle.yaml: steps[2].ask.question: required"), in one
// Error(invalid_argument) whose message lists them one per line.
Bundle load_bundle(const std::filesystem::path& dir);

// Replaces {agent}, {target}, {attempt}, {answer} in s.
std::string expand(std::string s, const std::string& agent, const std::string& target, unsigned attempt,
                   const std::string& answer);

}  // namespace remora
