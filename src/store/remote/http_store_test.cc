// WebDAV/HTTP-specific behaviour on a real nginx (dav + dav-ext) and Apache (mod_dav): status
// mapping, Basic auth, TLS, Apache's racing creates and the collection layout,
// ETags, what nginx does with conditional PUTs, leftover temporary objects, a killed server.
#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/store/remote/blob_store.h"
#include "src/store/remote/curl_session.h"
#include "src/store/remote/kill_util.h"
#include "src/store/remote/store_test_util.h"
#include "src/store/remote/test_servers.h"

namespace typecache {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class HttpStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { MustStart({"nginx"}, servers_); }
  std::unique_ptr<BlobStore> Open(const std::string& path, StoreOptions o = {}) {
    return MustOpen(servers_->NginxUrl(path), o);
  }
  std::unique_ptr<TestServers> servers_;
};

TEST_F(HttpStoreTest, StatusesAreClassified) {
  struct Case {
    const char* path;
    absl::StatusCode code;
  } cases[] = {{"err500/", absl::StatusCode::kUnavailable},
               {"err503/", absl::StatusCode::kUnavailable},
               {"err401/", absl::StatusCode::kPermissionDenied},
               {"err403/", absl::StatusCode::kPermissionDenied},
               {"err507/", absl::StatusCode::kResourceExhausted}};
  for (const Case& c : cases) {
    auto store = Open(c.path);
    EXPECT_EQ(store->Get("k").status().code(), c.code) << c.path << store->Get("k").status();
    EXPECT_EQ(store->Put("k", "v").code(), c.code) << c.path;
    EXPECT_EQ(store->Delete("k").code(), c.code) << c.path;
    EXPECT_EQ(store->List("").status().code(), c.code) << c.path;
    EXPECT_EQ(store->PutIfAbsent("k", "v").status().code(), c.code) << c.path;
  }
  // 404 is a miss for Get and nothing to do for Delete.
  auto dav = Open("dav/");
  auto miss = dav->Get("no/such");
  ASSERT_TRUE(miss.ok()) << miss.status();
  EXPECT_FALSE(miss->has_value());
  EXPECT_TRUE(dav->Delete("no/such").ok());
}

TEST_F(HttpStoreTest, BasicAuth) {
  auto store = OpenBlobStore(
      absl::StrCat("http://tc:secret@127.0.0.1:", servers_->Port("nginx"), "/auth/"), {});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  EXPECT_EQ((*store)->Get("k")->value_or("?"), "v");
  EXPECT_THAT((*store)->description(), HasSubstr("tc:***@"));
  EXPECT_THAT((*store)->description(), Not(HasSubstr("secret")));
  auto wrong = OpenBlobStore(
      absl::StrCat("http://tc:nope@127.0.0.1:", servers_->Port("nginx"), "/auth/"), {});
  auto got = (*wrong)->Get("k");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
  EXPECT_THAT(got.status().message(), Not(HasSubstr("nope")));
  auto none = Open("auth/");
  EXPECT_EQ(none->Get("k").status().code(), absl::StatusCode::kPermissionDenied);
}

// Why PutIfAbsent defaults to PUT + MOVE: nginx 1.22 ignores If-None-Match (and If-Match) on
// PUT and overwrites. If this starts failing, nginx learned conditional PUTs.
TEST_F(HttpStoreTest, NginxIgnoresConditionalPut) {
  StoreOptions o;
  o.http_conditional_writes = true;
  auto store = Open("dav/cond/", o);
  EXPECT_TRUE(store->capabilities().compare_and_swap) << "as configured";
  EXPECT_TRUE(*store->PutIfAbsent("k", "first"));
  auto second = store->PutIfAbsent("k", "second");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*second) << "nginx now honours If-None-Match: *";
  EXPECT_EQ(store->Get("k")->value_or("?"), "second") << "overwritten";
  // And the MOVE mode on the same server keeps the first writer's bytes.
  auto by_move = Open("dav/cond/");
  EXPECT_FALSE(*by_move->PutIfAbsent("k", "third"));
  EXPECT_EQ(by_move->Get("k")->value_or("?"), "second");
}

