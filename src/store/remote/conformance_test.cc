// The BlobStore contract, checked against every backend on real servers started by
// tests/remote/servers.py: redis (TCP and Unix socket), nginx WebDAV (with and without
// create_full_put_path), Apache mod_dav (the collection layout; with and without conditional
// writes asked for) and S3 (s3rver behind the SigV4-checking proxy).
#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/store/remote/blob_store.h"
#include "src/store/remote/parallel.h"
#include "src/store/remote/store_test_util.h"
#include "src/store/remote/test_servers.h"

namespace typecache {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TestServers*& servers = SharedServers();

// List's keys, or one "<error ...>" entry, so that a failure is a readable mismatch.
std::vector<std::string> Keys(BlobStore& store, absl::string_view prefix) {
  auto keys = store.List(prefix);
  if (!keys.ok()) return {absl::StrCat("<error ", keys.status().ToString(), ">")};
  return *keys;
}

// Get's bytes, "<missing>" or "<error ...>".
std::string Text(BlobStore& store, absl::string_view key) {
  auto got = store.Get(key);
  if (!got.ok()) return absl::StrCat("<error ", got.status().ToString(), ">");
  return got->value_or("<missing>");
}

struct Backend {
  std::string name;
  // URL and options for the shared servers; for a port nobody answers on when `port` > 0.
  std::function<std::string(int port)> url;
  std::function<StoreOptions()> options;
};

void PrintTo(const Backend& backend, std::ostream* os) { *os << backend.name; }

std::vector<Backend> Backends() {
  auto plain = [] { return StoreOptions(); };
  return {
      {"redis",
       [](int port) {
         return port ? absl::StrCat("redis://127.0.0.1:", port) : servers->RedisUrl();
       },
       plain},
      {"redis_unix_db3",
       [](int port) {
         if (port) return absl::StrCat("redis://127.0.0.1:", port, "/3");
         return absl::StrCat("redis+unix://", servers->info()["redis"]["socket"].get<std::string>(),
                             "?db=3&prefix=tc/");
       },
       plain},
      {"webdav",
       [](int port) {
         return port ? absl::StrCat("http://127.0.0.1:", port, "/dav/")
                     : servers->NginxUrl("dav/cache");
       },
       plain},
      {"webdav_mkcol",
       [](int port) {
         return port ? absl::StrCat("http://127.0.0.1:", port, "/strict/")
                     : servers->NginxUrl("strict");
       },
       plain},
      // Apache mod_dav: the collection layout (http_store.cc, HttpStore::Detect), whatever
      // the options; conditional writes are not atomic there, so CompareAndSwap refuses.
      {"webdav_apache",
       [](int port) {
         return port ? absl::StrCat("http://127.0.0.1:", port, "/dav/")
                     : servers->ApacheUrl("dav/move");
       },
       plain},
      {"webdav_apache_conditional",
       [](int port) {
         return port ? absl::StrCat("http://127.0.0.1:", port, "/dav/")
                     : servers->ApacheUrl("dav/conditional");
       },
       [] {
         StoreOptions o;
         o.http_conditional_writes = true;
         return o;
       }},
      {"s3", [](int port) { return std::string("s3://tc-test/conf"); },
       [] { return servers->S3Options(); }},
  };
}

class ConformanceTest : public SharedServersTest<Backend> {
 protected:
  std::unique_ptr<BlobStore> Open(StoreOptions o) { return MustOpen(GetParam().url(0), o); }
  std::unique_ptr<BlobStore> Open() { return Open(GetParam().options()); }
  // A store whose server is at `port` (refused, blackhole, full accept queue).
  std::unique_ptr<BlobStore> OpenAt(int port, StoreOptions o) {
    if (GetParam().name == "s3") o.s3_endpoint = absl::StrCat("http://127.0.0.1:", port);
    return MustOpen(GetParam().url(port), o);
  }
  // A key prefix unique to this test and backend.
  std::string K(absl::string_view key) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string test = info->name();
    for (char& c : test) {
      if (c == '/') c = '-';
    }
    return absl::StrCat(test, "/", key);
  }
};

