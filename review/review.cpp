#include "review/review.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "review/three_way_merge.hpp"
#include "shared/clock.hpp"
#include "shared/fault_point.hpp"
#include "supervisor/graph_spec.hpp"
#include "supervisor/project_dir.hpp"
#include "supervisor/project_import.hpp"
#include "supervisor/terminal_text.hpp"

namespace remora {

namespace {

bool terminal(const proto::AgentState& a) {
  return a.state == "completed" || a.state == "failed" || a.state == "cancelled" || a.state == "skipped";
}

std::optional<FileSide> side_of(const std::optional<Entry>& e, std::string_view key) {
  if (!e) return std::nullopt;
  auto f = proto::decode<proto::FileEntry>(e->value, key);
  return FileSide{std::move(f.content.data), f.mode};
}

DiskFile disk_of(const std::optional<FileSide>& side) {
  return side ? DiskFile::file(side->content, side->mode) : DiskFile::absent();
}

DiskFile disk_of(const proto::UndoFile& f) {
  return f.existed ? DiskFile::file(f.content.data, f.mode) : DiskFile::absent();
}

std::string path_of(std::string_view key) { return std::string(key.substr(keys::kFile.size())); }

bool same_side(const std::optional<FileSide>& a, const std::optional<FileSide>& b) {
  return a.has_value() == b.has_value() && (!a || (a->content == b->content && a->mode == b->mode));
}

// Keeps base's version of key before a write replaces it, as run:base_file:<its revision>:<path>,
// so that an agent that started from it can be merged three-way later (base_version).
void keep_base_version(WriteTxn& t, const Namespace& base, const std::string& path) {
  auto e = t.get(base, keys::file(path));
  if (!e) return;
  auto key = keys::run_base_file(e->mod_rev, path);
  if (keys::valid_key(key)) t.put(base, key, e->value);  // a longer path is not merged
}

// The base version of path written at revision rev (0: the file did not exist): outer nullopt
// when it was not kept.
std::optional<std::optional<FileSide>> base_version(const Workspace& ws, std::uint64_t rev, const std::string& path) {
  if (rev == 0) return std::optional<FileSide>{};
  const auto key = keys::run_base_file(rev, path);
  auto e = ws.get(ws.ns(keys::kBase), key);
  if (!e) return std::nullopt;
  return side_of(e, key);
}

// The files an accept interrupted while writing was merging, with what it was writing
// (run:accepting:<path>).
std::map<std::string, DiskFile> merged_being_written(const Workspace& ws) {
  std::map<std::string, DiskFile> out;
  for (auto& [k, e] : ws.list(ws.ns(keys::kBase), keys::kRunAccepting))
    out.emplace(k.substr(keys::kRunAccepting.size()), disk_of(side_of(e, k)));
  return out;
}

std::string conflict_message(const std::string& id, const std::vector<std::pair<std::string, std::vector<std::string>>>& files) {
  std::vector<std::string> names;
  for (const auto& [path, hunks] : files) names.push_back(quoted_name(path));
  std::string out = fmt::format("accept of {} refused: it and the changes made since it started (on disk or by an "
                                "accepted agent) change the same lines of {}; nothing was written. Resolve and "
                                "accept again, or --force takes the agent's version:",
                                id, fmt::join(names, ", "));
  for (const auto& [path, hunks] : files)
    for (const auto& h : hunks) out += "\n" + quoted_name(path) + ":\n" + (h.ends_with('\n') ? h.substr(0, h.size() - 1) : h);
  return out;
}

// The run's agents by id, and the way from an agent to the agents it reads through.
class Agents {
 public:
  explicit Agents(const Workspace& ws) {
    for (auto& a : run_agents(ws)) {
      order_.push_back(a.id);
      by_ns_[a.ns] = a.id;
      by_id_.emplace(a.id, std::move(a));
    }
  }

