// Checkpoints: consistent hot copies of a workspace's environment, kept beside it, to go back to
// (restore) or to start a new workspace from (fork) without losing the present.
//
//   <ws>/checkpoints/<id>/data.mdb       the copy: mdb_env_copyfd2 with compaction, from one read
//                                        snapshot, while every process keeps writing
//   <ws>/checkpoints/<id>/manifest.json  id, time, message, trigger, revision, size, the run's
//                                        graph id and state, every agent's state (read from the
//                                        copy itself, so they describe exactly what it holds)
//
// Ids sort by time: 20261122T101500-3f2a (UTC to the second, then four random hex digits).
//
// Crash safety. A checkpoint is written as checkpoints/.tmp-<id>/ and renamed into place once
// complete and synced, so a kill at any moment leaves no partial checkpoint listed; pruning
// renames a checkpoint away before deleting it. The next take or prune removes such strays. Both
// hold an flock on checkpoints/.lock, so the supervisor's snapshots and `remora checkpoint` take
// turns.
//
// Restore replaces <ws>/data.mdb and needs every process to have closed the environment. It
// holds LMDB's own exclusive lock for it (a write lock on byte 0 of lock.mdb, which each process
// with the environment open holds shared, so that a process opening it meanwhile waits), copies
// the checkpoint beside the live file as data.mdb.restoring and syncs it, writes the marker
// restore.json, renames over data.mdb (atomic), opens the environment while still holding the
// lock (LMDB then rebuilds the lock file for the new data), commits checkpoint:restored and
// removes the marker. recover_restore() undoes a restore interrupted before the rename and
// completes one interrupted after it: the workspace is always exactly the old one or exactly the
// checkpoint, never a mix.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora {

struct CheckpointManifest {
  std::string id;
  std::int64_t time_ms = 0;
  std::string message;
  std::string trigger = "manual";  // manual (remora checkpoint) | auto (the supervisor's snapshots)
  std::uint64_t revision = 0;      // the workspace revision the copy holds
  std::uint64_t bytes = 0;         // size of its data.mdb
  double seconds = 0;              // how long taking it took
  std::string graph_id;            // the run the copy holds; empty when it holds none
  std::string graph_name;
  std::string run_state;
  std::map<std::string, std::string> agents;  // agent id -> state

  // "3 completed, 1 running", or "-" without agents.
  std::string agents_summary() const;
  nlohmann::json to_json() const;
  static CheckpointManifest from_json(const nlohmann::json& j);  // throws Error(corrupt)
};

// A checkpoint put back into a workspace, and the checkpoint:restored event committed there.
struct Restored {
  CheckpointManifest checkpoint;
  std::uint64_t from_revision = 0;  // the revision of the state it replaced (or forked from)
  proto::Event event;
};

class Checkpoints {
 public:
  explicit Checkpoints(std::filesystem::path workspace_dir);
  const std::filesystem::path& dir() const { return dir_; }  // <ws>/checkpoints

  struct Taken {
    CheckpointManifest manifest;
    proto::Event event;  // checkpoint:saved, as committed into ws
  };
  // Checkpoints ws (opened on this workspace directory) and commits checkpoint:saved into it.
  Taken take(Workspace& ws, const std::string& message, const std::string& trigger = "manual");

  std::vector<CheckpointManifest> list() const;  // oldest first
  CheckpointManifest find(const std::string& id) const;  // throws Error(not_found)
  // Deletes the oldest checkpoints of this trigger beyond the newest `keep`; returns their ids.
  std::vector<std::string> prune(std::size_t keep, const std::string& trigger = "auto");

  // Replaces the workspace with checkpoint id and commits checkpoint:restored into it. No
  // process may have the workspace open (this one included): Error(busy) names one that has.
  Restored restore(const std::string& id);
  // Starts a new workspace in `to` (which must not hold one) from checkpoint id, committing
  // checkpoint:restored there; this workspace is left untouched. from_revision is reported in
  // the event (this workspace's revision now).
  Restored fork(const std::string& id, const std::filesystem::path& to, std::uint64_t from_revision);

  // Undoes or completes a restore interrupted by a crash (see above); a no-op when there was
  // none. Call before opening the workspace.
  static void recover_restore(const std::filesystem::path& workspace_dir);

 private:
  std::filesystem::path ws_dir_;
  std::filesystem::path dir_;
};

}  // namespace remora
