#include "shared/node_vars.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "shared/bounded_json.hpp"
#include "proto/codec.hpp"
#include "proto/keyspace.hpp"

namespace remora {
namespace {

using nlohmann::json;

std::string field(const json& node, const char* name) {
  if (!node.contains(name) || node[name].is_null()) return "";
  return node[name].is_string() ? node[name].get<std::string>() : node[name].dump();
}

}  // namespace

TemplateVars node_vars(const Workspace& ws, const Namespace& ns, const proto::AgentState& agent) {
  json node = try_parse_bounded(agent.node_json.empty() ? "{}" : agent.node_json, "node", kRecordJsonLimits).value;
  if (!node.is_object()) node = json::object();
  TemplateVars v;
  for (const char* k : {"id", "path", "name", "qualified_name", "type", "language", "start_line", "end_line", "params", "doc"})
    v[k] = field(node, k);
  if (v["path"].empty()) v["path"] = agent.target;
  if (v["type"].empty()) v["type"] = "file";
  if (v["name"].empty()) v["name"] = v["path"].substr(v["path"].rfind('/') + 1);
  if (v["qualified_name"].empty()) v["qualified_name"] = v["path"];
  v["agent"] = agent.id;
  v["target"] = agent.target;
  const auto key = keys::file(v["path"]);
  if (auto e = ws.get(ns, key)) {
    std::string code = std::move(proto::decode<proto::FileEntry>(e->value, key).content.data);
    if (v["type"] != "file" && node.contains("start_byte") && node.contains("end_byte")) {
      auto begin = std::min<std::size_t>(node["start_byte"].get<std::size_t>(), code.size());
      auto end = std::clamp<std::size_t>(node["end_byte"].get<std::size_t>(), begin, code.size());
      code = code.substr(begin, end - begin);
    }
    v["code"] = std::move(code);
  }
  return v;
}

}  // namespace remora
