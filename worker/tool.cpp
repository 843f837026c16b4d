#include "worker/tool.hpp"

#include <algorithm>
#include <set>

namespace remora::worker {

ToolContext::ToolContext(Workspace& ws, Namespace overlay, std::string agent_id, std::string call_id,
                         std::filesystem::path scratch_dir, AskFn ask)
    : ws_(ws),
      ns_(std::move(overlay)),
      agent_id_(std::move(agent_id)),
      call_id_(std::move(call_id)),
      scratch_(std::move(scratch_dir)),
      ask_(std::move(ask)) {}

const std::filesystem::path& ToolContext::scratch_dir() {
  std::filesystem::create_directories(scratch_);
  return scratch_;
}

std::optional<std::string> ToolContext::get(const std::string& key) {
  if (auto it = staged_.find(key); it != staged_.end()) return it->second;
  reads_.push_back(key);
  auto e = ws_.get(ns_, key);
  if (!e) return std::nullopt;
  return std::string(e->value);
}

std::vector<std::pair<std::string, std::string>> ToolContext::list(const std::string& prefix) {
  std::map<std::string, std::string> out;
  for (auto& [k, e] : ws_.list(ns_, prefix)) out.emplace(k, std::string(e.value));
  for (auto& [k, v] : staged_) {
    if (k.compare(0, prefix.size(), prefix) != 0) continue;
    if (v) out[k] = *v;
    else out.erase(k);
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> ToolContext::keys(const std::string& prefix) {
  std::set<std::string> out;
  ws_.read([&](const Reader& r) {
    r.scan(ns_, prefix, [&](std::string_view k, const EntryView&) {  // keys only: no value is copied
      out.emplace(k);
      return true;
    });
  });
  for (auto& [k, v] : staged_) {
    if (k.compare(0, prefix.size(), prefix) != 0) continue;
    if (v) out.insert(k);
    else out.erase(k);
  }
  return {out.begin(), out.end()};
}

void ToolContext::put(const std::string& key, std::string value) {
  if (!staged_.count(key)) order_.push_back(key);
  staged_[key] = std::move(value);
}

void ToolContext::del(const std::string& key) {
  if (!staged_.count(key)) order_.push_back(key);
  staged_[key] = std::nullopt;
}

void ToolContext::apply(WriteTxn& t) const {
  for (const auto& k : reads_)
    if (!staged_.count(k)) t.note_read(ns_, k);
  for (const auto& k : order_) {
    const auto& v = staged_.at(k);
    if (v) t.put(ns_, k, *v);
    else t.del(ns_, k);
  }
}

std::vector<std::string> ToolContext::touched() const { return order_; }

}  // namespace remora::worker
