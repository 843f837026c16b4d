// Wall-clock milliseconds since the epoch, as stored in records (steady_clock does the timing).
#pragma once

#include <chrono>
#include <cstdint>

namespace remora {

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace remora
