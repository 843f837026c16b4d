// EtcdClient: etcd v3 through its HTTP/JSON gateway (range, put, txn, delete, leases, prefix watches),
// over cpp-httplib; no gRPC. A request that finds no member, or a member with no leader, goes to the
// next member, until a deadline (EtcdClient::Options::retry_for); a watch resumes from the revision
// after the last one it delivered, on whichever member answers, so it misses no event.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace httplib {
class Client;
}

namespace remora::cluster {

struct KeyValue {
  std::string key, value;
  std::int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct WatchEvent {
  bool deleted = false;  // a delete (kv.value empty), else a put
  KeyValue kv;
};

class EtcdClient {
 public:
  struct Options {
    // How long a request keeps trying members before it fails with Error(io): an etcd cluster out of
    // reach for less than this is waited out.
    std::chrono::milliseconds retry_for{30'000};
    std::chrono::milliseconds request_timeout{5'000};
  };

  // urls: "http://host:port" of each member (from a comma-separated --cluster list: split_urls).
  explicit EtcdClient(std::vector<std::string> urls) : EtcdClient(std::move(urls), Options{}) {}
  EtcdClient(std::vector<std::string> urls, Options options);
  ~EtcdClient();
  static std::vector<std::string> split_urls(const std::string& comma_separated);

  // The key's value, or nothing. Linearizable.
  std::optional<KeyValue> get(const std::string& key);
  // Every key under prefix, in key order; *revision (if given) gets the store's revision read at.
  std::vector<KeyValue> range_prefix(const std::string& prefix, std::int64_t* revision = nullptr);
  // Returns the revision of the put.
  std::int64_t put(const std::string& key, const std::string& value, std::int64_t lease = 0);
  void erase(const std::string& key);
  // Puts every pair only if guard_key does not exist yet, in one txn; true if these puts won.
  bool create(const std::string& guard_key, const std::vector<std::pair<std::string, std::string>>& puts,
              std::int64_t lease = 0);
  bool create(const std::string& key, const std::string& value, std::int64_t lease = 0) {
    return create(key, {{key, value}}, lease);
  }
  // Deletes every key under each prefix, in one txn, only if guard_key was last written at
  // mod_revision and no key exists under empty_prefix (if named); true if it did.
  bool erase_if_unchanged(const std::string& guard_key, std::int64_t mod_revision, const std::vector<std::string>& prefixes,
                          const std::string& empty_prefix = "");

  // A lease of ttl_s seconds; keep_alive renews it; revoke deletes it and every key under it.
  std::int64_t lease_grant(int ttl_s);
  void lease_keep_alive(std::int64_t lease);
  void lease_revoke(std::int64_t lease);

  // Delivers the events under prefix from revision `from` on (0: from now), in revision order, in
  // batches, until handle returns false or stop() is true (checked at least every poll interval).
  // Reconnects to any member from the revision after the last delivered. Returns the last delivered
  // revision. Throws Error(compacted) when `from` is older than what etcd keeps.
  std::int64_t watch_prefix(const std::string& prefix, std::int64_t from,
                            const std::function<bool(const std::vector<WatchEvent>&)>& handle,
                            const std::function<bool()>& stop,
                            std::chrono::milliseconds poll = std::chrono::milliseconds(500));

  // Ends a watch_prefix under way in another thread now (its connection is shut), and any this
  // client starts later at once, as a stop() that says true would.
  void cancel_watches();

  // How many requests were sent (for the benchmark).
  std::uint64_t requests() const { return requests_.load(); }

  static std::string prefix_end(const std::string& prefix);  // the first key after every key under prefix

 private:
  nlohmann::json call(const std::string& path, const nlohmann::json& body);

  std::vector<std::string> urls_;
  Options opts_;
  std::vector<std::unique_ptr<httplib::Client>> clients_;  // by member, made on first use
  std::mutex mu_;
  std::size_t current_ = 0;  // the member tried first
  std::atomic<std::uint64_t> requests_{0};
  std::mutex watch_mu_;
  httplib::Client* watching_ = nullptr;  // the connection of the watch under way (watch_mu_)
  bool watches_cancelled_ = false;       // (watch_mu_)
};

}  // namespace remora::cluster
