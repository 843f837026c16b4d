#include "shared/event_log.hpp"

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"

namespace remora {

void append_events(WriteTxn& t, const Namespace& base, std::vector<proto::Event>& events) {
  std::uint32_t seq = 0;
  for (auto& e : events) {
    e.revision = t.revision();
    e.id = std::to_string(e.revision) + "-" + std::to_string(seq);
    t.put(base, keys::event(e.revision, seq++), proto::encode(e));
  }
}

proto::Event commit_event(Workspace& ws, std::string category, std::string action, const nlohmann::json& payload) {
  std::vector<proto::Event> events(1);
  proto::Event& e = events.front();
  e.timestamp_ms = now_ms();
  e.category = std::move(category);
  e.action = std::move(action);
  e.payload_json = payload.dump();
  const Namespace base = ws.ns(keys::kBase);
  ws.write([&](WriteTxn& t) {
    if (auto run = t.get(base, keys::kRunGraph)) {
      auto r = proto::decode<proto::Run>(run->value, keys::kRunGraph);
      e.graph_id = r.graph_id;
      e.session_id = r.session_id;
    }
    append_events(t, base, events);
  });
  return e;
}

}  // namespace remora
