#include "shared/close_on_exec.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>

namespace remora {

void set_close_on_exec(int fd, const char* what) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), std::string("set close-on-exec on ") + what);
}

int close_on_exec_for(const std::vector<std::filesystem::path>& files) {
  std::vector<std::pair<dev_t, ino_t>> ids;
  for (const auto& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0) ids.emplace_back(st.st_dev, st.st_ino);
  }
  int marked = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const std::string name = entry.path().filename().string();
    char* end = nullptr;
    const long fd = std::strtol(name.c_str(), &end, 10);
    if (end == name.c_str() || *end != '\0') continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0) continue;  // the iterator's own descriptor, closed by now
    for (const auto& [dev, ino] : ids) {
      if (st.st_dev != dev || st.st_ino != ino) continue;
      set_close_on_exec(static_cast<int>(fd), entry.path().c_str());
      ++marked;
    }
  }
  if (ec) throw std::system_error(ec, "list /proc/self/fd");
  return marked;
}

}  // namespace remora
