// Storage layout (one LMDB environment, five named databases; format 2):
//
//   meta      "format" u32, "rev" u64, "log_start" u64, "next_ns" u32
//   ns        id (u32 BE)                  -> proto::NamespaceInfo
//   ns_names  name                         -> id (u32 BE), live namespaces only
//   entries   ns (u32 BE) key              -> entry header + value
//   log       revision (u64 BE)            -> proto::ChangeSet, one per committed revision
//
// Namespace first: each namespace's entries are one contiguous range in key order, so a read
// through a chain touches only the chain's own ranges, never another overlay's entries. A point
// read is one exact lookup per chain member, top first, stopping at the first value or tombstone;
// a prefix listing merges the chain's ranges (one seek each, then sequential steps); an overlay's
// own entries (diff, merge, drop) are its range. What sibling overlays hold costs a read nothing
// but the tree's depth.
//
// Entry header: kind u8 (value, tombstone, read mark), mod_rev u64, seen_rev u64 (the parent
// chain's version of the key when the overlay first touched it). Base has no tombstones: a delete
// there removes the entry.
//
// Format 1 (remora before this layout) keyed entries `key '\0' ns` in a db `kv`, with an own-key
// index `own`; Workspace::open migrates it in one transaction (docs/workspace.md).
#include "shared/workspace.hpp"

#include <lmdb.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/close_on_exec.hpp"
#include "shared/doorbell.hpp"
#include "shared/fault_point.hpp"
#include "shared/writer_gate.hpp"
#include "shared/key_class.hpp"
#include "shared/lmdb_data_file.hpp"
#include "shared/read_only_map.hpp"

namespace remora {
namespace {

constexpr const char* kDoorbellFile = "doorbell";
constexpr std::uint32_t kFormat = 2;
constexpr std::uint32_t kFormatKeyFirst = 1;  // migrated on open (migrate_key_first)
constexpr std::uint8_t kValue = 1;
constexpr std::uint8_t kTombstone = 2;
constexpr std::uint8_t kReadMark = 3;
constexpr std::size_t kHeader = 17;
constexpr std::size_t kNsPrefix = 4;  // u32 BE
constexpr std::uint64_t kCompactChunk = 256;

// Big-endian integers: byte order is numeric order, so LMDB keeps ids and revisions sorted.
template <class T>
std::string big_endian(T v) {
  std::string s(sizeof(T), '\0');
  for (auto i = sizeof(T); i-- > 0; v >>= 8) s[i] = static_cast<char>(v & 0xFF);
  return s;
}
template <class T>
T from_big_endian(const char* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | static_cast<unsigned char>(p[i]));
  return v;
}
std::string be32(std::uint32_t v) { return big_endian(v); }
std::string be64(std::uint64_t v) { return big_endian(v); }
std::uint32_t read_be32(const char* p) { return from_big_endian<std::uint32_t>(p); }
std::uint64_t read_be64(const char* p) { return from_big_endian<std::uint64_t>(p); }

MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// Thrown inside a write transaction when the map is full; the transaction is retried after growth.
struct MapFull {};

void check(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return;
  if (rc == MDB_MAP_FULL) throw MapFull{};
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
    throw Error(Errc::corrupt, std::string(what) + ": " + mdb_strerror(rc));
  }
  throw Error(Errc::io, std::string(what) + ": " + mdb_strerror(rc));
}

// A cursor closed when it goes out of scope, whatever is thrown meanwhile.
class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi, std::string_view what) { check(mdb_cursor_open(txn, dbi, &c_), what); }
  ~Cursor() { mdb_cursor_close(c_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  operator MDB_cursor*() const { return c_; }

 private:
  MDB_cursor* c_ = nullptr;
};

std::string kv_key(std::uint32_t ns, std::string_view key) {
  std::string k;
  k.reserve(kNsPrefix + key.size());
  k += be32(ns);
  k.append(key);
  return k;
}

std::string header(std::uint8_t kind, std::uint64_t mod_rev, std::uint64_t seen_rev) {
  std::string h(kHeader, '\0');
  h[0] = static_cast<char>(kind);
  std::memcpy(h.data() + 1, &mod_rev, 8);
  std::memcpy(h.data() + 9, &seen_rev, 8);
  return h;
}

void validate_key(std::string_view key) {
  if (key.empty()) throw Error(Errc::invalid_argument, "empty key");
  if (key.size() > keys::kMaxKeyBytes) {
    throw Error(Errc::invalid_argument, "key '" + std::string(key.substr(0, 60)) + "...' is " +
                                            std::to_string(key.size()) + " bytes; the limit is " +
                                            std::to_string(keys::kMaxKeyBytes));
  }
  if (key.find('\0') != std::string_view::npos) throw Error(Errc::invalid_argument, "key contains a NUL byte");
}

void validate_ns_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 200;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) ok = false;
  }
  if (!ok) {
    throw Error(Errc::invalid_argument, "namespace name '" + std::string(name) +
                                            "' is invalid: use 1-200 printable characters without spaces");
  }
}

// Deletes change-log records below `end` and moves log_start there.
void trim_log(MDB_txn* txn, MDB_dbi log, MDB_dbi meta, std::uint64_t end) {
  Cursor c(txn, log, "compacting the change log");
  MDB_val ck, cv;
  int rc = mdb_cursor_get(c, &ck, &cv, MDB_FIRST);
  while (rc == MDB_SUCCESS && read_be64(static_cast<const char*>(ck.mv_data)) < end) {
    rc = mdb_cursor_del(c, 0);
    if (rc == MDB_SUCCESS) rc = mdb_cursor_get(c, &ck, &cv, MDB_FIRST);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "compacting the change log");
  auto ev = be64(end);
  MDB_val sk = val("log_start"), ekv = val(ev);
  check(mdb_put(txn, meta, &sk, &ekv, 0), "compacting the change log");
}

std::uint64_t read_meta64(MDB_txn* txn, MDB_dbi meta, std::string_view key) {
  MDB_val k = val(key), v;
  check(mdb_get(txn, meta, &k, &v), "reading workspace metadata '" + std::string(key) + "'");
  if (v.mv_size != 8) throw Error(Errc::corrupt, "workspace metadata '" + std::string(key) + "' is malformed");
  return read_be64(static_cast<const char*>(v.mv_data));
}

