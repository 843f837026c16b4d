#include "worker/sandbox.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <system_error>

#include "shared/memory_cgroup.hpp"
#include "shared/sandbox_probe.hpp"
#include "worker/landlock.hpp"
#include "worker/seccomp_filter.hpp"
#include "worker/tool_confinement.hpp"

namespace remora::worker {
namespace {

namespace fs = std::filesystem;
using sandbox::Mechanism;

// What the worker and the programs its tools run need to read: binaries, libraries, the dynamic
// loader's cache, time zone, user names, Python's Debian configuration. Not /etc as a whole
// (/etc/shadow is readable by its owner, root), not /proc, /sys, /home, /root or /tmp.
const char* const kSystemReadOnly[] = {"/usr",
                                       "/bin",
                                       "/sbin",
                                       "/lib",
                                       "/lib32",
                                       "/lib64",
                                       "/libx32",
                                       "/etc/ld.so.cache",
                                       "/etc/ld.so.conf",
                                       "/etc/ld.so.conf.d",
                                       "/etc/localtime",
                                       "/etc/passwd",
                                       "/etc/group",
                                       "/etc/nsswitch.conf",
                                       "/etc/mime.types"};
// Devices every program may open for reading and writing.
const char* const kDevices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

std::vector<fs::path> read_only_paths(const std::vector<std::string>& extra) {
  std::vector<fs::path> out(std::begin(kSystemReadOnly), std::end(kSystemReadOnly));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/etc", ec))  // /etc/python3, /etc/python3.11, ...
    if (e.path().filename().string().starts_with("python3")) out.push_back(e.path());
  for (const auto& p : extra) out.push_back(fs::absolute(p));
  return out;
}

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

void write_proc(const char* file, const std::string& text) {
  int fd = ::open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(std::string("open ") + file);
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  errno = err;
  if (n != static_cast<ssize_t>(text.size())) fail(std::string("write ") + file);
}

// Drops every capability, but CAP_SYS_ADMIN when keep_sys_admin: a worker in a user namespace of
// its own keeps it there (permitted and effective only: no exec passes it on, the bounding and
// inheritable sets being empty and no_new_privs set) to clone each command tool into a PID
// namespace; seccomp traps every other use it could have (mount, unshare, setns, ...).
void drop_capabilities(bool keep_sys_admin) {
  // The bounding set needs CAP_SETPCAP, which a user namespace of our own gives; without it
  // the set stays, and no_new_privs keeps an exec from gaining anything from it.
  for (int cap = 0; ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail("clear the ambient capabilities");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (keep_sys_admin) data[0].permitted = data[0].effective = 1u << CAP_SYS_ADMIN;
  if (::syscall(SYS_capset, &header, data) != 0) fail("capset");
}

// The private directory's tmpfs, mounted over it in the worker's own mount namespace (gone with
// the namespace): what the worker and its tools write there is bounded by its size, not by the
// disk.
void mount_private_tmpfs(const fs::path& target, std::uint32_t size_mb, uid_t uid, gid_t gid) {
  const std::string options = "size=" + std::to_string(size_mb) + "m,nr_inodes=" +
                              std::to_string(std::max<std::uint64_t>(1024, std::uint64_t{size_mb} * 64)) +
                              ",mode=0700,uid=" + std::to_string(uid) + ",gid=" + std::to_string(gid);
  if (::mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
    fail("mount a tmpfs of " + std::to_string(size_mb) + " MiB on the private directory");
}

// The supervisor moved this worker into paths.memory_cgroup before exec: checked, and its OOM
// counter kept open (the files are out of reach once Landlock applies).
std::string join_memory_cgroup(const fs::path& dir, std::uint32_t memory_mb) {
  if (dir.empty()) return "the supervisor put this worker in no memory cgroup (its log says why)";
  std::ifstream procs(dir / "cgroup.procs");
  bool member = false;
  for (long pid; procs >> pid;) member = member || pid == ::getpid();
  if (!member) return "this worker is not in " + dir.string();
  tool_confinement().oom_events_fd = open_oom_events(dir);
  tool_confinement().memory_mb = memory_mb;
  return "";
}

// Lowers a limit (never raises one the supervisor was given lower).
void lower(int resource, const char* name, rlim_t soft, rlim_t hard) {
  rlimit current{};
  if (::getrlimit(resource, &current) != 0) fail(std::string("getrlimit ") + name);
  rlimit next{std::min(soft, current.rlim_max), std::min(hard, current.rlim_max)};
  if (::setrlimit(resource, &next) != 0) fail(std::string("setrlimit ") + name);
}

}  // namespace

SandboxUnavailable::SandboxUnavailable(Mechanism m, const std::string& why)
    : std::runtime_error("sandbox unavailable: " + std::string(sandbox::name_of(m)) + ": " + why +
                         " (level strict refuses to run without it; level standard would skip it)"),
      mechanism(m) {}

Sandbox::Sandbox(sandbox::Config config) : config_(std::move(config)) {
  done_.level = config_.level;
  const bool closed = ::close_range(3, ~0U, 0) == 0;
  record(Mechanism::close_fds, closed ? "" : std::string("close_range: ") + std::strerror(errno));
}

void Sandbox::record(Mechanism m, const std::string& why) {
  if (why.empty()) {
    done_.applied.push_back(m);
  } else if (config_.level == sandbox::Level::strict && sandbox::required(m)) {
    throw SandboxUnavailable(m, why);
  } else {
    done_.skipped.emplace_back(m, why);
  }
}

template <class F> void Sandbox::attempt(Mechanism m, const std::string& shortfall, F&& step) {
  std::string why = shortfall;
  if (why.empty()) {
    try {
      step();
    } catch (const std::exception& e) {
      why = e.what();
    }
  }
  record(m, why);
}

sandbox::Confinement Sandbox::apply(const SandboxPaths& paths, const sandbox::Rlimits& limits) {
  // Absolute, since the private directory becomes the working directory.
  const fs::path private_dir = fs::absolute(paths.private_dir);
  LandlockRules rules;
  rules.read_only = read_only_paths(paths.read_paths);
  // The programs tools run get the same rules but the workspace's files (stacked on the worker's).
  LandlockRules tool_rules = rules;
  tool_rules.read_write_files.assign(std::begin(kDevices), std::end(kDevices));
  for (const auto& f : paths.workspace_files) rules.read_write_files.push_back(fs::absolute(f));
  rules.read_write_files.insert(rules.read_write_files.end(), std::begin(kDevices), std::end(kDevices));
  // The private directory is granted by descriptor once its tmpfs is mounted (below).
  fs::create_directories(private_dir);
  fs::permissions(private_dir, fs::perms::owner_all);
  if (::chdir(private_dir.c_str()) != 0) fail("chdir " + private_dir.string());
  sandbox::replace_environment(sandbox::worker_environment(private_dir));
  record(Mechanism::clear_env, "");
  if (config_.level == sandbox::Level::none) return done_;
  prepare_seccomp_filter();  // while nothing is restricted yet (done already in a zygote's worker)
  if (std::size_t n = thread_count(); n != 1)
    throw std::logic_error("the sandbox must be applied before any thread starts (" + std::to_string(n) + " running)");
  record(Mechanism::memory_cgroup, join_memory_cgroup(paths.memory_cgroup, config_.limits.memory_mb));

  sandbox::KernelFacts k;
  k.landlock_abi = sandbox::landlock_abi();
  k.seccomp = sandbox::seccomp_available();
  sandbox::Isolation& iso = k.isolation;

  attempt(Mechanism::no_new_privs, "", [] {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
  });

  // The Landlock rules are built now, before leaving root, and enforced near the end.
  std::string landlock_why = k.shortfall(Mechanism::landlock_fs);
  std::optional<LandlockRuleset> landlock;
  std::unique_ptr<LandlockRuleset> tool_landlock;
  if (landlock_why.empty()) {
    try {
      landlock.emplace(rules, k.landlock_abi);
      tool_landlock = std::make_unique<LandlockRuleset>(tool_rules, k.landlock_abi);
    } catch (const std::exception& e) {
      landlock_why = e.what();
    }
  }

  // The private directory belongs to whoever the worker becomes: nobody, when it leaves root
  // (which it cannot where nobody has no id, as in a user namespace that maps root alone).
  if (::geteuid() == 0 && ::chown(private_dir.c_str(), sandbox::kNobodyUid, sandbox::kNobodyGid) != 0) {
    iso.leave_root = errno;
  } else {
    sandbox::leave_root(iso);
    if (iso.leave_root != 0 && ::chown(private_dir.c_str(), 0, 0) != 0) fail("chown " + private_dir.string());
  }
  // Changing uid made the process undumpable, which gives /proc/self to root: nobody could not
  // write its own id maps. Dumpable until the rlimits step turns it off for good.
  if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_DUMPABLE)");
  record(Mechanism::unprivileged_uid, k.shortfall(Mechanism::unprivileged_uid));

  sandbox::unshare_namespaces(iso);
  if (iso.user == 0) {
    // A new user namespace maps no id until told: map ours to themselves, with no supplementary
    // groups. Our own ids are always ours to map, so a failure here leaves no sandbox to run in.
    try {
      write_proc("/proc/self/setgroups", "deny");
      write_proc("/proc/self/uid_map", std::to_string(iso.uid) + " " + std::to_string(iso.uid) + " 1");
      write_proc("/proc/self/gid_map", std::to_string(iso.gid) + " " + std::to_string(iso.gid) + " 1");
    } catch (const std::exception& e) {
      throw SandboxUnavailable(Mechanism::user_namespace, e.what());
    }
  }
  for (Mechanism m : {Mechanism::user_namespace, Mechanism::mount_namespace, Mechanism::network_namespace,
                      Mechanism::ipc_namespace, Mechanism::uts_namespace})
    record(m, k.shortfall(m));

  const std::string own_userns = iso.user == 0 ? "" : "needs a user namespace of its own: " + k.shortfall(Mechanism::user_namespace);
  attempt(Mechanism::private_tmpfs, !own_userns.empty() ? own_userns : k.shortfall(Mechanism::mount_namespace),
          [&] { mount_private_tmpfs(private_dir, config_.limits.private_dir_mb, iso.uid, iso.gid); });
  // The directory as it is now (the tmpfs, if mounted): the working directory, and the rules.
  // By path, in the new mount namespace (a descriptor opened before it would name the old mount).
  const int private_fd = ::open(private_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (private_fd < 0 || ::fchdir(private_fd) != 0) fail("enter " + private_dir.string());
  if (landlock) {
    try {
      landlock->allow_read_write_dir(private_fd, private_dir);
      tool_landlock->allow_read_write_dir(private_fd, private_dir);
    } catch (const std::exception& e) {
      landlock_why = e.what();
      landlock.reset();
    }
  }
  ::close(private_fd);

  attempt(Mechanism::capabilities, "", [&] { drop_capabilities(own_userns.empty()); });
  attempt(Mechanism::rlimits, "", [&] {
#ifndef REMORA_SANITIZED  // AddressSanitizer reserves terabytes of shadow at start: no RLIMIT_AS fits
    lower(RLIMIT_AS, "RLIMIT_AS", limits.address_space, limits.address_space);
#endif
    // SIGXCPU at the limit, SIGKILL a second later if the process survives it.
    lower(RLIMIT_CPU, "RLIMIT_CPU", limits.cpu_s, limits.cpu_s + 1);
    lower(RLIMIT_NOFILE, "RLIMIT_NOFILE", limits.open_files, limits.open_files);
    lower(RLIMIT_FSIZE, "RLIMIT_FSIZE", limits.file_size, limits.file_size);
    lower(RLIMIT_CORE, "RLIMIT_CORE", 0, 0);
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail("prctl(PR_SET_DUMPABLE)");
  });
  // RLIMIT_NPROC counts a uid's processes in its user namespace (uid 0 is exempt), so with a
  // namespace of its own it bounds exactly this worker and what it starts, threads included.
  attempt(Mechanism::process_limit, k.shortfall(Mechanism::process_limit),
          [&] { lower(RLIMIT_NPROC, "RLIMIT_NPROC", limits.processes, limits.processes); });

  if (landlock) {
    try {
      landlock->restrict_self();
    } catch (const std::exception& e) {
      landlock_why = e.what();
    }
  }
  record(Mechanism::landlock_fs, landlock_why);
  for (Mechanism m : {Mechanism::landlock_tcp, Mechanism::landlock_scope})
    record(m, landlock_why.empty() ? k.shortfall(m) : landlock_why);

  attempt(Mechanism::seccomp, k.shortfall(Mechanism::seccomp), install_seccomp_filter);
  // Each command tool's program in a PID namespace of its own, made with the CAP_SYS_ADMIN kept.
  record(Mechanism::pid_namespace, own_userns.empty() ? k.shortfall(Mechanism::pid_namespace) : own_userns);
  auto& tools = tool_confinement();
  tools.pid_namespace = std::ranges::find(done_.applied, Mechanism::pid_namespace) != done_.applied.end();
  if (landlock_why.empty()) tools.landlock = std::move(tool_landlock);
  // Reported in the order of kMechanisms.
  std::ranges::sort(done_.applied);
  std::ranges::sort(done_.skipped, {}, &std::pair<Mechanism, std::string>::first);
  return done_;
}

}  // namespace remora::worker
