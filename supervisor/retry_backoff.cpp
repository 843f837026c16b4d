#include "supervisor/retry_backoff.hpp"

#include <algorithm>
#include <cmath>

namespace remora {

double RetryBackoff::delay_s(std::uint32_t retry, std::optional<double> retry_after_s, double jitter) const {
  if (retry_after_s) return std::clamp(*retry_after_s, 0.0, max_s);
  // exp2 of a huge retry number is inf, which the cap absorbs; the cap applies before the jitter.
  double exponential = std::min(max_s, initial_s * std::exp2(static_cast<double>(retry > 0 ? retry - 1 : 0)));
  return exponential * (0.5 + 0.5 * std::clamp(jitter, 0.0, 1.0));
}

}  // namespace remora
