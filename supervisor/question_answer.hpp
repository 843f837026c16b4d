// Questions of the run's agents, from outside the supervisor: the ones pending, and answering one
// (what `remora answer` and the dashboard do). An answer is validated once, here: one of the
// question's options (or its number) when it has options, at most kMaxAnswerBytes.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "proto/records.hpp"
#include "shared/workspace.hpp"

namespace remora {

inline constexpr std::size_t kMaxAnswerBytes = 16 * 1024;

struct AnswerGiven {
  std::string question_id;
  std::string agent;
  std::string answer;  // the option's text when given by number
};

// The answer text takes: an option's text, or its number (then that option's text), when there are
// options; any text of at most kMaxAnswerBytes otherwise. Error(invalid_argument) if it is not.
std::string checked_answer(const std::string& question_id, const std::vector<std::string>& options,
                           const std::string& text);

// Puts the answer into the asking agent's inbox. Error(not_found) for an unknown question;
// Error(invalid_argument) when it is not pending (already answered: naming the answer and who
// gave it), or the answer is not one of its options, or too long. source: who answers
// ("remora answer", "dashboard").
AnswerGiven answer_question(Workspace& ws, const std::string& question_id, const std::string& text,
                            const std::string& source);

// A question the human has not answered yet, with what it asks.
struct PendingQuestion {
  proto::QuestionState state;
  proto::Question question;
};
std::vector<PendingQuestion> pending_questions(const Workspace& ws);

nlohmann::json to_json(const PendingQuestion& q);

}  // namespace remora
