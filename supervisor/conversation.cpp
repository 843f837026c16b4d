#include "supervisor/conversation.hpp"

namespace remora {

void Conversation::append(nlohmann::json message) {
  bytes += message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
  if (message.is_object() && message.value("role", "") == "assistant") ++assistant_messages;
  messages.push_back(std::move(message));
}

std::shared_ptr<const Conversation> Conversation::of(const nlohmann::json& messages) {
  auto c = std::make_shared<Conversation>();
  for (const auto& m : messages) c->append(m);
  return c;
}

}  // namespace remora