  const proto::AgentState* find(const std::string& id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &it->second;
  }
  const proto::AgentState& at(const std::string& id) const {
    if (const auto* a = find(id)) return *a;
    throw Error(Errc::not_found, "no agent " + id + " in the run");
  }
  // id and the agents whose overlays it reads through, nearest first.
  std::vector<std::string> chain(const std::string& id) const {
    std::vector<std::string> out{id};
    auto up = ancestors(id);
    out.insert(out.end(), up.begin(), up.end());
    return out;
  }
  const std::vector<std::string>& order() const { return order_; }

  // The agents whose overlays id reads through, nearest first.
  std::vector<std::string> ancestors(const std::string& id) const {
    std::vector<std::string> out;
    for (const auto* a = &at(id); a->parent_ns != keys::kBase;) {
      auto it = by_ns_.find(a->parent_ns);
      if (it == by_ns_.end() || std::ranges::count(out, it->second)) break;  // not an agent's overlay
      out.push_back(it->second);
      a = &at(it->second);
    }
    return out;
  }

  // The agents reading through id's overlay, deepest first.
  std::vector<std::string> descendants(const std::string& id) const {
    std::vector<std::pair<std::size_t, std::string>> found;  // depth below id, agent
    for (const auto& other : order_) {
      auto up = ancestors(other);
      if (auto pos = std::ranges::find(up, id); pos != up.end())
        found.emplace_back(static_cast<std::size_t>(pos - up.begin()), other);
    }
    std::ranges::sort(found, std::greater<>());
    std::vector<std::string> out;
    for (auto& [depth, other] : found) out.push_back(std::move(other));
    return out;
  }

  // Refuses (Error conflict) when an agent reading through id's overlay is still running or
  // awaits review: taking id alone would pull the ground from under it.
  void check_no_pending_descendant(const std::string& id, std::string_view verb, std::string_view remedy) const {
    for (const auto& d : descendants(id)) {
      const auto& a = at(d);
      if (!terminal(a))
        throw Error(Errc::conflict, fmt::format("cannot {} {}: agent {} builds on its changes and is still {}", verb,
                                                id, d, a.state));
      if (awaits_review(a))
        throw Error(Errc::conflict, fmt::format("cannot {} {} alone: agent {} builds on its changes and awaits "
                                                "review; {}",
                                                verb, id, d, fmt::format(fmt::runtime(remedy), d)));
    }
  }

