#include "shared/sandbox_probe.hpp"

#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <grp.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "shared/memory_cgroup.hpp"
#include "shared/unique_fd.hpp"

namespace remora::sandbox {
namespace {

constexpr int kAllNamespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;

std::string unshare_error(const char* flag, int err) {
  return err == 0 ? "" : std::string("unshare(") + flag + "): " + std::strerror(err);
}

}  // namespace

int landlock_abi() {
  long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v < 0 ? 0 : static_cast<int>(v);
}

bool seccomp_available() {
  for (std::uint32_t action : {SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO})
    if (::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) return false;
  return true;
}

int Isolation::of(Mechanism m) const {
  switch (m) {
    case Mechanism::unprivileged_uid: return leave_root;
    case Mechanism::user_namespace: return user;
    case Mechanism::mount_namespace: return mount;
    case Mechanism::network_namespace: return network;
    case Mechanism::ipc_namespace: return ipc;
    case Mechanism::uts_namespace: return uts;
    default: return 0;
  }
}

void leave_root(Isolation& i) noexcept {
  if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(kNobodyGid, kNobodyGid, kNobodyGid) != 0 ||
                     ::setresuid(kNobodyUid, kNobodyUid, kNobodyUid) != 0))
    i.leave_root = errno;
  i.uid = ::geteuid();
  i.gid = ::getegid();
}

void unshare_namespaces(Isolation& i) noexcept {
  if (::unshare(kAllNamespaces) == 0) return;
  auto one = [](int flag) { return ::unshare(flag) == 0 ? 0 : errno; };
  i.user = one(CLONE_NEWUSER);
  i.mount = one(CLONE_NEWNS);
  i.network = one(CLONE_NEWNET);
  i.ipc = one(CLONE_NEWIPC);
  i.uts = one(CLONE_NEWUTS);
}

std::string KernelFacts::shortfall(Mechanism m) const {
  auto landlock = [&](int need, const char* linux) {
    if (landlock_abi >= need) return std::string();
    if (landlock_abi == 0) return std::string("Landlock is not enabled in this kernel");
    return "needs Landlock ABI " + std::to_string(need) + " (Linux " + linux + "), the kernel has " +
           std::to_string(landlock_abi);
  };
  const Isolation& i = isolation;
  switch (m) {
    case Mechanism::unprivileged_uid:
      return i.leave_root == 0 ? "" : "cannot leave root for nobody (uid " + std::to_string(kNobodyUid) + "): " +
                                          std::strerror(i.leave_root);
    case Mechanism::user_namespace: return unshare_error("CLONE_NEWUSER", i.user);
    case Mechanism::mount_namespace: return unshare_error("CLONE_NEWNS", i.mount);
    case Mechanism::network_namespace: return unshare_error("CLONE_NEWNET", i.network);
    case Mechanism::ipc_namespace: return unshare_error("CLONE_NEWIPC", i.ipc);
    case Mechanism::uts_namespace: return unshare_error("CLONE_NEWUTS", i.uts);
    case Mechanism::process_limit: return i.uid == 0 ? "root is exempt from RLIMIT_NPROC" : "";
    case Mechanism::landlock_fs: return landlock(1, "5.13");
    case Mechanism::landlock_tcp: return landlock(4, "6.7");
    case Mechanism::landlock_scope: return landlock(6, "6.12");
    case Mechanism::seccomp: return seccomp ? "" : "seccomp filters are not available";
    case Mechanism::private_tmpfs:
      if (i.user != 0) return "needs a user namespace of its own: " + unshare_error("CLONE_NEWUSER", i.user);
      return unshare_error("CLONE_NEWNS", i.mount);
    case Mechanism::pid_namespace:
      if (i.user != 0) return "needs a user namespace of its own: " + unshare_error("CLONE_NEWUSER", i.user);
      return unshare_error("CLONE_NEWPID", i.pid);
    case Mechanism::memory_cgroup: return memory_cgroup;
    default: return "";
  }
}

KernelFacts probe() {
  KernelFacts facts;
  facts.landlock_abi = landlock_abi();
  facts.seccomp = seccomp_available();
  facts.memory_cgroup = memory_cgroup_shortfall();
  // A child isolates itself and reports how it went through a pipe.
  auto [report_r, report_w] = Pipe::make();
  if (!report_r) throw std::system_error(errno, std::generic_category(), "pipe2");
  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    Isolation e;
    leave_root(e);
    unshare_namespaces(e);
    if (e.user == 0 && ::unshare(CLONE_NEWPID) != 0) e.pid = errno;
    ssize_t n = ::write(report_w.get(), &e, sizeof e);
    ::_exit(n == sizeof e ? 0 : 1);
  }
  report_w = UniqueFd();
  Isolation reported;
  ssize_t n;
  do n = ::read(report_r.get(), &reported, sizeof reported);
  while (n < 0 && errno == EINTR);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof reported) throw std::runtime_error("the sandbox probe's child did not report");
  facts.isolation = reported;
  return facts;
}

Confinement expected(const KernelFacts& facts, Level level) {
  Confinement c;
  c.level = level;
  for (Mechanism m : kMechanisms) {
    if (level == Level::none && m != Mechanism::clear_env && m != Mechanism::close_fds) continue;
    if (auto why = facts.shortfall(m); !why.empty()) {
      c.skipped.emplace_back(m, why);
    } else {
      c.applied.push_back(m);
    }
  }
  return c;
}

}  // namespace remora::sandbox
