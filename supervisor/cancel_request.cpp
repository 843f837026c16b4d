#include "supervisor/cancel_request.hpp"

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "supervisor/run_lock.hpp"

namespace remora {

CancelRequested request_cancel(Workspace& ws, const std::string& dir, const std::string& agent, bool all) {
  if (all == !agent.empty()) throw Error(Errc::invalid_argument, "name one agent, or --all");
  const auto base = ws.ns("base");
  if (!all && !ws.get(base, keys::run_agent(agent))) throw Error(Errc::not_found, "no agent " + agent + " in the run");
  proto::Control c;
  c.action = "cancel";
  c.target = all ? "*" : agent;
  c.requested_at_ms = now_ms();
  auto bytes = proto::encode(c);
  ws.write([&](WriteTxn& t) { t.put(base, keys::run_control(std::to_string(t.revision())), bytes); });
  return {c.target, RunLock::held(dir)};
}

}  // namespace remora