 private:
  std::map<std::string, proto::AgentState> by_id_;
  std::map<std::string, std::string> by_ns_;
  std::vector<std::string> order_;
};

struct UndoRecord {
  std::uint64_t number;  // 1 for the first accept, then counting up
  std::string key;
  std::uint64_t mod_rev;  // the revision that last wrote the record
  proto::UndoEntry entry;
};

// Undo entries are keyed newest first, run:undo:<9999999999 - number>: the newest, the only one
// an interrupted command can have left pending or undoing, is the first under the prefix, and
// no command reads the history behind what it needs.
constexpr std::uint64_t kUndoKeyBase = 9'999'999'999;

// The undo records, newest first, up to and including the first for which `last` holds (all of
// them if none does).
std::vector<UndoRecord> newest_undo_records(const Workspace& ws,
                                            const std::function<bool(const UndoRecord&)>& last) {
  std::vector<UndoRecord> out;
  ws.read([&](const Reader& r) {
    r.scan(ws.ns(keys::kBase), keys::kRunUndo, [&](std::string_view key, const Entry& e) {
      auto number = kUndoKeyBase - std::stoull(std::string(key.substr(keys::kRunUndo.size())));
      out.push_back({number, std::string(key), e.mod_rev, proto::decode<proto::UndoEntry>(e.value, key)});
      return !last(out.back());
    });
  });
  return out;
}

std::optional<UndoRecord> newest_undo_record(const Workspace& ws) {
  auto records = newest_undo_records(ws, [](const UndoRecord&) { return true; });
  if (records.empty()) return std::nullopt;
  return std::move(records.front());
}

bool interrupted(const UndoRecord& r) { return r.entry.state == "pending" || r.entry.state == "undoing"; }

ProjectDir project_dir(const Workspace& ws) {
  auto project = imported_project(ws);
  if (!project)
    throw Error(Errc::not_found, "workspace " + ws.dir().string() +
                                     " holds no imported project (remora run PATHS imports one)");
  return ProjectDir(project->root);
}

std::string stale_message(const std::string& what, const std::vector<StaleFile>& files) {
  std::vector<std::string> parts;
  for (const auto& f : files) parts.push_back(quoted_name(f.path) + " (" + f.why + ")");
  return fmt::format("{} refused: stale base: {}; --force overrides", what, fmt::join(parts, ", "));
}

}  // namespace

StaleBase::StaleBase(const std::string& what, std::vector<StaleFile> files)
    : Error(Errc::conflict, stale_message(what, files)), files_(std::move(files)) {}

std::vector<proto::AgentState> run_agents(const Workspace& ws) {
  const auto base = ws.ns(keys::kBase);
  std::map<std::string, proto::AgentState> by_id;
  for (auto& [k, e] : ws.list(base, keys::kRunAgent)) {
    auto a = proto::decode<proto::AgentState>(e.value, k);
    by_id.emplace(a.id, std::move(a));
  }
  std::vector<std::string> order;
  if (auto run = ws.get(base, keys::kRunGraph)) {
    auto r = proto::decode<proto::Run>(run->value, keys::kRunGraph);
    order = GraphSpec::from_json(nlohmann::json::parse(r.graph_json)).topo_order();
  }
  std::vector<proto::AgentState> out;
  for (const auto& id : order)
    if (auto it = by_id.find(id); it != by_id.end()) {
      out.push_back(std::move(it->second));
      by_id.erase(it);
    }
  for (auto& [id, a] : by_id) out.push_back(std::move(a));
  return out;
}

bool awaits_review(const proto::AgentState& a) { return a.state == "completed" && a.review == "pending"; }

std::vector<FileChange> agent_changes(const Workspace& ws, const proto::AgentState& agent) {
  auto overlay = ws.find_ns(agent.ns);
  if (!overlay) return {};
  // The keys each layer of its chain changed against the layer below, then the view against base.
  std::set<std::string> candidates;
  std::map<std::uint32_t, std::string> names;
  for (const auto& info : ws.namespaces()) names.emplace(info.id, info.name);
  for (std::uint32_t id : overlay->chain)
    if (id != 0)
      for (auto& d : ws.diff(ws.ns(names.at(id)), keys::kFile)) candidates.insert(std::move(d.key));
  std::vector<FileChange> out;
  const auto base = ws.ns(keys::kBase);
  ws.read([&](const Reader& r) {
    for (const auto& key : candidates) {
      auto before = side_of(r.get(base, key), key);
      auto after = side_of(r.get(*overlay, key), key);
      if (!same_side(before, after)) out.push_back({path_of(key), std::move(before), std::move(after)});
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------

struct Review::Lock {
  explicit Lock(const std::filesystem::path& dir) {
    const auto path = dir / "review.lock";
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw Error(Errc::io, "cannot open " + path.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      auto n = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      throw Error(Errc::busy, fmt::format("another remora command (pid {}) is reviewing workspace {}",
                                          n > 0 ? buf : "?", dir.string()));
    }
    auto pid = std::to_string(::getpid());
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
      // The pid is only informative; the lock is what matters.
    }
  }
  ~Lock() { ::close(fd); }
  int fd;
};

namespace {

// Puts back the files of an undo entry as they were before its accept. With `only_from`, a file
// is put back only if the disk holds what it held before or what only_from says (what the
// interrupted accept was writing): anything else was written by someone else since, and is left
// alone. Returns a sentence per file left.
std::vector<std::string> restore(const ProjectDir& dir, const proto::UndoEntry& entry,
                                 const std::map<std::string, DiskFile>* only_from = nullptr) {
  std::vector<std::string> left;
  for (const auto& f : entry.files) {
    const DiskFile old = disk_of(f);
    if (only_from) {
      const DiskFile now = dir.read(f.path);
      auto it = only_from->find(f.path);
      if (now != old && (it == only_from->end() || now != it->second)) {
        left.push_back(quoted_name(f.path) + " changed on disk meanwhile and was left as it is");
        dir.cleanup(f.path);
        continue;
      }
    }
    dir.put(f.path, old);
    fault_point("review:file_put_back");
  }
  return left;
}

// Rolls an accept interrupted before its merge back: its files are put back as they were, and
// its undo entry removed (the accept never happened; base and the overlays were not touched).
std::vector<std::string> roll_back_accept(Workspace& ws, const UndoRecord& r) {
  const ProjectDir dir = project_dir(ws);
  std::map<std::string, DiskFile> writing;  // the agent's view: what the accept was writing
  const Agents agents(ws);
  if (const auto* agent = agents.find(r.entry.agent_id))
    for (const auto& c : agent_changes(ws, *agent)) writing.emplace(c.path, disk_of(c.after));
  const auto merging = merged_being_written(ws);
  for (const auto& [path, file] : merging) writing.insert_or_assign(path, file);
  auto notes = restore(dir, r.entry, &writing);
  const auto base = ws.ns(keys::kBase);
  ws.write([&](WriteTxn& t) {
    t.del(base, r.key);
    for (const auto& [path, file] : merging) t.del(base, keys::run_accepting(path));
  });
  notes.insert(notes.begin(), fmt::format("rolled back the accept of {} that was interrupted ({} files put back)",
                                          r.entry.agent_id, r.entry.files.size()));
  return notes;
}

// Carries an undo out from its committed `undoing` record (it was checked, or forced, before the
// record was written): the files as they were before the accept, on disk then in base, the
// record marked undone and the agents it accepted `undone`.
void finish_undo(Workspace& ws, UndoRecord r) {
  restore(project_dir(ws), r.entry);
  fault_point("undo:files_restored");
  const auto base = ws.ns(keys::kBase);
  const Agents agents(ws);
  std::vector<std::string> undone;  // the agent and the ancestors its accept took with it
  if (agents.find(r.entry.agent_id))
    for (const auto& id : agents.chain(r.entry.agent_id))
      if (agents.at(id).review == "accepted") undone.push_back(id);
  ws.write([&](WriteTxn& t) {
    for (const auto& f : r.entry.files) {
      keep_base_version(t, base, f.path);
      if (f.existed)
        t.put(base, keys::file(f.path), proto::encode(proto::FileEntry{f.content, f.mode}));
      else
        t.del(base, keys::file(f.path));
    }
    r.entry.state = "undone";
    t.put(base, r.key, proto::encode(r.entry));
    for (const auto& id : undone) {
      auto st = agents.at(id);
      st.review = "undone";
      t.put(base, keys::run_agent(id), proto::encode(st));
    }
  });
}

std::vector<std::string> recover(Workspace& ws) {
  auto r = newest_undo_record(ws);
  if (r && r->entry.state == "pending") return roll_back_accept(ws, *r);
  if (r && r->entry.state == "undoing") {
    finish_undo(ws, *r);
    return {fmt::format("finished the undo of {}'s accept that was interrupted", r->entry.agent_id)};
  }
  return {};
}

}  // namespace

Review::Review(Workspace& ws) : lock_(std::make_unique<Lock>(ws.dir())), ws_(ws), recovered_(recover(ws)) {}

Review::~Review() = default;

Accepted Review::accept(const std::string& id, bool force) {
  const Agents agents(ws_);
  const auto& a = agents.at(id);
  if (a.state != "completed")
    throw Error(Errc::conflict, fmt::format("cannot accept {}: it is {}; only a completed agent can be accepted", id,
                                            a.state));
  if (a.review == "accepted" || a.review == "rejected" || a.review == "undone")
    throw Error(Errc::conflict, fmt::format("cannot accept {}: it is already {}", id,
                                            a.review == "undone" ? "accepted and undone" : a.review));
  agents.check_no_pending_descendant(id, "accept", "accept {} (which accepts both) or reject it first");
  auto changes = agent_changes(ws_, a);
  if (changes.empty()) throw Error(Errc::not_found, fmt::format("agent {} has no changes to accept", id));
  for (const auto& c : changes)
    if (auto why = c.after ? unwritable_mode(c.after->mode) : std::nullopt)
      throw Error(Errc::conflict, fmt::format("cannot accept {}: {} has mode {} ({}); remora writes only ordinary files "
                                              "(no setuid, setgid or sticky bit, no link, device or FIFO): reject it",
                                              id, quoted_name(c.path), full_mode(c.after->mode), *why));
  const ProjectDir dir = project_dir(ws_);

  Accepted out{id, agents.ancestors(id), {}, {}, false};
  const auto chain = agents.chain(id);
  std::vector<Namespace> layers;  // the overlays to merge, nearest first
  for (const auto& layer : chain)
    if (auto ns = ws_.find_ns(agents.at(layer).ns)) layers.push_back(*ns);

  // (1) What moved underneath the agent: files changed in the base since it (or an ancestor) read
  // or wrote them, or on disk since they were imported. A file the agent changed is merged
  // three-way with the disk from the version it started from; the rest is a stale base.
  std::vector<StaleFile> stale;
  std::set<std::string> named;
  auto note = [&](std::string path, std::string why) {
    if (named.insert(path).second) stale.push_back({std::move(path), std::move(why)});
  };
  std::map<std::string, std::uint64_t> moved;  // path -> the base revision the agents started from
  std::set<std::string> read_moved;           // files only read that moved
  ws_.read([&](const Reader& r) {
    for (const auto& ns : layers)  // nearest first: the farthest layer that wrote a file saw base
      for (const auto& c : r.conflicts(ns, keys::kFile)) {
        if (c.read_only)
          read_moved.insert(path_of(c.key));
        else
          moved[path_of(c.key)] = c.seen_rev;
      }
  });
  std::vector<proto::UndoFile> before;
  std::map<std::string, FileSide> merged;  // path -> what is written instead of the agent's version
  std::vector<std::pair<std::string, std::vector<std::string>>> conflicting;
  for (const auto& c : changes) {
    DiskFile disk = dir.read(c.path);
    if (disk.kind == DiskFile::Kind::other)
      throw Error(Errc::conflict, fmt::format("cannot accept {}: {} is not a regular file on disk (a directory or a "
                                              "symbolic link), which remora never replaces",
                                              id, quoted_name(c.path)));
    const auto in_base = moved.find(c.path);
    if (in_base != moved.end() || disk != disk_of(c.before)) {
      const std::string why = in_base != moved.end() ? "changed in the base since the agent read or wrote it"
                                                     : "changed on disk since it was imported";
      // The version the agent started from: base's, unless base moved since.
      auto ancestor = in_base == moved.end() ? std::optional<std::optional<FileSide>>(c.before)
                                             : base_version(ws_, in_base->second, c.path);
      const FileSide theirs{disk.content, disk.mode};
      std::optional<std::string> cannot;
      if (!ancestor || !c.after || disk.kind != DiskFile::Kind::file)
        cannot = "";  // a side is absent, or where the agent started is not known: nothing to merge
      else
        cannot = unmergeable(*ancestor, *c.after, theirs);
      if (cannot) {
        note(c.path, why + (cannot->empty() ? "" : " (" + *cannot + ")"));
      } else {
        auto m = merge_three_way(c.path, *ancestor, *c.after, theirs, "agent " + id);
        if (m.merged)
          merged.emplace(c.path, std::move(*m.merged));
        else
          conflicting.emplace_back(c.path, std::move(m.conflicts));
      }
    }
    before.push_back({c.path, disk.kind == DiskFile::Kind::file, {std::move(disk.content)}, disk.mode});
  }
  for (const auto& path : read_moved)
    if (!std::ranges::any_of(changes, [&](const FileChange& c) { return c.path == path; }))
      note(path, "changed in the base since the agent read it");
  if (!stale.empty() && !force) throw StaleBase("accept of " + id, stale);
  if (!conflicting.empty() && !force) throw Error(Errc::conflict, conflict_message(id, conflicting));
  out.forced = !stale.empty() || !conflicting.empty();  // those files take the agent's version
  for (const auto& [path, file] : merged) out.merged.push_back(path);
  auto writes = [&](const FileChange& c) {  // what the accept writes for c
    auto it = merged.find(c.path);
    return it == merged.end() ? c.after : std::optional<FileSide>(it->second);
  };

  // (2) The undo entry, committed before the disk is touched, with what merged files become.
  const auto newest = newest_undo_record(ws_);
  UndoRecord rec{newest ? newest->number + 1 : 1, {}, 0, {id, now_ms(), "pending", std::move(before)}};
  rec.key = keys::run_undo(kUndoKeyBase - rec.number);
  const auto base = ws_.ns(keys::kBase);
  ws_.write([&](WriteTxn& t) {
    t.put(base, rec.key, proto::encode(rec.entry));
    for (const auto& [path, file] : merged)
      t.put(base, keys::run_accepting(path), proto::encode(proto::FileEntry{{file.content}, file.mode}));
  });

  try {
    // (3) The files, each replaced atomically.
    for (const auto& c : changes) {
      const auto side = writes(c);
      if (side)
        dir.write(c.path, side->content, side->mode);
      else
        dir.remove(c.path);
      fault_point("accept:file_written");
    }
    fault_point("accept:files_written");
    // (4) One transaction: the overlays merged down into base (merged files as merged), the undo
    // entry done, the agents accepted; base's versions replaced are kept for later merges.
    ws_.write([&](WriteTxn& t) {
      for (const auto& c : changes) keep_base_version(t, base, c.path);
      const auto strategy = force || !merged.empty() ? MergeStrategy::ours : MergeStrategy::fail;
      for (const auto& ns : layers) {
        const auto result = t.merge(ns, strategy, keys::kFile);
        for (const auto& o : result.overrode)
          if (!force && !merged.contains(path_of(o.key)))
            throw Error(Errc::conflict, "cannot accept " + id + ": " + quoted_name(path_of(o.key)) +
                                            " changed while it was accepted");
      }
      for (const auto& [path, file] : merged) {
        t.put(base, keys::file(path), proto::encode(proto::FileEntry{{file.content}, file.mode}));
        t.del(base, keys::run_accepting(path));
      }
      for (const auto& c : changes) {
        const auto key = keys::file(c.path);
        if (!same_side(side_of(t.get(base, key), key), writes(c)))
          throw Error(Errc::conflict, "cannot accept " + id + ": " + quoted_name(c.path) + " changed while it was accepted");
      }
      auto done = rec.entry;
      done.state = "done";
      t.put(base, rec.key, proto::encode(done));
      for (const auto& agent : chain) {
        auto st = agents.at(agent);
        st.review = "accepted";
        t.put(base, keys::run_agent(agent), proto::encode(st));
      }
    });
  } catch (...) {
    roll_back_accept(ws_, rec);
    throw;
  }
  out.files = std::move(changes);
  return out;
}

std::vector<AcceptAttempt> Review::accept_all(bool force) {
  std::vector<AcceptAttempt> out;
  const Agents agents(ws_);
  for (const auto& id : agents.order()) {
    if (!awaits_review(agents.at(id))) continue;
    auto desc = agents.descendants(id);
    if (std::ranges::any_of(desc, [&](const std::string& d) { return awaits_review(agents.at(d)); }))
      continue;  // accepted with the agent that builds on it
    AcceptAttempt attempt{id, std::nullopt, {}};
    try {
      attempt.accepted = accept(id, force);
    } catch (const Error& e) {
      if (e.code() == Errc::io || e.code() == Errc::corrupt || e.code() == Errc::busy) throw;
      attempt.refused = e.what();
    }
    out.push_back(std::move(attempt));
  }
  return out;
}

std::vector<std::string> Review::reject(const std::string& id) {
  const Agents agents(ws_);
  const auto& a = agents.at(id);
  if (a.review == "accepted")
    throw Error(Errc::conflict, fmt::format("cannot reject {}: it is accepted (remora undo takes an accept back)", id));
  if (!terminal(a))
    throw Error(Errc::conflict, fmt::format("cannot reject {}: it is still {} (remora cancel {} stops it)", id, a.state, id));
  agents.check_no_pending_descendant(id, "reject", "reject {} first");
  if (a.review != "rejected") {
    auto st = a;
    st.review = "rejected";
    const auto base = ws_.ns(keys::kBase);
    ws_.write([&](WriteTxn& t) { t.put(base, keys::run_agent(id), proto::encode(st)); });
  }
  // Deepest first: a namespace cannot be dropped while overlays read through it. What each agent
  // reported (turns, tokens, summary) is kept in base: status still shows it.
  std::vector<std::string> dropped;
  auto order = agents.descendants(id);
  order.push_back(id);
  const auto base = ws_.ns(keys::kBase);
  for (const auto& d : order)
    if (auto ns = ws_.find_ns(agents.at(d).ns)) {
      if (auto result = ws_.get(*ns, keys::result(d)))
        ws_.write([&](WriteTxn& t) { t.put(base, keys::result(d), result->value); });
      ws_.drop_ns(agents.at(d).ns);
      dropped.push_back(d);
    }
  return dropped;
}

std::vector<std::string> Review::reject_all() {
  const Agents agents(ws_);
  std::vector<std::string> out;
  auto order = agents.order();
  std::ranges::reverse(order);  // dependents before what they build on
  for (const auto& id : order)
    if (awaits_review(agents.at(id))) {
      reject(id);
      out.push_back(id);
    }
  return out;
}

Undone Review::undo(bool force) {
  auto records = newest_undo_records(ws_, [](const UndoRecord& r) { return r.entry.state == "done"; });
  if (records.empty() || records.back().entry.state != "done")
    throw Error(Errc::not_found, "nothing to undo: no accept left to take back in workspace " + ws_.dir().string());
  UndoRecord r = records.back();
  // Revisions that may have written its files since: the accept itself, and the undos of the
  // accepts after it.
  std::set<std::uint64_t> expected;
  for (const auto& later : records) expected.insert(later.mod_rev);

  const ProjectDir dir = project_dir(ws_);
  const auto base = ws_.ns(keys::kBase);
  std::vector<StaleFile> stale;
  for (const auto& f : r.entry.files) {
    const auto key = keys::file(f.path);
    auto in_base = ws_.get(base, key);
    DiskFile disk = dir.read(f.path);
    if (disk.kind == DiskFile::Kind::other)
      throw Error(Errc::conflict, fmt::format("cannot undo the accept of {}: {} is not a regular file on disk",
                                              r.entry.agent_id, quoted_name(f.path)));
    if (in_base && !expected.contains(in_base->mod_rev))
      stale.push_back({f.path, "changed in the base since the accept"});
    else if (disk != disk_of(side_of(in_base, key)))
      stale.push_back({f.path, "changed on disk since the accept"});
  }
  if (!stale.empty() && !force) throw StaleBase("undo of the accept of " + r.entry.agent_id, stale);

  r.entry.state = "undoing";
  ws_.write([&](WriteTxn& t) { t.put(base, r.key, proto::encode(r.entry)); });
  finish_undo(ws_, r);
  Undone out{r.entry.agent_id, {}};
  for (const auto& f : r.entry.files) out.files.push_back(f.path);
  return out;
}

std::vector<std::string> recover_interrupted_review(Workspace& ws) {
  auto newest = newest_undo_record(ws);
  if (!newest || !interrupted(*newest)) return {};
  try {
    Review review(ws);
    return review.recovered();
  } catch (const Error& e) {
    if (e.code() == Errc::busy) return {};  // a live review command is at work
    throw;
  }
}

}  // namespace remora
