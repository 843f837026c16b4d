// The review fixture: a real workspace over a real project directory with agents and their edits,
// and the real `remora` binary run (or killed) on it. Shared by the review tests and the soak.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "review/review.hpp"
#include "supervisor/project_dir.hpp"
#include "supervisor/project_import.hpp"
#include "test_support.hpp"

namespace remora {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_text;

// A tree of files: path -> (bytes, mode).
using Tree = std::map<std::string, DiskFile>;

inline bool is_temp(const fs::path& p) {
  auto name = p.filename().string();
  return name.starts_with(".remora-") && name.ends_with(".tmp");
}

// The regular files under root; temporary files of interrupted writes go to `temps`.
inline Tree disk_tree(const fs::path& root, std::vector<std::string>* temps = nullptr) {
  Tree out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    auto rel = fs::relative(e.path(), root).generic_string();
    if (is_temp(e.path())) {
      if (temps) temps->push_back(rel);
      continue;
    }
    out[rel] = DiskFile::file(test::read_text(e.path()),
                              static_cast<std::uint32_t>(e.status().permissions()) & 07777);
  }
  return out;
}

class ReviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(root / "greet.py", "def greet():\n    return 'hi'\n");
    write_text(root / "shapes.py", "class Circle:\n    pass\n");
    write_text(root / "old.py", "x = 1\n");
    write_text(root / "run.sh", "#!/bin/sh\necho run\n");
    fs::permissions(root / "run.sh", fs::perms(0755));
    WorkspaceOptions o;
    o.dir = ws_dir;
    o.durability = Durability::nosync;
    ws = Workspace::open(o);
    import_project(*ws, root);
  }

  void add_agent(const std::string& id, const std::string& parent = "", const std::string& state = "completed") {
    proto::AgentState st;
    st.id = id;
    st.bundle = "lint";
    st.target = "greet.py";
    st.ns = keys::agent_ns(id);
    st.parent_ns = parent.empty() ? "base" : keys::agent_ns(parent);
    st.state = state;
    st.review = state == "completed" ? "pending" : "";
    ws->create_ns(st.ns, st.parent_ns);
    ws->write([&](WriteTxn& t) { t.put(ws->ns("base"), keys::run_agent(id), proto::encode(st)); });
  }
  void edit(const std::string& id, const std::string& path, const std::string& content, std::uint32_t mode = 0644) {
    auto ns = ws->ns(keys::agent_ns(id));
    ws->write([&](WriteTxn& t) { t.put(ns, keys::file(path), proto::encode(proto::FileEntry{{content}, mode})); });
  }
  void remove(const std::string& id, const std::string& path) {
    auto ns = ws->ns(keys::agent_ns(id));
    ws->write([&](WriteTxn& t) { t.del(ns, keys::file(path)); });
  }
  proto::AgentState agent(const std::string& id) const {
    auto e = ws->get(ws->ns("base"), keys::run_agent(id));
    return proto::decode<proto::AgentState>(e->value, keys::run_agent(id));
  }
  Tree base_tree() const {
    Tree out;
    for (auto& [k, e] : ws->list(ws->ns("base"), keys::kFile)) {
      auto f = proto::decode<proto::FileEntry>(e.value, k);
      out[k.substr(keys::kFile.size())] = DiskFile::file(f.content.data, f.mode);
    }
    return out;
  }
  std::size_t undo_records() const { return ws->list(ws->ns("base"), keys::kRunUndo).size(); }

  TempDir tmp;
  fs::path root = tmp / "project";
  fs::path ws_dir = tmp / "ws";
  std::unique_ptr<Workspace> ws;
};

template <class E = Error> inline E error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e;
  }
  ADD_FAILURE() << "no error thrown";
  throw std::logic_error("no error thrown");
}

// ---------------------------------------------------------------------------------------------
// The real binary killed with SIGKILL at random moments of `remora accept` and `remora undo`.

class ReviewCrash : public ReviewTest {
 protected:
  static constexpr int kFiles = 24;

  // Iteration i's agent: every file rewritten (some executable, a few large), some deleted.
  Tree edits_for(int i) {
    add_agent("k" + std::to_string(i));
    Tree changed;
    for (int j = 0; j < kFiles; ++j) {
      const std::string path = (j % 3 == 0 ? "deep/dir/" : "") + std::string("f") + std::to_string(j) + ".txt";
      if ((i + j) % 9 == 0) {
        remove("k" + std::to_string(i), path);
        changed[path] = DiskFile::absent();
        continue;
      }
      std::string content = "iteration " + std::to_string(i) + " file " + std::to_string(j) + "\n";
      content += std::string(j % 5 == 0 ? 96 * 1024 : 1500, static_cast<char>('a' + (i + j) % 26));
      const std::uint32_t mode = (i + j) % 4 == 0 ? 0755 : 0644;
      edit("k" + std::to_string(i), path, content, mode);
      changed[path] = DiskFile::file(content, mode);
    }
    return changed;
  }

  static Tree apply(Tree t, const Tree& changes) {
    for (const auto& [path, f] : changes) {
      if (f.kind == DiskFile::Kind::absent)
        t.erase(path);
      else
        t[path] = f;
    }
    return t;
  }

  // Every file holds either its old or its new bytes; interrupted temporary files may remain.
  void expect_old_or_new(const Tree& old, const Tree& now, const std::string& when) {
    const Tree disk = disk_tree(root);
    std::set<std::string> paths;
    for (const Tree* t : {&old, &now, &disk})
      for (const auto& [p, f] : *t) paths.insert(p);
    for (const auto& p : paths) {
      auto pick = [&](const Tree& t) { return t.contains(p) ? t.at(p) : DiskFile::absent(); };
      const DiskFile d = pick(disk);
      EXPECT_TRUE(d == pick(old) || d == pick(now)) << when << ": " << p << " is neither old nor new (torn?)";
    }
  }

