// Redis-specific behaviour on a real redis-server: authentication, database and prefix
// isolation, read-only replicas, OOM, a killed server, a dropped connection, a non-Redis peer.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/store/remote/blob_store.h"
#include "src/store/remote/kill_util.h"
#include "src/store/remote/store_test_util.h"
#include "src/store/remote/test_servers.h"

namespace typecache {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MustStart({"redis", "nginx"}, servers_);
    if (servers_) port_ = servers_->Port("redis");
  }
  std::unique_ptr<BlobStore> Open(const std::string& url, StoreOptions o = {}) {
    return MustOpen(url, o);
  }
  // Database `db` of the test server, with the URL's `query` and the options' key prefix.
  std::unique_ptr<BlobStore> Db(int db, const std::string& query = "",
                                const std::string& key_prefix = "") {
    StoreOptions o;
    o.key_prefix = key_prefix;
    return Open(absl::StrCat("redis://127.0.0.1:", port_, "/", db, query), o);
  }
  std::string Admin(const std::vector<std::string>& args) { return RedisAdmin(port_, args); }

  std::unique_ptr<TestServers> servers_;
  int port_ = 0;
};

TEST_F(RedisStoreTest, AclUserAndWrongPassword) {
  ASSERT_EQ(Admin({"ACL", "SETUSER", "alice", "on", ">s3cret", "~*", "+@all"}), "OK");
  auto good = Open(absl::StrCat("redis://alice:s3cret@127.0.0.1:", port_));
  ASSERT_TRUE(good->Put("k", "v").ok());
  EXPECT_EQ(good->Get("k")->value_or("?"), "v");
  EXPECT_THAT(good->description(), HasSubstr("alice:***@"));
  EXPECT_THAT(good->description(), Not(HasSubstr("s3cret")));
  auto bad = Open(absl::StrCat("redis://alice:wrong@127.0.0.1:", port_));
  auto got = bad->Get("k");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
  EXPECT_THAT(got.status().message(), Not(HasSubstr("wrong")));
}

TEST_F(RedisStoreTest, RequirePassIsPermissionDeniedWithoutIt) {
  ASSERT_EQ(Admin({"CONFIG", "SET", "requirepass", "pw"}), "OK");
  auto anonymous = Open(absl::StrCat("redis://127.0.0.1:", port_));
  EXPECT_EQ(anonymous->Put("k", "v").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(anonymous->Get("k").status().code(), absl::StatusCode::kPermissionDenied);
  auto with = Open(absl::StrCat("redis://:pw@127.0.0.1:", port_));
  EXPECT_TRUE(with->Put("k", "v").ok());
  auto unix_with = Open(absl::StrCat(
      "redis+unix://", servers_->info()["redis"]["socket"].get<std::string>(), "?password=pw"));
  EXPECT_EQ(unix_with->Get("k")->value_or("?"), "v");
  EXPECT_THAT(unix_with->description(), HasSubstr("password=***"));
}

TEST_F(RedisStoreTest, DatabasesAndPrefixesAreSeparate) {
  auto db1 = Db(1);
  auto db2 = Db(2);
  auto pa = Db(1, "?prefix=a/");
  auto pb = Db(1, "", "b/");
  ASSERT_TRUE(db1->Put("k", "one").ok());
  ASSERT_TRUE(pa->Put("k", "a").ok());
  ASSERT_TRUE(pb->Put("k", "b").ok());
  EXPECT_FALSE(db2->Get("k")->has_value());
  EXPECT_EQ(db1->Get("k")->value_or("?"), "one");
  EXPECT_EQ(db1->Get("a/k")->value_or("?"), "a") << "the prefix is a plain key prefix";
  EXPECT_EQ(pb->Get("k")->value_or("?"), "b");
  EXPECT_THAT(*pa->List(""), ElementsAre("k"));
  EXPECT_THAT(*db1->List(""), ElementsAre("a/k", "b/k", "k"));
}

TEST_F(RedisStoreTest, PrefixWithoutSlashGetsOne) {
  auto db = Db(3);
  auto url = Db(3, "?prefix=proj");
  auto opt = Db(3, "", "other");
  ASSERT_TRUE(url->Put("k", "u").ok());
  ASSERT_TRUE(opt->Put("k", "o").ok());
  EXPECT_THAT(*db->List(""), ElementsAre("other/k", "proj/k"));
  EXPECT_THAT(*url->List(""), ElementsAre("k"));
  // "proj" and "project" no longer overlap.
  auto project = Db(3, "?prefix=project");
  ASSERT_TRUE(project->Put("x", "p").ok());
  EXPECT_THAT(*url->List(""), ElementsAre("k"));
  EXPECT_THAT(url->description(), HasSubstr("key prefix \"proj/\""));
}

TEST_F(RedisStoreTest, ReadOnlyReplicaIsPermissionDenied) {
  auto store = Open(absl::StrCat("redis://127.0.0.1:", port_));
  ASSERT_TRUE(store->Put("k", "v").ok());
  // A replica of a master that does not exist: replica-read-only (the default) refuses writes.
  ASSERT_EQ(Admin({"REPLICAOF", "127.0.0.1", absl::StrCat(servers_->Port("nginx") + 0)}), "OK");
  absl::Status put = store->Put("k", "w");
  EXPECT_EQ(put.code(), absl::StatusCode::kPermissionDenied) << put;
  EXPECT_THAT(put.message(), HasSubstr("READONLY"));
  EXPECT_EQ(store->PutIfAbsent("new", "w").status().code(), absl::StatusCode::kPermissionDenied);
  auto cas = store->CompareAndSwap("k", absl::string_view("v"), "w");
  EXPECT_EQ(cas.status().code(), absl::StatusCode::kPermissionDenied) << cas.status();
  EXPECT_EQ(store->Delete("k").code(), absl::StatusCode::kPermissionDenied);
  // Reads still work (replica-serve-stale-data yes).
  auto got = store->Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value_or("?"), "v");
  ASSERT_EQ(Admin({"REPLICAOF", "NO", "ONE"}), "OK");
  EXPECT_TRUE(store->Put("k", "w").ok());
}

