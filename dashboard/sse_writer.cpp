#include "dashboard/sse_writer.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fmt/format.h>

#include "shared/error.hpp"
#include "supervisor/event_format.hpp"

namespace remora {

using Clock = std::chrono::steady_clock;

std::string sse_event(const proto::Event& e) { return "id: " + e.id + "\ndata: " + event_json_line(e) + "\n\n"; }

std::string sse_notice(const char* type, const nlohmann::json& data) {
  return fmt::format("event: {}\ndata: {}\n\n", type, data.dump());
}

struct SseWriter::Stream {
  int fd = -1;
  std::shared_ptr<EventHub::Subscriber> subscriber;
  std::string out;  // bytes not yet taken by the socket, from `sent` on
  std::size_t sent = 0;
  Clock::time_point last_write = Clock::now();
  bool dead = false;
};

SseWriter::SseWriter(EventHub& hub, std::chrono::milliseconds keep_alive, std::size_t max_streams)
    : hub_(hub), keep_alive_(keep_alive), max_streams_(max_streams) {
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_ < 0 || wake_ < 0) throw Error(Errc::io, std::string("epoll for the event streams: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
  hub_.on_delivery([this] { wake(); });
  thread_ = std::thread([this] { run(); });
}

SseWriter::~SseWriter() {
  close();
  hub_.on_delivery(nullptr);
  ::close(wake_);
  ::close(epoll_);
}

void SseWriter::close() {
  {
    std::lock_guard lock(m_);
    closing_ = true;
  }
  wake();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool SseWriter::reserve() {
  std::lock_guard lock(m_);
  if (closing_ || count_ >= max_streams_) return false;
  ++count_;
  return true;
}

void SseWriter::release() {
  std::lock_guard lock(m_);
  --count_;
}

void SseWriter::add(int fd, std::string head, std::shared_ptr<EventHub::Subscriber> subscriber) {
  auto s = std::make_unique<Stream>();
  s->fd = fd;
  s->out = std::move(head);
  s->subscriber = std::move(subscriber);
  {
    std::lock_guard lock(m_);
    added_.push_back(std::move(s));
  }
  wake();
}

std::size_t SseWriter::streams() const {
  std::lock_guard lock(m_);
  return count_;
}

void SseWriter::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
}

// Writes what the socket takes now; false when the peer is gone.
bool SseWriter::flush(Stream& s) {
  while (s.sent < s.out.size()) {
    const auto n = ::send(s.fd, s.out.data() + s.sent, s.out.size() - s.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      s.sent += static_cast<std::size_t>(n);
      s.last_write = Clock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // Full: epoll says when it drains (EPOLLOUT, edge-triggered).
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  s.out.clear();
  s.sent = 0;
  return true;
}

// Once the socket took everything, the next events from the subscriber's queue (they wait there,
// bounded, while the socket is full), or a keep-alive when it has been idle.
void SseWriter::fill(Stream& s, Clock::time_point now) {
  if (!s.out.empty()) return;
  auto batch = s.subscriber->take(now);
  if (batch.closed) {
    s.dead = true;
    return;
  }
  if (batch.compacted) s.out += sse_notice("compacted", {{"reason", "the dashboard fell behind the change log"}});
  for (const auto& e : batch.events) {
    auto [it, fresh] = formatted_.try_emplace(e.id);
    if (fresh) it->second = sse_event(e);
    s.out += it->second;
  }
  if (batch.dropped) s.out += sse_notice("dropped", {{"count", batch.dropped}});
  if (s.out.empty() && now - s.last_write >= keep_alive_) s.out = ": keep-alive\n\n";
}

void SseWriter::drop(std::size_t i) {
  auto& s = *streams_[i];
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, s.fd, nullptr);
  ::shutdown(s.fd, SHUT_RDWR);
  ::close(s.fd);
  hub_.unsubscribe(s.subscriber);
  streams_[i] = std::move(streams_.back());
  streams_.pop_back();
  release();
}

void SseWriter::run() {
  std::vector<epoll_event> events(64);
  for (;;) {
    const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 1000);
    if (n < 0 && errno != EINTR) {
      spdlog::error("dashboard: waiting on the event streams failed: {}", std::strerror(errno));
      break;
    }
    {
      std::lock_guard lock(m_);
      if (closing_) break;
      for (auto& s : added_) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = s.get();
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, s->fd, &ev) != 0) s->dead = true;
        streams_.push_back(std::move(s));
      }
      added_.clear();
    }
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<Stream*>(events[static_cast<std::size_t>(i)].data.ptr);
      const auto what = events[static_cast<std::size_t>(i)].events;
      if (!s) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(wake_, &count, sizeof count);
        continue;
      }
      if (what & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) s->dead = true;
      if (what & EPOLLIN) {
        // A client says nothing after its request: read what it sends anyway, to see it leave.
        char buf[512];
        for (;;) {
          const auto r = ::recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
          if (r > 0) continue;
          if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) s->dead = true;
          if (r == 0 || errno != EINTR) break;
        }
      }
    }
    const auto now = Clock::now();
    formatted_.clear();
    for (auto& s : streams_) {
      if (s->dead) continue;
      fill(*s, now);
      if (!flush(*s)) s->dead = true;
    }
    for (std::size_t i = streams_.size(); i-- > 0;)
      if (streams_[i]->dead) drop(i);
  }
  for (std::size_t i = streams_.size(); i-- > 0;) drop(i);
  std::lock_guard lock(m_);
  for (auto& s : added_) {
    ::close(s->fd);
    hub_.unsubscribe(s->subscriber);
    --count_;
  }
  added_.clear();
}

int connection_socket(const std::string& remote_addr, int remote_port, int local_port) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (auto* entry = ::readdir(dir)) {
    int fd = -1;
    const std::string_view name(entry->d_name);
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc() || fd == ::dirfd(dir)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t pl = sizeof peer, ll = sizeof local;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0)
      continue;
    char text[INET6_ADDRSTRLEN] = {};
    int pport = -1, lport = -1;
    if (peer.ss_family == AF_INET && local.ss_family == AF_INET) {
      const auto& p = reinterpret_cast<const sockaddr_in&>(peer);
      ::inet_ntop(AF_INET, &p.sin_addr, text, sizeof text);
      pport = ntohs(p.sin_port);
      lport = ntohs(reinterpret_cast<const sockaddr_in&>(local).sin_port);
    } else if (peer.ss_family == AF_INET6 && local.ss_family == AF_INET6) {
      const auto& p = reinterpret_cast<const sockaddr_in6&>(peer);
      ::inet_ntop(AF_INET6, &p.sin6_addr, text, sizeof text);
      pport = ntohs(p.sin6_port);
      lport = ntohs(reinterpret_cast<const sockaddr_in6&>(local).sin6_port);
    } else {
      continue;
    }
    if (pport == remote_port && lport == local_port && remote_addr == text) {
      found = fd;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace remora
