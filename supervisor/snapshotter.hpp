// Snapshotter: the supervisor's automatic checkpoints (config.snapshot; the store is
// shared/checkpoint.hpp). On a thread of its own it checkpoints the workspace every every_s
// seconds when anything (the supervisor or a worker) was committed since the last one, or once
// every_revisions revisions have been committed since, and a last time when the graph ends; after each it prunes automatic
// checkpoints to the newest `keep` (checkpoints taken with `remora checkpoint` are never pruned).
// The supervisor loop only reports its commits, which never blocks, and the copy is a read
// snapshot, so neither the loop nor any worker waits for a checkpoint. A checkpoint that fails
// is logged and tried again at the next trigger.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "proto/records.hpp"
#include "shared/workspace.hpp"
#include "supervisor/graph_spec.hpp"

namespace remora {

class Snapshotter {
 public:
  using OnSaved = std::function<void(const proto::Event&)>;  // checkpoint:saved, once committed

  Snapshotter(Workspace& ws, SnapshotConfig config, OnSaved on_saved);
  ~Snapshotter();  // a checkpoint under way is finished first
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // The supervisor committed this revision.
  void committed(std::uint64_t revision);
  // Takes the last checkpoint (the graph ended) and returns once it is saved.
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  void loop();
  // Takes one checkpoint and prunes; returns the revision of its checkpoint:saved event, or 0
  // when it failed (logged).
  std::uint64_t take(const std::string& why);
  std::uint64_t current_revision() const;  // 0 when it cannot be read (logged)

  Workspace& ws_;
  const SnapshotConfig config_;
  const OnSaved on_saved_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t latest_ = 0;     // the newest revision known committed
  std::uint64_t saved_rev_ = 0;  // the revision of the last checkpoint's checkpoint:saved
  bool final_ = false, done_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace remora
