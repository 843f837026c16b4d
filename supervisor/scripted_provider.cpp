#include "supervisor/scripted_provider.hpp"

#include <fmt/format.h>

#include <cctype>
#include <chrono>

#include "shared/bounded_json.hpp"

namespace remora {

using nlohmann::json;

ScriptedProvider::ScriptedProvider(std::map<std::string, Bundle> bundles, VarsFn vars)
    : bundles_(std::move(bundles)), vars_(std::move(vars)) {}

ModelReply ScriptedProvider::complete(const ModelCall& call) {
  const auto t0 = std::chrono::steady_clock::now();
  ModelReply reply;
  reply.attempts = 1;
  const std::string bundle_name = call.settings.value("bundle", "");
  auto it = bundles_.find(bundle_name);
  if (it == bundles_.end()) {
    reply.error = "scripted provider: no bundle '" + bundle_name + "'";
    return reply;
  }
  const auto& script = it->second.script;
  // What it needs of the conversation, without a pass over it (a turn costs what it adds): the
  // replies so far, the size, and the last tool result, searched for from the end.
  const Conversation& conv = *call.conversation;
  const std::size_t turn = conv.assistant_messages;
  std::string last_result;
  for (auto m = conv.messages.crbegin(); m != conv.messages.crend(); ++m) {
    if (m->value("role", "") != "tool") continue;
    last_result = m->value("content", "");
    break;
  }
  const std::size_t prompt_chars = conv.bytes;
  json message = {{"role", "assistant"}};
  if (turn >= script.size()) {
    message["content"] = "The script has no more replies.";
  } else {
    TemplateVars vars = vars_(call.agent_id);
    vars["last_result"] = last_result;
    // A result that is a JSON object (a command tool's) also gives its fields: {last_result.stdout}.
    auto fields = try_parse_bounded(last_result, "the last tool result", kRecordJsonLimits).value;
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) {
        std::string text = v.is_string() ? v.get<std::string>() : v.dump();
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
        vars["last_result." + k] = std::move(text);
      }
    }
    vars["turn"] = std::to_string(turn + 1);
    const ScriptedTurn& t = script[turn];
    message["content"] = t.content.empty() ? json(nullptr) : json(render(t.content, vars));
    if (!t.tool_calls.empty()) {
      json calls = json::array();
      for (std::size_t k = 0; k < t.tool_calls.size(); ++k) {
        const auto& c = t.tool_calls[k];
        calls.push_back({{"id", fmt::format("call_{}_{}", turn + 1, k)},
                         {"type", "function"},
                         {"function",
                          {{"name", c.at("name")}, {"arguments", render_json(c.at("arguments"), vars).dump()}}}});
      }
      message["tool_calls"] = calls;
    }
  }
  reply.ok = true;
  reply.message = std::move(message);
  // Token counts in the usual rough measure of four characters a token.
  reply.prompt_tokens = prompt_chars / 4;
  reply.completion_tokens = reply.message.dump().size() / 4;
  reply.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return reply;
}

}  // namespace remora
