#include "review/review_json.hpp"

#include <fmt/format.h>

namespace remora {

nlohmann::json file_json(const FileChange& c) {
  auto s = diff_stat(c.before, c.after);
  nlohmann::json j = {{"path", c.path},
                      {"status", !c.before ? "added" : !c.after ? "deleted" : "modified"},
                      {"binary", s.binary},
                      {"added", s.added},
                      {"removed", s.removed}};
  if (c.before) j["mode_before"] = fmt::format("{:o}", c.before->mode);
  if (c.after) j["mode_after"] = fmt::format("{:o}", c.after->mode);
  return j;
}

nlohmann::json accepted_json(const Accepted& a) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : a.files) files.push_back(file_json(f));
  return {{"agent", a.agent}, {"accepted", true}, {"with", a.with},     {"files", files},
          {"merged", a.merged}, {"forced", a.forced}};
}

nlohmann::json agent_diff_json(const Workspace& ws, const proto::AgentState& a, bool stat) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& c : agent_changes(ws, a)) {
    files.push_back(file_json(c));
    if (!stat) files.back()["diff"] = file_diff(c.path, c.before, c.after, false);
  }
  return {{"agent", a.id}, {"bundle", a.bundle}, {"target", a.target}, {"files", files}};
}

}  // namespace remora
