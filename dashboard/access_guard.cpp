#include "dashboard/access_guard.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

#include "shared/error.hpp"

namespace remora {

namespace {
constexpr const char* kCookie = "remora_token";
}

AccessGuard::AccessGuard(std::vector<std::string> hosts) : hosts_(std::move(hosts)) {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw Error(Errc::io, "no random bytes for the dashboard's token");
  static const char* hex = "0123456789abcdef";
  for (unsigned char b : bytes) {
    token_ += hex[b >> 4];
    token_ += hex[b & 15];
  }
}

std::string AccessGuard::cookie() const {
  return std::string(kCookie) + "=" + token_ + "; Path=/; HttpOnly; SameSite=Strict";
}

bool AccessGuard::matches(const std::string& candidate) const {
  return candidate.size() == token_.size() && CRYPTO_memcmp(candidate.data(), token_.data(), token_.size()) == 0;
}

bool AccessGuard::authenticated(const httplib::Request& req) const {
  const auto auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0 && matches(auth.substr(7))) return true;
  const auto cookies = req.get_header_value("Cookie");
  const std::string name = std::string(kCookie) + "=";
  for (std::size_t at = 0; at < cookies.size();) {
    auto end = cookies.find(';', at);
    if (end == std::string::npos) end = cookies.size();
    auto part = cookies.substr(at, end - at);
    part.erase(0, part.find_first_not_of(' '));
    if (part.rfind(name, 0) == 0 && matches(part.substr(name.size()))) return true;
    at = end + 1;
  }
  return false;
}

bool AccessGuard::token_in_query(const httplib::Request& req) const {
  return req.has_param("token") && matches(req.get_param_value("token"));
}

bool AccessGuard::host_allowed(const httplib::Request& req) const {
  const auto host = req.get_header_value("Host");
  return std::find(hosts_.begin(), hosts_.end(), host) != hosts_.end();
}

bool AccessGuard::origin_allowed(const httplib::Request& req) const {
  if (!host_allowed(req)) return false;
  if (!req.has_header("Origin")) return req.get_header_value("Authorization").rfind("Bearer ", 0) == 0;
  const auto origin = req.get_header_value("Origin");
  return origin.rfind("http://", 0) == 0 &&
         std::find(hosts_.begin(), hosts_.end(), origin.substr(7)) != hosts_.end();
}

}  // namespace remora
