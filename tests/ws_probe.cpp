// ws_probe: a test program that drives a workspace from its own process, so that tests can run
// several real writers and watchers at once and kill them with real signals.
//
//   ws_probe write DIR NS BATCHES KEYS [--die-at N] [--map BYTES] [--value-bytes B]
//       creates overlay NS over base and commits BATCHES batches of KEYS puts each, keys
//       w/NS/<batch 6 digits>/<j>; with --die-at N it SIGKILLs itself inside batch N's transaction,
//       after its puts and before the commit.
//   ws_probe watch DIR PREFIX OUT STOPKEY
//       watches PREFIX from revision 1 and appends "rev ns op key" lines to OUT until it sees STOPKEY.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "shared/watcher.hpp"
#include "shared/workspace.hpp"

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  std::string mode = argv[1];
  remora::WorkspaceOptions opts;
  opts.dir = argv[2];
  try {
    if (mode == "write" && argc >= 6) {
      std::string ns_name = argv[3];
      int batches = std::stoi(argv[4]), keys = std::stoi(argv[5]), die_at = -1;
      std::size_t value_bytes = 16;
      for (int i = 6; i + 1 < argc; i += 2) {
        std::string f = argv[i];
        if (f == "--die-at") die_at = std::stoi(argv[i + 1]);
        if (f == "--map") opts.initial_map_bytes = std::stoull(argv[i + 1]);
        if (f == "--value-bytes") value_bytes = std::stoull(argv[i + 1]);
      }
      auto ws = remora::Workspace::open(opts);
      auto ns = ws->find_ns(ns_name) ? ws->ns(ns_name) : ws->create_ns(ns_name);
      std::string value(value_bytes, 'v');
      for (int b = 0; b < batches; ++b) {
        char bk[32];
        std::snprintf(bk, sizeof bk, "%06d", b);
        ws->write([&](remora::WriteTxn& t) {
          for (int j = 0; j < keys; ++j) t.put(ns, "w/" + ns_name + "/" + bk + "/" + std::to_string(j), value);
          if (b == die_at) ::raise(SIGKILL);
        });
      }
      return 0;
    }
    if (mode == "watch" && argc >= 6) {
      auto ws = remora::Workspace::open(opts);
      std::ofstream out(argv[4]);
      std::string stop = argv[5];
      remora::Watcher w(*ws, argv[3], 1);
      for (;;) {
        auto deadline = remora::Watcher::Clock::now() + std::chrono::seconds(300);
        auto changes = w.next(deadline);
        if (changes.empty()) return 3;  // nothing for 5 minutes: give up
        for (auto& c : changes) {
          out << c.revision << ' ' << c.ns_name << ' ' << static_cast<int>(c.op) << ' ' << c.key << '\n';
          if (c.key == stop) return 0;
        }
        out.flush();
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "ws_probe: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
