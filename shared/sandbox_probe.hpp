// Sandbox probe: what this kernel lets a process confine itself with, for the supervisor to report
// in agent:started what its workers will have (found once at start-up: a forked child tries to
// leave root and enter the namespaces; nothing else is changed), and the steps the worker shares.
#pragma once

#include <sys/types.h>

#include <string>

#include "shared/sandbox_policy.hpp"

namespace remora::sandbox {

// The kernel's Landlock ABI version; 0 when Landlock is absent or disabled.
int landlock_abi();
// Whether seccomp filters can trap (SECCOMP_RET_TRAP) and fail calls (SECCOMP_RET_ERRNO).
bool seccomp_available();

// The identity a worker started by root takes: nobody, so that file permissions, signal
// permissions and RLIMIT_NPROC (from which uid 0 is exempt in every namespace) apply to it.
inline constexpr uid_t kNobodyUid = 65534;
inline constexpr gid_t kNobodyGid = 65534;

// How a process isolated itself: each step with its errno (0: done), and the ids it ended with.
struct Isolation {
  int leave_root = 0;  // setgroups/setresgid/setresuid to nobody (0 too when not root to begin with)
  int user = 0, mount = 0, network = 0, ipc = 0, uts = 0;
  int pid = 0;  // unshare(CLONE_NEWPID) inside the new user namespace (the probe's child only)
  uid_t uid = 0;  // the ids outside the new user namespace, to map to themselves inside it
  gid_t gid = 0;
  int of(Mechanism m) const;  // the errno of a namespace's unshare or of leaving root
};
// The two steps of isolation, in this order. Only system calls: safe in a child forked from a
// threaded process. leave_root switches a root process to nobody and records the ids it ends
// with; unshare_namespaces moves it into new user, mount, network, IPC and UTS namespaces, all at
// once or else each one it can (the others then need CAP_SYS_ADMIN). A new user namespace maps
// no id: the caller then maps i.uid and i.gid to themselves.
void leave_root(Isolation& i) noexcept;
void unshare_namespaces(Isolation& i) noexcept;

// What the kernel offers one process: enough to tell, for each mechanism, whether it applies.
struct KernelFacts {
  int landlock_abi = 0;
  bool seccomp = false;
  Isolation isolation;
  std::string memory_cgroup;  // why there is no memory cgroup for agents ("" when there is)
  // Why m cannot be applied ("unshare(CLONE_NEWNET): Operation not permitted"), or "" if it can.
  std::string shortfall(Mechanism m) const;
};
// The facts for a child of this process (a forked child tries to isolate itself, then to make a
// PID namespace), and whether this process may make memory cgroups (memory_cgroup.hpp).
KernelFacts probe();

// What a worker started at `level` will be confined by, given what the kernel offers.
Confinement expected(const KernelFacts& facts, Level level);

}  // namespace remora::sandbox
