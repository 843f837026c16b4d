// SseWriter: every event stream (Server-Sent Events) of the dashboard, written by one thread.
// Once the server has checked a stream's request it hands the connection's socket over; the
// thread waits on all of them with epoll and, each time the EventHub delivers, moves each
// client's queued events to its socket as far as the socket takes them. A hundred clients cost
// one thread and one wake-up per delivery; a client that does not read only fills its own socket
// buffer and then its own bounded queue (the hub drops for it and counts, and the client is told).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "dashboard/event_hub.hpp"

namespace remora {

class SseWriter {
 public:
  // keep_alive: an idle stream gets a comment line this often (which also finds dead peers);
  // max_streams: streams open at once.
  SseWriter(EventHub& hub, std::chrono::milliseconds keep_alive, std::size_t max_streams);
  ~SseWriter();  // closes every stream
  SseWriter(const SseWriter&) = delete;
  SseWriter& operator=(const SseWriter&) = delete;

  // Holds a place for one more stream: false when max_streams are open. add() fills the place,
  // release() gives it back unused.
  bool reserve();
  void release();
  // Takes `fd` (a connected socket, now this writer's to close): writes `head` (the HTTP response
  // head and the replay) first, then the subscriber's events, until the peer leaves or close().
  void add(int fd, std::string head, std::shared_ptr<EventHub::Subscriber> subscriber);
  std::size_t streams() const;
  // Ends every stream and the thread.
  void close();

 private:
  struct Stream;
  void run();
  void wake();
  bool flush(Stream& s);
  void fill(Stream& s, std::chrono::steady_clock::time_point now);
  void drop(std::size_t i);

  EventHub& hub_;
  std::chrono::milliseconds keep_alive_;
  int epoll_ = -1, wake_ = -1;
  mutable std::mutex m_;
  std::vector<std::unique_ptr<Stream>> added_;  // handed over, not yet taken by the thread
  std::size_t max_streams_;
  std::size_t count_ = 0;                       // places held: streams open or about to be
  bool closing_ = false;
  std::vector<std::unique_ptr<Stream>> streams_;  // the thread's own
  // Each event as an SSE message, formatted once per wake-up for all the streams it goes to.
  std::unordered_map<std::string, std::string> formatted_;
  std::thread thread_;
};

// One SSE message: `id:` the event's id (its revision, then its sequence in that revision), the
// event as JSON on one line.
std::string sse_event(const proto::Event& e);
// A named SSE message (`event: TYPE`) with `data` on one line.
std::string sse_notice(const char* type, const nlohmann::json& data);

// The socket of the connection that carried `remote_addr:remote_port` to `local_port` (a request
// cpp-httplib is handling on this process), or -1. cpp-httplib does not give handlers their socket.
int connection_socket(const std::string& remote_addr, int remote_port, int local_port);

}  // namespace remora