// Format 1 kept every entry under `key '\0' ns (u32 BE)` in a db `kv`, with an index of each
// overlay's keys in a db `own`. Copies each entry to `entries` under `ns key` and deletes both old
// dbs, inside the caller's transaction (a crash leaves format 1 as it was). Returns the entries.
std::size_t migrate_key_first(MDB_txn* txn, MDB_dbi entries, const std::string& dir) {
  MDB_dbi kv = 0, own = 0;
  int rc = mdb_dbi_open(txn, "kv", 0, &kv);
  if (rc == MDB_NOTFOUND) throw Error(Errc::corrupt, "workspace " + dir + " has format 1 but no db kv");
  check(rc, "opening db kv");
  std::size_t n = 0;
  {
    Cursor c(txn, kv, "migrating workspace " + dir);
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      const auto old = view(k);
      constexpr std::size_t kSuffix = 1 + kNsPrefix;  // '\0' ns
      if (old.size() <= kSuffix || old[old.size() - kSuffix] != '\0') {
        throw Error(Errc::corrupt, "workspace " + dir + ": format-1 entry '" + std::string(old.substr(0, 60)) +
                                       "' does not end in a namespace id");
      }
      std::string key(old.substr(old.size() - kNsPrefix));
      key.append(old.substr(0, old.size() - kSuffix));
      MDB_val nk = val(key);
      check(mdb_put(txn, entries, &nk, &v, 0), "migrating workspace " + dir);
      ++n;
    }
    if (rc != MDB_NOTFOUND) check(rc, "migrating workspace " + dir);
  }
  check(mdb_drop(txn, kv, 1), "deleting format 1's db kv");
  rc = mdb_dbi_open(txn, "own", 0, &own);
  if (rc == MDB_SUCCESS) check(mdb_drop(txn, own, 1), "deleting format 1's db own");
  else if (rc != MDB_NOTFOUND) check(rc, "opening db own");
  return n;
}

// Process-wide registry: LMDB forbids opening one environment twice in a process.
std::mutex g_open_mu;
std::set<std::filesystem::path> g_open;

}  // namespace

std::string_view name_of(DiffEntry::Kind k) {
  switch (k) {
    case DiffEntry::Kind::added: return "added";
    case DiffEntry::Kind::changed: return "changed";
    case DiffEntry::Kind::deleted: return "deleted";
  }
  return "?";
}

std::string_view name_of(Durability d) {
  switch (d) {
    case Durability::sync: return "sync";
    case Durability::meta_nosync: return "meta_nosync";
    case Durability::nosync: return "nosync";
  }
  return "?";
}

std::optional<Durability> durability_named(std::string_view name) {
  for (auto d : {Durability::sync, Durability::meta_nosync, Durability::nosync})
    if (name_of(d) == name) return d;
  return std::nullopt;
}

Durability worker_durability(Durability run) {
  return run == Durability::sync ? Durability::meta_nosync : run;
}

std::optional<MergeStrategy> merge_strategy_named(std::string_view name) {
  if (name == "fail") return MergeStrategy::fail;
  if (name == "ours") return MergeStrategy::ours;
  if (name == "theirs") return MergeStrategy::theirs;
  return std::nullopt;
}

namespace {
std::string conflict_message(const std::string& ns, const std::vector<Conflict>& cs) {
  std::string m = "merge of '" + ns + "' refused: " + std::to_string(cs.size()) + " conflicting key" +
                  (cs.size() == 1 ? "" : "s") + " changed in the parent since the overlay " + "touched them:";
  for (const auto& c : cs) {
    m += " " + c.key + " (rev " + std::to_string(c.seen_rev) + " -> " + std::to_string(c.parent_rev) +
         (c.read_only ? ", read" : "") + ")";
  }
  return m;
}
}  // namespace

MergeConflict::MergeConflict(const std::string& ns, std::vector<Conflict> conflicts)
    : Error(Errc::conflict, conflict_message(ns, conflicts)), conflicts_(std::move(conflicts)) {}

// ---------------------------------------------------------------------------------------------

struct Workspace::Impl {
  MDB_dbi meta = 0, ns = 0, ns_names = 0, kv = 0, log = 0;  // kv: the db `entries`
  std::filesystem::path canonical;
  // Transactions hold it shared; resizing the map holds it exclusively.
  mutable std::shared_mutex resize_mu;
  // Reset read transactions (with their kv cursor) kept for reuse.
  struct Pooled {
    MDB_txn* txn;
    MDB_cursor* cursor;
  };
  mutable std::mutex pool_mu;
  mutable std::vector<Pooled> pool;

  // The map through a read-only descriptor (absent for a read-only workspace, which LMDB maps so).
  mutable std::optional<ReadOnlyMap> read_only_map;

  // Maps the environment at `bytes` (0: the size the file says another process grew it to), with
  // resize_mu held exclusively or no other thread using the workspace yet.
  void set_map_size(MDB_env* env, std::size_t bytes, const char* what) const {
    check(mdb_env_set_mapsize(env, bytes), what);
    if (read_only_map) read_only_map->apply();
  }

  // Adopts a map size another process grew to (after MDB_MAP_RESIZED).
  void adopt_map(MDB_env* env) const {
    std::unique_lock lk(resize_mu);
    set_map_size(env, 0, "adopting the workspace map size");
  }

  // A read transaction leased from the pool for the scope of one call.
  class Lease {
   public:
    explicit Lease(const Workspace& ws) : ws_(ws) {
      auto& impl = *ws.impl_;
      for (int attempt = 0;; ++attempt) {
        lock_ = std::shared_lock(impl.resize_mu);
        {
          std::lock_guard g(impl.pool_mu);
          if (!impl.pool.empty()) {
            p_ = impl.pool.back();
            impl.pool.pop_back();
          }
        }
        int rc;
        if (p_.txn) {
          rc = mdb_txn_renew(p_.txn);
          if (rc == MDB_SUCCESS) rc = mdb_cursor_renew(p_.txn, p_.cursor);
        } else {
          rc = mdb_txn_begin(ws.env_, nullptr, MDB_RDONLY, &p_.txn);
          if (rc == MDB_SUCCESS) rc = mdb_cursor_open(p_.txn, impl.kv, &p_.cursor);
        }
        if (rc == MDB_SUCCESS) break;
        discard();
        lock_.unlock();
        if (rc == MDB_MAP_RESIZED && attempt < 8) {
          impl.adopt_map(ws.env_);
          continue;
        }
        if (rc == MDB_READERS_FULL && attempt < 1) {
          int dead = 0;
          mdb_reader_check(ws.env_, &dead);
          continue;
        }
        check(rc, "beginning a read transaction");
      }
    }
    ~Lease() {
      mdb_txn_reset(p_.txn);
      std::lock_guard g(ws_.impl_->pool_mu);
      ws_.impl_->pool.push_back(p_);
    }
    MDB_txn* txn() const { return p_.txn; }
    MDB_cursor* cursor() const { return p_.cursor; }

   private:
    void discard() {
      if (p_.cursor) mdb_cursor_close(p_.cursor);
      if (p_.txn) mdb_txn_abort(p_.txn);
      p_ = {};
    }
    const Workspace& ws_;
    std::shared_lock<std::shared_mutex> lock_;
    Pooled p_{nullptr, nullptr};
  };
};

struct Reader::Found {
  std::uint8_t kind;
  std::uint64_t mod_rev;
  std::uint64_t seen_rev;
  std::uint32_t ns;
  std::string_view value;
};

