#include "shared/error.hpp"

namespace remora {

std::string_view name_of(Errc code) {
  switch (code) {
    case Errc::not_found: return "not_found";
    case Errc::already_exists: return "already_exists";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::conflict: return "conflict";
    case Errc::compacted: return "compacted";
    case Errc::corrupt: return "corrupt";
    case Errc::busy: return "busy";
    case Errc::io: return "io";
  }
  return "unknown";
}

int exit_code_for(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return 2;
    case Errc::busy:
    case Errc::io:
    case Errc::corrupt: return 3;
    default: return 1;
  }
}

}  // namespace remora
