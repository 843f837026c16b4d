#include "cluster/etcd_client.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <httplib.h>

#include <thread>

#include "shared/error.hpp"

namespace remora::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::string b64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string unb64(const std::string& s) {
  if (s.empty()) return {};
  std::string out(3 * (s.size() / 4) + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) throw Error(Errc::corrupt, "etcd sent a value that is not base64");
  std::size_t pad = s.ends_with("==") ? 2 : s.ends_with("=") ? 1 : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

// The gateway writes 64-bit integers as JSON strings, and leaves out fields that are zero.
std::int64_t i64(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  return it->get<std::int64_t>();
}

KeyValue to_kv(const json& j) {
  KeyValue kv;
  kv.key = unb64(j.value("key", ""));
  kv.value = unb64(j.value("value", ""));
  kv.create_revision = i64(j, "create_revision");
  kv.mod_revision = i64(j, "mod_revision");
  kv.version = i64(j, "version");
  kv.lease = i64(j, "lease");
  return kv;
}

std::pair<std::string, int> host_port(const std::string& url) {
  std::string rest = url.starts_with("http://") ? url.substr(7) : url;
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) return {rest, 2379};
  return {rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
}

std::unique_ptr<httplib::Client> client_for(const std::string& url, std::chrono::milliseconds timeout) {
  auto [host, port] = host_port(url);
  auto c = std::make_unique<httplib::Client>(host, port);
  c->set_connection_timeout(std::min(timeout, std::chrono::milliseconds(1000)));
  c->set_read_timeout(timeout);
  c->set_write_timeout(timeout);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);  // headers and body go in separate writes: no 40 ms Nagle + delayed-ACK stall
  return c;
}

// gRPC codes etcd gives for a member that cannot serve now (no leader, leader changed, stopping):
// Unavailable, DeadlineExceeded, Aborted; the request is retried on another member.
bool retryable(int http_status, const json& body) {
  if (http_status >= 500) return true;
  int code = body.is_object() ? body.value("code", 0) : 0;
  return code == 14 || code == 4 || code == 10;
}

}  // namespace

std::string EtcdClient::prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(end.back());
    if (c < 0xff) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::vector<std::string> EtcdClient::split_urls(const std::string& comma_separated) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= comma_separated.size()) {
    auto end = comma_separated.find(',', start);
    if (end == std::string::npos) end = comma_separated.size();
    if (end > start) out.push_back(comma_separated.substr(start, end - start));
    start = end + 1;
  }
  if (out.empty()) throw Error(Errc::invalid_argument, "--cluster names no etcd member (give URLs separated by commas)");
  return out;
}

EtcdClient::EtcdClient(std::vector<std::string> urls, Options options) : urls_(std::move(urls)), opts_(options) {
  if (urls_.empty()) throw Error(Errc::invalid_argument, "an etcd client needs at least one member URL");
  clients_.resize(urls_.size());
}

EtcdClient::~EtcdClient() = default;

