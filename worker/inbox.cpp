#include "worker/inbox.hpp"

#include <spdlog/spdlog.h>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/watcher.hpp"

namespace remora::worker {

std::string await_key(Workspace& ws, const Namespace& ns, const std::string& key) {
  Watcher w(ws, key);  // taken before looking, so that no commit in between is missed
  for (;;) {
    if (auto e = ws.get(ns, key)) return std::move(e->value);
    w.next();
  }
}

std::string ask_and_wait(Workspace& ws, const Namespace& ns, const proto::Question& q) {
  const auto qkey = keys::question(q.id), rkey = keys::response(q.id);
  if (!ws.get(ns, qkey)) {
    auto bytes = proto::encode(q);
    ws.write([&](WriteTxn& t) { t.put(ns, qkey, bytes); });
    spdlog::info("asked {}: {}", q.id, q.question);
  }
  auto r = await_key(ws, ns, rkey);
  return proto::decode<proto::Response>(r, rkey).answer;
}

}  // namespace remora::worker
