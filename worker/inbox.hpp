// Waiting on the workspace: a worker blocks until a record appears in its overlay (an answer, a
// model response), woken by the commit that writes it — never by polling.
#pragma once

#include <string>

#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora::worker {

// The value at key in ns, waiting for the commit that writes it if it is not there yet.
std::string await_key(Workspace& ws, const Namespace& ns, const std::string& key);

// Asks the human q (committing outbox:question:<q.id> unless already asked — a restarted worker
// asks with the same id and gets an answer given while it was down) and returns the answer, once
// it has marked the question record answered.
std::string ask_and_wait(Workspace& ws, const Namespace& ns, const proto::Question& q);

}  // namespace remora::worker
