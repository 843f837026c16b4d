// Helpers shared by the tests: a temporary directory that cleans itself up, and child processes.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <cstdio>
#include <fstream>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace remora::test {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("remora-test-" + std::to_string(::getpid()) + "-" +
                                                      std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

// A child process started with Boost.Process v2.
class Child {
 public:
  Child(const std::string& exe, const std::vector<std::string>& args) : proc_(ctx_, exe, args) {}
  // stdout and stderr go to this file.
  Child(const std::string& exe, const std::vector<std::string>& args, const std::filesystem::path& out)
      : out_(std::fopen(out.c_str(), "w")),
        proc_(ctx_, exe, args, boost::process::v2::process_stdio{nullptr, out_, out_}) {}
  ~Child() {
    if (out_) std::fclose(out_);
  }
  int pid() const { return proc_.id(); }
  // Whether it has not exited; one that has is reaped, and its pid is not used again.
  bool running() {
    boost::system::error_code ec;
    if (!exited_ && !proc_.running(ec)) exited_ = true;
    return !exited_;
  }
  void kill9() {
    if (!exited_) ::kill(proc_.id(), SIGKILL);
  }
  // Exit code, or 128 + signal number for a child killed by a signal.
  int wait() {
    if (!exited_) proc_.wait();
    exited_ = true;
    int native = proc_.native_exit_code();
    if (WIFSIGNALED(native)) return 128 + WTERMSIG(native);
    return WEXITSTATUS(native);
  }

 private:
  boost::asio::io_context ctx_;
  FILE* out_ = nullptr;
  bool exited_ = false;  // reaped: by running() or wait()
  boost::process::v2::process proc_;
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// Runs a shell command; returns its exit code and what it printed (stdout and stderr).
struct Shell {
  int code;
  std::string out;
};
inline Shell shell(const std::string& cmd) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
}

}  // namespace remora::test