std::optional<Reader::Found> Reader::exact(std::uint32_t ns, std::string_view key) const {
  auto k = kv_key(ns, key);
  MDB_val mk = val(k), mv;
  int rc = mdb_get(txn_, ws_.impl_->kv, &mk, &mv);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "reading key '" + std::string(key) + "'");
  ++visited_;
  return entry_at(ns, key, view(mv));
}

Reader::Found Reader::entry_at(std::uint32_t ns, std::string_view key, std::string_view v) {
  if (v.size() < kHeader) throw Error(Errc::corrupt, "entry for key '" + std::string(key) + "' is truncated");
  Found f{static_cast<std::uint8_t>(v[0]), 0, 0, ns, v.substr(kHeader)};
  std::memcpy(&f.mod_rev, v.data() + 1, 8);
  std::memcpy(&f.seen_rev, v.data() + 9, 8);
  return f;
}

struct Reader::Layers {
  std::optional<Found> top;    // the chain top's own entry, of any kind
  std::optional<Found> below;  // the value or tombstone that decides the key beneath the top
};

Reader::Layers Reader::layers(std::span<const std::uint32_t> chain, std::string_view key, bool always_below) const {
  Layers out;
  // The top through the transaction's kv cursor: a write that follows (write_entry) goes through
  // the same cursor, and LMDB skips the root-to-leaf walk when the key is on its page.
  auto k = kv_key(chain[0], key);
  MDB_val mk = val(k), mv;
  int rc = mdb_cursor_get(kv_cursor_, &mk, &mv, MDB_SET_RANGE);
  if (rc == MDB_SUCCESS && view(mk) == k) {
    ++visited_;
    out.top = entry_at(chain[0], key, view(mv));
  } else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    check(rc, "reading key '" + std::string(key) + "'");
  }
  if (!out.top || always_below) out.below = lookup(chain.subspan(1), key);
  return out;
}

std::optional<Reader::Found> Reader::lookup(std::span<const std::uint32_t> chain, std::string_view key) const {
  for (auto id : chain) {  // top first: the first value or tombstone decides; read marks do not
    auto f = exact(id, key);
    if (f && f->kind != kReadMark) return f;
  }
  return std::nullopt;
}

std::optional<Entry> Reader::get(const Namespace& ns, std::string_view key) const {
  validate_key(key);
  auto f = lookup(ns.chain, key);
  if (!f || f->kind != kValue) return std::nullopt;
  return Entry{std::string(f->value), f->mod_rev, f->ns};
}

// One namespace's range of entries under a prefix, walked with a cursor of its own.
class Reader::Range {
 public:
  Range(const Reader& r, std::uint32_t ns, std::string_view prefix)
      : ns_(ns), start_(kv_key(ns, prefix)), cur_(r.txn_, r.ws_.impl_->kv, "opening a cursor"), visited_(r.visited_) {}
  // To the first entry at or after key (a user key; all of the range when empty).
  void seek(std::string_view key) {
    std::string k = kv_key(ns_, key);
    if (k < start_) k = start_;
    k_ = val(k);
    settle(mdb_cursor_get(cur_, &k_, &v_, MDB_SET_RANGE));
  }
  void next() { settle(mdb_cursor_get(cur_, &k_, &v_, MDB_NEXT)); }
  bool on() const { return on_; }
  std::string_view key() const { return view(k_).substr(kNsPrefix); }  // the user key
  Found entry() const { return entry_at(ns_, key(), view(v_)); }

 private:
  void settle(int rc) {
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "listing an overlay's entries");
    on_ = rc == MDB_SUCCESS && view(k_).starts_with(start_);
    visited_ += on_;  // the step that finds the range's end lands on one entry past it: not counted
  }
  std::uint32_t ns_;
  std::string start_;  // ns (u32 BE) and the prefix: every entry of the range starts with it
  Cursor cur_;
  MDB_val k_{}, v_{};
  bool on_ = false;
  std::uint64_t& visited_;
};

void Reader::own_scan(std::uint32_t ns, std::string_view prefix,
                      const std::function<void(std::string_view, const Found&)>& fn) const {
  Range r(*this, ns, prefix);
  for (r.seek(prefix); r.on(); r.next()) fn(r.key(), r.entry());
}

void Reader::scan(const Namespace& ns, std::string_view prefix,
                  const std::function<bool(std::string_view, const EntryView&)>& fn) const {
  // One range per chain member (top first), merged in key order: for each key, the first range
  // holding a value or tombstone for it decides.
  std::vector<std::unique_ptr<Range>> ranges;
  ranges.reserve(ns.chain.size());
  for (auto id : ns.chain) {
    ranges.push_back(std::make_unique<Range>(*this, id, prefix));
    ranges.back()->seek(prefix);
  }
  std::string held;  // in a WriteTxn, the key handed to fn, whose pages fn's writes may move
  for (;;) {
    Range* least = nullptr;
    for (const auto& r : ranges)
      if (r->on() && (!least || r->key() < least->key())) least = r.get();
    if (!least) return;
    const std::string_view key = least->key();
    std::optional<Found> decides;
    for (auto& r : ranges) {
      if (!r->on() || r->key() != key) continue;
      if (!decides) {
        auto f = r->entry();
        if (f.kind != kReadMark) decides = f;
      }
      if (r.get() != least) r->next();
    }
    // Pages are not written by cursor steps: key and the entry stay valid until fn writes.
    least->next();
    if (!decides || decides->kind != kValue) continue;
    if (!writes_) {
      if (!fn(key, EntryView{decides->value, decides->mod_rev, decides->ns})) return;
      continue;
    }
    held.assign(key);
    const auto writes_before = writes_made_;
    if (!fn(held, EntryView{decides->value, decides->mod_rev, decides->ns})) return;
    if (writes_made_ == writes_before) continue;
    held.push_back('\x01');  // fn wrote, which may move the pages under the cursors: seek again
    for (auto& r : ranges) r->seek(held);
  }
}

// ---------------------------------------------------------------------------------------------

void WriteTxn::check_live(const Namespace& ns) {
  if (std::find(live_checked_.begin(), live_checked_.end(), ns.id) != live_checked_.end()) return;
  auto k = be32(ns.id);
  MDB_val mk = val(k), mv;
  int rc = mdb_get(txn_, ws_.impl_->ns, &mk, &mv);
  if (rc == MDB_NOTFOUND) throw Error(Errc::not_found, "unknown namespace '" + ns.name + "'");
  check(rc, "reading namespace '" + ns.name + "'");
  auto info = proto::decode<proto::NamespaceInfo>(view(mv), "ns:" + ns.name);
  if (info.dropped_rev != 0) throw Error(Errc::not_found, "namespace '" + ns.name + "' was dropped");
  live_checked_.push_back(ns.id);
}

void WriteTxn::log(std::uint32_t ns, proto::ChangeOp op, std::string_view key) {
  changes_.changes.push_back({ns, op, std::string(key)});
  dirty_ = true;
}

