// Bytes: an opaque byte string that serializes raw in binary archives and, in JSON archives,
// as {"text": ...} when it is valid UTF-8 or {"base64": ...} otherwise (JSON cannot hold raw bytes).
#pragma once

#include <openssl/evp.h>

#include <cereal/archives/json.hpp>
#include <cereal/cereal.hpp>
#include <cereal/types/string.hpp>
#include <string>
#include <stdexcept>
#include <type_traits>

namespace remora::proto {

struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

bool is_utf8(std::string_view s);
// The length in bytes (1-4) of the UTF-8 character at s[i] (i < s.size()), 0 when the bytes there
// are not valid UTF-8 (overlong, a surrogate, past U+10FFFF, or cut short).
std::size_t utf8_char_length(std::string_view s, std::size_t i);
std::string base64_encode(std::string_view in);
std::string base64_decode(std::string_view in);  // throws std::invalid_argument on bad input

template <class Archive>
void save(Archive& ar, const Bytes& b) {
  if constexpr (std::is_same_v<Archive, cereal::JSONOutputArchive>) {
    if (is_utf8(b.data)) {
      ar(cereal::make_nvp("text", b.data));
    } else {
      ar(cereal::make_nvp("base64", base64_encode(b.data)));
    }
  } else {
    ar(b.data);
  }
}

template <class Archive>
void load(Archive& ar, Bytes& b) {
  if constexpr (std::is_same_v<Archive, cereal::JSONInputArchive>) {
    const char* name = ar.getNodeName();
    std::string s;
    ar(s);
    b.data = (name && std::string_view(name) == "base64") ? base64_decode(s) : std::move(s);
  } else {
    ar(b.data);
  }
}

// --- implementation (header-only so proto/ stays an interface library) ---

inline std::size_t utf8_char_length(std::string_view s, std::size_t i) {
  const std::size_t n = s.size();
  auto cont = [&](std::size_t k) { return k < n && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80; };
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6 && c >= 0xC2 && cont(i + 1)) return 2;
  if ((c >> 4) == 0xE && cont(i + 1) && cont(i + 2)) {
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    return (c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) ? 0 : 3;
  }
  if ((c >> 3) == 0x1E && c <= 0xF4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    return (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90) ? 0 : 4;
  }
  return 0;
}

inline bool is_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto len = utf8_char_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

inline std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

inline std::string base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) throw std::invalid_argument("base64 length is not a multiple of 4");
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) throw std::invalid_argument("bad base64 character");
  std::size_t pad = (!in.empty() && in.back() == '=') + (in.size() > 1 && in[in.size() - 2] == '=');
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

}  // namespace remora::proto
