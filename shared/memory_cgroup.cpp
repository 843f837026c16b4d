#include "shared/memory_cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "shared/pid_fd.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  for (std::string w; in >> w;)
    if (w == word) return true;
  return false;
}

void write_file(const fs::path& p, const std::string& text) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + p.string());
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    throw std::system_error(n < 0 ? err : EIO, std::generic_category(), "write '" + text + "' to " + p.string());
}

// Where this process's memory cgroup is, as a directory it may make cgroups in, or why not.
struct Located {
  std::string version;  // "v2" or "v1"
  fs::path own;
  std::string why;
};

Located locate() {
  // Mount points of the v2 hierarchy and of v1's memory controller, with the root of each mount.
  fs::path v2_mount, v2_root, v1_mount, v1_root;
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream in(line);
    std::string id, parent, devno, root, point, opts, word;
    in >> id >> parent >> devno >> root >> point >> opts;
    while (in >> word && word != "-") {
    }
    std::string fstype, source, super;
    in >> fstype >> source >> super;
    if (fstype == "cgroup2" && v2_mount.empty()) {
      v2_mount = point;
      v2_root = root;
    } else if (fstype == "cgroup" && v1_mount.empty()) {
      std::istringstream o(super);
      for (std::string opt; std::getline(o, opt, ',');)
        if (opt == "memory") {
          v1_mount = point;
          v1_root = root;
        }
    }
  }
  // This process's cgroup in each: "0::/path" (v2), "N:memory,...:/path" (v1).
  std::string v2_path, v1_path;
  std::ifstream cgroup("/proc/self/cgroup");
  for (std::string line; std::getline(cgroup, line);) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.substr(0, a) == "0" && controllers.empty()) v2_path = path;
    std::istringstream c(controllers);
    for (std::string name; std::getline(c, name, ',');)
      if (name == "memory") v1_path = path;
  }
  auto under = [](const fs::path& mount, const fs::path& root, const std::string& path) {
    std::string rel = path;
    if (root != "/" && rel.starts_with(root.string())) rel = rel.substr(root.string().size());
    return mount / fs::path(rel).relative_path();
  };
  std::string why;
  if (!v2_mount.empty() && !v2_path.empty()) {
    const fs::path own = under(v2_mount, v2_root, v2_path);
    if (!has_word(read_file(own / "cgroup.controllers"), "memory")) {
      why = "cgroup v2 (" + own.string() + ") has no memory controller";
    } else if (!has_word(read_file(own / "cgroup.subtree_control"), "memory")) {
      why = "cgroup v2's memory controller is not delegated to " + own.string() + " (not in its cgroup.subtree_control)";
    } else if (::access(own.c_str(), W_OK) != 0) {
      why = "cgroup v2: " + own.string() + " is not writable";
    } else {
      return {"v2", own, ""};
    }
  }
  if (!v1_mount.empty() && !v1_path.empty()) {
    const fs::path own = under(v1_mount, v1_root, v1_path);
    if (::access(own.c_str(), W_OK) == 0) return {"v1", own, ""};
    return {"", {}, (why.empty() ? "" : why + "; ") + "cgroup v1's memory controller: " + own.string() + " is not writable"};
  }
  return {"", {}, (why.empty() ? "no cgroup v2 hierarchy" : why) + ", and no cgroup v1 memory controller is mounted"};
}

}  // namespace

std::string memory_cgroup_shortfall() { return locate().why; }

int open_oom_events(const fs::path& dir) {
  for (const char* name : {"memory.events", "memory.oom_control"}) {
    const int fd = ::open((dir / name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return fd;
  }
  return -1;
}

std::uint64_t read_oom_kills(int fd) {
  if (fd < 0) return 0;
  char buf[1024];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  std::istringstream in(std::string(buf, static_cast<std::size_t>(n)));
  for (std::string key; in >> key;) {
    std::uint64_t v = 0;
    if (!(in >> v)) break;
    if (key == "oom_kill") return v;
  }
  return 0;
}

MemoryCgroups::MemoryCgroups(const std::string& name) {
  const Located at = locate();
  if (!at.why.empty()) throw std::runtime_error(at.why);
  version_ = at.version;
  dir_ = at.own / name;
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST)
    throw std::system_error(errno, std::generic_category(), "cannot create the memory cgroup " + dir_.string());
  if (version_ == "v2") write_file(dir_ / "cgroup.subtree_control", "+memory");
}

MemoryCgroups::~MemoryCgroups() {
  std::error_code ec;
  std::vector<std::string> agents;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.is_directory(ec)) agents.push_back(e.path().filename().string());
  for (const auto& id : agents) remove(id);
  if (::rmdir(dir_.c_str()) != 0 && errno != ENOENT)
    spdlog::warn("cannot remove the memory cgroup {}: {}", dir_.string(), std::strerror(errno));
}

fs::path MemoryCgroups::make(const std::string& id, std::uint64_t bytes) {
  const fs::path d = dir_ / id;
  if (fs::exists(d)) remove(id);
  if (::mkdir(d.c_str(), 0755) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot create the memory cgroup " + d.string());
  const std::string limit = std::to_string(bytes);
  if (version_ == "v2") {
    write_file(d / "memory.max", limit);
    if (fs::exists(d / "memory.swap.max")) write_file(d / "memory.swap.max", "0");
  } else {
    write_file(d / "memory.limit_in_bytes", limit);
    if (fs::exists(d / "memory.memsw.limit_in_bytes")) write_file(d / "memory.memsw.limit_in_bytes", limit);
  }
  return d;
}

void MemoryCgroups::remove(const std::string& id) {
  const fs::path d = dir_ / id;
  if (version_ == "v2" && fs::exists(d / "cgroup.kill")) {
    try {
      write_file(d / "cgroup.kill", "1");
    } catch (const std::exception&) {
    }
  }
  // A killed process leaves its cgroup as it exits (before its pidfd says so). A process forked
  // before its parent was killed (cgroup v1 has no cgroup.kill) is found by the next round. A
  // second in all, as the loop that calls this waits for it.
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  for (int round = 0; round < 8; ++round) {
    if (::rmdir(d.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY || (round > 0 && Clock::now() >= deadline)) break;
    std::istringstream listed(read_file(d / "cgroup.procs"));
    std::deque<PidFd> procs;
    for (long pid; listed >> pid;) procs.emplace_back(static_cast<pid_t>(pid)).signal(SIGKILL);
    for (const auto& p : procs)
      if (!p.wait_exit(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()))) break;
    errno = EBUSY;
  }
  spdlog::warn("cannot remove the memory cgroup {}: {}", d.string(), std::strerror(errno));
}

std::uint64_t MemoryCgroups::oom_kills(const std::string& id) const {
  const int fd = open_oom_events(dir_ / id);
  const auto n = read_oom_kills(fd);
  if (fd >= 0) ::close(fd);
  return n;
}

}  // namespace remora