void WriteTxn::write_entry(std::uint32_t ns, std::string_view key, std::uint8_t kind, std::uint64_t seen_rev,
                           std::string_view value) {
  auto k = kv_key(ns, key);
  std::string v = header(kind, kind == kReadMark ? 0 : revision_, seen_rev);
  v.append(value);
  MDB_val mk = val(k), mv = val(v);
  // Through the cursor that just looked the key up: LMDB skips the root-to-leaf walk.
  ++writes_made_;
  check(mdb_cursor_put(kv_cursor_, &mk, &mv, 0), "writing key '" + std::string(key) + "'");
  dirty_ = true;
}

void WriteTxn::erase_entry(std::uint32_t ns, std::string_view key) {
  auto k = kv_key(ns, key);
  MDB_val mk = val(k);
  ++writes_made_;
  int rc = mdb_del(txn_, ws_.impl_->kv, &mk, nullptr);
  if (rc != MDB_NOTFOUND) check(rc, "deleting key '" + std::string(key) + "'");
  dirty_ = true;
}

void WriteTxn::put(const Namespace& ns, std::string_view key, std::string_view value) {
  validate_key(key);
  check_live(ns);
  if (ns.is_base()) {
    write_entry(0, key, kValue, 0, value);
  } else {
    auto l = layers(ns.chain, key, false);
    std::uint64_t seen = l.top ? l.top->seen_rev : (l.below ? l.below->mod_rev : 0);
    write_entry(ns.id, key, kValue, seen, value);
  }
  log(ns.id, proto::ChangeOp::put, key);
}

bool WriteTxn::del(const Namespace& ns, std::string_view key) {
  validate_key(key);
  check_live(ns);
  if (ns.is_base()) {
    if (!exact(0, key)) return false;
    erase_entry(0, key);
    log(0, proto::ChangeOp::del, key);
    return true;
  }
  auto l = layers(ns.chain, key, true);
  bool below_has = l.below && l.below->kind == kValue;
  bool visible = l.top && l.top->kind != kReadMark ? l.top->kind == kValue : below_has;
  if (!visible) return false;
  std::uint64_t seen = l.top ? l.top->seen_rev : (l.below ? l.below->mod_rev : 0);
  // Hide the parent's value with a tombstone; with nothing to hide, keep only the read mark.
  write_entry(ns.id, key, below_has ? kTombstone : kReadMark, seen, {});
  log(ns.id, proto::ChangeOp::del, key);
  return true;
}

void WriteTxn::note_read(const Namespace& ns, std::string_view key) {
  validate_key(key);
  if (ns.is_base()) return;
  check_live(ns);
  auto l = layers(ns.chain, key, false);
  if (l.top) return;
  write_entry(ns.id, key, kReadMark, l.below ? l.below->mod_rev : 0, {});
}

void WriteTxn::put_own(const Namespace& overlay, const OwnEntry& e) {
  if (overlay.is_base()) throw Error(Errc::invalid_argument, "put_own writes an overlay's entry; base has none");
  validate_key(e.key);
  check_live(overlay);
  switch (e.kind) {
    case OwnEntry::Kind::value:
      write_entry(overlay.id, e.key, kValue, e.seen_rev, e.value);
      log(overlay.id, proto::ChangeOp::put, e.key);
      break;
    case OwnEntry::Kind::tombstone:
      write_entry(overlay.id, e.key, kTombstone, e.seen_rev, {});
      log(overlay.id, proto::ChangeOp::del, e.key);
      break;
    case OwnEntry::Kind::read:
      write_entry(overlay.id, e.key, kReadMark, e.seen_rev, {});
      break;
  }
}

// ---------------------------------------------------------------------------------------------

Batch& Batch::put(const Namespace& ns, std::string key, std::string value) {
  ops_.push_back({Kind::put, &ns, std::move(key), std::move(value)});
  return *this;
}
Batch& Batch::del(const Namespace& ns, std::string key) {
  ops_.push_back({Kind::del, &ns, std::move(key), {}});
  return *this;
}
Batch& Batch::note_read(const Namespace& ns, std::string key) {
  ops_.push_back({Kind::note_read, &ns, std::move(key), {}});
  return *this;
}

// ---------------------------------------------------------------------------------------------

