// Workspace: the LMDB environment through which the supervisor and every worker communicate.
//
// Namespaces. `base` holds the project. An overlay namespace is created over a parent (base or
// another overlay); reads fall through its parent chain, writes go to the overlay only, and a
// delete in an overlay is a tombstone that hides the parent's key. Listing a prefix gives the
// merged, ordered view of the chain.
//
// Revisions. Every committed write transaction gets the next revision (64-bit, gap-free), and
// the change log records, in that same transaction, every (namespace, key, operation) it made.
// Watcher (watcher.hpp) reads that log and sleeps on the Doorbell between commits.
//
// Conflicts. Each overlay entry remembers the version its parent chain had for that key when the
// overlay first read (note_read) or wrote it. merge() refuses, naming every such key, when the
// parent's version has moved since and its content differs from the overlay's.
//
// Processes. Open one Workspace per process per directory (LMDB forbids two in one process) and
// never use it across fork(); fork-then-exec is fine. All methods are thread-safe. The map grows
// by itself when full, other processes adopt the new size, and stale reader slots of dead
// processes are cleared on open. Errors are remora::Error (error.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/records.hpp"
#include "shared/error.hpp"

typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;
typedef struct MDB_cursor MDB_cursor;
typedef struct MDB_val MDB_val;

namespace remora {

class Doorbell;
class WriterGate;

enum class Durability {
  sync,         // every commit through this environment is on disk when commit returns (two fsyncs:
                // the pages inside LMDB's writer lock, the meta page after watchers are rung, so
                // that they may see it one fsync before it is durable: see Workspace::sync)
  meta_nosync,  // one fsync per commit: a machine crash may roll back the last commit, never corrupts
  nosync,       // survives the death of any process, not of the machine (tests, benchmarks)
};
std::string_view name_of(Durability d);
std::optional<Durability> durability_named(std::string_view name);
// What a worker commits with in a run of durability `run`: meta_nosync for sync, else `run`. A
// worker's commit need not be on disk when it returns: what the supervisor makes of it (a model
// call's reply, a message passed on, the agent's end) is kept by the supervisor's own synced
// commit, which carries the worker's to disk too (LMDB's commits are ordered, and a commit's
// fdatasync flushes every earlier commit's pages). A machine crash before then loses both, never
// corrupts (meta_nosync writes a commit's pages before its meta page), and the resumed worker does
// that work again: no model reply that was kept is asked for twice.
Durability worker_durability(Durability run);

struct WorkspaceOptions {
  std::filesystem::path dir = ".remora/workspace";
  bool create = true;  // create the directory and environment when missing
  Durability durability = Durability::sync;
  std::size_t initial_map_bytes = std::size_t{64} << 20;
  std::size_t max_map_bytes = std::size_t{1} << 40;
  std::uint64_t log_retention = 1'000'000;  // revisions the change log keeps; 0 keeps all
  unsigned max_readers = 1024;
  // Reads only (MDB_RDONLY | MDB_NOLOCK), for an environment no process writes, such as a
  // checkpoint: nothing is created in its directory, writes are refused, and it has no doorbell.
  bool read_only = false;
  // Commits without passing the writer gate (shared/writer_gate.hpp), so that they wait for at
  // most one other process's commit: the supervisor's. Every other writer passes it.
  bool priority_writer = false;
};

// A resolved namespace: its id and the ids of its chain, itself first and base (0) last.
struct Namespace {
  std::uint32_t id = 0;
  std::string name;
  std::vector<std::uint32_t> chain;
  bool is_base() const { return id == 0; }
  std::span<const std::uint32_t> parents() const { return std::span(chain).subspan(1); }
};

// A value as read through a chain: its bytes, the revision that wrote it, and the layer it came from.
struct Entry {
  std::string value;
  std::uint64_t mod_rev = 0;
  std::uint32_t ns = 0;
};

// A value as Reader::scan hands it out: views into the read transaction, no copy. Valid until the
// scan's callback returns (in a WriteTxn, until the callback's first write); convert to an Entry
// (a copy) to keep it longer.
struct EntryView {
  std::string_view value;
  std::uint64_t mod_rev = 0;
  std::uint32_t ns = 0;
  operator Entry() const { return Entry{std::string(value), mod_rev, ns}; }
};

struct Change {
  std::uint64_t revision = 0;
  std::uint32_t ns = 0;
  std::string ns_name;
  proto::ChangeOp op = proto::ChangeOp::put;
  std::string key;
};

struct ChangePage {
  std::vector<Change> changes;
  std::uint64_t next_revision = 0;  // resume from here
};

struct DiffEntry {
  enum class Kind { added, changed, deleted };
  Kind kind = Kind::added;
  std::string key;
  std::optional<std::string> old_value;  // parent's value (changed, deleted)
  std::optional<std::string> new_value;  // overlay's value (added, changed)
};
std::string_view name_of(DiffEntry::Kind k);

enum class MergeStrategy {
  fail,    // refuse the whole merge if any key conflicts
  ours,    // the overlay's value wins on conflicting keys
  theirs,  // the parent's value wins: conflicting keys are discarded from the overlay
};
std::optional<MergeStrategy> merge_strategy_named(std::string_view name);

struct Conflict {
  std::string key;
  std::uint64_t seen_rev = 0;    // parent's version when the overlay first touched the key
  std::uint64_t parent_rev = 0;  // parent's version now
  bool read_only = false;        // the overlay only read the key
};

struct MergeResult {
  std::uint64_t revision = 0;
  std::size_t applied = 0;
  std::vector<Conflict> skipped;   // under `theirs`
  std::vector<Conflict> overrode;  // under `ours`
};

class MergeConflict : public Error {
 public:
  MergeConflict(const std::string& ns, std::vector<Conflict> conflicts);
  const std::vector<Conflict>& conflicts() const { return conflicts_; }

