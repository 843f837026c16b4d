#include "shared/checkpoint.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/clock.hpp"
#include "shared/durable_file.hpp"
#include "shared/event_log.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kManifestFormat = 1;
constexpr std::string_view kTmpPrefix = ".tmp-";     // a checkpoint being written
constexpr std::string_view kDeletePrefix = ".del-";  // a checkpoint being pruned
const char* const kData = "data.mdb";
const char* const kManifest = "manifest.json";
const char* const kRestoring = "data.mdb.restoring";  // a restore's copy, beside the live file
const char* const kRestoreMarker = "restore.json";    // the copy is complete; the swap may be done

[[noreturn]] void fail_io(const std::string& what, int err) {
  throw Error(Errc::io, what + ": " + std::strerror(err));
}

// The flock every take, prune, restore and fork holds on checkpoints/.lock: they take turns.
class StoreLock {
 public:
  explicit StoreLock(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(Errc::io, "cannot create " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);  // checkpoints hold what the workspace does
    const auto path = dir / ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) fail_io("cannot open " + path.string(), errno);
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        int err = errno;
        ::close(fd_);
        fail_io("cannot lock " + path.string(), err);
      }
    }
  }
  ~StoreLock() { ::close(fd_); }
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
};

// LMDB's exclusive lock on an environment: a write lock on byte 0 of lock.mdb, which every
// process with the environment open holds shared (a process opening it meanwhile waits). It is a
// POSIX record lock, so it ends when this process closes any descriptor of lock.mdb: opening a
// Workspace here and closing it releases it.
class ExclusiveEnv {
 public:
  explicit ExclusiveEnv(const fs::path& ws_dir) {
    const auto path = ws_dir / "lock.mdb";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) fail_io("cannot open " + path.string(), errno);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    if (::fcntl(fd_, F_SETLK, &fl) == 0) return;
    struct flock holder = fl;
    std::string who = ::fcntl(fd_, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK
                          ? "process " + std::to_string(holder.l_pid)
                          : "another process";
    ::close(fd_);
    throw Error(Errc::busy, who + " has workspace " + ws_dir.string() +
                                " open; a restore needs it closed by every process (stop the supervisor and "
                                "anything else using it first)");
  }
  ~ExclusiveEnv() { ::close(fd_); }
  ExclusiveEnv(const ExclusiveEnv&) = delete;
  ExclusiveEnv& operator=(const ExclusiveEnv&) = delete;

 private:
  int fd_ = -1;
};

