// The writer gate (shared/writer_gate.hpp), with real processes on a real workspace: a writer
// that is not the supervisor waits at the gate while the supervisor's commits go by; a gate left
// held by a thread the kernel never cleaned up after (the machine went down) is made afresh by
// the next process to open the workspace alone, and never by one that is not alone. A writer
// killed inside its transaction, holding the gate, is MultiProcess.EightWritersAndAWatcher...'s.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "shared/writer_gate.hpp"
#include "shared/workspace.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

using test::Child;

std::unique_ptr<Workspace> open_ws(const std::filesystem::path& dir, bool priority = false) {
  WorkspaceOptions o;
  o.dir = dir;
  o.priority_writer = priority;
  return Workspace::open(o);
}

// The gate's bytes in the doorbell file.
std::array<char, sizeof(pthread_mutex_t)> gate_bytes(const std::filesystem::path& doorbell) {
  std::array<char, sizeof(pthread_mutex_t)> b{};
  std::ifstream in(doorbell, std::ios::binary);
  in.seekg(WriterGate::kOffset);
  in.read(b.data(), b.size());
  return b;
}

// True when the process exits within the guard (a hang is a failure, not a wait for CI's limit).
bool exits_within(int pid, int seconds) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  const int n = ::poll(&p, 1, seconds * 1000);
  ::close(fd);
  return n == 1;
}

// The system call the process's main thread is in, -1 while it runs (/proc/PID/syscall).
long current_syscall(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  std::string first;
  in >> first;
  return first.empty() || first == "running" ? -1 : std::stol(first);
}

// True once the process's main thread sits in system call `nr` (checked every 10 ms, for 60 s at
// most: a failure, not a hang, if it never does).
bool comes_to_wait_in(int pid, long nr) {
  for (int i = 0; i < 6000; ++i) {
    if (current_syscall(pid) == nr) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(WriterGate, TheSupervisorsCommitsGoByAWriterWaitingAtTheGate) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  auto supervisor = open_ws(ws_dir, true);
  const auto base = supervisor->ns("base");
  WriterGate held(ws_dir / "doorbell");
  auto pass = held.pass();
  // A worker-like writer opens the workspace and waits at the gate we hold: its only wait in a
  // futex, since nothing else holds LMDB's lock.
  const auto said = dir / "writer.out";
  Child writer(REMORA_PROBE, {"write", ws_dir.string(), "gated", "1", "1"}, said);
  ASSERT_TRUE(comes_to_wait_in(writer.pid(), SYS_futex)) << "the writer never waited: " << test::read_text(said);
  // The supervisor commits while the gate is held, on a thread of its own (were it to pass the
  // gate, it would wait there until we let go, below, and the test fails without hanging).
  std::promise<std::uint64_t> committed;
  auto rev_future = committed.get_future();
  std::thread commit([&] {
    committed.set_value(supervisor->write([&](WriteTxn& t) { t.put(base, "supervisor/key", "v"); }));
  });
  const bool went_by = rev_future.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(went_by) << "the supervisor's commit waited at the gate";
  EXPECT_FALSE(supervisor->find_ns("gated")) << "a writer committed past the gate";
  pass = WriterGate::Pass();
  commit.join();
  const auto rev = rev_future.get();
  ASSERT_TRUE(exits_within(writer.pid(), 60)) << test::read_text(said);
  EXPECT_EQ(writer.wait(), 0) << test::read_text(said);
  const auto gated = supervisor->ns("gated");
  const auto e = supervisor->get(gated, "w/gated/000000/0");
  ASSERT_TRUE(e);
  EXPECT_GT(e->mod_rev, rev);
}

// Leaves the gate as a power cut would: a process takes it, its bytes are kept as they are while
// held, it exits (the kernel marks the owner dead), and the kept bytes are put back: held by a
// thread that is gone, with nothing to tell the next locker.
void leave_gate_held_by_no_one(const std::filesystem::path& doorbell) {
  std::array<char, sizeof(pthread_mutex_t)> held{};
  auto p = Pipe::make();
  auto q = Pipe::make();
  const pid_t pid = ::fork();
  if (pid == 0) {
    WriterGate gate(doorbell);
    auto pass = gate.pass();
    char c = 'h';
    if (::write(p.w.get(), &c, 1) != 1 || ::read(q.r.get(), &c, 1) != 1) ::_exit(1);
    ::_exit(0);
  }
  char c;
  ASSERT_EQ(::read(p.r.get(), &c, 1), 1);
  held = gate_bytes(doorbell);
  ASSERT_EQ(::write(q.w.get(), &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_NE(gate_bytes(doorbell), held);  // the kernel marked the owner dead
  std::fstream f(doorbell, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(WriterGate::kOffset);
  f.write(held.data(), held.size());
}

// An OFD lock on one byte of fd's file, as WriterGate takes them.
void ofd_lock(int fd, off_t byte) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &fl), 0) << std::strerror(errno);
}

TEST(WriterGate, AGateLeftHeldWhenTheMachineWentDownIsMadeAfreshByTheNextOpener) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  open_ws(ws_dir);
  leave_gate_held_by_no_one(ws_dir / "doorbell");
  Child writer(REMORA_PROBE, {"write", ws_dir.string(), "after", "3", "1"});
  ASSERT_TRUE(exits_within(writer.pid(), 60)) << "a writer waited for a gate held by no one";
  EXPECT_EQ(writer.wait(), 0);
}

TEST(WriterGate, AnOpenerKilledWhileMakingTheGateLeavesTheNextToMakeIt) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  const auto doorbell = ws_dir / "doorbell";
  open_ws(ws_dir);
  leave_gate_held_by_no_one(doorbell);
  // An opener that found itself alone and was killed before it made the gate: its locks (setup
  // byte and exclusive openers' byte) are held while a writer starts, then go with it.
  {
    UniqueFd fd(::open(doorbell.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd);
    ofd_lock(fd.get(), 1);
    ofd_lock(fd.get(), 0);
    Child writer(REMORA_PROBE, {"write", ws_dir.string(), "after", "3", "1"});
    ASSERT_TRUE(comes_to_wait_in(writer.pid(), SYS_fcntl));  // for the setup byte
    fd = UniqueFd();  // killed
    ASSERT_TRUE(exits_within(writer.pid(), 60)) << "a writer waited for a gate no one made";
    EXPECT_EQ(writer.wait(), 0);
  }
}

TEST(WriterGate, AnOpenerThatIsNotAloneLeavesTheGateAsItIs) {
  test::TempDir dir;
  const auto ws_dir = dir / "ws";
  const auto doorbell = ws_dir / "doorbell";
  auto first = open_ws(ws_dir);
  WriterGate gate(doorbell);
  auto pass = gate.pass();
  const auto before = gate_bytes(doorbell);
  WriterGate second(doorbell);  // another open file description: not alone
  EXPECT_EQ(gate_bytes(doorbell), before);
  // Still held by this thread: another thread cannot take it.
  const int fd = ::open(doorbell.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(page, MAP_FAILED);
  auto* m = reinterpret_cast<pthread_mutex_t*>(static_cast<char*>(page) + WriterGate::kOffset);
  int rc = 0;
  std::thread([&] { rc = pthread_mutex_trylock(m); }).join();
  EXPECT_EQ(rc, EBUSY);
  pass = WriterGate::Pass();
  std::thread([&] {
    rc = pthread_mutex_trylock(m);
    if (rc == 0) pthread_mutex_unlock(m);
  }).join();
  EXPECT_EQ(rc, 0);
  ::munmap(page, 4096);
}

}  // namespace
}  // namespace remora
