// AccessGuard: who may use a dashboard. A random token made per serve is shown once, in the URL
// printed at start; the page trades it for an HttpOnly SameSite=Strict cookie. Every API route
// needs the cookie (or `Authorization: Bearer TOKEN`, for scripts); state-changing routes also
// need a Host this server answers to and, from a browser, an Origin of this very server, so that
// no other page the browser holds can act through it (CSRF, DNS rebinding).
#pragma once

#include <httplib.h>

#include <string>
#include <vector>

namespace remora {

class AccessGuard {
 public:
  // hosts: the host[:port] values requests may name (127.0.0.1:8600, localhost:8600, ...).
  explicit AccessGuard(std::vector<std::string> hosts);

  const std::string& token() const { return token_; }
  // The Set-Cookie value that holds the token.
  std::string cookie() const;

  // Whether the request carries the token (cookie or bearer header).
  bool authenticated(const httplib::Request& req) const;
  // Whether the request's token is the ?token= of its URL (the printed link).
  bool token_in_query(const httplib::Request& req) const;
  // Whether its Host is one of ours.
  bool host_allowed(const httplib::Request& req) const;
  // For a state-changing request: host allowed, and an Origin of ours; without an Origin only
  // with the bearer header (a browser sends Origin on every POST; a script sends none).
  bool origin_allowed(const httplib::Request& req) const;

 private:
  bool matches(const std::string& candidate) const;
  std::vector<std::string> hosts_;
  std::string token_;
};

}  // namespace remora
