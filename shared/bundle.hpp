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
//
// Strings may use {agent}, {target}, {attempt} and {answer} (the last answer to an ask step).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace remora {

struct Step {
  std::string kind;     // write delete ask work fail crash hang result
  nlohmann::json args;  // always an object, validated for its kind
  bool operator==(const Step&) const = default;
};

struct Bundle {
  std::string name;
  std::string description;
  std::string kind = "steps";
  std::vector<Step> steps;

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
