// The etcd key layout of a cluster run (docs/scale-out.md): a graph's run under
// /remora/graph/<graph>/, its questions under /remora/question/<graph>/ (so that `remora answer
// --cluster` finds one by its id alone) and its agents' changes under /remora/review/<graph>/.
// A run that has ended gives way to the next run of the same graph: all three are removed.
#pragma once

#include <cstddef>
#include <string>

namespace remora::cluster::ckeys {

inline std::string graph_prefix(const std::string& graph) { return "/remora/graph/" + graph + "/"; }
inline std::string spec(const std::string& graph) { return graph_prefix(graph) + "spec"; }
inline std::string plan(const std::string& graph) { return graph_prefix(graph) + "plan"; }
inline std::string host_slot(const std::string& graph, int slot) {
  return graph_prefix(graph) + "host/" + std::to_string(slot);
}
inline std::string host_prefix(const std::string& graph) { return graph_prefix(graph) + "host/"; }
inline std::string agent_prefix(const std::string& graph) { return graph_prefix(graph) + "agent/"; }
inline std::string agent(const std::string& graph, const std::string& id) { return agent_prefix(graph) + id; }
inline std::string answer_prefix(const std::string& graph) { return graph_prefix(graph) + "answer/"; }
inline std::string answer(const std::string& graph, const std::string& qid) { return answer_prefix(graph) + qid; }
// Questions of every graph, for `remora answer --cluster` to find one by its id alone.
inline constexpr const char* kQuestionRoot = "/remora/question/";
inline std::string question_prefix(const std::string& graph) { return kQuestionRoot + graph + "/"; }
inline std::string question(const std::string& graph, const std::string& qid) { return question_prefix(graph) + qid; }
// A message from one agent to another's host (a proto::Message record).
inline std::string message_prefix(const std::string& graph) { return graph_prefix(graph) + "message/"; }
inline std::string message(const std::string& graph, const std::string& to, const std::string& from,
                           const std::string& id) {
  return message_prefix(graph) + to + "/" + from + "/" + id;
}
// A completed agent's overlay for the review host: its part count, and the parts.
inline std::string review_root(const std::string& graph) { return "/remora/review/" + graph + "/"; }
inline std::string review_prefix(const std::string& graph) { return review_root(graph) + "agent/"; }
inline std::string review(const std::string& graph, const std::string& id) { return review_prefix(graph) + id; }
inline std::string review_part(const std::string& graph, const std::string& id, std::size_t n) {
  return "/remora/review/" + graph + "/part/" + id + "/" + std::to_string(n);
}

}  // namespace remora::cluster::ckeys
