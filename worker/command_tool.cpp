#include "worker/command_tool.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/process/v2/environment.hpp>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

#include "proto/keyspace.hpp"
#include "shared/error.hpp"
#include "shared/json_schema.hpp"
#include "shared/memory_cgroup.hpp"
#include "worker/project_files.hpp"
#include "worker/project_path.hpp"
#include "worker/tool_confinement.hpp"

namespace remora::worker {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A piece of an argv template: literal text, or the name of an argument to put there.
struct Part {
  bool placeholder = false;
  std::string text;
};

std::vector<Part> parse_template(std::string_view t) {
  std::vector<Part> parts;
  auto literal = [&](std::string_view s) {
    if (parts.empty() || parts.back().placeholder) parts.push_back({false, {}});
    parts.back().text += s;
  };
  for (std::size_t i = 0; i < t.size();) {
    if (t.substr(i, 2) == "{{" || t.substr(i, 2) == "}}") {
      literal(t.substr(i, 1));
      i += 2;
      continue;
    }
    if (t[i] == '{') {
      std::size_t j = i + 1;
      auto word = [&](std::size_t k) { return std::isalnum(static_cast<unsigned char>(t[k])) || t[k] == '_'; };
      if (j < t.size() && !std::isdigit(static_cast<unsigned char>(t[j])))
        while (j < t.size() && word(j)) ++j;
      if (j > i + 1 && j < t.size() && t[j] == '}') {
        parts.push_back({true, std::string(t.substr(i + 1, j - i - 1))});
        i = j + 1;
        continue;
      }
    }
    literal(t.substr(i++, 1));
  }
  return parts;
}

// An argument's value as program text: strings as they are, anything else as JSON.
std::string text_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Program output as JSON-safe text: invalid UTF-8 (or a sequence cut at the bound) becomes U+FFFD.
std::string clean_utf8(const std::string& s) {
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

std::string shown_output(const std::string& text, std::size_t dropped) {
  auto s = clean_utf8(text);
  if (dropped > 0) s += fmt::format("\n[{} more bytes not shown]", dropped);
  return s;
}

fs::path find_program(const std::string& name, const fs::path& cwd) {
  if (name.find('/') != std::string::npos) return name.starts_with('/') ? fs::path(name) : cwd / name;
  auto found = boost::process::v2::environment::find_executable(name);
  if (found.empty()) throw Error(Errc::not_found, fmt::format("program '{}' is not on the PATH", name));
  return found.string();
}

// A fresh private directory, removed with everything in it when this goes away.
class ScratchCopy {
 public:
  explicit ScratchCopy(const fs::path& parent) {
    std::string tmpl = (parent / "cmd-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw Error(Errc::io, "cannot create a directory in " + parent.string());
    dir_ = tmpl;
  }
  ~ScratchCopy() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ScratchCopy(const ScratchCopy&) = delete;
  ScratchCopy& operator=(const ScratchCopy&) = delete;
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

void write_copy(const fs::path& p, const proto::FileEntry& e) {
  std::ofstream(p, std::ios::binary) << e.content.data;
  fs::permissions(p, static_cast<fs::perms>(e.mode & 07777));
}

// The file the program left at p: its bytes and mode, nullopt if it is gone; throws when it is
// not a regular file (never followed: a symlink could point anywhere).
std::optional<proto::FileEntry> read_copy(const fs::path& p, const std::string& path) {
  auto st = fs::symlink_status(p);
  if (!fs::exists(st)) return std::nullopt;
  if (!fs::is_regular_file(st)) refuse(fmt::format("the program left '{}' as something other than a regular file", path));
  proto::FileEntry e;
  e.mode = static_cast<std::uint32_t>(st.permissions()) & 07777;
  fs::permissions(p, fs::perms::owner_read, fs::perm_options::add);
  std::ifstream in(p, std::ios::binary);
  e.content.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return e;
}

}  // namespace

CommandTool::CommandTool(CommandToolSpec spec, std::map<std::string, std::string> resources, std::size_t max_output)
    : spec_(std::move(spec)),
      tool_spec_{spec_.name, spec_.description, spec_.parameters},
      resources_(std::move(resources)),
      max_output_(max_output) {}

// Where a bundle's tools/ files are put in the private copy ({bundle_dir}, relative to its root).
constexpr const char* kBundleDir = ".remora-bundle";

ToolResult CommandTool::call(const json& args, ToolContext& ctx) {
  // Argument values: the call's, then the schema's defaults; file arguments as resolved paths.
  std::map<std::string, std::string> values;
  const json props = spec_.parameters.value("properties", json::object());
  for (const auto& [name, prop] : props.items())
    if (prop.contains("default")) values[name] = text_of(prop["default"]);
  for (const auto& [name, v] : args.items()) values[name] = text_of(v);
  values["bundle_dir"] = kBundleDir;
  struct Copied {
    std::string path;
    std::optional<proto::FileEntry> before;
  };
  std::vector<Copied> files;
  for (const auto& name : spec_.files) {
    if (!args.contains(name)) continue;
    auto file = resolve_file(ctx, project_path(args[name].get<std::string>(), name));
    if (!file.entry && is_directory(ctx, file.path))
      refuse(fmt::format("{} '{}' is a directory; {} works on files", name, file.path, spec_.name));
    values[name] = file.path;
    if (std::ranges::none_of(files, [&](const Copied& c) { return c.path == file.path; }))
      files.push_back({file.path, std::move(file.entry)});
  }
  std::vector<std::string> argv;
  for (const auto& element : spec_.command) {
    std::string arg;
    for (const auto& part : parse_template(element)) {
      if (!part.placeholder) {
        arg += part.text;
      } else if (auto v = values.find(part.text); v != values.end()) {
        arg += v->second;
      } else {
        refuse(fmt::format("{} needs the argument '{}'", spec_.name, part.text));
      }
    }
    argv.push_back(std::move(arg));
  }

  ScratchCopy copy(ctx.scratch_dir());
  if (!resources_.empty()) fs::create_directories(copy.dir() / kBundleDir);
  for (const auto& [name, text] : resources_) {
    std::ofstream(copy.dir() / kBundleDir / name, std::ios::binary) << text;
    fs::permissions(copy.dir() / kBundleDir / name, fs::perms(0755));
  }
  for (const auto& f : files) {
    fs::create_directories((copy.dir() / f.path).parent_path());  // also for a file the program is to create
    if (f.before) write_copy(copy.dir() / f.path, *f.before);
  }
  const auto exe = find_program(argv.front(), copy.dir());
  const auto& confinement = tool_confinement();
  const std::uint64_t oom_before = read_oom_kills(confinement.oom_events_fd);
  const auto outcome = run_bounded(exe, {argv.begin() + 1, argv.end()}, copy.dir(),
                                   ProcessLimits{std::chrono::duration<double>(spec_.timeout_s), max_output_});

  json result = json::object();
  if (outcome.exit_code) result["exit_code"] = *outcome.exit_code;
  if (outcome.signal) {
    const char* abbrev = sigabbrev_np(*outcome.signal);
    result["signal"] = abbrev ? fmt::format("SIG{}", abbrev) : std::to_string(*outcome.signal);
  }
  result["stdout"] = shown_output(outcome.out, outcome.out_dropped);
  result["stderr"] = shown_output(outcome.err, outcome.err_dropped);
  if (const std::uint64_t oom = read_oom_kills(confinement.oom_events_fd) - oom_before; oom > 0)
    result["memory_limit"] = fmt::format(
        "the agent's memory limit of {} MiB was reached: the kernel killed {} process(es) (memory_cgroup)",
        confinement.memory_mb, oom);
  if (outcome.timed_out) {
    result["error"] = fmt::format("{} was killed after its timeout of {} s; no file was changed", spec_.name, spec_.timeout_s);
    return {false, result};
  }
  // Every file is read back before any is staged: a refused one leaves the overlay untouched.
  std::vector<std::optional<proto::FileEntry>> after;
  for (const auto& f : files) after.push_back(read_copy(copy.dir() / f.path, f.path));
  json changed = json::array();
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& [path, before] = files[i];
    auto& now = after[i];
    if (!now && !before) continue;
    if (!now) {
      ctx.del(keys::file(path));
    } else if (!before || now->content != before->content || now->mode != (before->mode & 07777)) {
      if (before) now->mode |= before->mode & ~07777u;  // keep the file type bits it had
      write_entry(ctx, path, *now);
    } else {
      continue;
    }
    changed.push_back(path);
  }
  result["changed_files"] = std::move(changed);
  return {true, result};
}

std::vector<std::string> check_command_template(const CommandToolSpec& spec) {
  std::vector<std::string> out;
  auto add = [&](const std::string& field, const std::string& what) { out.push_back(field + ": " + what); };
  const bool good_name = !spec.name.empty() && spec.name.size() <= 64 &&
                         std::ranges::all_of(spec.name, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; });
  if (!good_name) add("name", fmt::format("'{}' is not a tool name (1 to 64 letters, digits, '_' or '-')", spec.name));
  if (!(spec.timeout_s > 0)) add("timeout_s", "must be > 0");

  auto schema = json_schema::check_schema(spec.parameters, "parameters");
  out.insert(out.end(), schema.begin(), schema.end());
  if (!schema.empty()) return out;  // the rest reads the schema
  if (spec.parameters.value("type", json()) != "object") add("parameters.type", "must be \"object\": arguments are named");
  const json props = spec.parameters.value("properties", json::object());
  const json required = spec.parameters.value("required", json::array());
  std::vector<std::string> names;
  for (const auto& [name, _] : props.items()) names.push_back(name);

  for (std::size_t i = 0; i < spec.files.size(); ++i) {
    const auto& name = spec.files[i];
    if (!props.contains(name))
      add(fmt::format("files[{}]", i), fmt::format("'{}' is not one of the parameters ({})", name, fmt::join(names, ", ")));
    else if (props[name].value("type", json()) != "string")
      add(fmt::format("files[{}]", i), fmt::format("parameter '{}' holds a path, so its type must be \"string\"", name));
  }

  if (spec.command.empty()) add("command", "must name a program");
  for (std::size_t i = 0; i < spec.command.size(); ++i) {
    const auto field = fmt::format("command[{}]", i);
    for (const auto& part : parse_template(spec.command[i])) {
      if (!part.placeholder || (part.text == "bundle_dir" && i > 0)) continue;
      if (i == 0) {
        add(field, fmt::format("the program cannot come from an argument ({{{}}})", part.text));
      } else if (!props.contains(part.text)) {
        add(field, fmt::format("unknown placeholder {{{}}} (parameters: {}; write {{{{ and }}}} for literal braces)",
                               part.text, fmt::join(names, ", ")));
      } else if (const auto& p = props[part.text]; p.contains("type") && (p["type"] == "object" || p["type"] == "array")) {
        add(field, fmt::format("placeholder {{{}}} names an {}; only strings, numbers and booleans fit in an argument",
                               part.text, p["type"].get<std::string>()));
      } else if (std::count(required.begin(), required.end(), part.text) == 0 && !p.contains("default")) {
        add(field, fmt::format("placeholder {{{}}} names an optional parameter without a default; make it required or "
                               "give it a default", part.text));
      }
    }
  }
  return out;
}

}  // namespace remora::worker
