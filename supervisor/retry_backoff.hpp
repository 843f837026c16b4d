// RetryBackoff: how long to wait before retrying a failed request. Exponential (initial, doubled
// on every retry, capped at max) with jitter, so that clients which failed together do not retry
// together; a server's Retry-After, when it sent one, replaces the exponential delay (still capped,
// so a server cannot park a caller for hours).
#pragma once

#include <cstdint>
#include <optional>

namespace remora {

struct RetryBackoff {
  double initial_s = 1;
  double max_s = 30;

  // The delay before retry number `retry` (1 for the first retry). `jitter` is a uniform draw in
  // [0, 1) that scales the exponential delay into [50%, 100%] of its value; a Retry-After is
  // honoured as sent.
  double delay_s(std::uint32_t retry, std::optional<double> retry_after_s, double jitter) const;
};

}  // namespace remora