std::string new_id(std::int64_t time_ms) {
  static constexpr char hex[] = "0123456789abcdef";
  std::random_device rd;
  std::string id = format_time_ms(time_ms, "%Y%m%dT%H%M%S", true) + "-";
  for (int i = 0; i < 4; ++i) id += hex[rd() % 16];
  return id;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw Error(Errc::not_found, "cannot read " + p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

CheckpointManifest read_manifest(const fs::path& file) {
  auto j = json::parse(read_text(file), nullptr, false);
  if (j.is_discarded()) throw Error(Errc::corrupt, "checkpoint manifest " + file.string() + " is not valid JSON");
  try {
    return CheckpointManifest::from_json(j);
  } catch (const Error& e) {
    throw Error(Errc::corrupt, "checkpoint manifest " + file.string() + ": " + e.what());
  }
}

// The revision, run and agent states a copied environment holds, read from the copy itself.
void read_copy(const fs::path& dir, CheckpointManifest& m) {
  WorkspaceOptions o;
  o.dir = dir;
  o.read_only = true;
  auto ws = Workspace::open(o);
  const Namespace base = ws->ns(keys::kBase);
  ws->read([&](const Reader& r) {
    m.revision = r.revision();
    if (auto e = r.get(base, keys::kRunGraph)) {
      auto run = proto::decode<proto::Run>(e->value, keys::kRunGraph);
      m.graph_id = run.graph_id;
      m.graph_name = run.graph_name;
      m.run_state = run.state;
    }
    r.scan(base, keys::kRunAgent, [&](std::string_view key, const Entry& e) {
      auto a = proto::decode<proto::AgentState>(e.value, key);
      m.agents[a.id] = a.state;
      return true;
    });
  });
}

// Deletes a checkpoint directory. Its data file is shrunk first in synced steps: freeing hundreds
// of megabytes in one go (which a file system mounted with `discard` also discards in one go, in
// its journal commit) would stall every fsync other processes make meanwhile, workers' included.
void remove_checkpoint(const fs::path& dir) {
  constexpr off_t kStep = off_t{16} << 20;
  const auto data = dir / kData;
  int fd = ::open(data.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    for (off_t size = ::lseek(fd, 0, SEEK_END); size > 0;) {
      size = std::max<off_t>(0, size - kStep);
      if (::ftruncate(fd, size) != 0 || ::fsync(fd) != 0) break;  // remove_all below does the rest
    }
    ::close(fd);
  }
  fs::remove_all(dir);
}

// Removes what a take or a prune killed midway left behind; the caller holds the StoreLock.
void clean_strays(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    if (name.starts_with(kTmpPrefix) || name.starts_with(kDeletePrefix)) {
      spdlog::info("removing {}, left by an interrupted checkpoint or prune", entry.path().string());
      remove_checkpoint(entry.path());
    }
  }
}

// The checkpoint's data file, checked against the size its manifest recorded.
fs::path data_of(const fs::path& checkpoints_dir, const CheckpointManifest& m) {
  const auto file = checkpoints_dir / m.id / kData;
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  if (ec || size != m.bytes) {
    throw Error(Errc::corrupt, "checkpoint " + m.id + ": " + file.string() +
                                   (ec ? " is missing" : " has " + std::to_string(size) + " bytes, its manifest says " +
                                                             std::to_string(m.bytes)));
  }
  return file;
}

// Copies a checkpoint's data into dir/data.mdb.restoring, synced.
fs::path stage_copy(const fs::path& data, const fs::path& dir) {
  const auto tmp = dir / kRestoring;
  fs::remove(tmp);
  copy_file_synced(data, tmp);
  return tmp;
}

// Opens the workspace a checkpoint was just put into and commits checkpoint:restored, unless a
// previous attempt did (the environment is then past the checkpoint's revision).
proto::Event commit_restored(const fs::path& ws_dir, const CheckpointManifest& m, std::uint64_t from_revision,
                             json extra = json::object()) {
  WorkspaceOptions o;
  o.dir = ws_dir;
  o.create = false;
  auto ws = Workspace::open(o);
  if (ws->revision() != m.revision) return {};
  extra["id"] = m.id;
  extra["revision"] = m.revision;
  extra["from_revision"] = from_revision;
  return commit_event(*ws, "checkpoint", "restored", extra);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string CheckpointManifest::agents_summary() const {
  if (agents.empty()) return "-";
  std::map<std::string, int> by_state;
  for (const auto& entry : agents) ++by_state[entry.second];
  std::string out;
  for (const auto& [state, n] : by_state) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + state;
  return out;
}

json CheckpointManifest::to_json() const {
  return {{"format", kManifestFormat}, {"id", id},           {"time_ms", time_ms},       {"message", message},
          {"trigger", trigger},        {"revision", revision}, {"bytes", bytes},         {"seconds", seconds},
          {"graph_id", graph_id},      {"graph_name", graph_name}, {"run_state", run_state}, {"agents", agents}};
}

CheckpointManifest CheckpointManifest::from_json(const json& j) {
  try {
    if (j.at("format").get<int>() != kManifestFormat)
      throw Error(Errc::corrupt, "unsupported format " + j.at("format").dump());
    CheckpointManifest m;
    m.id = j.at("id").get<std::string>();
    m.time_ms = j.at("time_ms").get<std::int64_t>();
    m.message = j.at("message").get<std::string>();
    m.trigger = j.at("trigger").get<std::string>();
    m.revision = j.at("revision").get<std::uint64_t>();
    m.bytes = j.at("bytes").get<std::uint64_t>();
    m.seconds = j.at("seconds").get<double>();
    m.graph_id = j.at("graph_id").get<std::string>();
    m.graph_name = j.at("graph_name").get<std::string>();
    m.run_state = j.at("run_state").get<std::string>();
    m.agents = j.at("agents").get<std::map<std::string, std::string>>();
    return m;
  } catch (const json::exception& e) {
    throw Error(Errc::corrupt, e.what());
  }
}

Checkpoints::Checkpoints(fs::path workspace_dir)
    : ws_dir_(std::move(workspace_dir)), dir_(ws_dir_ / "checkpoints") {}

Checkpoints::Taken Checkpoints::take(Workspace& ws, const std::string& message, const std::string& trigger) {
  const auto started = std::chrono::steady_clock::now();
  Taken out;
  CheckpointManifest& m = out.manifest;
  {
    StoreLock lock(dir_);
    clean_strays(dir_);
    m.time_ms = now_ms();
    m.message = message;
    m.trigger = trigger;
    do {
      m.id = new_id(m.time_ms);
    } while (fs::exists(dir_ / m.id));
    const auto tmp = dir_ / (std::string(kTmpPrefix) + m.id);
    fs::create_directory(tmp);
    create_file_synced(tmp / kData, [&](int fd) { ws.hot_copy(fd); }, true);
    read_copy(tmp, m);
    m.bytes = fs::file_size(tmp / kData);
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    write_file_durably(tmp / kManifest, m.to_json().dump(2) + "\n");
    rename_durably(tmp, dir_ / m.id);
  }
  out.event = commit_event(ws, "checkpoint", "saved",
                           {{"id", m.id}, {"revision", m.revision}, {"bytes", m.bytes}, {"message", m.message},
                            {"trigger", m.trigger}});
  return out;
}

std::vector<CheckpointManifest> Checkpoints::list() const {
  std::vector<CheckpointManifest> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (!entry.is_directory() || entry.path().filename().string().starts_with(".")) continue;
    try {
      out.push_back(read_manifest(entry.path() / kManifest));
    } catch (const Error& e) {
      spdlog::warn("skipping {}: {}", entry.path().string(), e.what());
    }
  }
  // By time; within one millisecond a workspace's revisions still tell the order.
  std::ranges::sort(out, [](const auto& a, const auto& b) {
    return std::tie(a.time_ms, a.revision, a.id) < std::tie(b.time_ms, b.revision, b.id);
  });
  return out;
}

CheckpointManifest Checkpoints::find(const std::string& id) const {
  const auto file = dir_ / id / kManifest;
  if (id.empty() || id.starts_with(".") || id.find('/') != std::string::npos || !fs::exists(file)) {
    throw Error(Errc::not_found, "no checkpoint " + id + " in " + dir_.string());
  }
  return read_manifest(file);
}

std::vector<std::string> Checkpoints::prune(std::size_t keep, const std::string& trigger) {
  StoreLock lock(dir_);
  clean_strays(dir_);
  std::vector<CheckpointManifest> mine;
  for (auto& m : list())
    if (m.trigger == trigger) mine.push_back(std::move(m));
  std::vector<std::string> removed;
  for (std::size_t i = 0; i + keep < mine.size(); ++i) {
    const auto doomed = dir_ / (std::string(kDeletePrefix) + mine[i].id);
    rename_durably(dir_ / mine[i].id, doomed);
    remove_checkpoint(doomed);
    removed.push_back(mine[i].id);
  }
  return removed;
}

Restored Checkpoints::restore(const std::string& id) {
  recover_restore(ws_dir_);
  Restored out;
  out.checkpoint = find(id);
  const auto data = data_of(dir_, out.checkpoint);
  {
    WorkspaceOptions o;
    o.dir = ws_dir_;
    o.create = false;
    try {
      out.from_revision = Workspace::open(o)->revision();
    } catch (const Error& e) {
      if (e.code() != Errc::corrupt) throw;
      spdlog::warn("{}", e.what());  // a damaged workspace is what a restore is for
    }
  }
  StoreLock lock(dir_);
  ExclusiveEnv exclusive(ws_dir_);
  const auto staged = stage_copy(data, ws_dir_);
  const auto marker = ws_dir_ / kRestoreMarker;
  write_file_durably(marker, json{{"id", id}, {"revision", out.checkpoint.revision}, {"from_revision", out.from_revision}}
                                 .dump() + "\n");
  rename_durably(staged, ws_dir_ / kData);  // the switch: from here on the workspace is the checkpoint
  out.event = commit_restored(ws_dir_, out.checkpoint, out.from_revision);
  fs::remove(marker);
  sync_path(ws_dir_);
  return out;
}

Restored Checkpoints::fork(const std::string& id, const fs::path& to, std::uint64_t from_revision) {
  Restored out;
  out.checkpoint = find(id);
  out.from_revision = from_revision;
  if (fs::exists(to / kData)) throw Error(Errc::already_exists, to.string() + " already holds a workspace");
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) throw Error(Errc::io, "cannot create " + to.string() + ": " + ec.message());
  {
    StoreLock lock(dir_);
    rename_durably(stage_copy(data_of(dir_, out.checkpoint), to), to / kData);
  }
  out.event = commit_restored(to, out.checkpoint, from_revision, {{"forked_from", fs::absolute(ws_dir_).string()}});
  return out;
}