 private:
  std::vector<Conflict> conflicts_;
};

// An overlay's own entry for a key as it is stored: what the overlay did with the key and the
// version of its parent chain it saw then (the revision that wrote it; 0: there was none). For
// carrying an overlay over to another workspace (WriteTxn::put_own).
struct OwnEntry {
  enum class Kind : std::uint8_t { value, tombstone, read };
  std::string key;
  Kind kind = Kind::value;
  std::string value;  // a value's bytes; empty for a tombstone or a read
  std::uint64_t seen_rev = 0;
};

class Workspace;

// Reads inside one transaction: a consistent snapshot (or, in a WriteTxn, one's own writes).
class Reader {
 public:
  std::uint64_t revision() const { return revision_; }
  std::optional<Entry> get(const Namespace& ns, std::string_view key) const;
  // Calls fn for every visible key under prefix, in key order; fn returns false to stop. Key and
  // value are views into the transaction (see EntryView): a scan copies nothing.
  void scan(const Namespace& ns, std::string_view prefix,
            const std::function<bool(std::string_view key, const EntryView&)>& fn) const;
  // What overlay changed under prefix against its parent's view now, in key order (Workspace::diff
  // inside this transaction: in a WriteTxn, its own writes included).
  std::vector<DiffEntry> diff(const Namespace& overlay, std::string_view prefix = "") const;
  // The keys under prefix that merging overlay into its parent with MergeStrategy::fail would
  // refuse, by the rule of Workspace::merge; empty when the merge would go through.
  std::vector<Conflict> conflicts(const Namespace& overlay, std::string_view prefix = "") const;
  // The overlay's own entries under prefix (values, tombstones and reads), in key order; in a
  // WriteTxn, its own writes included.
  std::vector<OwnEntry> own_entries(const Namespace& overlay, std::string_view prefix = "") const;
  // The revision that wrote what decides key through ns's chain (a value, or an overlay's
  // tombstone); 0 when nothing does. An overlay entry that saw this is not in conflict.
  std::uint64_t version(const Namespace& ns, std::string_view key) const;
  // How many stored entries this reader's reads have looked at so far (each namespace's entry of a
  // key counts once per look): a read through a chain looks only at the chain's entries, so this
  // does not grow with what sibling overlays hold.
  std::uint64_t entries_visited() const { return visited_; }

