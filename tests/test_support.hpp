// Helpers shared by the tests: a temporary directory that cleans itself up, and child processes.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/process.hpp>
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
  Child(const std::string& exe, const std::vector<std::string>& args)
      : proc_(ctx_, exe, args) {}
  int pid() const { return proc_.id(); }
  void kill9() { ::kill(proc_.id(), SIGKILL); }
  // Exit code, or 128 + signal number for a child killed by a signal.
  int wait() {
    proc_.wait();
    int native = proc_.native_exit_code();
    if (WIFSIGNALED(native)) return 128 + WTERMSIG(native);
    return WEXITSTATUS(native);
  }

 private:
  boost::asio::io_context ctx_;
  boost::process::v2::process proc_;
};

}  // namespace remora::test
