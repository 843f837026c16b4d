// counted(n, noun): "1 file", "3 files" — counts in user- and model-facing messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace remora {

inline std::string counted(std::size_t n, std::string_view noun) {
  std::string s = std::to_string(n);
  s.append(" ").append(noun);
  if (n != 1) s += 's';
  return s;
}

}  // namespace remora