 protected:
  struct Found;
  struct MergeItem;
  class Range;
  // The overlay's own entries under prefix, each with whether it conflicts with its parent.
  std::vector<MergeItem> merge_items(const Namespace& overlay, std::string_view prefix) const;
  Reader(const Workspace& ws, MDB_txn* txn, MDB_cursor* kv_cursor, std::uint64_t revision, bool writes = false)
      : ws_(ws), txn_(txn), kv_cursor_(kv_cursor), revision_(revision), writes_(writes) {}
  struct Layers;
  // The chain top's own entry (any kind) and the value or tombstone that decides the key below it;
  // below is looked up only when the top holds no entry, unless always_below.
  Layers layers(std::span<const std::uint32_t> chain, std::string_view key, bool always_below) const;
  // The value or tombstone that decides key for this chain: its nearest member holding one.
  std::optional<Found> lookup(std::span<const std::uint32_t> chain, std::string_view key) const;
  std::optional<Found> exact(std::uint32_t ns, std::string_view key) const;
  // The entry of namespace ns for key whose stored bytes are v; refused (corrupt) when v is too
  // short to hold one.
  static Found entry_at(std::uint32_t ns, std::string_view key, std::string_view v);
  // Calls fn for each of namespace ns's own entries under prefix (any kind), in key order. fn
  // must not write.
  void own_scan(std::uint32_t ns, std::string_view prefix,
                const std::function<void(std::string_view key, const Found&)>& fn) const;
  friend class Workspace;

  const Workspace& ws_;
  MDB_txn* txn_;
  MDB_cursor* kv_cursor_;
  std::uint64_t revision_;
  bool writes_;  // a WriteTxn: a scan's callback may write, moving the pages a scan has views into
  mutable std::uint64_t visited_ = 0;
  std::uint64_t writes_made_ = 0;  // a WriteTxn's writes so far: a scan re-seeks after a callback that wrote
};

// One write transaction. Its callback may run more than once (it is retried from the start after
// the map grows), so it must only act through this object.
class WriteTxn : public Reader {
 public:
  // The revision this transaction commits as.
  std::uint64_t revision() const { return revision_; }
  void put(const Namespace& ns, std::string_view key, std::string_view value);
  // Returns whether the key was visible before.
  bool del(const Namespace& ns, std::string_view key);
  // Records that the overlay's work depends on the parent's current version of key.
  void note_read(const Namespace& ns, std::string_view key);
  // Writes an overlay's own entry as given, seen revision included, in place of what the overlay
  // held for the key: an overlay carried over from another workspace, whose seen revisions the
  // caller has mapped onto this workspace's (merge's conflict rule then judges it as it would have
  // been judged there). Refused for base.
  void put_own(const Namespace& overlay, const OwnEntry& e);
  // Namespaces, inside a larger transaction.
  Namespace create_ns(std::string_view name, std::string_view parent = "base");
  std::optional<Namespace> find_ns(std::string_view name) const;
  // Workspace::merge inside this transaction, so that a merge commits atomically with other
  // writes (several merges along a chain, the records of a review).
  MergeResult merge(const Namespace& overlay, MergeStrategy strategy = MergeStrategy::fail,
                    std::string_view prefix = "");

 private:
  WriteTxn(Workspace& ws, MDB_txn* txn, MDB_cursor* kv_cursor, std::uint64_t revision)
      : Reader(ws, txn, kv_cursor, revision, true) {}
  void check_live(const Namespace& ns);
  void log(std::uint32_t ns, proto::ChangeOp op, std::string_view key);
  void write_entry(std::uint32_t ns, std::string_view key, std::uint8_t kind, std::uint64_t seen_rev,
                   std::string_view value);
  void erase_entry(std::uint32_t ns, std::string_view key);
  friend class Workspace;

