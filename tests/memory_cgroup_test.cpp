// Memory cgroups (shared/memory_cgroup.hpp) on this machine's real hierarchy: removing an agent's
// cgroup kills what is left in it, a process and the child it forked, and waits for them to leave
// it (their pidfds wake the wait) before the directory goes.
#include "shared/memory_cgroup.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "shared/pid_fd.hpp"
#include "shared/unique_fd.hpp"

namespace remora {
namespace {

TEST(MemoryCgroups, RemovingAnAgentsCgroupKillsWhatIsLeftInItAndWaitsForItToLeave) {
  if (const auto why = memory_cgroup_shortfall(); !why.empty()) GTEST_SKIP() << why;
  MemoryCgroups cgroups("remora-test-" + std::to_string(::getpid()));
  const auto dir = cgroups.make("a", std::uint64_t{256} << 20);
  auto ready = Pipe::make();
  ASSERT_TRUE(ready.r);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Into the cgroup, then a child of its own (in it too); both ignore SIGTERM and wait.
    ::signal(SIGTERM, SIG_IGN);
    std::ofstream(dir / "cgroup.procs") << ::getpid() << std::flush;
    const pid_t grandchild = ::fork();
    if (grandchild == 0) {
      for (;;) ::pause();
    }
    [[maybe_unused]] auto n = ::write(ready.w.get(), &grandchild, sizeof grandchild);
    for (;;) ::pause();
  }
  ready.w = UniqueFd();
  pid_t grandchild = 0;
  ASSERT_EQ(::read(ready.r.get(), &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  const PidFd left_behind(grandchild);
  ASSERT_TRUE(left_behind.valid());

  cgroups.remove("a");
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_TRUE(left_behind.wait_exit(std::chrono::milliseconds(0)));  // gone before remove returned
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

}  // namespace
}  // namespace remora
