#include "shared/sandbox_policy.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "shared/yaml_fields.hpp"

namespace remora::sandbox {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

std::string level_names() {
  std::vector<std::string_view> names;
  for (Level l : kLevels) names.push_back(name_of(l));
  return fmt::format("{}", fmt::join(names, " | "));
}

}  // namespace

std::string_view name_of(Level level) {
  switch (level) {
    case Level::strict: return "strict";
    case Level::standard: return "standard";
    case Level::none: return "none";
  }
  return "unknown";
}

std::optional<Level> level_named(std::string_view name) {
  for (Level l : kLevels)
    if (name_of(l) == name) return l;
  return std::nullopt;
}

std::string_view name_of(Mechanism m) {
  switch (m) {
    case Mechanism::clear_env: return "clear_env";
    case Mechanism::close_fds: return "close_fds";
    case Mechanism::no_new_privs: return "no_new_privs";
    case Mechanism::unprivileged_uid: return "unprivileged_uid";
    case Mechanism::user_namespace: return "user_namespace";
    case Mechanism::mount_namespace: return "mount_namespace";
    case Mechanism::network_namespace: return "network_namespace";
    case Mechanism::ipc_namespace: return "ipc_namespace";
    case Mechanism::uts_namespace: return "uts_namespace";
    case Mechanism::capabilities: return "capabilities";
    case Mechanism::rlimits: return "rlimits";
    case Mechanism::process_limit: return "process_limit";
    case Mechanism::landlock_fs: return "landlock_fs";
    case Mechanism::landlock_tcp: return "landlock_tcp";
    case Mechanism::landlock_scope: return "landlock_scope";
    case Mechanism::seccomp: return "seccomp";
    case Mechanism::memory_cgroup: return "memory_cgroup";
    case Mechanism::private_tmpfs: return "private_tmpfs";
    case Mechanism::pid_namespace: return "pid_namespace";
  }
  return "unknown";
}

bool required(Mechanism m) {
  return m != Mechanism::landlock_tcp && m != Mechanism::landlock_scope && m != Mechanism::memory_cgroup;
}

nlohmann::json Config::to_json() const {
  return {{"level", name_of(level)},
          {"address_space_mb", limits.address_space_mb},
          {"cpu", limits.cpu_s},
          {"open_files", limits.open_files},
          {"file_size_mb", limits.file_size_mb},
          {"processes", limits.processes},
          {"memory_mb", limits.memory_mb},
          {"private_dir_mb", limits.private_dir_mb},
          {"read_paths", read_paths}};
}

Config Config::from_json(const nlohmann::json& j) {
  Config c;
  auto level = level_named(j.at("level").get<std::string>());
  if (!level) throw std::invalid_argument("unknown sandbox level " + j.at("level").dump());
  c.level = *level;
  c.limits.address_space_mb = j.at("address_space_mb").get<std::uint32_t>();
  c.limits.cpu_s = j.at("cpu").get<std::uint32_t>();
  c.limits.open_files = j.at("open_files").get<std::uint32_t>();
  c.limits.file_size_mb = j.at("file_size_mb").get<std::uint32_t>();
  c.limits.processes = j.at("processes").get<std::uint32_t>();
  // Absent from the specs of runs stored before they existed.
  c.limits.memory_mb = j.value("memory_mb", Limits{}.memory_mb);
  c.limits.private_dir_mb = j.value("private_dir_mb", Limits{}.private_dir_mb);
  c.read_paths = j.at("read_paths").get<std::vector<std::string>>();
  return c;
}

std::vector<std::string> Config::to_args() const {
  std::vector<std::string> args{"--sandbox",    std::string(name_of(level)),
                                "--address-space-mb", std::to_string(limits.address_space_mb),
                                "--cpu",        std::to_string(limits.cpu_s),
                                "--open-files", std::to_string(limits.open_files),
                                "--file-size-mb", std::to_string(limits.file_size_mb),
                                "--processes",  std::to_string(limits.processes),
                                "--memory-mb",  std::to_string(limits.memory_mb),
                                "--private-dir-mb", std::to_string(limits.private_dir_mb)};
  for (const auto& p : read_paths) {
    args.push_back("--read-path");
    args.push_back(p);
  }
  return args;
}

void Config::add_options(CLI::App& app) {
  std::vector<std::string> levels;
  for (Level l : kLevels) levels.emplace_back(name_of(l));
  app.add_option_function<std::string>(
         "--sandbox", [this](const std::string& name) { level = *level_named(name); },
         "sandbox level: strict (default), standard or none")
      ->check(CLI::IsMember(levels));
  app.add_option("--address-space-mb", limits.address_space_mb, "address space of the worker's own, in MiB")
      ->check(CLI::Range(kMinimumLimits.address_space_mb, UINT32_MAX));
  app.add_option("--cpu", limits.cpu_s, "seconds of CPU time")->check(CLI::Range(kMinimumLimits.cpu_s, UINT32_MAX));
  app.add_option("--open-files", limits.open_files, "open file descriptors")
      ->check(CLI::Range(kMinimumLimits.open_files, UINT32_MAX));
  app.add_option("--file-size-mb", limits.file_size_mb, "largest file written, in MiB")
      ->check(CLI::Range(kMinimumLimits.file_size_mb, UINT32_MAX));
  app.add_option("--processes", limits.processes, "processes and threads")
      ->check(CLI::Range(kMinimumLimits.processes, UINT32_MAX));
  app.add_option("--memory-mb", limits.memory_mb, "memory of the agent's cgroup, in MiB")
      ->check(CLI::Range(kMinimumLimits.memory_mb, UINT32_MAX));
  app.add_option("--private-dir-mb", limits.private_dir_mb, "size of the private directory, in MiB")
      ->check(CLI::Range(kMinimumLimits.private_dir_mb, UINT32_MAX));
  app.add_option("--read-path", read_paths, "an extra read-only path (repeatable)");
}

