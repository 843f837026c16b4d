// ScriptedProvider: the offline model. It replies to an agent's turn n with turn n of its bundle's
// `script` (content and tool calls whose arguments are templates over the agent's node and the
// conversation: {last_result} is the text of the latest tool result, {last_result.F} its field F
// when it is a JSON object, {turn} the turn number).
// Deterministic — the same conversation always gets the same reply — so remora runs without a
// model server in tests, benchmarks and the demo. A conversation past the script's end gets a
// final reply without tool calls.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "shared/bundle.hpp"
#include "shared/template.hpp"
#include "supervisor/model_provider.hpp"

namespace remora {

class ScriptedProvider : public ModelProvider {
 public:
  using VarsFn = std::function<TemplateVars(const std::string& agent_id)>;
  // bundles: by name (a request's settings name its bundle); vars: the agent's template variables.
  ScriptedProvider(std::map<std::string, Bundle> bundles, VarsFn vars);
  ModelReply complete(const ModelCall& call) override;
  bool immediate() const override { return true; }

 private:
  std::map<std::string, Bundle> bundles_;
  VarsFn vars_;
};

}  // namespace remora
