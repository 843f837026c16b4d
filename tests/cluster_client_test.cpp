// EtcdClient against a real 3-member etcd cluster on loopback (label `cluster`).
#include <gtest/gtest.h>

#include <thread>

#include "cluster/etcd_client.hpp"
#include "shared/error.hpp"
#include "tests/etcd_cluster.hpp"

namespace remora::cluster {
namespace {

using test::EtcdCluster;

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdCluster::available()) GTEST_SKIP() << "etcd is not installed (apt-get install etcd-server): cluster tests skipped";
    etcd_ = std::make_unique<EtcdCluster>();
  }
  std::unique_ptr<EtcdCluster> etcd_;
};

TEST_F(EtcdClientTest, PutGetRangeAndCreateOnce) {
  EtcdClient c(EtcdClient::split_urls(etcd_->urls()));
  EXPECT_FALSE(c.get("/t/a"));
  std::int64_t rev = c.put("/t/a", std::string("one\0two", 7));
  EXPECT_GT(rev, 0);
  c.put("/t/b", "2");
  c.put("/u", "outside");
  auto a = c.get("/t/a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value, std::string("one\0two", 7));
  EXPECT_EQ(a->mod_revision, rev);
  std::int64_t at = 0;
  auto all = c.range_prefix("/t/", &at);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].key, "/t/a");
  EXPECT_EQ(all[1].key, "/t/b");
  EXPECT_GE(at, rev);

  EXPECT_TRUE(c.create("/g/guard", {{"/g/guard", "first"}, {"/g/other", "x"}}));
  EXPECT_FALSE(c.create("/g/guard", {{"/g/guard", "second"}, {"/g/other", "y"}}));
  EXPECT_EQ(c.get("/g/guard")->value, "first");
  EXPECT_EQ(c.get("/g/other")->value, "x");
  c.erase("/g/other");
  EXPECT_FALSE(c.get("/g/other"));
}

// erase_if_unchanged: deletes the prefixes only while the guard is as read and the named range empty.
TEST_F(EtcdClientTest, EraseIfUnchangedHonoursItsGuardAndAnEmptyRange) {
  EtcdClient c(EtcdClient::split_urls(etcd_->urls()));
  const auto guard = c.put("/g/plan", "1");
  c.put("/g/agent/a", "x");
  c.put("/g/host/0", "h0");
  EXPECT_FALSE(c.erase_if_unchanged("/g/plan", guard, {"/g/"}, "/g/host/"));  // a host is in it
  EXPECT_FALSE(c.erase_if_unchanged("/g/plan", guard + 100, {"/g/"}));          // the guard moved
  EXPECT_EQ(c.range_prefix("/g/").size(), 3u);
  c.erase("/g/host/0");
  EXPECT_TRUE(c.erase_if_unchanged("/g/plan", guard, {"/g/"}, "/g/host/"));
  EXPECT_TRUE(c.range_prefix("/g/").empty());
}

TEST_F(EtcdClientTest, RevokedLeaseTakesItsKeys) {
  EtcdClient c(EtcdClient::split_urls(etcd_->urls()));
  auto lease = c.lease_grant(30);
  c.put("/host/h1", "alive", lease);
  c.lease_keep_alive(lease);
  EXPECT_TRUE(c.get("/host/h1"));
  c.lease_revoke(lease);
  EXPECT_FALSE(c.get("/host/h1"));
  EXPECT_THROW(c.lease_keep_alive(lease), Error);
}

// etcd's gateway ends an error reply with an HTTP trailer; the reply still counts: a put under a
// lease that is gone is refused at once, naming the cause, not retried as an outage for 30 s.
TEST_F(EtcdClientTest, APutUnderARevokedLeaseIsRefusedNamingTheLease) {
  EtcdClient c(EtcdClient::split_urls(etcd_->urls()));
  auto lease = c.lease_grant(30);
  c.lease_revoke(lease);
  try {
    c.put("/host/h2", "alive", lease);
    ADD_FAILURE() << "a put under a revoked lease went through";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument) << e.what();
    EXPECT_NE(std::string(e.what()).find("lease not found"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.create("/host/h2", "alive", lease), Error);  // the txn the slot claim uses
  EXPECT_FALSE(c.get("/host/h2"));  // and the client goes on
}

TEST_F(EtcdClientTest, WatchDeliversInOrderFromARevision) {
  EtcdClient c(EtcdClient::split_urls(etcd_->urls()));
  std::int64_t first = c.put("/w/1", "a");
  c.put("/w/2", "b");
  c.erase("/w/1");
  std::vector<std::string> seen;
  c.watch_prefix("/w/", first, [&](const std::vector<WatchEvent>& evs) {
    for (const auto& e : evs) seen.push_back((e.deleted ? "-" : "+") + e.kv.key);
    return seen.size() < 3;
  }, [] { return false; });
  EXPECT_EQ(seen, (std::vector<std::string>{"+/w/1", "+/w/2", "-/w/1"}));
}

// One member killed while a watcher waits and a writer writes: every put lands and is seen once.
TEST_F(EtcdClientTest, SurvivesAMemberKilled) {
  EtcdClient writer(EtcdClient::split_urls(etcd_->urls()));
  // The watcher lists the member to be killed first, so that it must fail over.
  EtcdClient watcher({etcd_->client_url(0), etcd_->client_url(1), etcd_->client_url(2)});
  std::int64_t from = writer.put("/f/start", "");
  constexpr int kPuts = 40;
  std::vector<std::string> seen;
  std::thread watch([&] {
    watcher.watch_prefix("/f/k", from, [&](const std::vector<WatchEvent>& evs) {
      for (const auto& e : evs) seen.push_back(e.kv.key);
      return seen.size() < kPuts;
    }, [] { return false; }, std::chrono::milliseconds(200));
  });
  for (int i = 0; i < kPuts; ++i) {
    if (i == kPuts / 2) etcd_->kill(0);
    writer.put("/f/k" + std::to_string(100 + i), std::to_string(i));
  }
  watch.join();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kPuts));
  for (int i = 0; i < kPuts; ++i) EXPECT_EQ(seen[i], "/f/k" + std::to_string(100 + i));
}

TEST_F(EtcdClientTest, UnreachableClusterFailsWithAClearError) {
  EtcdClient::Options o;
  o.retry_for = std::chrono::milliseconds(300);
  o.request_timeout = std::chrono::milliseconds(200);
  for (int i = 0; i < etcd_->size(); ++i) etcd_->kill(i);
  EtcdClient c(EtcdClient::split_urls(etcd_->urls()), o);
  try {
    c.put("/x", "y");
    FAIL() << "a put with no member reachable succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::io);
    EXPECT_NE(std::string(e.what()).find("out of reach"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace remora::cluster
