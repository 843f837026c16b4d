#include "worker/heartbeat.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"

namespace remora::worker {

Heartbeat::Heartbeat(Workspace& ws, Namespace ns, std::string agent_id, std::chrono::milliseconds interval)
    : ws_(ws), ns_(std::move(ns)), agent_id_(std::move(agent_id)), interval_(interval), thread_([this] { loop(); }) {}

Heartbeat::~Heartbeat() { stop(); }

void Heartbeat::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Heartbeat::loop() {
  const auto key = keys::heartbeat(agent_id_);
  // One beat per interval, the first an interval after the start (the supervisor awaits it with a
  // start grace): an agent that ends sooner never commits one.
  for (std::uint64_t seq = 1;; ++seq) {
    {
      // A timer, not a poll: the wait ends early only when stop() is called.
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, interval_, [&] { return stopping_; })) return;
    }
    proto::Heartbeat hb{};
    hb.pid = ::getpid();
    hb.at_ms = now_ms();
    hb.sequence = seq;
    try {
      auto bytes = proto::encode(hb);
      ws_.write([&](WriteTxn& t) { t.put(ns_, key, bytes); });
    } catch (const std::exception& e) {
      spdlog::warn("heartbeat of {} not written: {}", agent_id_, e.what());
    }
  }
}

}  // namespace remora::worker
