// Wall-clock milliseconds since the epoch, as stored in records (steady_clock does the timing),
// and their formatting.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace remora {

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Wall-clock milliseconds as strftime formats them, in UTC or in local time.
inline std::string format_time_ms(std::int64_t ms, const char* format, bool utc) {
  const std::time_t t = ms / 1000;
  std::tm tm{};
  if (utc) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  char buf[64];
  return std::string(buf, std::strftime(buf, sizeof buf, format, &tm));
}

}  // namespace remora
