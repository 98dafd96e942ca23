// Measures the remote stores on the servers tests/remote/servers.py starts on this machine:
// per-call latency of Get and Put of a small object, and the time to Put and then Get 1000
// objects of 20 KB sequentially (one connection) and in parallel (8 connections).
//
//   bazel run -c opt //src/store/remote:remote_bench [-- --n=1000 --size=20480 --parallel=8]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "src/store/remote/blob_store.h"
#include "src/store/remote/parallel.h"
#include "src/store/remote/test_servers.h"

namespace typecache {
namespace {

struct Target {
  std::string name;
  std::string url;
  StoreOptions options;
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int Run(int n, size_t size, int parallel) {
  auto servers = TestServers::Start({"redis", "nginx", "s3"});
  if (!servers.ok()) {
    std::fprintf(stderr, "%s\n", servers.status().ToString().c_str());
    return 1;
  }
  TestServers& s = **servers;
  std::vector<Target> targets = {
      {"redis tcp", s.RedisUrl(), {}},
      {"redis unix", "redis+unix://" + s.info()["redis"]["socket"].get<std::string>(), {}},
      {"webdav nginx", s.NginxUrl("dav/bench"), {}},
      {"s3rver", "s3://tc-test/bench", s.S3Options(/*direct=*/true)},
      {"s3rver+proxy", "s3://tc-test/bench2", s.S3Options()},
  };
  std::printf("%-14s %9s %9s %9s %9s | %-26s %-26s\n", "backend", "put p50", "put p99", "get p50",
              "get p99", "1000 x 20KB put seq / par", "get seq / par");
  for (const Target& t : targets) {
    auto store = OpenBlobStore(t.url, t.options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    const std::string small(100, 's');
    std::vector<double> put_us, get_us;
    for (int i = 0; i < 300; ++i) {
      std::string key = absl::StrCat("lat/", i % 50);
      absl::Time a = absl::Now();
      absl::Status p = (*store)->Put(key, small);
      absl::Time b = absl::Now();
      auto g = (*store)->Get(key);
      absl::Time c = absl::Now();
      if (!p.ok() || !g.ok()) {
        std::fprintf(stderr, "%s: %s %s\n", t.name.c_str(), p.ToString().c_str(),
                     g.status().ToString().c_str());
        return 1;
      }
      if (i >= 20) {  // warm
        put_us.push_back(absl::ToDoubleMicroseconds(b - a));
        get_us.push_back(absl::ToDoubleMicroseconds(c - b));
      }
    }
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>((i * 2654435761u) >> 13);
    auto timed = [&](int par, const std::string& round) {
      std::vector<std::pair<std::string, std::string>> items;
      std::vector<std::string> keys;
      for (int i = 0; i < n; ++i) {
        items.emplace_back(absl::StrCat("tp", round, "/", i % 100, "/", i), payload);
        keys.push_back(items.back().first);
      }
      absl::Time a = absl::Now();
      for (const absl::Status& st : PutMany(t.url, t.options, items, par)) {
        if (!st.ok()) std::fprintf(stderr, "put: %s\n", st.ToString().c_str());
      }
      absl::Time b = absl::Now();
      for (const auto& g : GetMany(t.url, t.options, keys, par)) {
        if (!g.ok() || !g->has_value() || (*g)->size() != size) {
          std::fprintf(stderr, "get: %s\n", g.status().ToString().c_str());
        }
      }
      absl::Time c = absl::Now();
      return std::make_pair(absl::ToDoubleSeconds(b - a), absl::ToDoubleSeconds(c - b));
    };
    auto seq = timed(1, "s");
    auto par = timed(parallel, "p");
    double mb = static_cast<double>(n) * static_cast<double>(size) / 1e6;
    std::printf(
        "%-14s %7.0fus %7.0fus %7.0fus %7.0fus | %5.2fs %4.0fMB/s / %5.2fs %4.0fMB/s"
        " | %5.2fs %4.0fMB/s / %5.2fs %4.0fMB/s\n",
        t.name.c_str(), Percentile(put_us, 0.5), Percentile(put_us, 0.99), Percentile(get_us, 0.5),
        Percentile(get_us, 0.99), seq.first, mb / seq.first, par.first, mb / par.first, seq.second,
        mb / seq.second, par.second, mb / par.second);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace typecache

int main(int argc, char** argv) {
  int n = 1000, parallel = 8;
  size_t size = 20 * 1024;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--n=")) {
      (void)absl::SimpleAtoi(a, &n);
    } else if (absl::ConsumePrefix(&a, "--size=")) {
      (void)absl::SimpleAtoi(a, &size);
    } else if (absl::ConsumePrefix(&a, "--parallel=")) {
      (void)absl::SimpleAtoi(a, &parallel);
    }
  }
  return typecache::Run(n, size, parallel);
}
