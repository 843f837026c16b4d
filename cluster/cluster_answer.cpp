#include "cluster/cluster_answer.hpp"

#include "cluster/cluster_keys.hpp"
#include "shared/error.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora::cluster {

AnswerGiven answer_in_cluster(EtcdClient& etcd, const std::string& qid, const std::string& text) {
  auto q = etcd.get(ckeys::question(qid));
  if (!q) throw Error(Errc::not_found, "the etcd cluster holds no question " + qid);
  auto j = nlohmann::json::parse(q->value, nullptr, false);
  if (!j.is_object()) throw Error(Errc::corrupt, "question " + qid + " in etcd does not decode");
  const std::string graph = j.value("graph", ""), agent = j.value("agent", "");
  const std::string ans = checked_answer(qid, j.value("options", std::vector<std::string>{}), text);
  const auto key = ckeys::answer(graph, qid);
  if (!etcd.create(key, ans)) {
    auto was = etcd.get(key);
    throw Error(Errc::invalid_argument,
                "question " + qid + " is already answered" + (was ? ": " + inert_text(was->value) : std::string()));
  }
  return {qid, agent, ans};
}

}  // namespace remora::cluster
