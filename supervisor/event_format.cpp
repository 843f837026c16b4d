#include "supervisor/event_format.hpp"

#include <ctime>

#include "shared/bounded_json.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora {
namespace {

// An agent:started sandbox as "strict", or "standard (skipped: user_namespace, ...)": the
// applied mechanisms are in the JSON form and the worker's log.
std::string sandbox_text(const nlohmann::json& v) {
  std::string text = v.value("level", "");
  std::string skipped;
  if (auto it = v.find("skipped"); it != v.end() && it->is_object())
    for (auto& [name, why] : it->items()) skipped += (skipped.empty() ? "" : ", ") + name;
  return skipped.empty() ? text : text + " (skipped: " + skipped + ")";
}

}  // namespace

nlohmann::json event_json(const proto::Event& e) {
  auto payload = try_parse_bounded(e.payload_json, "event payload", kRecordJsonLimits).value;
  return {{"id", e.id},
          {"revision", e.revision},
          {"timestamp_ms", e.timestamp_ms},
          {"event", e.category + ":" + e.action},
          {"graph_id", e.graph_id},
          {"session_id", e.session_id},
          {"agent_id", e.agent_id},
          {"node_id", e.node_id},
          {"payload", payload.is_discarded() ? nlohmann::json(e.payload_json) : payload}};
}

std::string event_json_line(const proto::Event& e) {
  return event_json(e).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::string event_line(const proto::Event& e) {
  std::time_t t = e.timestamp_ms / 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char ts[16];
  std::strftime(ts, sizeof ts, "%H:%M:%S", &tm);
  std::string line = std::string(ts) + " " + inert_text(e.category + ":" + e.action);
  if (!e.agent_id.empty()) line += "  " + inert_text(e.agent_id);
  auto payload = try_parse_bounded(e.payload_json, "event payload", kRecordJsonLimits).value;
  if (payload.is_object()) {
    for (auto& [k, v] : payload.items()) {
      if (v.is_string() && v.get<std::string>().empty()) continue;
      const bool sandbox = k == "sandbox" && v.is_object();
      const std::string value = sandbox     ? sandbox_text(v)
                                : v.is_string() ? v.get<std::string>()
                                                : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      line += "  " + inert_text(k) + "=" + inert_text(value);
    }
  }
  return line;
}

}  // namespace remora