  proto::ChangeSet changes_;
  std::vector<std::uint32_t> live_checked_;
  bool dirty_ = false;
};

// A batch of writes applied atomically by Workspace::commit.
class Batch {
 public:
  Batch& put(const Namespace& ns, std::string key, std::string value);
  Batch& del(const Namespace& ns, std::string key);
  Batch& note_read(const Namespace& ns, std::string key);
  std::size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  void clear() { ops_.clear(); }

 private:
  enum class Kind { put, del, note_read };
  struct Op {
    Kind kind;
    const Namespace* ns;
    std::string key;
    std::string value;
  };
  std::vector<Op> ops_;
  friend class Workspace;
};

class Workspace {
 public:
  static std::unique_ptr<Workspace> open(const WorkspaceOptions& options);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  const std::filesystem::path& dir() const { return options_.dir; }
  // The files of the environment (data, LMDB lock, doorbell): all a process needs to write.
  std::vector<std::filesystem::path> files() const;
  std::uint64_t revision() const;

  // Namespaces
  Namespace ns(std::string_view name) const;  // throws not_found
  std::optional<Namespace> find_ns(std::string_view name) const;
  Namespace create_ns(std::string_view name, std::string_view parent = "base");
  void drop_ns(std::string_view name);  // refused while it has live children
  std::vector<proto::NamespaceInfo> namespaces(bool include_dropped = false) const;

  // Reads (each in its own snapshot; use read() for several in one)
  std::optional<Entry> get(const Namespace& ns, std::string_view key) const;
  std::vector<std::pair<std::string, Entry>> list(const Namespace& ns, std::string_view prefix,
                                                  std::size_t limit = 0) const;
  void read(const std::function<void(const Reader&)>& fn) const;

  // Writes: returns the committed revision (the current one if fn wrote nothing).
  std::uint64_t write(const std::function<void(WriteTxn&)>& fn);
  std::uint64_t commit(const Batch& batch);

  // Review
  std::vector<DiffEntry> diff(const Namespace& overlay, std::string_view prefix = "") const;
  MergeResult merge(const Namespace& overlay, MergeStrategy strategy = MergeStrategy::fail,
                    std::string_view prefix = "");

  // Change log
  ChangePage changes(std::uint64_t from_revision, std::string_view prefix, std::size_t max_revisions = 4096) const;
  std::uint64_t log_start() const;  // oldest revision the log still holds
  void compact(std::uint64_t before_revision);
  Doorbell& doorbell();  // refused (invalid_argument) on a read-only workspace

  // Maintenance
  std::size_t clear_stale_readers();
  std::size_t map_size() const;
  // Writes a consistent, compacted copy of the environment (mdb_env_copyfd2 with MDB_CP_COMPACT)
  // to fd, from one read snapshot: writers in every process go on meanwhile. A map growth in this
  // process waits for the copy to end (the map cannot move under its reads). The environment is
  // then synced, so that the copy holds no commit a machine crash could take back (a worker's,
  // made with one fsync: see worker_durability). Throws Error(io).
  void hot_copy(int fd) const;
  // Carries every commit made so far, by any process, to disk. With sync, a watcher may see a
  // commit one fsync before it is durable (its writer syncs the meta page after the ring): what
  // acts outside the workspace on a commit it did not make syncs first. Throws Error(io).
  void sync() const;
  MDB_env* env() const { return env_; }

 private:
  struct Impl;
  explicit Workspace(const WorkspaceOptions& options);
  void grow();  // doubles the map (up to max_map_bytes); no transaction of this process may be open
  friend class Reader;
  friend class WriteTxn;

  WorkspaceOptions options_;
  MDB_env* env_ = nullptr;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Doorbell> doorbell_;
  std::unique_ptr<WriterGate> gate_;  // null when read-only
};

}  // namespace remora