Workspace::Workspace(const WorkspaceOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {}

Workspace::~Workspace() {
  if (env_) {
    for (auto& p : impl_->pool) {
      mdb_cursor_close(p.cursor);
      mdb_txn_abort(p.txn);
    }
    mdb_env_close(env_);
  }
  std::lock_guard g(g_open_mu);
  g_open.erase(impl_->canonical);
}

std::unique_ptr<Workspace> Workspace::open(const WorkspaceOptions& options) {
  namespace fs = std::filesystem;
  const fs::path data = options.dir / "data.mdb";
  std::error_code ec;
  if (!fs::exists(data, ec)) {
    if (!options.create || options.read_only) {
      throw Error(Errc::not_found, "no workspace at " + options.dir.string());
    }
    fs::create_directories(options.dir, ec);
    if (ec) throw Error(Errc::io, "cannot create workspace directory " + options.dir.string() + ": " + ec.message());
    fs::permissions(options.dir, fs::perms::owner_all, ec);  // 0700: its files are no one else's to read
  } else if (!fs::is_directory(options.dir)) {
    throw Error(Errc::invalid_argument, options.dir.string() + " is not a directory");
  }
  auto canonical = fs::weakly_canonical(options.dir, ec);
  std::unique_ptr<Workspace> ws(new Workspace(options));
  {
    std::lock_guard g(g_open_mu);
    if (!g_open.insert(canonical).second) {
      throw Error(Errc::busy, "workspace " + options.dir.string() + " is already open in this process");
    }
    ws->impl_->canonical = canonical;
  }
  bool fresh = !fs::exists(data, ec);
  if (!fresh) check_lmdb_data_file(data);  // never map a file cut short or garbled: no SIGBUS, no assertion
  check(mdb_env_create(&ws->env_), "creating the LMDB environment");
  check(mdb_env_set_maxdbs(ws->env_, 8), "setting maxdbs");
  check(mdb_env_set_maxreaders(ws->env_, options.max_readers), "setting maxreaders");
  if (fresh) check(mdb_env_set_mapsize(ws->env_, options.initial_map_bytes), "setting the map size");
  // With sync too LMDB leaves the meta page unsynced: Workspace::write syncs it after the ring.
  unsigned flags = MDB_NOTLS | (options.read_only                        ? MDB_RDONLY | MDB_NOLOCK
                                : options.durability == Durability::nosync ? MDB_NOSYNC
                                                                           : MDB_NOMETASYNC);
  int rc = mdb_env_open(ws->env_, options.dir.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) {
    mdb_env_close(ws->env_);
    ws->env_ = nullptr;
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
      throw Error(Errc::corrupt, options.dir.string() + " does not hold a valid LMDB environment: " + mdb_strerror(rc));
    }
    check(rc, "opening workspace " + options.dir.string());
  }
  // LMDB opens data.mdb without close-on-exec and offers no flag for it: no program this process
  // executes may inherit a handle on the workspace.
  mdb_filehandle_t data_fd = -1;
  if (mdb_env_get_fd(ws->env_, &data_fd) == MDB_SUCCESS) set_close_on_exec(data_fd, "data.mdb");
  close_on_exec_for({data, options.dir / "lock.mdb"});
  if (!options.read_only) ws->impl_->read_only_map.emplace(ws->env_, data);
  int dead = 0;
  mdb_reader_check(ws->env_, &dead);
  if (dead > 0) spdlog::info("workspace {}: cleared {} stale reader slot(s)", options.dir.string(), dead);

  // Open (and on first use create, or migrate) the databases and the metadata, in one write
  // transaction; retried on a larger map when a migration fills it.
  auto& impl = *ws->impl_;
  std::optional<std::size_t> migrated;  // entries a format-1 workspace held
  for (int attempt = 0;; ++attempt) {
    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(ws->env_, nullptr, options.read_only ? MDB_RDONLY : 0, &txn);
    if (rc == MDB_MAP_RESIZED && attempt < 8) {
      impl.set_map_size(ws->env_, 0, "adopting the map size");
      continue;
    }
    check(rc, "opening workspace " + options.dir.string());
    bool ended = false;  // mdb_txn_commit frees the transaction whatever it returns
    try {
      const unsigned create = options.read_only ? 0 : MDB_CREATE;
      auto open_db = [&](const char* name, MDB_dbi* dbi) {
        rc = mdb_dbi_open(txn, name, create, dbi);
        if (rc == MDB_NOTFOUND) throw Error(Errc::corrupt, options.dir.string() + " is not a workspace (no db " + name + ")");
        check(rc, std::string("opening db ") + name);
      };
      open_db("meta", &impl.meta);
      MDB_val k = val("format"), v;
      rc = mdb_get(txn, impl.meta, &k, &v);
      if (rc == MDB_NOTFOUND && options.read_only) throw Error(Errc::corrupt, options.dir.string() + " is not a workspace (no format)");
      const bool is_new = rc == MDB_NOTFOUND;
      if (!is_new) check(rc, "reading workspace metadata");
      const std::uint32_t format = is_new || v.mv_size != 4 ? 0 : read_be32(static_cast<const char*>(v.mv_data));
      if (!is_new && format != kFormat && format != kFormatKeyFirst) {
        throw Error(Errc::corrupt, "workspace " + options.dir.string() + " has format " +
                                       (v.mv_size == 4 ? std::to_string(format) : "(malformed)") + "; this remora reads format " +
                                       std::to_string(kFormat) + " and migrates format " + std::to_string(kFormatKeyFirst));
      }
      if (format == kFormatKeyFirst && options.read_only) {
        throw Error(Errc::corrupt, "workspace " + options.dir.string() + " has format " + std::to_string(kFormatKeyFirst) +
                                       " (written by an earlier remora), which is migrated when it is opened for writing; "
                                       "it is open read-only");
      }
      open_db("ns", &impl.ns);
      open_db("ns_names", &impl.ns_names);
      open_db("log", &impl.log);
      if (format == kFormatKeyFirst) check(mdb_dbi_open(txn, "entries", MDB_CREATE, &impl.kv), "opening db entries");
      else open_db("entries", &impl.kv);
      auto put_meta = [&](std::string_view key, std::string_view value) {
        MDB_val mk = val(key), mv = val(value);
        check(mdb_put(txn, impl.meta, &mk, &mv, 0), "writing workspace metadata");
      };
      if (is_new) {
        put_meta("format", be32(kFormat));
        put_meta("rev", be64(0));
        put_meta("log_start", be64(1));
        put_meta("next_ns", be32(1));
        proto::NamespaceInfo base{};
        base.id = 0;
        base.name = std::string(keys::kBase);
        auto rec = proto::encode(base);
        auto id = be32(0);
        MDB_val mk = val(id), mv = val(rec);
        check(mdb_put(txn, impl.ns, &mk, &mv, 0), "creating namespace base");
        MDB_val nk = val(keys::kBase), nv = val(id);
        check(mdb_put(txn, impl.ns_names, &nk, &nv, 0), "creating namespace base");
      } else if (format == kFormatKeyFirst) {
        migrated = migrate_key_first(txn, impl.kv, options.dir.string());
        put_meta("format", be32(kFormat));
      }
      ended = true;
      check(mdb_txn_commit(txn), "opening workspace " + options.dir.string());
      // What it wrote (a new workspace, a migration) is durable before open returns, as a write's is.
      if ((is_new || format == kFormatKeyFirst) && options.durability == Durability::sync) ws->sync();
      break;
    } catch (const MapFull&) {
      if (!ended) mdb_txn_abort(txn);
      const std::size_t cur = ws->map_size(), next = std::min(cur * 2, options.max_map_bytes);
      if (next <= cur) throw Error(Errc::io, "workspace " + options.dir.string() + " does not fit its map limit of " +
                                                 std::to_string(options.max_map_bytes) + " bytes");
      impl.set_map_size(ws->env_, next, "growing the workspace map");
    } catch (...) {
      if (!ended) mdb_txn_abort(txn);
      throw;
    }
  }
  if (migrated) {
    spdlog::info("workspace {}: migrated {} entries from format {} to format {}", options.dir.string(), *migrated,
                 kFormatKeyFirst, kFormat);
  }
  if (options.read_only) return ws;
  impl.read_only_map->apply();
  ws->doorbell_ = std::make_unique<Doorbell>(options.dir / kDoorbellFile);
  ws->gate_ = std::make_unique<WriterGate>(options.dir / kDoorbellFile);
  // A workspace made before files were private is made private now (what is ours to change).
  for (const auto& f : ws->files()) {
    struct stat st;
    if (::stat(f.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 077) != 0)
      ::chmod(f.c_str(), st.st_mode & 0700);
  }
  // A writer that died between its commit and its ring would leave watchers asleep: ring once.
  ws->doorbell_->ring_all();
  return ws;
}

Doorbell& Workspace::doorbell() {
  if (!doorbell_) throw Error(Errc::invalid_argument, "workspace " + options_.dir.string() + " is open read-only");
  return *doorbell_;
}

std::uint64_t Workspace::revision() const {
  Impl::Lease lease(*this);
  return read_meta64(lease.txn(), impl_->meta, "rev");
}

std::uint64_t Workspace::log_start() const {
  Impl::Lease lease(*this);
  return read_meta64(lease.txn(), impl_->meta, "log_start");
}

std::vector<std::filesystem::path> Workspace::files() const {
  return {options_.dir / "data.mdb", options_.dir / "lock.mdb", options_.dir / kDoorbellFile};
}

std::size_t Workspace::map_size() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

void Workspace::hot_copy(int fd) const {
  for (int attempt = 0;; ++attempt) {
    int rc;
    {
      std::shared_lock lk(impl_->resize_mu);
      rc = mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT);
    }
    if (rc == MDB_MAP_RESIZED && attempt < 8) {  // another process grew the map: start over
      impl_->adopt_map(env_);
      if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
        throw Error(Errc::io, "copying workspace " + options_.dir.string() + ": " + std::strerror(errno));
      }
      continue;
    }
    check(rc, "copying workspace " + options_.dir.string());
    sync();  // every commit in the copy was made before its snapshot: this carries them all to disk
    return;
  }
}