  // After recovery: no temporary file, base equals disk, LMDB opens cleanly.
  void expect_consistent(const std::string& when) {
    std::vector<std::string> temps;
    Tree disk = disk_tree(root, &temps);
    EXPECT_TRUE(temps.empty()) << when << ": temporary files left: " << temps.front();
    EXPECT_EQ(base_tree(), disk) << when << ": base differs from the disk";
    auto stat = test::shell("mdb_stat -a " + ws_dir.string());
    EXPECT_EQ(stat.code, 0) << when << ": " << stat.out;
  }

  std::string newest_undo_state() const {
    auto newest = ws->list(ws->ns("base"), keys::kRunUndo, 1);
    if (newest.empty()) return "";
    return proto::decode<proto::UndoEntry>(newest[0].second.value, newest[0].first).state;
  }

  // Runs remora with args, killed with SIGKILL after `kill_after` if given, else expected to
  // succeed. Returns how long it ran.
  std::chrono::microseconds run(const std::vector<std::string>& args,
                                std::optional<std::chrono::microseconds> kill_after) {
    std::vector<std::string> full{"-w", ws_dir.string()};
    full.insert(full.end(), args.begin(), args.end());
    auto start = std::chrono::steady_clock::now();
    test::Child child(REMORA_BIN, full, tmp / "remora.out");
    if (kill_after) {
      std::this_thread::sleep_for(*kill_after);
      child.kill9();
    }
    int code = child.wait();
    if (!kill_after) {
      EXPECT_EQ(code, 0) << test::read_text(tmp / "remora.out");
    }
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  }

  // Runs remora with args and REMORA_FAULT=fault (shared/fault_point.hpp). Returns its exit code:
  // 137 when it was killed at the fault point.
  int run_at_fault(const std::vector<std::string>& args, const std::string& fault, std::string* out = nullptr) {
    std::string cmd = "REMORA_FAULT='" + fault + "' " + std::string(REMORA_BIN) + " -w '" + ws_dir.string() + "'";
    for (const auto& a : args) cmd += " '" + a + "'";
    auto r = test::shell(cmd);
    if (out) *out = r.out;
    return r.code;
  }

  // One round of fault injection on a fresh agent `id` that edits `files` files: its accept killed
  // at `accept_fault`, the rollback itself killed at `rollback_fault` (if not empty), then the
  // accept again and its undo killed at `undo_fault`. After each kill the next command must
  // recover: every file old or new, then exactly old (rolled back, undone) or new (accepted), the
  // undo log consistent, and the next accept or undo working.
  void fault_round(const std::string& id, int files, const std::string& accept_fault,
                   const std::string& rollback_fault, const std::string& undo_fault) {
    SCOPED_TRACE(id + ": accept killed at " + accept_fault + ", rollback at '" + rollback_fault + "', undo at " +
                 undo_fault);
    add_agent(id);
    Tree changed;
    for (int j = 0; j < files; ++j) {
      const std::string path = (j % 2 ? "sub/" : "") + std::string("g") + std::to_string(j) + ".txt";
      if (j == files - 1 && files > 2 && disk_tree(root).contains(path)) {
        remove(id, path);
        changed[path] = DiskFile::absent();
        continue;
      }
      const std::string content = id + " wrote " + path + "\n" + std::string(1000 + 97 * j, 'x');
      const std::uint32_t mode = j % 3 == 0 ? 0755 : 0644;
      edit(id, path, content, mode);
      changed[path] = DiskFile::file(content, mode);
    }
    const Tree old = disk_tree(root);
    const Tree fresh = apply(old, changed);

    std::string out;
    EXPECT_EQ(run_at_fault({"accept", id}, accept_fault), 137) << "the accept was not killed at its fault point";
    EXPECT_EQ(newest_undo_state(), "pending");
    expect_old_or_new(old, fresh, "after the accept was killed");
    if (!rollback_fault.empty()) {
      // The recovery of the accept killed in turn, part way through putting files back.
      run_at_fault({"events"}, rollback_fault);
      expect_old_or_new(old, fresh, "after the rollback was killed");
    }
    EXPECT_EQ(run_at_fault({"events"}, "", &out), 0) << out;
    EXPECT_NE(out.find("rolled back the accept of " + id), std::string::npos) << out;
    EXPECT_EQ(out.find("changed on disk meanwhile"), std::string::npos) << out;
    expect_consistent("after the rollback");
    EXPECT_EQ(disk_tree(root), old) << "the disk keeps what the interrupted accept wrote";
    EXPECT_NE(newest_undo_state(), "pending");
    EXPECT_EQ(agent(id).review, "pending");

    EXPECT_EQ(run_at_fault({"accept", id}, "", &out), 0) << out;  // the accept again, to the end
    EXPECT_EQ(disk_tree(root), fresh);
    EXPECT_EQ(agent(id).review, "accepted");
    EXPECT_EQ(run_at_fault({"undo"}, undo_fault), 137) << "the undo was not killed at its fault point";
    EXPECT_EQ(newest_undo_state(), "undoing");
    expect_old_or_new(fresh, old, "after the undo was killed");
    EXPECT_EQ(run_at_fault({"events"}, "", &out), 0) << out;
    expect_consistent("after the undo's recovery");
    EXPECT_EQ(disk_tree(root), old);
    EXPECT_EQ(newest_undo_state(), "undone");
    EXPECT_EQ(agent(id).review, "undone");
  }
};

}  // namespace remora