void read_config(const YAML::Node& node, const std::string& path, Config& c, yaml_fields::Problems& p) {
  using namespace yaml_fields;
  Fields f(node, path, p);
  std::string level;
  if (f.read("level", level)) {
    auto l = level_named(level);
    if (f.check("level", l.has_value(), fmt::format("'{}' is not one of {}", level, level_names()))) c.level = *l;
  }
  const Limits& m = kMinimumLimits;
  f.read("address_space_mb", c.limits.address_space_mb, at_least(m.address_space_mb));
  f.read("cpu", c.limits.cpu_s, at_least(m.cpu_s));
  f.read("open_files", c.limits.open_files, at_least(m.open_files));
  f.read("file_size_mb", c.limits.file_size_mb, at_least(m.file_size_mb));
  f.read("processes", c.limits.processes, at_least(m.processes));
  f.read("memory_mb", c.limits.memory_mb, at_least(m.memory_mb));
  f.read("private_dir_mb", c.limits.private_dir_mb, at_least(m.private_dir_mb));
  if (f.read("read_paths", c.read_paths))
    for (const auto& rp : c.read_paths)
      f.check("read_paths", std::filesystem::path(rp).is_absolute(), "'" + rp + "' is not an absolute path");
}

nlohmann::json Confinement::to_json() const {
  nlohmann::json names = nlohmann::json::array(), skips = nlohmann::json::object();
  for (Mechanism m : applied) names.push_back(name_of(m));
  for (const auto& [m, why] : skipped) skips[std::string(name_of(m))] = why;
  return {{"level", name_of(level)}, {"applied", names}, {"skipped", skips}};
}

std::string Confinement::summary() const {
  std::vector<std::string_view> names;
  for (Mechanism m : applied) names.push_back(name_of(m));
  std::vector<std::string> skips;
  for (const auto& [m, why] : skipped) skips.push_back(fmt::format("{} ({})", name_of(m), why));
  auto list = [](const auto& items, const char* sep) {
    return items.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(items, sep));
  };
  return fmt::format("level {}; applied: {}; skipped: {}", name_of(level), list(names, ", "), list(skips, "; "));
}

Rlimits rlimits_for(const Limits& limits, std::uint64_t map_bytes) {
  const std::uint64_t map_reserve = std::max(kGiB, 4 * map_bytes);
  return {.address_space = limits.address_space_mb * kMiB + map_reserve,
          .cpu_s = limits.cpu_s,
          .open_files = limits.open_files,
          .file_size = std::max(limits.file_size_mb * kMiB, map_reserve),
          .processes = limits.processes};
}

std::filesystem::path private_root(const std::filesystem::path& workspace_dir) {
  const std::string where = std::filesystem::weakly_canonical(std::filesystem::absolute(workspace_dir)).string();
  return std::filesystem::temp_directory_path() / fmt::format("remora-{}", ::geteuid()) /
         fmt::format("{:016x}", XXH3_64bits(where.data(), where.size()));
}

void prepare_private_root(const std::filesystem::path& root) {
  for (const std::filesystem::path& dir : {root.parent_path(), root}) {
    if (::mkdir(dir.c_str(), 0711) != 0 && errno != EEXIST)
      throw std::system_error(errno, std::generic_category(), "cannot create " + dir.string());
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0)
      throw std::system_error(errno, std::generic_category(), "cannot stat " + dir.string());
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
      throw std::runtime_error(fmt::format(
          "{} is not a directory of uid {} that only it may write (mode {:o}, owner {}): remove it, or set TMPDIR",
          dir.string(), ::geteuid(), st.st_mode & 07777, st.st_uid));
    if ((st.st_mode & 0711) != 0711 && ::chmod(dir.c_str(), 0711) != 0)
      throw std::system_error(errno, std::generic_category(), "cannot chmod " + dir.string());
  }
}

std::filesystem::path private_dir(const std::filesystem::path& workspace_dir, const std::string& agent_id) {
  return private_root(workspace_dir) / agent_id;
}

std::vector<std::string> worker_environment(const std::filesystem::path& private_dir) {
  return {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + private_dir.string(), "TMPDIR=" + private_dir.string(),
          "LANG=C.UTF-8"};
}

void replace_environment(const std::vector<std::string>& env) {
  ::clearenv();
  for (const std::string& kv : env) {
    const auto eq = kv.find('=');
    if (eq != std::string::npos && eq > 0) ::setenv(kv.substr(0, eq).c_str(), kv.c_str() + eq + 1, 1);
  }
}

}  // namespace remora::sandbox