json EtcdClient::call(const std::string& path, const json& body) {
  std::lock_guard lock(mu_);
  auto deadline = Clock::now() + opts_.retry_for;
  std::string last_error;
  for (int attempt = 0;; ++attempt) {
    const std::string& url = urls_[current_];
    auto& c = clients_[current_];
    if (!c) c = client_for(url, opts_.request_timeout);  // kept: one connection per member, kept alive
    ++requests_;
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    std::string text;
    req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
      text.append(data, n);
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = c->send(req, res, err);
    if (!sent) c.reset();  // a connection that failed is not used again
    // The gateway ends an error reply with an HTTP trailer, which this cpp-httplib cannot read
    // (Error::Read): the status and the body came before it, so the reply still counts.
    json reply = json::parse(text, nullptr, false);
    if (sent || (err == httplib::Error::Read && res.status > 0 && reply.is_object())) {
      if (res.status == 200 && reply.is_object()) return reply;
      if (!retryable(res.status, reply)) {
        std::string msg = reply.is_object() ? reply.value("message", text) : text;
        throw Error(Errc::invalid_argument, "etcd refused " + path + ": " + msg);
      }
      last_error = url + ": " + (reply.is_object() ? reply.value("message", text) : text);
    } else {
      last_error = url + ": " + httplib::to_string(err);
    }
    spdlog::debug("etcd {} failed on {}; trying the next member", path, last_error);
    current_ = (current_ + 1) % urls_.size();
    if (Clock::now() > deadline)
      throw Error(Errc::io, "etcd cluster out of reach for " + std::to_string(opts_.retry_for.count()) +
                                " ms (last: " + last_error + ")");
    // After a round of every member, wait a little before the next (an election takes ~1 s).
    if (current_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::optional<KeyValue> EtcdClient::get(const std::string& key) {
  json r = call("/v3/kv/range", {{"key", b64(key)}});
  if (!r.contains("kvs") || r["kvs"].empty()) return std::nullopt;
  return to_kv(r["kvs"][0]);
}

std::vector<KeyValue> EtcdClient::range_prefix(const std::string& prefix, std::int64_t* revision) {
  json r = call("/v3/kv/range", {{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))}});
  if (revision) *revision = i64(r.value("header", json::object()), "revision");
  std::vector<KeyValue> out;
  for (const auto& kv : r.value("kvs", json::array())) out.push_back(to_kv(kv));
  return out;
}

std::int64_t EtcdClient::put(const std::string& key, const std::string& value, std::int64_t lease) {
  json body = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease) body["lease"] = std::to_string(lease);
  return i64(call("/v3/kv/put", body).value("header", json::object()), "revision");
}

void EtcdClient::erase(const std::string& key) { call("/v3/kv/deleterange", {{"key", b64(key)}}); }

bool EtcdClient::create(const std::string& guard_key, const std::vector<std::pair<std::string, std::string>>& puts,
                        std::int64_t lease) {
  json success = json::array();
  for (const auto& [k, v] : puts) {
    json p = {{"key", b64(k)}, {"value", b64(v)}};
    if (lease) p["lease"] = std::to_string(lease);
    success.push_back({{"request_put", p}});
  }
  json body = {{"compare", json::array({{{"key", b64(guard_key)}, {"target", "CREATE"}, {"result", "EQUAL"},
                                         {"create_revision", "0"}}})},
               {"success", success}};
  return call("/v3/kv/txn", body).value("succeeded", false);
}

bool EtcdClient::erase_if_unchanged(const std::string& guard_key, std::int64_t mod_revision,
                                    const std::vector<std::string>& prefixes, const std::string& empty_prefix) {
  json success = json::array();
  for (const auto& p : prefixes)
    success.push_back({{"request_delete_range", {{"key", b64(p)}, {"range_end", b64(prefix_end(p))}}}});
  json compare = json::array({{{"key", b64(guard_key)}, {"target", "MOD"}, {"result", "EQUAL"},
                               {"mod_revision", std::to_string(mod_revision)}}});
  if (!empty_prefix.empty())  // every key of the range created at revision 0: none there (etcd counts an empty range so)
    compare.push_back({{"key", b64(empty_prefix)}, {"range_end", b64(prefix_end(empty_prefix))}, {"target", "CREATE"},
                       {"result", "EQUAL"}, {"create_revision", "0"}});
  json body = {{"compare", compare}, {"success", success}};
  return call("/v3/kv/txn", body).value("succeeded", false);
}

std::int64_t EtcdClient::lease_grant(int ttl_s) {
  json r = call("/v3/lease/grant", {{"TTL", std::to_string(ttl_s)}});
  return i64(r, "ID");
}

void EtcdClient::lease_keep_alive(std::int64_t lease) {
  json r = call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}});
  if (i64(r.value("result", json::object()), "TTL") <= 0)
    throw Error(Errc::not_found, "etcd lease " + std::to_string(lease) + " has expired");
}

