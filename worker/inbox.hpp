// Asking the human from a worker: the question committed into its overlay, the answer awaited with
// remora::await_key (shared/watcher.hpp), woken by the commit that writes it — never by polling.
#pragma once

#include <string>

#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora::worker {

// Asks the human q (committing outbox:question:<q.id> unless already asked — a restarted worker
// asks with the same id and gets an answer given while it was down) and returns the answer, once
// it has marked the question record answered.
std::string ask_and_wait(Workspace& ws, const Namespace& ns, const proto::Question& q);

}  // namespace remora::worker
