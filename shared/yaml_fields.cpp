#include "shared/yaml_fields.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>

#include "shared/error.hpp"
#include "shared/unique_fd.hpp"

namespace remora::yaml_fields {

namespace fs = std::filesystem;

void Problems::add(const std::string& path, const std::string& what, int line) {
  lines.push_back(fmt::format("{}{}{}{}", file.empty() ? "" : file + ": ",
                              with_lines && line >= 0 ? fmt::format("line {}: ", line + 1) : "",
                              path.empty() ? "" : path + ": ", what));
}

void Problems::throw_if_any() const {
  if (!lines.empty()) throw Error(Errc::invalid_argument, fmt::format("{}", fmt::join(lines, "\n")));
}

Rule at_least(double min, Rule r) {
  r.min = min;
  return r;
}

Rule above(double bound, Rule r) {
  r.above = bound;
  return r;
}

Fields::Fields(const YAML::Node& node, std::string path, Problems& problems)
    : node_(node && node.IsMap() ? node : YAML::Node(YAML::NodeType::Map)),
      path_(std::move(path)),
      problems_(problems),
      valid_(!node || node.IsNull() || node.IsMap()),
      from_document_(node && node.IsMap()) {
  if (!valid_) problems_.add(path_, "expected a map", problems_.with_lines ? node.Mark().line : -1);
}

Fields::~Fields() {
  std::set<std::string> seen;
  for (const auto& kv : node_) {
    const std::string& key = kv.first.Scalar();
    if (!seen.insert(key).second)
      problems_.add(at(key), "duplicate field", kv.first.Mark().line);
    else if (!known_.contains(key))
      problems_.add(at(key), "unknown field", kv.first.Mark().line);
  }
}

int Fields::line_of(const std::string& key) const {
  if (!problems_.with_lines || !from_document_) return -1;  // a map made here has no line
  const YAML::Node n = node_[key];
  return (n ? n : node_).Mark().line;
}

nlohmann::json to_json(const YAML::Node& node) {
  using nlohmann::json;
  if (!node || node.IsNull()) return nullptr;
  if (node.IsMap()) {
    json j = json::object();
    for (const auto& kv : node) j[kv.first.Scalar()] = to_json(kv.second);
    return j;
  }
  if (node.IsSequence()) {
    json j = json::array();
    for (const auto& v : node) j.push_back(to_json(v));
    return j;
  }
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  long long i = 0;
  if (YAML::convert<long long>::decode(node, i) && s.find_first_of(".eE") == std::string::npos) return i;
  double d = 0;
  if (YAML::convert<double>::decode(node, d) && std::isfinite(d)) return d;
  return s;
}

YAML::Node to_yaml(const nlohmann::json& j) {
  using nlohmann::json;
  switch (j.type()) {
    case json::value_t::null: return YAML::Node(YAML::NodeType::Null);
    case json::value_t::string: {
      YAML::Node n(j.get<std::string>());
      n.SetTag("!");
      return n;
    }
    case json::value_t::object: {
      YAML::Node n(YAML::NodeType::Map);
      for (const auto& [key, value] : j.items()) n[key] = to_yaml(value);
      return n;
    }
    case json::value_t::array: {
      YAML::Node n(YAML::NodeType::Sequence);
      for (const auto& value : j) n.push_back(to_yaml(value));
      return n;
    }
    default: return YAML::Node(j.dump());
  }
}

namespace {

// Walks a document's parse events (never building a node) to hold it to the limits; throws
// Error(invalid_argument) naming the file and line of the node past a limit.
class LimitCheck : public YAML::EventHandler {
 public:
  explicit LimitCheck(const fs::path& file) : file_(file) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = anchors_.find(anchor);
    const Size s = it == anchors_.end() ? Size{1, 0} : it->second;
    add(mark, s.nodes, s.depth);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string&) override {
    leaf(mark, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Size {
    std::size_t nodes, depth;  // below and including the node
  };
  struct Open {
    YAML::anchor_t anchor;
    std::size_t nodes_before;
    std::size_t deepest;  // the deepest depth reached inside, from the top
  };

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const {
    throw Error(Errc::invalid_argument, fmt::format("{}: line {}: {}", file_.string(), mark.line + 1, what));
  }
  // nodes more, reaching depth levels below the current one.
  void add(const YAML::Mark& mark, std::size_t nodes, std::size_t depth) {
    nodes_ += nodes;
    if (nodes_ > kMaxYamlNodes)
      fail(mark, fmt::format("more than {} nodes (aliases count as what they stand for): too large to read",
                             kMaxYamlNodes));
    const std::size_t reached = open_.size() + depth;
    if (reached > kMaxYamlDepth)
      fail(mark, fmt::format("nested more than {} levels deep: too deep to read", kMaxYamlDepth));
    if (!open_.empty()) open_.back().deepest = std::max(open_.back().deepest, reached);
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, 1, 0);
    if (anchor) anchors_[anchor] = {1, 0};
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, 1, 1);
    open_.push_back({anchor, nodes_ - 1, open_.size() + 1});
  }
  void close() {
    if (open_.empty()) return;
    const Open o = open_.back();
    open_.pop_back();
    if (!open_.empty()) open_.back().deepest = std::max(open_.back().deepest, o.deepest);
    if (o.anchor) anchors_[o.anchor] = {nodes_ - o.nodes_before, o.deepest - open_.size()};
  }

  const fs::path& file_;
  std::size_t nodes_ = 0;
  std::vector<Open> open_;
  std::map<YAML::anchor_t, Size> anchors_;
};

std::string read_file(const fs::path& file, Links links) {
  const int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (links == Links::refuse ? O_NOFOLLOW : 0);
  UniqueFd fd(::open(file.c_str(), flags));
  struct stat st;
  if (!fd) {
    if (errno == ENOENT) throw Error(Errc::not_found, file.string() + ": no such file");
    if (errno == ELOOP && links == Links::refuse)
      throw Error(Errc::invalid_argument, file.string() + ": a symbolic link, which remora never follows here");
    throw Error(Errc::io, file.string() + ": cannot be read: " + std::strerror(errno));
  }
  if (::fstat(fd.get(), &st) != 0) throw Error(Errc::io, file.string() + ": cannot be read: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error(Errc::not_found, file.string() + ": no such file (not a regular file)");
  if (static_cast<std::uintmax_t>(st.st_size) > kMaxYamlBytes)
    throw Error(Errc::invalid_argument, fmt::format("{}: {} bytes is over the limit of {} MiB for a YAML file",
                                                    file.string(), st.st_size, kMaxYamlBytes >> 20));
  std::string text;
  if (!read_to_end(fd.get(), text, kMaxYamlBytes))
    throw Error(Errc::io, file.string() + ": cannot be read: " + std::strerror(errno));
  if (text.size() > kMaxYamlBytes)  // it grew since the stat
    throw Error(Errc::invalid_argument,
                fmt::format("{}: over the limit of {} MiB for a YAML file", file.string(), kMaxYamlBytes >> 20));
  return text;
}

[[noreturn]] void syntax_error(const fs::path& file, const YAML::Exception& e) {
  if (e.mark.is_null()) throw Error(Errc::invalid_argument, file.string() + ": " + e.msg);
  throw Error(Errc::invalid_argument, fmt::format("{}: line {}: {}", file.string(), e.mark.line + 1, e.msg));
}

}  // namespace

YAML::Node parse_file(const fs::path& file, Links links) {
  const std::string text = read_file(file, links);
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    LimitCheck check(file);
    while (parser.HandleNextDocument(check)) {
    }
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    syntax_error(file, e);
  }
}

}  // namespace remora::yaml_fields
