// Review: what a human does with the changes of completed agents. `diff` shows an agent's view of
// the project against base; `accept` takes it into base and writes it to the project directory;
// `reject` discards it; `undo` takes the last accept back, on disk and in base.
//
// An agent's changes are what it sees through its overlay and the overlays it reads through (a
// dependency on the same node) against base, for `file:` keys. Accepting an agent accepts those
// ancestors with it, in one step. An agent that a pending agent builds on cannot be accepted or
// rejected alone: accept the later one (which takes both), or reject it first.
//
// A file the agent changed that changed since it started, on disk or in base (an accepted sibling:
// the workspace's merge conflict rule), is merged three-way (three_way_merge.hpp) from the version
// it started from (base's, or the one kept as run:base_file when base moved): accepted when the
// changes touch different lines, refused showing the conflicting hunks, writing nothing, when they
// touch the same. Accept is refused as a stale base, naming every file, when a file cannot be
// merged (deleted on a side, binary, where it started unknown) or a file the agent only read
// changed in base; --force takes the agent's version anyway. The crash-safety protocol (an undo
// entry committed before the disk is touched, atomic file writes, one transaction for the
// merge, recovery of an interrupted accept or undo by the next command) is in docs/review.md.
//
// Mutating commands hold the review lock (an flock on <workspace>/review.lock): one at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/records.hpp"
#include "shared/error.hpp"
#include "shared/workspace.hpp"
#include "review/unified_diff.hpp"

namespace remora {

// One file an agent's view changes against base.
struct FileChange {
  std::string path;
  std::optional<FileSide> before;  // in base; absent when the agent creates it
  std::optional<FileSide> after;   // in the agent's view; absent when it deletes it
};

// The run's agents (run:agent:*), in the graph's dependency order (by id without a graph).
std::vector<proto::AgentState> run_agents(const Workspace& ws);

// The changes of an agent's view against base, by path; none when it has no overlay.
std::vector<FileChange> agent_changes(const Workspace& ws, const proto::AgentState& agent);

// Whether the agent has completed with changes that await review.
bool awaits_review(const proto::AgentState& agent);

// A file that makes an accept or an undo stale.
struct StaleFile {
  std::string path;
  std::string why;  // "changed on disk", "changed in the base"
};

// An accept or undo refused (Errc::conflict) because files moved underneath it.
class StaleBase : public Error {
 public:
  StaleBase(const std::string& what, std::vector<StaleFile> files);
  const std::vector<StaleFile>& files() const { return files_; }

 private:
  std::vector<StaleFile> files_;
};

struct Accepted {
  std::string agent;
  std::vector<std::string> with;  // ancestors accepted with it, nearest first
  std::vector<FileChange> files;  // the agent's changes written to the project
  std::vector<std::string> merged;  // of those, files merged three-way with changes made since
  bool forced = false;            // stale or conflicting files were overwritten under --force
};

// What accept --all did with one agent: accepted, or refused with the reason.
struct AcceptAttempt {
  std::string agent;
  std::optional<Accepted> accepted;
  std::string refused;  // the error's message when not accepted
};

struct Undone {
  std::string agent;               // the accept taken back
  std::vector<std::string> files;  // paths restored
};

class Review {
 public:
  // Takes the review lock (Error busy naming the holder when another command holds it) and
  // finishes an accept or undo that a crash interrupted (see recovered()).
  explicit Review(Workspace& ws);
  ~Review();
  Review(const Review&) = delete;
  Review& operator=(const Review&) = delete;

  // What recovery did when the lock was taken, one sentence each; empty if nothing was pending.
  const std::vector<std::string>& recovered() const { return recovered_; }

  // Throws StaleBase (see above); Error(conflict) for an agent that is not completed, already
  // reviewed, or that a pending agent builds on; Error(not_found) for an unknown agent, one
  // with no changes, or a workspace with no imported project; Error(io) when the disk fails
  // (the accept is then rolled back).
  Accepted accept(const std::string& agent, bool force);
  // Every agent awaiting review, in dependency order; an agent that a pending agent builds on is
  // accepted with that one.
  std::vector<AcceptAttempt> accept_all(bool force);
  // Discards the agent's overlay (and the overlays of finished agents reading through it).
  // Returns the agents whose overlays were dropped.
  std::vector<std::string> reject(const std::string& agent);
  // Rejects every agent awaiting review; returns their ids.
  std::vector<std::string> reject_all();
  // Takes back the last accept not yet undone. Refused as a stale base when one of its files
  // changed on disk or in base since, unless force.
  Undone undo(bool force);

 private:
  struct Lock;
  std::unique_ptr<Lock> lock_;
  Workspace& ws_;
  std::vector<std::string> recovered_;
};

// For commands that do not review: finishes an interrupted accept or undo, unless a live review
// command holds the lock (it is then at work, not interrupted). Returns what it did.
std::vector<std::string> recover_interrupted_review(Workspace& ws);

}  // namespace remora