void EtcdClient::cancel_watches() {
  std::lock_guard lock(watch_mu_);
  watches_cancelled_ = true;
  if (watching_) watching_->stop();
}

void EtcdClient::lease_revoke(std::int64_t lease) { call("/v3/lease/revoke", {{"ID", std::to_string(lease)}}); }

std::int64_t EtcdClient::watch_prefix(const std::string& prefix, std::int64_t from,
                                      const std::function<bool(const std::vector<WatchEvent>&)>& handle,
                                      const std::function<bool()>& stop, std::chrono::milliseconds poll) {
  std::int64_t last = from > 0 ? from - 1 : 0;
  if (from <= 0) range_prefix(prefix, &last);  // from now: after the store's current revision
  std::size_t member = 0;
  {
    std::lock_guard lock(mu_);
    member = current_;
  }
  bool done = false;
  auto deadline = Clock::now() + opts_.retry_for;
  auto cancelled = [&] {
    std::lock_guard lock(watch_mu_);
    return watches_cancelled_;
  };
  auto stopped = [&] { return stop() || cancelled(); };
  while (!done && !stopped()) {
    json create = {{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))},
                   {"start_revision", std::to_string(last + 1)}};
    std::string buf;
    bool delivered_any = false;
    std::optional<Error> fatal;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v3/watch";
    req.body = json{{"create_request", create}}.dump();
    req.set_header("Content-Type", "application/json");
    // The stream is cut short (a read timeout, or the handler done): its connection must not be
    // kept for the next request, which would read the rest of the stream as its answer.
    req.set_header("Connection", "close");
    req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
      buf.append(data, n);
      std::size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        json m = json::parse(buf.substr(0, nl), nullptr, false);
        buf.erase(0, nl + 1);
        if (!m.is_object()) continue;
        json res = m.value("result", json::object());
        if (i64(res, "compact_revision") > 0) {
          fatal = Error(Errc::compacted, "etcd has compacted the revisions of " + prefix + " up to " +
                                             std::to_string(i64(res, "compact_revision")) + "; watched from " +
                                             std::to_string(last + 1));
          return false;
        }
        std::vector<WatchEvent> events;
        for (const auto& e : res.value("events", json::array())) {
          WatchEvent ev;
          ev.deleted = e.value("type", "PUT") == "DELETE";
          ev.kv = to_kv(e.value("kv", json::object()));
          events.push_back(std::move(ev));
        }
        if (!events.empty()) {
          last = events.back().kv.mod_revision;
          delivered_any = true;
          if (!handle(events)) {
            done = true;
            return false;
          }
        }
        if (stopped()) return false;
      }
      return !stopped();
    };
    auto c = client_for(urls_[member], opts_.request_timeout);
    c->set_read_timeout(poll);  // a quiet watch ends here and is re-opened from `last`: stop() is polled
    {
      std::lock_guard lock(watch_mu_);
      if (watches_cancelled_) break;
      watching_ = c.get();
    }
    ++requests_;
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    bool ok = c->send(req, res, err);
    {
      std::lock_guard lock(watch_mu_);
      watching_ = nullptr;
    }
    if (fatal) throw *fatal;
    if (done || stopped()) break;
    bool member_ok = ok || err == httplib::Error::Read || err == httplib::Error::Canceled || delivered_any;
    if (member_ok && (ok ? res.status == 200 : true)) {
      deadline = Clock::now() + opts_.retry_for;
      continue;
    }
    spdlog::debug("etcd watch on {} failed ({}); trying the next member", urls_[member], httplib::to_string(err));
    member = (member + 1) % urls_.size();
    if (Clock::now() > deadline)
      throw Error(Errc::io, "etcd cluster out of reach for " + std::to_string(opts_.retry_for.count()) + " ms (watch)");
    if (member == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

}  // namespace remora::cluster
