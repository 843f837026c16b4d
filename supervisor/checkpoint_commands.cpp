#include "supervisor/checkpoint_commands.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string_view>
#include <vector>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/checkpoint.hpp"
#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "shared/pid_fd.hpp"
#include "supervisor/run_lock.hpp"

namespace remora {
namespace {

std::unique_ptr<Workspace> open_existing(const std::filesystem::path& dir) {
  Checkpoints::recover_restore(dir);
  WorkspaceOptions o;
  o.dir = dir;
  o.create = false;
  return Workspace::open(o);
}

// Asks the supervisor running on the workspace to stop (a `stop` control record: the run ends
// "stopped", its agents resumable) and waits, on a pidfd, until its process (pid) has ended.
void stop_supervisor(const std::filesystem::path& ws_dir, pid_t pid, const std::string& why) {
  auto ws = open_existing(ws_dir);
  auto base = ws->ns("base");
  const auto rkey = std::string(keys::kRunGraph);
  auto e = ws->get(base, rkey);
  const auto run = e ? std::optional(proto::decode<proto::Run>(e->value, rkey)) : std::nullopt;
  // The lock's holder must be the run's supervisor: `remora run` also holds it while it asks
  // whether to resume, or imports the project, before its supervisor starts.
  if (!run || run->supervisor_pid != pid || !proto::Run::unfinished(run->state))
    throw Error(Errc::busy, fmt::format("workspace {} is held by process {}, which is not running its graph yet "
                                        "(starting, or importing the project): try again once it runs, or ends",
                                        ws_dir.string(), pid));
  PidFd supervisor(pid);
  proto::Control c;
  c.action = "stop";
  c.target = why;
  c.requested_at_ms = now_ms();
  auto bytes = proto::encode(c);
  ws->write([&](WriteTxn& t) { t.put(base, keys::run_control(std::to_string(t.revision())), bytes); });
  ws.reset();  // closed: restore needs the workspace to itself
  if (!supervisor.wait_exit(std::chrono::seconds(60)))
    throw Error(Errc::busy, fmt::format("the supervisor (pid {}) of workspace {} did not stop within 60 s",
                                        pid, ws_dir.string()));
}

std::string local_time(std::int64_t ms) { return format_time_ms(ms, "%Y-%m-%d %H:%M:%S", false); }

std::string size_text(std::uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.1f} kB", b / 1e3);
}

std::string run_text(const CheckpointManifest& m) {
  return m.graph_name.empty() ? "-" : m.graph_name + " " + m.run_state;
}

// Asks on the terminal; without one the caller must have said --yes.
bool confirmed(const std::string& question) {
  if (!::isatty(STDIN_FILENO)) {
    throw Error(Errc::invalid_argument, question + ": stdin is not a terminal; confirm with --yes");
  }
  std::cerr << question << "? [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace

int cmd_checkpoint(const std::filesystem::path& ws_dir, const std::string& message, bool as_json) {
  auto ws = open_existing(ws_dir);
  auto taken = Checkpoints(ws_dir).take(*ws, message);
  const auto& m = taken.manifest;
  if (as_json) {
    std::cout << m.to_json().dump(2) << "\n";
  } else {
    std::cout << fmt::format("checkpoint {} saved: revision {}, {}, {:.2f} s ({:.1f} MB/s)\n", m.id, m.revision,
                             size_text(m.bytes), m.seconds, static_cast<double>(m.bytes) / 1e6 / std::max(m.seconds, 1e-6));
  }
  return 0;
}

int cmd_checkpoints(const std::filesystem::path& ws_dir, bool as_json) {
  open_existing(ws_dir);  // a missing workspace is an error, not an empty list
  Checkpoints store(ws_dir);
  const auto all = store.list();
  if (as_json) {
    auto j = nlohmann::json::array();
    for (const auto& m : all) j.push_back(m.to_json());
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (all.empty()) {
    std::cout << "no checkpoints in " << store.dir().string() << "\n";
    return 0;
  }
  using Row = std::vector<std::string>;
  std::vector<Row> rows{{"ID", "TIME", "REVISION", "SIZE", "TRIGGER", "RUN", "AGENTS", "MESSAGE"}};
  for (const auto& m : all) {
    rows.push_back({m.id, local_time(m.time_ms), std::to_string(m.revision), size_text(m.bytes), m.trigger,
                    run_text(m), m.agents_summary(), m.message});
  }
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i + 1 < r.size(); ++i) line += fmt::format("{:<{}}  ", r[i], width[i]);
    std::cout << line << r.back() << "\n";
  }
  return 0;
}

Restored restore_in_place(const std::filesystem::path& ws_dir, const std::string& id) {
  RunLock no_supervisor(ws_dir);  // none may start while the environment is replaced
  return Checkpoints(ws_dir).restore(id);
}

int cmd_restore(const std::filesystem::path& ws_dir, const RestoreRequest& request, const std::function<int()>& resume) {
  Checkpoints::recover_restore(ws_dir);
  Checkpoints store(ws_dir);
  const auto m = store.find(request.id);
  const std::string what = fmt::format("checkpoint {} (revision {}, {}{})", m.id, m.revision, local_time(m.time_ms),
                                       m.message.empty() ? "" : ", \"" + m.message + "\"");
  if (!request.fork_dir.empty()) {
    const auto from = open_existing(ws_dir)->revision();
    store.fork(m.id, request.fork_dir, from);
    std::cout << fmt::format("forked {} into {}; run {}, agents {}; {} is untouched\n", what,
                             request.fork_dir.string(), run_text(m), m.agents_summary(), ws_dir.string());
    return 0;
  }
  const auto holder = RunLock::holder(ws_dir);
  const bool live = holder.has_value();
  if (!request.yes && !confirmed(std::string(live ? "stop the run going on, then " : "") +
                                 "restore " + what + " over workspace " + ws_dir.string() +
                                 ", replacing its present state")) {
    std::cout << "restore cancelled\n";
    return 1;
  }
  if (live) {
    stop_supervisor(ws_dir, *holder, "restoring checkpoint " + m.id);
    std::cout << fmt::format("stopped the run's supervisor (pid {})\n", *holder);
  }
  try {
    auto r = restore_in_place(ws_dir, m.id);
    std::cout << fmt::format("restored {} into {}, replacing revision {}; run {}, agents {}\n", what,
                             ws_dir.string(), r.from_revision, run_text(m), m.agents_summary());
  } catch (const Error&) {
    if (live) std::cerr << "remora: the run was stopped and is left as it stood: `remora resume` continues it\n";
    throw;
  }
  const bool unfinished = proto::Run::unfinished(m.run_state);
  if (live && unfinished) {
    std::cout << std::flush;
    return resume();  // it was going on: it goes on from the checkpoint
  }
  if (unfinished) std::cout << "its run is unfinished: `remora resume` continues it\n";
  return 0;
}

}  // namespace remora