TEST_P(ConformanceTest, RoundTripBinaryAndOverwrite) {
  auto store = Open();
  std::string bytes;
  for (int i = 0; i < 256 * 40; ++i) bytes.push_back(static_cast<char>(i % 256));
  ASSERT_TRUE(store->Put(K("a/b/obj"), bytes).ok());
  auto got = store->Get(K("a/b/obj"));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, bytes);
  ASSERT_TRUE(store->Put(K("a/b/obj"), "second").ok());
  EXPECT_EQ(Text(*store, K("a/b/obj")), "second");
  ASSERT_TRUE(store->Put(K("empty"), "").ok());
  got = store->Get(K("empty"));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value()) << "an empty object is not a missing one";
  EXPECT_EQ(**got, "");
}

TEST_P(ConformanceTest, MissingKeyIsNulloptNotAnError) {
  auto store = Open();
  auto got = store->Get(K("never/written"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

TEST_P(ConformanceTest, PutIfAbsentTwice) {
  auto store = Open();
  if (!store->capabilities().put_if_absent) {
    EXPECT_EQ(store->PutIfAbsent(K("x"), "1").status().code(), absl::StatusCode::kUnimplemented);
    return;
  }
  auto first = store->PutIfAbsent(K("x"), "first");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  auto second = store->PutIfAbsent(K("x"), "second");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(*second);
  EXPECT_EQ(Text(*store, K("x")), "first");
  // No temporary object is left behind or listed.
  EXPECT_THAT(Keys(*store, K("")), ElementsAre(K("x")));
}

TEST_P(ConformanceTest, PutIfAbsentRaceHasOneWinner) {
  if (!Open()->capabilities().put_if_absent) {  // then it must say so (PutIfAbsentTwice)
    EXPECT_EQ(Open()->PutIfAbsent(K("r"), "1").status().code(), absl::StatusCode::kUnimplemented);
    return;
  }
  constexpr int kThreads = 6, kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> winners{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto store = Open();
        auto r = store->PutIfAbsent(K(absl::StrCat("race", round)), absl::StrCat("writer", t));
        if (!r.ok()) {
          ++errors;
        } else if (*r) {
          ++winners;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(winners.load(), 1) << "round " << round;
  }
}

TEST_P(ConformanceTest, ListWithPrefixOverSeveralPages) {
  StoreOptions o = GetParam().options();
  o.list_page_size = 2;  // S3: 4+ pages; Redis: SCAN COUNT 2
  auto store = Open(o);
  std::vector<std::string> keys = {"l/a/1", "l/a/2",   "l/a/3", "l/a/deep/4", "l/a/deep/er/5",
                                   "l/ab",  "l/abc/6", "l/b/7", "l/c"};
  for (const auto& k : keys) ASSERT_TRUE(store->Put(K(k), k).ok()) << k;
  EXPECT_THAT(Keys(*store, K("l/a/")),
              ElementsAre(K("l/a/1"), K("l/a/2"), K("l/a/3"), K("l/a/deep/4"), K("l/a/deep/er/5")));
  EXPECT_THAT(Keys(*store, K("l/ab")), ElementsAre(K("l/ab"), K("l/abc/6")));
  auto all = store->List(K(""));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), keys.size());
  EXPECT_THAT(Keys(*store, K("nothing/")), IsEmpty());
  EXPECT_EQ(store->List("../x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(ConformanceTest, ListStopsAtMaxListKeys) {
  StoreOptions o = GetParam().options();
  o.max_list_keys = 3;
  o.list_page_size = 2;
  auto store = Open(o);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Put(K(absl::StrCat("m", i)), "x").ok());
  EXPECT_EQ(store->List(K("")).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_P(ConformanceTest, Delete) {
  auto store = Open();
  ASSERT_TRUE(store->Put(K("d"), "x").ok());
  ASSERT_TRUE(store->Delete(K("d")).ok());
  EXPECT_FALSE(store->Get(K("d"))->has_value());
  EXPECT_TRUE(store->Delete(K("d")).ok()) << "deleting a missing key is not an error";
  EXPECT_THAT(Keys(*store, K("")), IsEmpty());
}

TEST_P(ConformanceTest, CompareAndSwap) {
  auto store = Open();
  if (!store->capabilities().compare_and_swap) {
    EXPECT_EQ(store->CompareAndSwap(K("c"), std::nullopt, "1").status().code(),
              absl::StatusCode::kUnimplemented);
    return;
  }
  EXPECT_TRUE(*store->CompareAndSwap(K("c"), std::nullopt, "v1"));
  EXPECT_FALSE(*store->CompareAndSwap(K("c"), std::nullopt, "v2")) << "exists already";
  EXPECT_FALSE(*store->CompareAndSwap(K("c"), absl::string_view("wrong"), "v2"));
  EXPECT_EQ(Text(*store, K("c")), "v1");
  EXPECT_TRUE(*store->CompareAndSwap(K("c"), absl::string_view("v1"), "v2"));
  EXPECT_EQ(Text(*store, K("c")), "v2");
  EXPECT_FALSE(*store->CompareAndSwap(K("missing"), absl::string_view("v1"), "v2"));
}

TEST_P(ConformanceTest, CompareAndSwapRaceLosesNoIncrement) {
  if (!Open()->capabilities().compare_and_swap) {  // nginx: nothing to race; it must say so
    EXPECT_EQ(Open()->CompareAndSwap(K("counter"), std::nullopt, "0").status().code(),
              absl::StatusCode::kUnimplemented);
    return;
  }
  constexpr int kThreads = 4, kIncrements = 10;
  ASSERT_TRUE(Open()->Put(K("counter"), "0").ok());
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  std::mutex mu;
  std::string first_error;
  auto fail = [&](const absl::Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    if (errors++ == 0) first_error = s.ToString();
  };
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto store = Open();
      for (int i = 0; i < kIncrements; ++i) {
        for (int attempt = 0; attempt < 1000; ++attempt) {
          auto cur = store->Get(K("counter"));
          // s3rver writes objects in place: a GET that overlaps a PUT of the same key gets a
          // 500 or a torn (short) body. Retried, as a caller retries Unavailable or a digest
          // mismatch; the conditional PUT then fails on the torn read's stale ETag.
          if (cur.status().code() == absl::StatusCode::kUnavailable) continue;
          if (!cur.ok() || !cur->has_value()) {
            fail(cur.ok() ? absl::NotFoundError("counter vanished") : cur.status());
            return;
          }
          int value = 0;
          if (!absl::SimpleAtoi(**cur, &value)) continue;
          std::string next = absl::StrCat(value + 1);
          auto swapped = store->CompareAndSwap(K("counter"), absl::string_view(**cur), next);
          if (swapped.status().code() == absl::StatusCode::kUnavailable) continue;
          if (!swapped.ok()) {
            fail(swapped.status());
            return;
          }
          if (*swapped) break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0) << first_error;
  EXPECT_EQ(Text(*Open(), K("counter")), absl::StrCat(kThreads * kIncrements));
}

TEST_P(ConformanceTest, SizeLimitOnPutAndGet) {
  auto big = Open();
  ASSERT_TRUE(big->Put(K("big"), std::string(5000, 'b')).ok());
  StoreOptions o = GetParam().options();
  o.max_object_bytes = 1000;
  auto small = Open(o);
  auto got = small->Get(K("big"));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kOutOfRange) << got.status();
  EXPECT_EQ(small->Put(K("p"), std::string(1001, 'p')).code(), absl::StatusCode::kOutOfRange);
  ASSERT_TRUE(small->Put(K("p"), std::string(1000, 'p')).ok());
  EXPECT_EQ(Text(*small, K("p")).size(), 1000u) << "exactly the limit is allowed";
  // The store still works after refusing an object.
  EXPECT_EQ(Text(*small, K("none")), "<missing>");
  // A limit smaller than the server's 404 page still reads a miss as a miss.
  o.max_object_bytes = 8;
  EXPECT_EQ(Text(*Open(o), K("none")), "<missing>");
}

TEST_P(ConformanceTest, BadKeysAreInvalidArgumentBeforeAnyTraffic) {
  auto store = Open();
  for (const char* key :
       {"", "/abs", "a//b", "a/../b", "sp ace", "tr/", "x.tc-tmp-1", "a/b.tc-k/c", "é"}) {
    EXPECT_EQ(store->Get(key).status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->Put(key, "x").code(), absl::StatusCode::kInvalidArgument) << key;
  }
}

TEST_P(ConformanceTest, ConnectRefusedIsUnavailableQuickly) {
  auto store = OpenAt(servers->Port("blackhole", "refused_port"), StoreOptions());
  absl::Time start = absl::Now();
  auto got = store->Get("k");
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_LT(took, absl::Milliseconds(300));
  EXPECT_EQ(store->Put("k", "v").code(), absl::StatusCode::kUnavailable);
}

TEST_P(ConformanceTest, ConnectTimeoutIsRespected) {
  StoreOptions o;
  o.connect_timeout = absl::Milliseconds(200);
  o.request_timeout = absl::Seconds(5);
  auto store = OpenAt(servers->Port("blackhole", "full_port"), o);
  absl::Time start = absl::Now();
  auto got = store->Get("k");
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_GE(took, absl::Milliseconds(150));
  EXPECT_LT(took, absl::Milliseconds(600)) << "the connect timeout, not the request timeout";
}

TEST_P(ConformanceTest, BlackholeRespectsRequestTimeout) {
  StoreOptions o;
  o.request_timeout = absl::Milliseconds(400);
  auto store = OpenAt(servers->Port("blackhole"), o);
  absl::Time start = absl::Now();
  auto got = store->Get("k");
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_GE(took, absl::Milliseconds(350));
  EXPECT_LT(took, absl::Milliseconds(1500));
}

TEST_P(ConformanceTest, DescriptionHasNoSecrets) {
  auto store = Open();
  std::string d = store->description();
  EXPECT_EQ(d.find("S3RVER:"), std::string::npos) << d;
  EXPECT_FALSE(d.empty());
}

TEST_P(ConformanceTest, GetManyAndPutManyKeepOrderAndIsolateFailures) {
  std::vector<std::pair<std::string, std::string>> items;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) {
    items.emplace_back(K(absl::StrCat("p/", i)),
                       std::string(100 + i, static_cast<char>('a' + i % 26)));
    keys.push_back(items.back().first);
  }
  items[7].first = "bad key";  // fails alone
  std::vector<absl::Status> put = PutMany(GetParam().url(0), GetParam().options(), items, 4);
  ASSERT_EQ(put.size(), items.size());
  for (size_t i = 0; i < put.size(); ++i) {
    EXPECT_EQ(put[i].ok(), i != 7) << i << " " << put[i];
  }
  keys.push_back(K("p/missing"));
  auto got = GetMany(GetParam().url(0), GetParam().options(), keys, 4);
  ASSERT_EQ(got.size(), keys.size());
  for (size_t i = 0; i < 40; ++i) {
    ASSERT_TRUE(got[i].ok()) << got[i].status();
    if (i == 7) {
      EXPECT_FALSE(got[i]->has_value());
    } else {
      EXPECT_EQ(got[i]->value_or("?"), items[i].second) << i;
    }
  }
  EXPECT_FALSE(got.back()->has_value());
  auto unopened = GetMany("nope://x", GetParam().options(), {"a", "b"}, 2);
  EXPECT_EQ(unopened[1].status().code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, ConformanceTest, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace typecache
