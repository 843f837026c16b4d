#include "shared/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "shared/error.hpp"

namespace remora {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what, const fs::path& path, int err) {
  throw Error(Errc::io, what + " " + path.string() + ": " + std::strerror(err));
}

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  Fd(const fs::path& path, int flags, mode_t mode = 0600) : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {
    if (fd_ < 0) fail("cannot open", path, errno);
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void sync_fd(const Fd& fd, const fs::path& path) {
  if (::fsync(fd.get()) != 0) fail("cannot sync", path, errno);
}

fs::path parent_of(const fs::path& p) { return p.has_parent_path() ? p.parent_path() : fs::path("."); }

}  // namespace

void sync_path(const fs::path& path) {
  Fd fd(path, fs::is_directory(path) ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  sync_fd(fd, path);
}

void write_file_durably(const fs::path& file, std::string_view text) {
  fs::path tmp = file;
  tmp += ".tmp";
  {
    Fd fd(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    for (std::size_t done = 0; done < text.size();) {
      auto n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno != EINTR) fail("cannot write", tmp, errno);
      if (n > 0) done += static_cast<std::size_t>(n);
    }
    sync_fd(fd, tmp);
  }
  rename_durably(tmp, file);
}

void create_file_synced(const fs::path& file, const std::function<void(int fd)>& fill, bool direct) {
  Fd fd(file, O_WRONLY | O_CREAT | O_EXCL);
  if (direct) {
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags | O_DIRECT);  // a plain write where unsupported
  }
  fill(fd.get());
  sync_fd(fd, file);
}

void copy_file_synced(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::none, ec);
  if (ec) throw Error(Errc::io, "cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
  sync_path(to);
}

void rename_durably(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fail("cannot rename " + from.string() + " to", to, errno);
  sync_path(parent_of(to));
  if (parent_of(from) != parent_of(to)) sync_path(parent_of(from));
}

}  // namespace remora
