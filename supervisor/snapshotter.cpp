#include "supervisor/snapshotter.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "shared/checkpoint.hpp"

namespace remora {

Snapshotter::Snapshotter(Workspace& ws, SnapshotConfig config, OnSaved on_saved)
    : ws_(ws), config_(config), on_saved_(std::move(on_saved)), thread_([this] { loop(); }) {}

Snapshotter::~Snapshotter() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Snapshotter::committed(std::uint64_t revision) {
  bool due;
  {
    std::lock_guard lk(mu_);
    latest_ = std::max(latest_, revision);
    due = config_.every_revisions > 0 && latest_ - saved_rev_ >= config_.every_revisions;
  }
  if (due) cv_.notify_all();
}

void Snapshotter::finish() {
  std::unique_lock lk(mu_);
  final_ = true;
  cv_.notify_all();
  cv_.wait(lk, [&] { return done_; });
}

void Snapshotter::loop() {
  const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(config_.every_s));
  std::unique_lock lk(mu_);
  auto next_tick = Clock::now() + every;
  for (;;) {
    auto by_revisions = [&] { return config_.every_revisions > 0 && latest_ - saved_rev_ >= config_.every_revisions; };
    auto by_time = [&] { return config_.every_s > 0 && Clock::now() >= next_tick; };
    auto ready = [&] { return stop_ || final_ || by_revisions() || by_time(); };
    if (config_.every_s > 0) {
      cv_.wait_until(lk, next_tick, ready);
    } else {
      cv_.wait(lk, ready);
    }
    if (!ready()) continue;
    if (stop_ && !final_) return;
    const bool last = final_;
    const std::string why = last            ? "graph ended"
                            : by_revisions() ? fmt::format("{} revisions", config_.every_revisions)
                                             : fmt::format("every {}s", config_.every_s);
    next_tick = Clock::now() + every;
    if (!last && latest_ <= saved_rev_) {  // a tick: workers may have committed since the supervisor did
      lk.unlock();
      const auto now = current_revision();
      lk.lock();
      latest_ = std::max(latest_, now);
    }
    if (last || latest_ > saved_rev_) {  // a tick with nothing new since the last checkpoint takes none
      const auto at = latest_;
      lk.unlock();
      const auto revision = take("auto: " + why);
      lk.lock();
      saved_rev_ = std::max({saved_rev_, at, revision});  // a failed one waits for the next trigger
    }
    if (last) {
      done_ = true;
      cv_.notify_all();
      return;
    }
  }
}

std::uint64_t Snapshotter::take(const std::string& why) {
  try {
    Checkpoints store(ws_.dir());
    auto taken = store.take(ws_, why, "auto");
    on_saved_(taken.event);
    for (const auto& id : store.prune(config_.keep, "auto")) spdlog::debug("pruned checkpoint {}", id);
    return taken.event.revision;  // nothing after the checkpoint but its own event
  } catch (const std::exception& e) {
    spdlog::warn("automatic checkpoint ({}) failed: {}", why, e.what());
    return 0;
  }
}

std::uint64_t Snapshotter::current_revision() const {
  try {
    return ws_.revision();
  } catch (const std::exception& e) {
    spdlog::warn("automatic checkpoints: cannot read the workspace revision: {}", e.what());
    return 0;
  }
}

}  // namespace remora
