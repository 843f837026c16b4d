#include "worker/seccomp_filter.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/unique_fd.hpp"

namespace remora::worker {
namespace {

constexpr const char* kTrapped[] = {
    "ptrace",          "process_vm_readv", "process_vm_writev", "pidfd_getfd",     "mount",
    "umount2",         "pivot_root",       "chroot",            "move_mount",      "open_tree",
    "fsopen",          "fsconfig",         "fsmount",           "fspick",          "mount_setattr",
    "bpf",             "keyctl",           "add_key",           "request_key",     "perf_event_open",
    "userfaultfd",     "io_uring_setup",   "io_uring_enter",    "io_uring_register", "unshare",
    "setns",           "init_module",      "finit_module",      "delete_module",   "kexec_load",
    "kexec_file_load", "reboot",           "swapon",            "swapoff",         "acct",
    "iopl",            "ioperm",           "open_by_handle_at", "settimeofday",    "clock_settime",
    "clock_adjtime",   "syslog",           "quotactl",          "lookup_dcookie",  "vhangup",
    "uselib"};
// clone with any of these traps. CLONE_NEWPID alone is allowed: the worker clones each command
// tool into a PID namespace of its own (with the CAP_SYS_ADMIN it keeps in its user namespace;
// a program it runs has no capability, so its own attempt fails with EPERM).
constexpr int kNamespaceFlags[] = {CLONE_NEWUSER, CLONE_NEWNS,     CLONE_NEWNET,
                                   CLONE_NEWIPC,  CLONE_NEWUTS,    CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */};

// What the SIGSYS handler knows, filled before the filter is loaded: it may not allocate.
struct Trapped {
  int nr;
  const char* name;
};
std::array<Trapped, std::size(kTrapped) + 3> g_trapped{};  // + socket, socketpair, clone
std::size_t g_count = 0;
int g_socket = -1, g_socketpair = -1;
constexpr int kSysSeccomp = 1;  // si_code of a SIGSYS from seccomp (SYS_SECCOMP, not in glibc's headers)

// Async-signal-safe text building for the handler.
struct Line {
  char buf[200];
  std::size_t n = 0;
  void add(const char* s) {
    while (*s && n < sizeof buf - 1) buf[n++] = *s++;
  }
  void add(long v) {
    char digits[24];
    int k = 0;
    unsigned long u = v < 0 ? 0UL - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
    do digits[k++] = static_cast<char>('0' + u % 10);
    while ((u /= 10) && k < 24);
    if (v < 0) add("-");
    while (k > 0 && n < sizeof buf - 1) buf[n++] = digits[--k];
  }
  // The name when known, else the label and the number.
  void add(const char* name, const char* label, long v) {
    if (name) {
      add(name);
    } else {
      add(label);
      add(v);
    }
  }
};

const char* family_name(long f) {
  switch (f) {
    case AF_INET: return "AF_INET";
    case AF_INET6: return "AF_INET6";
    case AF_NETLINK: return "AF_NETLINK";
    case AF_PACKET: return "AF_PACKET";
    case AF_VSOCK: return "AF_VSOCK";
    case AF_BLUETOOTH: return "AF_BLUETOOTH";
    case AF_ALG: return "AF_ALG";
    case AF_XDP: return "AF_XDP";
    default: return nullptr;
  }
}

const char* type_name(long t) {
  switch (t & 0xf) {
    case SOCK_STREAM: return "SOCK_STREAM";
    case SOCK_DGRAM: return "SOCK_DGRAM";
    case SOCK_RAW: return "SOCK_RAW";
    case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
    default: return nullptr;
  }
}

// The first two arguments of the trapped call, where this architecture's registers are known.
bool call_args(void* context, long& a0, long& a1) {
  auto* uc = static_cast<ucontext_t*>(context);
#if defined(__x86_64__)
  a0 = uc->uc_mcontext.gregs[REG_RDI];
  a1 = uc->uc_mcontext.gregs[REG_RSI];
  return true;
#elif defined(__aarch64__)
  a0 = static_cast<long>(uc->uc_mcontext.regs[0]);
  a1 = static_cast<long>(uc->uc_mcontext.regs[1]);
  return true;
#else
  (void)uc;
  return false;
#endif
}

void on_sigsys(int, siginfo_t* info, void* context) {
  if (info->si_code == kSysSeccomp) {
    Line line;
    line.add("sandbox violation: system call ");
    const char* name = nullptr;
    for (std::size_t i = 0; i < g_count; ++i)
      if (g_trapped[i].nr == info->si_syscall) name = g_trapped[i].name;
    line.add(name, "", info->si_syscall);
    long a0 = 0, a1 = 0;
    if ((info->si_syscall == g_socket || info->si_syscall == g_socketpair) && call_args(context, a0, a1)) {
      line.add(" (");
      line.add(family_name(a0), "family ", a0);
      line.add(", ");
      line.add(type_name(a1), "type ", a1);
      line.add(")");
    }
    line.add("\n");
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.buf, line.n);
  }
  ::raise(SIGSYS);  // SA_RESETHAND restored the default action: the process dies by SIGSYS
}

struct FilterDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

void check(int rc, const std::string& what) {
  if (rc < 0) throw std::runtime_error("seccomp: " + what + ": " + std::strerror(-rc));
}

void remember(int nr, const char* name) { g_trapped[g_count++] = {nr, name}; }

// The filter as a BPF program, made by libseccomp and exported (to a memfd: libseccomp 2.5 has
// no export to memory). Fills the SIGSYS handler's table as it goes.
std::vector<sock_filter> compile() {
  std::unique_ptr<void, FilterDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) throw std::runtime_error("seccomp: seccomp_init failed");
  scmp_filter_ctx f = ctx.get();
  // A call made through another architecture's entry (int 0x80) would escape the rules: it kills.
  // x32 calls share x86_64's architecture token, so the rules are made for their numbers too.
  check(seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "set the bad-architecture action");
#if defined(__x86_64__)
  check(seccomp_arch_add(f, SCMP_ARCH_X32), "add the x32 architecture");
#endif
  g_count = 0;
  for (const char* name : kTrapped) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    check(seccomp_rule_add(f, SCMP_ACT_TRAP, nr, 0), std::string("trap ") + name);
    remember(nr, name);
  }
  g_socket = SCMP_SYS(socket);
  g_socketpair = SCMP_SYS(socketpair);
  remember(g_socket, "socket");
  remember(g_socketpair, "socketpair");
  remember(SCMP_SYS(clone), "clone");
  check(seccomp_rule_add(f, SCMP_ACT_TRAP, g_socket, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX)), "trap socket");
  check(seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), g_socket, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
        "refuse socket(AF_UNIX)");
  check(seccomp_rule_add(f, SCMP_ACT_TRAP, g_socketpair, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX)), "trap socketpair");
  for (int flag : kNamespaceFlags) {
    const auto bit = static_cast<scmp_datum_t>(flag);
    check(seccomp_rule_add(f, SCMP_ACT_TRAP, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit)),
          "trap clone with namespace flags");
  }
  check(seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "refuse clone3");

  const UniqueFd out(::memfd_create("remora-seccomp", MFD_CLOEXEC));
  if (!out) throw std::runtime_error(std::string("seccomp: memfd_create: ") + std::strerror(errno));
  check(seccomp_export_bpf(f, out.get()), "export the filter");
  const off_t bytes = ::lseek(out.get(), 0, SEEK_END);
  if (bytes <= 0 || bytes % sizeof(sock_filter) != 0 || bytes / sizeof(sock_filter) > BPF_MAXINSNS)
    throw std::runtime_error("seccomp: the exported filter has " + std::to_string(bytes) + " bytes");
  std::vector<sock_filter> program(static_cast<std::size_t>(bytes) / sizeof(sock_filter));
  if (::pread(out.get(), program.data(), static_cast<std::size_t>(bytes), 0) != bytes)
    throw std::runtime_error(std::string("seccomp: read the exported filter: ") + std::strerror(errno));
  return program;
}

struct Compiled {
  std::vector<sock_filter> program;
  std::string error;  // why it could not be made, or ""
};

const Compiled& compiled() {
  static const Compiled c = [] {
    Compiled out;
    try {
      out.program = compile();
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    return out;
  }();
  return c;
}

}  // namespace

void prepare_seccomp_filter() { compiled(); }

void install_seccomp_filter() {
  const Compiled& c = compiled();
  if (!c.error.empty()) throw std::runtime_error(c.error);
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSYS, &sa, nullptr) != 0)
    throw std::runtime_error(std::string("seccomp: install the SIGSYS handler: ") + std::strerror(errno));
  // As seccomp_load does: a filter may only be loaded without privilege under no_new_privs.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    throw std::runtime_error(std::string("seccomp: prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno));
  sock_fprog prog{static_cast<unsigned short>(c.program.size()), const_cast<sock_filter*>(c.program.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    throw std::runtime_error(std::string("seccomp: load the filter: ") + std::strerror(errno));
}

}  // namespace remora::worker
