// The template variables of an agent (see shared/template.hpp): its code node's fields, and the
// node's code read through the agent's overlay. Prompts (in the worker) and scripted replies (in
// the supervisor) see the same values.
#pragma once

#include "proto/records.hpp"
#include "shared/template.hpp"
#include "shared/workspace.hpp"

namespace remora {

TemplateVars node_vars(const Workspace& ws, const Namespace& ns, const proto::AgentState& agent);

}  // namespace remora
