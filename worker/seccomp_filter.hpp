// Seccomp filter: the system calls a worker, and every program it starts, may not make. A
// forbidden call traps: the worker's SIGSYS handler writes "sandbox violation: system call <name>"
// (with the socket family and type for socket calls) to stderr, the agent's log, and the process
// dies by SIGSYS, which the supervisor reports as a sandbox violation. A program the worker
// starts has no such handler and simply dies by SIGSYS.
//
// Trapped: sockets of any family but AF_UNIX; ptrace and cross-process memory access; mount and
// the new mount API, chroot, pivot_root; bpf; keyctl; perf_event_open; userfaultfd; io_uring
// (whose operations would bypass this filter); unshare, setns and clone with namespace flags;
// kernel modules, kexec, reboot, swap, accounting, port I/O; open_by_handle_at; setting clocks;
// syslog; quotactl. Not trapped but refused: socket(AF_UNIX) fails with EACCES, so that no host
// daemon is reachable through a socket file (socketpair still works); clone3 fails with ENOSYS,
// so that the C library falls back to clone, whose flags the filter can see.
#pragma once

namespace remora::worker {

// Makes the filter's BPF program once per process (about 1 ms in a fresh process; the zygote makes
// it before it forks workers, which then only load it). Errors are kept for install to throw.
void prepare_seccomp_filter();

// Installs the filter for this process and its future threads and children (setting no_new_privs,
// as a filter needs). Throws std::runtime_error naming the step that failed.
void install_seccomp_filter();

}  // namespace remora::worker
