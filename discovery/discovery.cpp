#include "discovery/discovery.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "discovery/discovery_file.hpp"
#include "discovery/discovery_query_pack.hpp"
#include "discovery/discovery_walk.hpp"
#include "shared/error.hpp"

namespace remora {

namespace fs = std::filesystem;

std::string node_id(const std::string& path, const std::string& type, const std::string& qualified_name) {
  const std::string key = path + ":" + type + ":" + qualified_name;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(key.data(), key.size(), digest, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 8; ++i) {
    id += kHex[digest[i] >> 4];
    id += kHex[digest[i] & 0xf];
  }
  return id;
}

fs::path default_queries_dir() {
  std::error_code ec;
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec)
    for (const fs::path& dir : {exe_dir.parent_path() / "queries", exe_dir.parent_path() / "share/remora/queries"})
      if (fs::is_directory(dir, ec)) return dir;
  return REMORA_QUERIES_DIR;
}

nlohmann::json to_json(const CodeNode& n) {
  auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); };
  return {{"id", n.id},
          {"type", n.type},
          {"name", n.name},
          {"qualified_name", n.qualified_name},
          {"language", n.language},
          {"path", n.path},
          {"start_byte", n.start_byte},
          {"end_byte", n.end_byte},
          {"start_line", n.start_line},
          {"end_line", n.end_line},
          {"params", or_null(n.params)},
          {"doc", or_null(n.doc)},
          {"error", or_null(n.error)}};
}

Discovery discover(const std::vector<fs::path>& roots, const DiscoveryOptions& options) {
  Discovery out;
  std::vector<SourceFile> files;
  for (const auto& root : roots) {
    auto found = walk_sources(root, options, out.skipped);
    files.insert(files.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
  }

  // Compile the packs of the languages present before any thread starts: a bad pack is an error
  // of the whole run, and the compiled queries are then only read.
  const fs::path queries = options.queries_dir.empty() ? default_queries_dir() : options.queries_dir;
  std::map<std::string_view, QueryPack> packs;
  for (const auto& f : files)
    if (!packs.count(f.language->name)) packs.emplace(f.language->name, QueryPack(queries, *f.language));

  // A pool of threads, each taking the next file; results land in the file's slot.
  std::vector<std::vector<CodeNode>> nodes(files.size());
  std::vector<std::string> skip_reasons(files.size());
  std::atomic<std::size_t> next{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;  // the first exception of a thread, rethrown after the join
  auto work = [&] {
    try {
      FileParser parser;
      for (std::size_t i; (i = next++) < files.size();)
        if (auto text = read_source(files[i], skip_reasons[i]))
          nodes[i] = parser.parse(files[i], *text, packs.at(files[i].language->name));
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = files.size();
    }
  };
  unsigned n = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  n = static_cast<unsigned>(std::min<std::size_t>(n, files.size()));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < n; ++t) pool.emplace_back(work);
  if (n > 0) work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);

  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!skip_reasons[i].empty()) out.skipped.push_back({files[i].path, skip_reasons[i]});
    out.nodes.insert(out.nodes.end(), std::make_move_iterator(nodes[i].begin()), std::make_move_iterator(nodes[i].end()));
  }
  // By path, then position with outer nodes first (a file before what it holds), then type and name.
  std::sort(out.nodes.begin(), out.nodes.end(), [](const CodeNode& a, const CodeNode& b) {
    return std::tie(a.path, a.start_line, a.start_byte, b.end_byte, a.type, a.qualified_name) <
           std::tie(b.path, b.start_line, b.start_byte, a.end_byte, b.type, b.qualified_name);
  });
  std::sort(out.skipped.begin(), out.skipped.end(),
            [](const SkippedFile& a, const SkippedFile& b) { return std::tie(a.path, a.reason) < std::tie(b.path, b.reason); });
  return out;
}

std::string skipped_summary(const std::vector<SkippedFile>& skipped) {
  if (skipped.empty()) return "";
  std::map<std::string, std::pair<std::size_t, std::string>> by_reason;  // reason: count, example
  for (const auto& s : skipped) {
    auto& [count, example] = by_reason[s.reason];
    if (count++ == 0) example = s.path;
  }
  std::string out = fmt::format("{} file{} skipped:", skipped.size(), skipped.size() == 1 ? "" : "s");
  const char* sep = " ";
  for (const auto& [reason, seen] : by_reason) {
    out += fmt::format("{}{} {} ({})", sep, seen.first, reason, seen.second);
    sep = ", ";
  }
  return out;
}

}  // namespace remora
