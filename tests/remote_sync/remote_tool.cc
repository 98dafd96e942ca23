// Test-only driver of src/commands/remote.h, until the CLI has `typecache remote`:
//
//   remote_tool pull|push|status|gc URL --cache-dir DIR [--read-only] [--remote-read A,B]
//               [--remote-write NAME] [--budget-ms N] [--prefix P] [--python X.Y]
//               [--min-age-s N] [--now UNIX] [--no-normalize] [--no-pack]
//               [--no-direct] [--verify-threads N]
//
// Prints one JSON object (the report and its counters) on stdout; exit 0 on success, 1 when the
// command returned an error (the error on stderr, the JSON still printed). S3: the usual AWS_*
// variables (AWS_ENDPOINT_URL_S3 for an emulator). --no-normalize hashes rows as they are (to
// show what normalisation saves).
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/checker/mypy/normalize.h"
#include "src/cli/remote_json.h"
#include "src/commands/remote.h"
#include "src/os/fs.h"

namespace typecache {
namespace {

// The CLI's report (src/cli/remote_json.h) and whether the store failed.
nlohmann::ordered_json ReportJson(const RemoteReport& r) {
  nlohmann::ordered_json out = RemoteReportJson(r);
  out["store_failed"] = r.store_failed;
  out["failure"] = r.failure;
  return out;
}

int Main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: remote_tool pull|push|status|gc URL --cache-dir DIR ...\n";
    return 2;
  }
  std::string cmd = argv[1];
  RemoteOptions o;
  o.url = argv[2];
  o.session.budget = absl::Seconds(60);
  o.session.request_timeout = absl::Seconds(10);
  GcOptions gc;
  bool normalize = true;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    int64_t n = 0;
    if (a == "--cache-dir") {
      o.cache_dir = next();
    } else if (a == "--read-only") {
      o.read_only = true;
    } else if (a == "--remote-read") {
      o.read_lineages = absl::StrSplit(next(), ',', absl::SkipEmpty());
    } else if (a == "--remote-write") {
      o.write_lineage = next();
    } else if (a == "--budget-ms" && absl::SimpleAtoi(next(), &n)) {
      o.session.budget = absl::Milliseconds(n);
      o.session.request_timeout = absl::Milliseconds(n);
    } else if (a == "--prefix") {
      o.prefix = next();
    } else if (a == "--python") {
      o.python_version = next();
    } else if (a == "--min-age-s" && absl::SimpleAtoi(next(), &n)) {
      gc.min_age_seconds = n;
    } else if (a == "--now" && absl::SimpleAtoi(next(), &n)) {
      o.now = n;
      gc.now = n;
    } else if (a == "--no-pack") {
      o.pack_on_push = false;
      o.pack_min_groups = int64_t{1} << 40;
    } else if (a == "--verify-threads" && absl::SimpleAtoi(next(), &n)) {
      o.verify_threads = static_cast<int>(n);
    } else if (a == "--no-direct") {
      o.direct_cold_publish = false;
    } else if (a == "--no-normalize") {
      normalize = false;
    } else {
      std::cerr << "remote_tool: bad argument " << a << "\n";
      return 2;
    }
  }
  if (const char* ep = std::getenv("AWS_ENDPOINT_URL_S3")) o.session.store.s3_endpoint = ep;
  MypyAdapter adapter;
  RowHooks hooks{&NormalizeMypyRow, &MypyNamespaceFacts, &MypyLayoutOf};
  if (!normalize) {
    hooks.normalize = [](absl::string_view, absl::string_view data) -> absl::StatusOr<std::string> {
      return std::string(data);
    };
  }
  nlohmann::ordered_json out;
  absl::Status status;
  if (cmd == "pull" || cmd == "push") {
    absl::StatusOr<RemoteReport> r = cmd == "pull" ? RemotePull(RealFs(), adapter, hooks, o)
                                                   : RemotePush(RealFs(), adapter, hooks, o);
    if (r.ok()) out = ReportJson(*r);
    status = r.status();
  } else if (cmd == "status") {
    absl::StatusOr<RemoteStatusReport> r = RemoteStatus(RealFs(), adapter, hooks, o);
    if (r.ok()) {
      out["text"] = FormatRemoteStatus(*r);
      out["counters"] = RemoteCountersJson(r->counters);
      for (const auto& ns : r->namespaces) {
        nlohmann::ordered_json j = {{"ns", ns.ns},
                                    {"local", ns.local},
                                    {"objects", ns.objects},
                                    {"groups_differing", ns.groups_differing},
                                    {"local_groups", ns.local_groups}};
        for (const auto& l : ns.lineages) {
          j["lineages"].push_back({{"lineage", l.lineage},
                                   {"head", l.head},
                                   {"local_seq", l.local_seq},
                                   {"groups", l.groups},
                                   {"snapshot", l.snapshot}});
        }
        out["namespaces"].push_back(j);
      }
    }
    status = r.status();
  } else if (cmd == "gc") {
    absl::StatusOr<RemoteGcReport> r = RemoteGc(RealFs(), o, gc);
    if (r.ok()) {
      out["counters"] = RemoteCountersJson(r->counters);
      for (const auto& [ns, g] : r->namespaces) {
        out["namespaces"].push_back(RemoteGcJson(ns, g));
      }
    }
    status = r.status();
  } else {
    std::cerr << "remote_tool: unknown command " << cmd << "\n";
    return 2;
  }
  if (!status.ok()) {
    out["error"] = std::string(status.message());
    std::cerr << "remote_tool: error: " << status.message() << "\n";
  }
  std::cout << out.dump() << "\n";
  return status.ok() ? 0 : 1;
}

}  // namespace
}  // namespace typecache

int main(int argc, char** argv) { return typecache::Main(argc, argv); }
