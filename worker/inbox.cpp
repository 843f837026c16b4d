#include "worker/inbox.hpp"

#include <spdlog/spdlog.h>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/watcher.hpp"

namespace remora::worker {

std::string ask_and_wait(Workspace& ws, const Namespace& ns, const proto::Question& q) {
  const auto qkey = keys::question(q.id), rkey = keys::response(q.id);
  if (!ws.get(ns, qkey)) {
    auto bytes = proto::encode(q);
    ws.write([&](WriteTxn& t) { t.put(ns, qkey, bytes); });
    spdlog::info("asked {}: {}", q.id, q.question);
  }
  auto answer = proto::decode<proto::Response>(remora::await_key(ws, ns, rkey)->value, rkey).answer;
  // The question record says it is answered, not pending, once the answer has come.
  ws.write([&](WriteTxn& t) {
    auto e = t.get(ns, qkey);
    if (!e) return;
    auto asked = proto::decode<proto::Question>(e->value, qkey);
    if (asked.status == "answered") return;
    asked.status = "answered";
    t.put(ns, qkey, proto::encode(asked));
  });
  return answer;
}

}  // namespace remora::worker
