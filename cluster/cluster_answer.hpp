// Answering a question of a cluster run from any place (`remora answer --cluster URLS QID TEXT`):
// the question is found in etcd by its id, the answer checked against its options and written once
// (create-if-absent), for the host whose agent asked it to pick up.
#pragma once

#include <string>

#include "cluster/etcd_client.hpp"
#include "supervisor/question_answer.hpp"

namespace remora::cluster {

// The question is looked up in graph's run, or, with no graph named, in every graph's.
// Error(not_found) for a question etcd does not hold; Error(invalid_argument) for an answer it does
// not take, a question already answered (naming the answer that stands), or an id asked in the
// runs of several graphs (naming them).
AnswerGiven answer_in_cluster(EtcdClient& etcd, const std::string& question_id, const std::string& text,
                              const std::string& graph = "");

}  // namespace remora::cluster
