// remora-kv: inspect and edit any remora workspace from a shell.
//
// Exit codes: 0 success; 1 the thing asked for is absent or refused (unknown key or namespace,
// merge conflict, compacted revision, workspace busy); 2 bad usage or input; 3 I/O or corruption.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/stat.h>

#include "proto/codec.hpp"
#include "shared/cli.hpp"
#include "shared/error.hpp"
#include "shared/record_json.hpp"
#include "shared/watcher.hpp"
#include "shared/workspace.hpp"

using remora::Errc;
using remora::Error;
using nlohmann::json;

namespace {

std::string type_of(std::string_view bytes, std::string_view key) {
  try {
    return std::string(remora::proto::name_of(remora::proto::peek(bytes, key).type));
  } catch (const remora::proto::CodecError&) {
    return "raw";
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Errc::not_found, "cannot read file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  remora::cli::init_logging("remora-kv");

  CLI::App app{"remora-kv: inspect and edit a remora workspace (an LMDB environment)"};
  app.require_subcommand(1);
  std::string dir = ".remora/workspace";
  bool verbose = false;
  app.add_option("-w,--workspace", dir, "workspace directory")->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "log debug details to stderr");

  std::string ns_name = "base", key, value, type, prefix, parent = "base", strategy = "fail", file;
  bool as_json = false, raw = false;
  std::uint64_t from = 0, count = 0, compact_to = 0;
  double timeout = 0;

  auto* init = app.add_subcommand("init", "create a workspace (nothing happens if it exists)");
  auto* get = app.add_subcommand("get", "print a key's value as seen through a namespace");
  get->add_option("key", key, "key")->required();
  get->add_option("--ns", ns_name, "namespace")->capture_default_str();
  get->add_flag("--raw", raw, "print the stored bytes, not the decoded record");

  auto* put = app.add_subcommand("put", "write a key (a JSON value unless --type or --file says otherwise)");
  put->add_option("key", key, "key")->required();
  put->add_option("value", value, "value: JSON text (a bare word is stored as a JSON string)");
  put->add_option("--ns", ns_name, "namespace")->capture_default_str();
  put->add_option("--type", type, "record type; VALUE holds its fields as a JSON object");
  put->add_option("--file", file, "store this file's bytes and mode as a file_entry record");

  auto* del = app.add_subcommand("del", "delete a key (a tombstone in an overlay)");
  del->add_option("key", key, "key")->required();
  del->add_option("--ns", ns_name, "namespace")->capture_default_str();

  auto* ls = app.add_subcommand("ls", "list keys under a prefix, merged through the namespace chain");
  ls->add_option("prefix", prefix, "key prefix");
  ls->add_option("--ns", ns_name, "namespace")->capture_default_str();
  ls->add_flag("--json", as_json, "one JSON object per line");

  auto* ns = app.add_subcommand("ns", "namespaces");
  ns->require_subcommand(1);
  auto* ns_create = ns->add_subcommand("create", "create an overlay namespace");
  ns_create->add_option("name", ns_name, "name")->required();
  ns_create->add_option("--parent", parent, "parent namespace")->capture_default_str();
  auto* ns_list = ns->add_subcommand("list", "list live namespaces");
  ns_list->add_flag("--json", as_json, "one JSON object per line");
  auto* ns_drop = ns->add_subcommand("drop", "discard an overlay namespace and its entries");
  ns_drop->add_option("name", ns_name, "name")->required();

  auto* diff = app.add_subcommand("diff", "what an overlay adds (A), changes (M) and deletes (D) against its parent");
  diff->add_option("ns", ns_name, "overlay namespace")->required();
  diff->add_option("--prefix", prefix, "only keys under this prefix");
  diff->add_flag("--json", as_json, "one JSON object per line");

  auto* merge = app.add_subcommand("merge", "apply an overlay to its parent in one transaction");
  merge->add_option("ns", ns_name, "overlay namespace")->required();
  merge->add_option("--strategy", strategy, "on conflicts: fail, ours or theirs")->capture_default_str();
  merge->add_option("--prefix", prefix, "only keys under this prefix");

  auto* watch = app.add_subcommand("watch", "print changes under a prefix as they are committed");
  watch->add_option("prefix", prefix, "key prefix (empty: every change)");
  watch->add_option("--from", from, "first revision to print (default: the next commit)");
  watch->add_option("--count", count, "stop after this many changes");
  watch->add_option("--timeout", timeout, "stop after this many seconds");
  watch->add_flag("--json", as_json, "one JSON object per line");

  auto* dump = app.add_subcommand("dump", "every visible key under a prefix with its record decoded, as JSON lines");
  dump->add_option("prefix", prefix, "key prefix");
  dump->add_option("--ns", ns_name, "namespace")->capture_default_str();

  auto* rev = app.add_subcommand("rev", "print the current revision and the oldest one the change log holds");
  auto* compact = app.add_subcommand("compact", "drop change-log records below a revision");
  compact->add_option("revision", compact_to, "first revision to keep")->required();

  if (auto code = remora::cli::parse(app, argc, argv)) return *code;
  if (verbose) spdlog::set_level(spdlog::level::debug);

  try {
    remora::WorkspaceOptions opts;
    opts.dir = dir;
    opts.create = init->parsed();
    auto ws = remora::Workspace::open(opts);

    if (init->parsed()) {
      std::cout << "workspace " << dir << " at revision " << ws->revision() << "\n";
    } else if (get->parsed()) {
      auto e = ws->get(ws->ns(ns_name), key);
      if (!e) throw Error(Errc::not_found, "key '" + key + "' not found in namespace '" + ns_name + "'");
      if (raw) {
        std::cout << e->value;
      } else {
        auto j = remora::record_to_json(e->value, key);
        j["rev"] = e->mod_rev;
        std::cout << j.dump(2) << "\n";
      }
    } else if (put->parsed()) {
      std::string bytes;
      if (!file.empty()) {
        remora::proto::FileEntry f;
        f.content.data = read_file(file);
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0) f.mode = st.st_mode & 07777;
        bytes = remora::proto::encode(f);
      } else if (!type.empty()) {
        json fields;
        try {
          fields = value.empty() ? json::object() : json::parse(value);
        } catch (const json::exception& e) {
          throw Error(Errc::invalid_argument, "VALUE is not a JSON object: " + std::string(e.what()));
        }
        bytes = remora::record_from_json(type, fields);
      } else {
        json v = json::parse(value, nullptr, false);
        if (v.is_discarded()) v = value;
        bytes = remora::proto::encode(remora::proto::JsonValue{v.dump()});
      }
      auto ns_h = ws->ns(ns_name);
      std::cout << "revision " << ws->write([&](remora::WriteTxn& t) { t.put(ns_h, key, bytes); }) << "\n";
    } else if (del->parsed()) {
      auto ns_h = ws->ns(ns_name);
      bool existed = false;
      auto r = ws->write([&](remora::WriteTxn& t) { existed = t.del(ns_h, key); });
      if (!existed) throw Error(Errc::not_found, "key '" + key + "' not found in namespace '" + ns_name + "'");
      std::cout << "revision " << r << "\n";
    } else if (ls->parsed()) {
      auto ns_h = ws->ns(ns_name);
      auto names = ws->namespaces(true);
      auto layer = [&](std::uint32_t id) {
        for (auto& n : names)
          if (n.id == id) return n.name;
        return std::to_string(id);
      };
      for (auto& [k, e] : ws->list(ns_h, prefix)) {
        if (as_json) {
          std::cout << json{{"key", k}, {"rev", e.mod_rev}, {"layer", layer(e.ns)}, {"type", type_of(e.value, k)},
                            {"bytes", e.value.size()}}
                           .dump()
                    << "\n";
        } else {
          std::cout << k << "\trev " << e.mod_rev << "\t" << layer(e.ns) << "\t" << type_of(e.value, k) << "\n";
        }
      }
    } else if (ns_create->parsed()) {
      auto n = ws->create_ns(ns_name, parent);
      std::cout << "created namespace " << n.name << " (id " << n.id << ") over " << parent << "\n";
    } else if (ns_list->parsed()) {
      auto all = ws->namespaces(true);
      for (auto& n : ws->namespaces()) {
        std::string par = "-";
        if (n.id != 0)
          for (auto& p : all)
            if (p.id == n.parent_id) par = p.name;
        if (as_json) {
          std::cout << json{{"name", n.name}, {"id", n.id}, {"parent", par}, {"created_rev", n.created_rev}}.dump()
                    << "\n";
        } else {
          std::cout << n.name << "\tid " << n.id << "\tparent " << par << "\tcreated at rev " << n.created_rev << "\n";
        }
      }
    } else if (ns_drop->parsed()) {
      ws->drop_ns(ns_name);
      std::cout << "dropped namespace " << ns_name << "\n";
    } else if (diff->parsed()) {
      for (auto& d : ws->diff(ws->ns(ns_name), prefix)) {
        if (as_json) {
          std::cout << json{{"kind", remora::name_of(d.kind)}, {"key", d.key}}.dump() << "\n";
        } else {
          char tag = d.kind == remora::DiffEntry::Kind::added ? 'A' : d.kind == remora::DiffEntry::Kind::changed ? 'M' : 'D';
          std::cout << tag << " " << d.key << "\n";
        }
      }
    } else if (merge->parsed()) {
      auto s = remora::merge_strategy_named(strategy);
      if (!s) throw Error(Errc::invalid_argument, "unknown merge strategy '" + strategy + "' (fail, ours, theirs)");
      auto r = ws->merge(ws->ns(ns_name), *s, prefix);
      std::cout << "merged " << r.applied << " change(s) from " << ns_name << " at revision " << r.revision;
      if (!r.skipped.empty()) std::cout << "; kept the parent's value for " << r.skipped.size() << " conflicting key(s)";
      if (!r.overrode.empty()) std::cout << "; overrode " << r.overrode.size() << " conflicting key(s)";
      std::cout << "\n";
    } else if (watch->parsed()) {
      std::optional<std::uint64_t> start;
      if (watch->count("--from")) start = from;
      remora::Watcher w(*ws, prefix, start);
      std::optional<remora::Watcher::Clock::time_point> deadline;
      if (timeout > 0) {
        deadline = remora::Watcher::Clock::now() +
                   std::chrono::duration_cast<remora::Watcher::Clock::duration>(std::chrono::duration<double>(timeout));
      }
      std::uint64_t printed = 0;
      while (count == 0 || printed < count) {
        auto changes = w.next(deadline);
        for (auto& c : changes) {
          if (as_json) {
            std::cout << json{{"rev", c.revision}, {"ns", c.ns_name}, {"op", remora::proto::name_of(c.op)},
                              {"key", c.key}}
                             .dump()
                      << "\n";
          } else {
            std::cout << c.revision << "\t" << c.ns_name << "\t" << remora::proto::name_of(c.op) << "\t" << c.key << "\n";
          }
          if (count && ++printed >= count) break;
        }
        std::cout.flush();
        if (deadline && remora::Watcher::Clock::now() >= *deadline) break;
      }
    } else if (dump->parsed()) {
      int bad = 0;
      for (auto& [k, e] : ws->list(ws->ns(ns_name), prefix)) {
        json line{{"key", k}, {"rev", e.mod_rev}};
        try {
          auto r = remora::record_to_json(e.value, k);
          line["type"] = r["type"];
          line["record"] = r["record"];
        } catch (const remora::proto::CodecError& err) {
          line["error"] = err.what();
          ++bad;
        }
        std::cout << line.dump() << "\n";
      }
      if (bad) throw Error(Errc::corrupt, std::to_string(bad) + " record(s) did not decode (see \"error\" above)");
    } else if (rev->parsed()) {
      std::cout << "revision " << ws->revision() << "\nlog starts at " << ws->log_start() << "\n";
    } else if (compact->parsed()) {
      ws->compact(compact_to);
      std::cout << "change log now starts at revision " << ws->log_start() << "\n";
    }
    return 0;
  } catch (const Error& e) {
    std::cerr << "remora-kv: " << e.what() << "\n";
    return remora::exit_code_for(e.code());
  } catch (const remora::proto::CodecError& e) {
    std::cerr << "remora-kv: " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "remora-kv: " << e.what() << "\n";
    return 3;
  }
}