// https:// verifies the server: with its CA (the option, or $SSL_CERT_FILE) every operation
// works; without it (libcurl's default bundle does not hold a self-signed certificate) the store
// is unavailable and says why, and nothing was sent.
TEST_F(HttpStoreTest, HttpsTrustsTheConfiguredCaAndNothingElse) {
  unsetenv("SSL_CERT_FILE");
  unsetenv("SSL_CERT_DIR");
  StoreOptions trusted;
  trusted.tls_ca_file = servers_->NginxCaFile();
  auto store = MustOpen(servers_->NginxTlsUrl("dav/tls/"), trusted);
  ASSERT_TRUE(store->Put("d/k", "over tls").ok());
  EXPECT_EQ(store->Get("d/k")->value_or("?"), "over tls");
  EXPECT_TRUE(*store->PutIfAbsent("d/new", "v"));
  EXPECT_FALSE(*store->PutIfAbsent("d/new", "w"));
  EXPECT_THAT(*store->List("d/"), ElementsAre("d/k", "d/new"));
  EXPECT_TRUE(store->Delete("d/k").ok());
  EXPECT_FALSE(store->Get("d/k")->has_value());

  auto untrusted = MustOpen(servers_->NginxTlsUrl("dav/tls/"), {});
  auto got = untrusted->Get("d/new");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("certificate")) << got.status();
  EXPECT_EQ(untrusted->Put("d/evil", "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(store->Get("d/evil")->has_value()) << "a PUT went through an unverified session";

  setenv("SSL_CERT_FILE", servers_->NginxCaFile().c_str(), 1);
  auto from_env = MustOpen(servers_->NginxTlsUrl("dav/tls/"), {});
  EXPECT_EQ(from_env->Get("d/new")->value_or("?"), "v");
  unsetenv("SSL_CERT_FILE");
}

TEST_F(HttpStoreTest, NginxGivesStrongEtags) {
  auto store = Open("dav/");
  ASSERT_TRUE(store->Put("e", "v").ok());
  auto session = CurlSession::Create(absl::Milliseconds(200), absl::Seconds(5), {});
  ASSERT_TRUE(session.ok());
  HttpRequest r;
  r.url = servers_->NginxUrl("dav/e");
  auto got = (*session)->Perform(r, "e");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 200);
  EXPECT_THAT(got->etag, testing::MatchesRegex("\"[0-9a-f]+-1\""));
}

TEST_F(HttpStoreTest, LeftoverTemporaryObjectsAreNotListed) {
  auto store = Open("dav/");
  ASSERT_TRUE(store->Put("t/k", "v").ok());
  // What a PutIfAbsent killed between its PUT and its MOVE leaves behind.
  std::string root = servers_->info()["nginx"]["root"].get<std::string>();
  std::ofstream(root + "/dav/t/k2.tc-tmp-0123456789abcdef") << "x";
  EXPECT_THAT(*store->List("t/"), ElementsAre("t/k"));
  EXPECT_FALSE(store->Get("t/k2")->has_value());
}