std::size_t Workspace::clear_stale_readers() {
  int dead = 0;
  check(mdb_reader_check(env_, &dead), "checking reader slots");
  return static_cast<std::size_t>(dead);
}

void Workspace::read(const std::function<void(const Reader&)>& fn) const {
  Impl::Lease lease(*this);
  Reader r(*this, lease.txn(), lease.cursor(), read_meta64(lease.txn(), impl_->meta, "rev"));
  fn(r);
}

std::optional<Entry> Workspace::get(const Namespace& ns, std::string_view key) const {
  Impl::Lease lease(*this);
  Reader r(*this, lease.txn(), lease.cursor(), 0);
  return r.get(ns, key);
}

std::vector<std::pair<std::string, Entry>> Workspace::list(const Namespace& ns, std::string_view prefix,
                                                           std::size_t limit) const {
  std::vector<std::pair<std::string, Entry>> out;
  Impl::Lease lease(*this);
  Reader r(*this, lease.txn(), lease.cursor(), 0);
  r.scan(ns, prefix, [&](std::string_view k, const EntryView& e) {
    out.emplace_back(std::string(k), Entry(e));
    return limit == 0 || out.size() < limit;
  });
  return out;
}

std::uint64_t Workspace::write(const std::function<void(WriteTxn&)>& fn) {
  if (options_.read_only) throw Error(Errc::invalid_argument, "workspace " + options_.dir.string() + " is open read-only");
  KeyClass::Slots slots;  // the doorbell slots the committed keys ring
  // The writer gate, held for the transaction; let go while this process resizes its map (which
  // waits for its own readers), so that other processes' writers need not wait for that.
  WriterGate::Pass pass;
  const auto pass_gate = [&] {
    if (options_.priority_writer) return;
    pass = gate_->pass();
    if (pass.holder_died()) doorbell_->ring_all();  // it may have died between its commit and its ring
  };
  const auto resize = [&](const std::function<void()>& how) {
    pass = WriterGate::Pass();
    how();
    pass_gate();
  };
  pass_gate();
  // With sync, a commit's pages are synced inside it and its meta page after the ring, outside
  // LMDB's writer lock and the gate (the environment is open with MDB_NOMETASYNC): watchers wake
  // one fsync sooner, and this returns only once the commit is durable
  // (docs/workspace.md#crash-safety).
  const bool sync_meta_after_ring = options_.durability == Durability::sync;
  for (int attempt = 0;; ++attempt) {
    std::shared_lock lk(impl_->resize_mu);
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == MDB_MAP_RESIZED && attempt < 16) {
      lk.unlock();
      resize([&] { impl_->adopt_map(env_); });
      continue;
    }
    check(rc, "beginning a write transaction");
    std::uint64_t rev = 0;
    try {
      rev = read_meta64(txn, impl_->meta, "rev") + 1;
      MDB_cursor* kv_cursor;  // closed by LMDB when the write transaction ends
      check(mdb_cursor_open(txn, impl_->kv, &kv_cursor), "opening a cursor");
      WriteTxn w(*this, txn, kv_cursor, rev);
      fn(w);
      if (!w.dirty_) {
        mdb_txn_abort(txn);
        return rev - 1;
      }
      slots.clear();
      for (const auto& ch : w.changes_.changes) KeyClass::add_ring_slots(ch.key, slots);
      // The change-log record and the new revision, in the same transaction.
      auto rec = proto::encode(w.changes_);
      auto lk_key = be64(rev);
      MDB_val lkv = val(lk_key), lvv = val(rec);
      check(mdb_put(txn, impl_->log, &lkv, &lvv, MDB_APPEND), "appending to the change log");
      auto rv = be64(rev);
      MDB_val rk = val("rev"), mv = val(rv);
      check(mdb_put(txn, impl_->meta, &rk, &mv, 0), "writing the revision");
      if (options_.log_retention > 0) {
        // Bounded work per commit: drop one chunk of the oldest revisions once past retention.
        std::uint64_t start = read_meta64(txn, impl_->meta, "log_start");
        if (rev >= start + options_.log_retention + kCompactChunk) {
          trim_log(txn, impl_->log, impl_->meta, start + kCompactChunk);
        }
      }
    } catch (const MapFull&) {
      mdb_txn_abort(txn);
      lk.unlock();
      resize([&] { grow(); });
      continue;
    } catch (...) {
      mdb_txn_abort(txn);
      throw;
    }
    rc = mdb_txn_commit(txn);
    if (rc == MDB_MAP_FULL) {
      lk.unlock();
      resize([&] { grow(); });
      continue;
    }
    check(rc, "committing revision " + std::to_string(rev));
    lk.unlock();
    doorbell_->ring(slots);
    pass = WriterGate::Pass();  // after the ring: a writer that dies before it is rung for by the next
    fault_point("workspace:rung");
    if (sync_meta_after_ring) {
      if (int synced = mdb_env_sync(env_, 1); synced != MDB_SUCCESS) {
        // The commit is seen already and cannot be taken back, and after a failed fsync the kernel
        // may have marked its pages clean, so trying again proves nothing: stop here, as a process
        // killed at this point (which loses nothing: a resume finds the commit).
        spdlog::critical("workspace {}: revision {} committed but not synced: {}", options_.dir.string(), rev,
                         mdb_strerror(synced));
        std::abort();
      }
    }
    return rev;
  }
}

void Workspace::sync() const {
  if (options_.read_only) return;  // no process writes it
  check(mdb_env_sync(env_, 1), "syncing workspace " + options_.dir.string());
}