TEST_F(RedisStoreTest, OutOfMemoryIsResourceExhausted) {
  auto store = Open(absl::StrCat("redis://127.0.0.1:", port_));
  ASSERT_TRUE(store->Put("small", "v").ok());
  ASSERT_EQ(Admin({"CONFIG", "SET", "maxmemory-policy", "noeviction"}), "OK");
  ASSERT_EQ(Admin({"CONFIG", "SET", "maxmemory", "1mb"}), "OK");
  std::string big(2 << 20, 'x');
  absl::Status put = store->Put("big", big);
  EXPECT_EQ(put.code(), absl::StatusCode::kResourceExhausted) << put;
  // Once over the limit, every write is refused; reads go on.
  put = store->Put("big2", big);
  EXPECT_EQ(put.code(), absl::StatusCode::kResourceExhausted) << put;
  Admin({"SET", "filler", std::string(2 << 20, 'f')});  // refused too if already over
  EXPECT_EQ(store->PutIfAbsent("x", big).status().code(), absl::StatusCode::kResourceExhausted);
  auto cas = store->CompareAndSwap("small", absl::string_view("v"), big);
  EXPECT_EQ(cas.status().code(), absl::StatusCode::kResourceExhausted) << cas.status();
  EXPECT_EQ(store->Get("small")->value_or("?"), "v");
  ASSERT_EQ(Admin({"CONFIG", "SET", "maxmemory", "0"}), "OK");
  EXPECT_TRUE(store->Put("big", big).ok());
}