TEST_F(HttpStoreTest, ServerKilledMidOperationIsUnavailable) {
  StoreOptions o;
  o.request_timeout = absl::Seconds(5);
  auto store = Open("dav/", o);
  ASSERT_TRUE(store->Put("k", std::string(1 << 20, 'k')).ok());  // a kept-alive connection
  auto [status, took] =
      CallWhileKilled(servers_->Pid("nginx"), [&] { return store->Get("k").status(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(took, absl::Seconds(2)) << "the kill, not the 5 s timeout, ended the call";
  absl::Time start = absl::Now();
  EXPECT_EQ(store->Put("k", "v").code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(300));
}

TEST_F(HttpStoreTest, KeepsTheConnectionAlive) {
  auto store = Open("dav/");
  ASSERT_TRUE(store->Put("a", "1").ok());
  // 200 requests on one connection: fast, and no new connection each time (nginx would
  // otherwise be at 200 accepted connections; we only check the calls all work quickly).
  absl::Time start = absl::Now();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(store->Get("a").ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

// Replies nginx cannot be made to send, from servers.py's BadHttp.
class BadHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { MustStart({"blackhole"}, servers_); }
  std::unique_ptr<BlobStore> Open(const std::string& path, StoreOptions o = {}) {
    return MustOpen(
        absl::StrCat("http://127.0.0.1:", servers_->Port("blackhole", "bad_http_port"), "/", path),
        o);
  }
  std::unique_ptr<TestServers> servers_;
};

TEST_F(BadHttpTest, SizeLimitWithoutContentLengthStopsReading) {
  StoreOptions o;
  o.max_object_bytes = 100000;
  auto store = Open("chunked/", o);
  auto small = store->Get("50000");
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->value_or("").size(), 50000u);
  auto big = store->Get("5000000");
  EXPECT_EQ(big.status().code(), absl::StatusCode::kOutOfRange) << big.status();
}

TEST_F(BadHttpTest, ReplyCutShortIsUnavailable) {
  auto got = Open("")->Get("short");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
}

TEST_F(BadHttpTest, NotHttpIsAnErrorNotAHang) {
  StoreOptions o;
  o.request_timeout = absl::Seconds(2);
  absl::Time start = absl::Now();
  auto got = Open("", o)->Get("garbage");
  EXPECT_FALSE(got.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

// Why the store refuses to create on Apache: mod_dav_fs checks that the destination is absent
// and then writes it, so concurrent MOVEs with Overwrite: F (and PUTs with If-None-Match: *)
// can all succeed. Measured on Apache 2.4.71: 56 of 60 rounds of 8 racing MOVEs had more than
// one winner. If this starts failing, Apache learned atomic creates (and the store may trust it).
TEST(ApacheTest, CreatesAreNotAtomic) {
  std::unique_ptr<TestServers> servers;
  MustStart({"apache"}, servers);
  constexpr int kThreads = 8, kRounds = 30;
  int rounds_with_several_winners = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> winners{0};
    // Every writer has its temporary object in place before any MOVEs: they then race.
    absl::Barrier* ready = new absl::Barrier(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto session = CurlSession::Create(absl::Seconds(1), absl::Seconds(5), {});
        std::string body = absl::StrCat("writer", t);
        HttpRequest put;
        put.method = "PUT";
        put.url = servers->ApacheUrl(absl::StrCat("dav/tmp", round, "-", t));
        put.body = body;
        bool staged = session.ok() && (*session)->Perform(put, "put").ok();
        if (ready->Block()) delete ready;
        if (!staged) return;
        HttpRequest move;
        move.method = "MOVE";
        move.url = put.url;
        move.headers = {
            absl::StrCat("Destination: ", servers->ApacheUrl(absl::StrCat("dav/k", round))),
            "Overwrite: F"};
        auto moved = (*session)->Perform(move, "move");
        if (moved.ok() && moved->status >= 200 && moved->status < 300) ++winners;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_GE(winners.load(), 1) << "round " << round;
    if (winners.load() > 1) ++rounds_with_several_winners;
  }
  EXPECT_GT(rounds_with_several_winners, 0)
      << "every round had one winner: Apache's MOVE with Overwrite: F may be atomic now";
}

// What the store does instead on Apache (http_store.cc, HttpStore::Detect): each key is a
// collection, created by MOVEing a filled temporary collection onto it. Racing creators with
// their temporary collections in place: exactly one wins each round, and its bytes are the
// key's.
TEST(ApacheTest, CollectionLayoutHasOneWinnerPerRace) {
  std::unique_ptr<TestServers> servers;
  MustStart({"apache"}, servers);
  constexpr int kThreads = 8, kRounds = 30;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> winners{0}, errors{0};
    std::string winner;
    absl::Mutex mu;
    absl::Barrier* ready = new absl::Barrier(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto store = MustOpen(servers->ApacheUrl("dav/layout/"), {});
        (void)store->Get("warm");  // the layout is asked for before the race
        if (ready->Block()) delete ready;
        std::string mine = absl::StrCat("writer", t);
        auto created = store->PutIfAbsent(absl::StrCat("log/", round), mine);
        if (!created.ok()) {
          ++errors;
        } else if (*created) {
          ++winners;
          absl::MutexLock lock(&mu);
          winner = mine;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0) << "round " << round;
    ASSERT_EQ(winners.load(), 1) << "round " << round;
    auto store = MustOpen(servers->ApacheUrl("dav/layout/"), {});
    EXPECT_EQ(store->Get(absl::StrCat("log/", round))->value_or("?"), winner);
  }
  // On the server: one collection per key, its bytes in "v"; no temporary collection left.
  std::string root = servers->info()["apache"]["root"].get<std::string>() + "/dav/layout/log/";
  std::ifstream v(root + "0.tc-k/v");
  EXPECT_TRUE(v.good()) << root << "0.tc-k/v";
  auto store = MustOpen(servers->ApacheUrl("dav/layout/"), {});
  auto keys = store->List("log/");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), static_cast<size_t>(kRounds));
  EXPECT_THAT(store->description(), HasSubstr("collection"));
  EXPECT_TRUE(store->capabilities().put_if_absent);
  EXPECT_FALSE(store->capabilities().compare_and_swap);
}

}  // namespace
}  // namespace typecache
