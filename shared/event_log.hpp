// The event log: events are records at event:<revision>:<seq> in base, committed in the same
// transaction as the change they report. The supervisor appends its events here; so does anything
// else that reports to the run from outside it (checkpoints).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora {

// Stamps each event with the transaction's revision, an id "<revision>-<seq>", and puts it.
void append_events(WriteTxn& t, const Namespace& base, std::vector<proto::Event>& events);

// Commits one event in a transaction of its own, with the graph and session ids of the run the
// workspace holds (empty when it holds none). Returns the event as committed.
proto::Event commit_event(Workspace& ws, std::string category, std::string action, const nlohmann::json& payload);

}  // namespace remora
