// The zygote's launch protocol: what the supervisor sends a pre-started remora-worker (the zygote,
// worker/zygote.hpp) to have it fork one worker, and what comes back. A request carries exactly
// what an exec would have: the worker's arguments and environment, and its log file and memory
// cgroup as descriptors; the reply carries the new worker's pid or the step that failed. One
// message each way on a SOCK_SEQPACKET socket pair that only the supervisor and the zygote hold
// (each worker closes it before it runs anything of its own).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/unique_fd.hpp"

namespace remora::zygote {

inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;
inline constexpr std::size_t kMaxStrings = 4096;

struct LaunchRequest {
  std::vector<std::string> args;  // after argv[0]
  std::vector<std::string> env;   // "KEY=VALUE", the whole environment
};

// Two counts (little-endian u32), then every string NUL-terminated.
std::string encode(const LaunchRequest& r);
// Throws Error(corrupt) naming what is wrong: a size beyond the limits, a count that does not
// match the strings, a string without its NUL.
LaunchRequest decode(std::string_view bytes);

// The answer: the worker's pid, or the step that failed with its errno.
struct LaunchReply {
  std::int32_t pid = 0;
  std::int32_t err = 0;
  char step[40] = {};
};

// One message with up to two descriptors (SCM_RIGHTS). False, with errno set, when it cannot go.
bool send_message(int sock, std::string_view bytes, const std::vector<int>& fds);
// One message, into buffer (whose size is the limit), and the descriptors that came with it
// (close-on-exec). Returns the message, or nullopt with errno set on a failed receive (EMSGSIZE
// for a message larger than buffer) and with errno 0 at end-of-file (the other end is gone).
std::optional<std::string_view> receive_message(int sock, std::vector<char>& buffer, std::vector<UniqueFd>& fds);

}  // namespace remora::zygote