TEST_F(RedisStoreTest, ServerKilledMidOperationIsUnavailable) {
  StoreOptions o;
  o.request_timeout = absl::Seconds(5);
  auto store = Open(absl::StrCat("redis://127.0.0.1:", port_), o);
  ASSERT_TRUE(store->Put("k", std::string(1 << 20, 'k')).ok());  // connected
  auto [status, took] =
      CallWhileKilled(servers_->Pid("redis"), [&] { return store->Get("k").status(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(took, absl::Seconds(2)) << "the kill, not the 5 s timeout, ended the call";
  absl::Time start = absl::Now();
  EXPECT_EQ(store->Put("k", "v").code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(300));
}

// Connections accepted by the server so far (INFO stats total_connections_received).
int64_t ConnectionsReceived(int port) {
  std::string info = RedisAdmin(port, {"INFO", "stats"});
  size_t at = info.find("total_connections_received:");
  if (at == std::string::npos) return -1;
  return std::stoll(info.substr(at + std::string("total_connections_received:").size()));
}

// Every kind of call on a connection the server has closed meanwhile: none fails, each on a new
// connection (counted by the server).
void ExpectEveryCallReconnects(BlobStore& store, int port, const std::function<void()>& drop) {
  struct Call {
    std::string name;
    std::function<absl::Status()> call;
  };
  int n = 0;
  std::vector<Call> calls = {
      {"Get", [&] { return store.Get("k").status(); }},
      {"Put", [&] { return store.Put("k", "v2"); }},
      {"PutIfAbsent", [&] { return store.PutIfAbsent(absl::StrCat("new", ++n), "x").status(); }},
      {"CompareAndSwap",
       [&] { return store.CompareAndSwap("k", absl::string_view("v2"), "v2").status(); }},
      {"List", [&] { return store.List("").status(); }},
      {"Delete", [&] { return store.Delete("gone"); }},
  };
  for (const Call& c : calls) {
    ASSERT_TRUE(store.Put("k", "v2").ok());  // connected
    drop();
    int64_t before = ConnectionsReceived(port);
    absl::Status s = c.call();
    EXPECT_TRUE(s.ok()) << c.name << " after the server dropped the connection: " << s;
    // +1 for the admin connection that asked.
    EXPECT_EQ(ConnectionsReceived(port) - before, 2) << c.name << " used a new connection";
  }
  auto got = store.Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value_or("?"), "v2");
}

TEST_F(RedisStoreTest, ConnectionKilledWhileIdleIsReplacedNotAnError) {
  auto store = Open(absl::StrCat("redis://127.0.0.1:", port_));
  ExpectEveryCallReconnects(*store, port_, [&] {
    ASSERT_NE(Admin({"CLIENT", "KILL", "TYPE", "normal"}), "");
    absl::SleepFor(absl::Milliseconds(50));  // the close reaches this socket
  });
}

TEST_F(RedisStoreTest, ServerIdleTimeoutIsReplacedNotAnError) {
  ASSERT_EQ(Admin({"CONFIG", "SET", "timeout", "1"}), "OK");
  auto store = Open(absl::StrCat("redis://127.0.0.1:", port_));
  ASSERT_TRUE(store->Put("k", "v").ok());
  int64_t before = ConnectionsReceived(port_);
  absl::SleepFor(absl::Milliseconds(2600));  // past the timeout; the server closes the socket
  auto got = store->Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value_or("?"), "v");
  EXPECT_EQ(ConnectionsReceived(port_) - before, 2) << "a new connection, +1 for this question";
  absl::SleepFor(absl::Milliseconds(2600));
  absl::StatusOr<bool> created = store->PutIfAbsent("fresh", "x");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(*created) << "SET NX on the new connection, not retried";
  ASSERT_EQ(Admin({"CONFIG", "SET", "timeout", "0"}), "OK");
}

TEST_F(RedisStoreTest, NonStringKeyIsFailedPrecondition) {
  Admin({"LPUSH", "list", "x"});
  auto store = Open(absl::StrCat("redis://127.0.0.1:", port_));
  EXPECT_EQ(store->Get("list").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RedisStoreTest, NotARedisServerIsAnErrorNotAHang) {
  StoreOptions o;
  o.request_timeout = absl::Seconds(2);
  auto store = Open(absl::StrCat("redis://127.0.0.1:", servers_->Port("nginx")), o);
  absl::Time start = absl::Now();
  auto got = store->Get("k");
  EXPECT_FALSE(got.ok());
  EXPECT_THAT(got.status().code(),
              testing::AnyOf(absl::StatusCode::kDataLoss, absl::StatusCode::kUnavailable))
      << got.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

}  // namespace
}  // namespace typecache
