#include "worker/landlock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

namespace remora::worker {
namespace {

// The kernel's ABI, spelled out here because Debian 12's headers stop at ABI 2.
constexpr std::uint64_t kExecute = 1ULL << 0, kWriteFile = 1ULL << 1, kReadFile = 1ULL << 2, kReadDir = 1ULL << 3,
                        kTruncate = 1ULL << 14;
constexpr std::uint64_t kNetBindTcp = 1ULL << 0, kNetConnectTcp = 1ULL << 1;
constexpr std::uint64_t kScopeAbstractUnixSocket = 1ULL << 0, kScopeSignal = 1ULL << 1;
constexpr int kRulePathBeneath = 1;

struct RulesetAttr {  // struct landlock_ruleset_attr as of ABI 6; older kernels read a prefix
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;
  std::uint64_t scoped;
};
struct __attribute__((packed)) PathBeneathAttr {  // struct landlock_path_beneath_attr
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
};

// Every filesystem right the kernel's ABI knows, so that none is left unhandled (allowed).
std::uint64_t fs_rights(int abi) {
  std::uint64_t all = (1ULL << 13) - 1;  // ABI 1: execute .. make_sym
  if (abi >= 2) all |= 1ULL << 13;       // refer
  if (abi >= 3) all |= kTruncate;
  if (abi >= 5) all |= 1ULL << 15;  // ioctl_dev
  return all;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

void add_rule_fd(int ruleset, int fd, const std::filesystem::path& path, std::uint64_t access, int abi) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("landlock: stat " + path.string());
  // Directory rights on a file are refused by the kernel: a file gets only the file rights.
  const std::uint64_t file_rights = kExecute | kWriteFile | kReadFile | (abi >= 3 ? kTruncate : 0);
  PathBeneathAttr attr{S_ISDIR(st.st_mode) ? access : access & file_rights, fd};
  if (::syscall(SYS_landlock_add_rule, ruleset, kRulePathBeneath, &attr, 0) != 0)
    fail("landlock: add a rule for " + path.string());
}

// A missing path is left out when optional (system paths vary between distributions).
void add_rule(int ruleset, const std::filesystem::path& path, std::uint64_t access, int abi, bool optional) {
  Fd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT && optional) return;
    fail("landlock: open " + path.string());
  }
  add_rule_fd(ruleset, fd.get(), path, access, abi);
}

}  // namespace

LandlockRuleset::LandlockRuleset(const LandlockRules& rules, int abi) : abi_(abi) {
  const bool tcp = abi >= 4, scope = abi >= 6;
  const std::uint64_t all = fs_rights(abi);
  RulesetAttr attr{all, tcp ? kNetBindTcp | kNetConnectTcp : 0, scope ? kScopeAbstractUnixSocket | kScopeSignal : 0};
  // An older kernel reads only the fields it knows.
  const std::size_t size = scope ? sizeof attr : tcp ? 2 * sizeof(std::uint64_t) : sizeof(std::uint64_t);
  fd_ = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (fd_ < 0) fail("landlock_create_ruleset");
  try {
    for (const auto& p : rules.read_only) add_rule(fd_, p, kReadFile | kReadDir | kExecute, abi, true);
    for (const auto& p : rules.read_write_dirs) add_rule(fd_, p, all, abi, false);
    for (const auto& p : rules.read_write_files)
      add_rule(fd_, p, kReadFile | kWriteFile | (abi >= 3 ? kTruncate : 0), abi, false);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

LandlockRuleset::~LandlockRuleset() { ::close(fd_); }

void LandlockRuleset::allow_read_write_dir(int dir_fd, const std::filesystem::path& name_for_errors) {
  add_rule_fd(fd_, dir_fd, name_for_errors, fs_rights(abi_), abi_);
}

void LandlockRuleset::restrict_self() {
  // landlock_restrict_self needs no_new_privs (or CAP_SYS_ADMIN); the sandbox has set it already.
  if (::syscall(SYS_landlock_restrict_self, fd_, 0) != 0) fail("landlock_restrict_self");
}

}  // namespace remora::worker