void Checkpoints::recover_restore(const fs::path& ws_dir) {
  const auto marker = ws_dir / kRestoreMarker;
  const auto staged = ws_dir / kRestoring;
  fs::remove(fs::path(marker) += ".tmp");
  if (!fs::exists(marker)) {  // killed while copying: the workspace was never touched
    if (fs::remove(staged)) spdlog::warn("removed {}, left by an interrupted restore", staged.string());
    return;
  }
  auto j = json::parse(read_text(marker), nullptr, false);
  CheckpointManifest m;
  std::uint64_t from_revision = 0;
  try {
    m.id = j.at("id").get<std::string>();
    m.revision = j.at("revision").get<std::uint64_t>();
    from_revision = j.at("from_revision").get<std::uint64_t>();
  } catch (const json::exception& e) {
    throw Error(Errc::corrupt, "restore marker " + marker.string() + ": " + e.what());
  }
  if (fs::exists(staged)) {  // killed before the switch: undo, the workspace is the old one
    fs::remove(staged);
    spdlog::warn("an interrupted restore of checkpoint {} was undone: workspace {} is as it was before it", m.id,
                 ws_dir.string());
  } else {  // killed after the switch: the workspace is the checkpoint; finish
    commit_restored(ws_dir, m, from_revision);
    spdlog::warn("an interrupted restore of checkpoint {} was completed in workspace {}", m.id, ws_dir.string());
  }
  fs::remove(marker);
  sync_path(ws_dir);
}

}  // namespace remora
