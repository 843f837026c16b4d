#include "cluster/cluster_answer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cluster/cluster_keys.hpp"
#include "shared/error.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora::cluster {

AnswerGiven answer_in_cluster(EtcdClient& etcd, const std::string& qid, const std::string& text,
                              const std::string& graph_name) {
  std::optional<KeyValue> q;
  if (!graph_name.empty()) {
    q = etcd.get(ckeys::question(graph_name, qid));
  } else {  // the question's graph, found by its id
    std::vector<std::string> graphs;
    for (auto& kv : etcd.range_prefix(ckeys::kQuestionRoot)) {
      const auto rest = kv.key.substr(std::string(ckeys::kQuestionRoot).size());
      if (auto slash = rest.find('/'); slash != std::string::npos && rest.substr(slash + 1) == qid) {
        graphs.push_back(rest.substr(0, slash));
        q = std::move(kv);
      }
    }
    if (graphs.size() > 1)
      throw Error(Errc::invalid_argument, "question " + qid + " is asked in the runs of several graphs (" +
                                              inert_text(fmt::format("{}", fmt::join(graphs, ", "))) + "): name one with --graph");
  }
  if (!q) throw Error(Errc::not_found, "the etcd cluster holds no question " + qid + (graph_name.empty() ? "" : " of graph " + graph_name));
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