std::uint64_t Workspace::commit(const Batch& batch) {
  return write([&](WriteTxn& t) {
    for (const auto& op : batch.ops_) {
      switch (op.kind) {
        case Batch::Kind::put: t.put(*op.ns, op.key, op.value); break;
        case Batch::Kind::del: t.del(*op.ns, op.key); break;
        case Batch::Kind::note_read: t.note_read(*op.ns, op.key); break;
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------

namespace {
std::optional<proto::NamespaceInfo> read_ns(MDB_txn* txn, MDB_dbi dbi, std::uint32_t id) {
  auto k = be32(id);
  MDB_val mk = val(k), mv;
  int rc = mdb_get(txn, dbi, &mk, &mv);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "reading namespace " + std::to_string(id));
  return proto::decode<proto::NamespaceInfo>(view(mv), "ns:" + std::to_string(id));
}

std::optional<Namespace> resolve_ns(MDB_txn* txn, MDB_dbi names, MDB_dbi nsdb, std::string_view name) {
  MDB_val mk = val(name), mv;
  int rc = mdb_get(txn, names, &mk, &mv);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "reading namespace '" + std::string(name) + "'");
  Namespace ns;
  ns.name = std::string(name);
  ns.id = read_be32(static_cast<const char*>(mv.mv_data));
  std::uint32_t id = ns.id;
  for (;;) {
    ns.chain.push_back(id);
    if (id == 0) break;
    auto info = read_ns(txn, nsdb, id);
    if (!info || ns.chain.size() > 4096) {
      throw Error(Errc::corrupt, "namespace '" + std::string(name) + "' has a broken parent chain");
    }
    id = info->parent_id;
  }
  return ns;
}
}  // namespace

void Workspace::grow() {
  std::unique_lock lk(impl_->resize_mu);
  std::size_t cur = map_size();
  std::size_t next = std::min(cur * 2, options_.max_map_bytes);
  if (next <= cur) {
    throw Error(Errc::io, "workspace " + options_.dir.string() + " is full: the map reached its limit of " +
                              std::to_string(options_.max_map_bytes) + " bytes");
  }
  impl_->set_map_size(env_, next, "growing the workspace map");
  spdlog::debug("workspace {}: map grown from {} to {} bytes", options_.dir.string(), cur, next);
}

std::optional<Namespace> Workspace::find_ns(std::string_view name) const {
  Impl::Lease lease(*this);
  return resolve_ns(lease.txn(), impl_->ns_names, impl_->ns, name);
}

Namespace Workspace::ns(std::string_view name) const {
  auto n = find_ns(name);
  if (!n) throw Error(Errc::not_found, "unknown namespace '" + std::string(name) + "'");
  return *n;
}

Namespace Workspace::create_ns(std::string_view name, std::string_view parent) {
  Namespace out;
  write([&](WriteTxn& t) { out = t.create_ns(name, parent); });
  return out;
}

std::optional<Namespace> WriteTxn::find_ns(std::string_view name) const {
  return resolve_ns(txn_, ws_.impl_->ns_names, ws_.impl_->ns, name);
}

Namespace WriteTxn::create_ns(std::string_view name, std::string_view parent) {
  validate_ns_name(name);
  auto& impl = *ws_.impl_;
  if (resolve_ns(txn_, impl.ns_names, impl.ns, name)) {
    throw Error(Errc::already_exists, "namespace '" + std::string(name) + "' already exists");
  }
  auto p = resolve_ns(txn_, impl.ns_names, impl.ns, parent);
  if (!p) throw Error(Errc::not_found, "unknown parent namespace '" + std::string(parent) + "'");
  MDB_val k = val("next_ns"), v;
  ++writes_made_;
  check(mdb_get(txn_, impl.meta, &k, &v), "reading next namespace id");
  std::uint32_t id = read_be32(static_cast<const char*>(v.mv_data));
  auto next = be32(id + 1);
  MDB_val nv = val(next);
  check(mdb_put(txn_, impl.meta, &k, &nv, 0), "allocating a namespace id");
  proto::NamespaceInfo info{};
  info.id = id;
  info.name = std::string(name);
  info.parent_id = p->id;
  info.created_rev = revision_;
  auto rec = proto::encode(info);
  auto idk = be32(id);
  MDB_val ik = val(idk), iv = val(rec);
  check(mdb_put(txn_, impl.ns, &ik, &iv, 0), "creating namespace");
  MDB_val namek = val(name);
  check(mdb_put(txn_, impl.ns_names, &namek, &ik, 0), "creating namespace");
  log(id, proto::ChangeOp::ns_create, "");
  Namespace out{id, std::string(name), {id}};
  out.chain.insert(out.chain.end(), p->chain.begin(), p->chain.end());
  return out;
}

std::vector<proto::NamespaceInfo> Workspace::namespaces(bool include_dropped) const {
  std::vector<proto::NamespaceInfo> out;
  Impl::Lease lease(*this);
  Cursor c(lease.txn(), impl_->ns, "listing namespaces");
  MDB_val k, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  while (rc == MDB_SUCCESS) {
    auto info = proto::decode<proto::NamespaceInfo>(view(v), "ns:" + std::to_string(read_be32(static_cast<const char*>(k.mv_data))));
    if (include_dropped || info.dropped_rev == 0) out.push_back(std::move(info));
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) check(rc, "listing namespaces");
  return out;
}

void Workspace::drop_ns(std::string_view name) {
  write([&](WriteTxn& t) {
    auto& impl = *impl_;
    auto ns = resolve_ns(t.txn_, impl.ns_names, impl.ns, name);
    if (!ns) throw Error(Errc::not_found, "unknown namespace '" + std::string(name) + "'");
    if (ns->is_base()) throw Error(Errc::invalid_argument, "the base namespace cannot be dropped");
    std::vector<std::string> children;
    {
      Cursor c(t.txn_, impl.ns, "listing namespaces");
      MDB_val k, v;
      for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        auto info = proto::decode<proto::NamespaceInfo>(view(v), "ns");
        if (info.dropped_rev == 0 && info.id != 0 && info.parent_id == ns->id) children.push_back(info.name);
      }
    }
    if (!children.empty()) {
      std::string list;
      for (auto& ch : children) list += (list.empty() ? "" : ", ") + ch;
      throw Error(Errc::invalid_argument,
                  "namespace '" + std::string(name) + "' has overlays over it (" + list + "); drop them first");
    }
    std::vector<std::string> keys;
    t.own_scan(ns->id, "", [&](std::string_view key, const Reader::Found&) { keys.emplace_back(key); });
    for (const auto& key : keys) {
      t.erase_entry(ns->id, key);
      t.log(ns->id, proto::ChangeOp::discard, key);
    }
    auto info = read_ns(t.txn_, impl.ns, ns->id);
    info->dropped_rev = t.revision();
    auto rec = proto::encode(*info);
    auto idk = be32(ns->id);
    MDB_val ik = val(idk), iv = val(rec);
    check(mdb_put(t.txn_, impl.ns, &ik, &iv, 0), "dropping namespace");
    MDB_val namek = val(name);
    check(mdb_del(t.txn_, impl.ns_names, &namek, nullptr), "dropping namespace");
    t.log(ns->id, proto::ChangeOp::ns_drop, "");
  });
}

std::vector<DiffEntry> Workspace::diff(const Namespace& overlay, std::string_view prefix) const {
  Impl::Lease lease(*this);
  return Reader(*this, lease.txn(), lease.cursor(), 0).diff(overlay, prefix);
}

std::vector<DiffEntry> Reader::diff(const Namespace& overlay, std::string_view prefix) const {
  if (overlay.is_base()) throw Error(Errc::invalid_argument, "the base namespace has no parent to diff against");
  std::vector<DiffEntry> out;
  own_scan(overlay.id, prefix, [&](std::string_view key, const Found& mine) {
    if (mine.kind == kReadMark) return;
    auto parent = lookup(overlay.parents(), key);
    bool parent_has = parent && parent->kind == kValue;
    if (mine.kind == kValue) {
      if (parent_has && parent->value == mine.value) return;
      DiffEntry d;
      d.kind = parent_has ? DiffEntry::Kind::changed : DiffEntry::Kind::added;
      d.key = key;
      if (parent_has) d.old_value = std::string(parent->value);
      d.new_value = std::string(mine.value);
      out.push_back(std::move(d));
    } else if (parent_has) {
      out.push_back({DiffEntry::Kind::deleted, std::string(key), std::string(parent->value), std::nullopt});
    }
  });
  return out;
}

struct Reader::MergeItem {
  std::string key;
  std::uint8_t kind;
  std::string value;  // a copy: a write in the same transaction may move the page it was on
  Conflict conflict;
  bool conflicts;
};

std::vector<Reader::MergeItem> Reader::merge_items(const Namespace& overlay, std::string_view prefix) const {
  std::vector<MergeItem> items;
  const auto parent_chain = overlay.parents();
  own_scan(overlay.id, prefix, [&](std::string_view key, const Found& mine) {
    auto cur = lookup(parent_chain, key);
    std::uint64_t now = cur ? cur->mod_rev : 0;
    bool conflicts = false;
    if (now != mine.seen_rev) {
      bool cur_has = cur && cur->kind == kValue;
      bool same = mine.kind == kValue ? (cur_has && cur->value == mine.value) : (mine.kind == kTombstone && !cur_has);
      conflicts = !same;
    }
    items.push_back({std::string(key), mine.kind, std::string(mine.value),
                     Conflict{std::string(key), mine.seen_rev, now, mine.kind == kReadMark}, conflicts});
  });
  return items;
}

std::vector<Conflict> Reader::conflicts(const Namespace& overlay, std::string_view prefix) const {
  if (overlay.is_base()) throw Error(Errc::invalid_argument, "the base namespace has no parent to merge into");
  std::vector<Conflict> out;
  for (auto& it : merge_items(overlay, prefix))
    if (it.conflicts) out.push_back(std::move(it.conflict));
  return out;
}

std::uint64_t Reader::version(const Namespace& ns, std::string_view key) const {
  validate_key(key);
  auto f = lookup(ns.chain, key);
  return f ? f->mod_rev : 0;
}

std::vector<OwnEntry> Reader::own_entries(const Namespace& overlay, std::string_view prefix) const {
  if (overlay.is_base()) throw Error(Errc::invalid_argument, "the base namespace has no own entries over a parent");
  std::vector<OwnEntry> out;
  own_scan(overlay.id, prefix, [&](std::string_view key, const Found& mine) {
    const auto kind = mine.kind == kValue ? OwnEntry::Kind::value
                      : mine.kind == kTombstone ? OwnEntry::Kind::tombstone : OwnEntry::Kind::read;
    out.push_back({std::string(key), kind, kind == OwnEntry::Kind::value ? std::string(mine.value) : std::string(),
                   mine.seen_rev});
  });
  return out;
}

MergeResult WriteTxn::merge(const Namespace& overlay, MergeStrategy strategy, std::string_view prefix) {
  if (overlay.is_base()) throw Error(Errc::invalid_argument, "the base namespace has no parent to merge into");
  check_live(overlay);
  auto& impl = *ws_.impl_;
  auto parent_id = overlay.chain[1];
  proto::NamespaceInfo pinfo = *read_ns(txn_, impl.ns, parent_id);
  Namespace parent{parent_id, pinfo.name, std::vector<std::uint32_t>(overlay.chain.begin() + 1, overlay.chain.end())};

  auto items = merge_items(overlay, prefix);
  std::vector<Conflict> conflicts;
  for (const auto& it : items)
    if (it.conflicts) conflicts.push_back(it.conflict);
  if (strategy == MergeStrategy::fail && !conflicts.empty()) throw MergeConflict(overlay.name, conflicts);

  MergeResult result;
  result.revision = revision_;
  for (auto& it : items) {
    bool apply = !it.conflicts || strategy == MergeStrategy::ours;
    if (it.conflicts) (strategy == MergeStrategy::ours ? result.overrode : result.skipped).push_back(it.conflict);
    erase_entry(overlay.id, it.key);
    log(overlay.id, proto::ChangeOp::discard, it.key);
    if (!apply) continue;
    switch (it.kind) {
      case kValue: put(parent, it.key, it.value); ++result.applied; break;
      case kTombstone: del(parent, it.key); ++result.applied; break;
      case kReadMark: note_read(parent, it.key); break;
    }
  }
  return result;
}

MergeResult Workspace::merge(const Namespace& overlay, MergeStrategy strategy, std::string_view prefix) {
  MergeResult result;
  auto revision = write([&](WriteTxn& t) { result = t.merge(overlay, strategy, prefix); });
  result.revision = revision;  // the current one when there was nothing to merge
  return result;
}

// ---------------------------------------------------------------------------------------------

ChangePage Workspace::changes(std::uint64_t from, std::string_view prefix, std::size_t max_revisions) const {
  ChangePage page;
  page.next_revision = from;
  Impl::Lease lease(*this);
  MDB_txn* txn = lease.txn();
  std::uint64_t start = read_meta64(txn, impl_->meta, "log_start");
  if (from < start) {
    throw Error(Errc::compacted, "revision " + std::to_string(from) +
                                     " is compacted out of the change log; the oldest revision it holds is " +
                                     std::to_string(start));
  }
  Cursor c(txn, impl_->log, "reading the change log");
  auto fk = be64(from);
  MDB_val k = val(fk), v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  std::vector<std::pair<std::uint32_t, std::string>> names;
  auto name_for = [&](std::uint32_t id) -> const std::string& {
    for (auto& [i, n] : names)
      if (i == id) return n;
    auto info = read_ns(txn, impl_->ns, id);
    names.emplace_back(id, info ? info->name : "#" + std::to_string(id));
    return names.back().second;
  };
  for (std::size_t seen = 0; rc == MDB_SUCCESS && seen < max_revisions; ++seen) {
    std::uint64_t rev = read_be64(static_cast<const char*>(k.mv_data));
    auto set = proto::decode<proto::ChangeSet>(view(v), "log:" + std::to_string(rev));
    for (auto& ch : set.changes) {
      if (ch.key.compare(0, prefix.size(), prefix) != 0) continue;
      page.changes.push_back({rev, ch.ns, name_for(ch.ns), ch.op, std::move(ch.key)});
    }
    page.next_revision = rev + 1;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "reading the change log");
  return page;
}

void Workspace::compact(std::uint64_t before) {
  for (bool more = true; more;) {
    write([&](WriteTxn& t) {
      more = false;
      std::uint64_t start = read_meta64(t.txn_, impl_->meta, "log_start");
      std::uint64_t limit = std::min(before, t.revision());  // never past what exists
      if (limit <= start) return;
      std::uint64_t end = std::min(limit, start + 65536);  // bounded transaction size
      trim_log(t.txn_, impl_->log, impl_->meta, end);
      t.dirty_ = true;
      more = end < limit;
    });
  }
}

}  // namespace remora
