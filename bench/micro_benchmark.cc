// Google Benchmark micro benchmarks of the parts on typecache's hot paths: grouping keys, reading
// a JSON meta row (DescribeRow), capturing writes with triggers, transferring groups between
// databases (the work under the publish lock), detecting unchanged rewrites (group digests),
// and reading a whole database group by group (verify's scan, with its content digest).
// Whole-process comparisons are in bench/compare.py.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/cachedb/cache_db.h"
#include "src/cachedb/inspect.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"

namespace typecache {
namespace {

std::string TempDirPath() {
  static std::string dir = [] {
    char templ[] = "/tmp/tc-micro.XXXXXX";
    return std::string(::mkdtemp(templ));
  }();
  return dir;
}

// A mypy 1.0-layout database with `groups` module groups of ~2 KB meta + ~20 KB data.
std::string MakeDb(const std::string& name, int groups) {
  std::string path = JoinPath(TempDirPath(), name);
  (void)RemoveAll(RealFs(), path);
  absl::StatusOr<Db> db = Db::Open(path, Db::Mode::kCreate);
  (void)db->Exec(
      "CREATE TABLE files (path TEXT UNIQUE NOT NULL, mtime REAL, data TEXT);"
      "CREATE INDEX path_idx ON files(path); BEGIN;");
  std::string meta(2000, 'm'), data(20000, 'd');
  {
    absl::StatusOr<Stmt> ins = db->Prepare("INSERT INTO files VALUES(?, 1.5, ?)");
    for (int i = 0; i < groups; ++i) {
      std::string g = absl::StrCat("pkg", i / 100, "/mod", i);
      ins->Bind(1, g + ".meta.json").Bind(2, meta);
      (void)ins->Run();
      (void)ins->Reset();
      ins->Bind(1, g + ".data.json").Bind(2, data);
      (void)ins->Run();
      (void)ins->Reset();
    }
  }
  (void)db->Exec("COMMIT");
  (void)db->Close();
  return path;
}

void BM_GroupOf(benchmark::State& state) {
  MypyAdapter adapter;
  for (auto _ : state) {
    benchmark::DoNotOptimize(adapter.GroupOf("files2", "email/mime/multipart/__init__.meta.json"));
  }
}
BENCHMARK(BM_GroupOf);

void BM_DescribeJsonMeta(benchmark::State& state) {
  MypyAdapter adapter;
  std::string meta =
      "{\"data_mtime\": 1795294255, \"dep_lines\": [23, 30, 1, 2], \"dependencies\": "
      "[\"collections.abc\", \"os.path\", \"sys\"], \"hash\": \"8fd495b40c54c92e0ac8e555\", "
      "\"id\": \"os\", \"ignore_all\": true, \"mtime\": 1677239807, \"options\": {\"platform\": "
      "\"linux\", \"strict_optional\": true}, \"path\": \"/usr/lib/python3/os.pyi\", "
      "\"size\": 36795, \"version_id\": \"1.0.1\"}";
  for (auto _ : state) benchmark::DoNotOptimize(adapter.DescribeRow("os.meta.json", meta));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(meta.size()));
}
BENCHMARK(BM_DescribeJsonMeta);

// mypy's row writes (INSERT OR REPLACE inside one transaction), with and without the capture
// triggers: the difference is what capture costs per written row.
void Writes(benchmark::State& state, bool captured) {
  MypyAdapter adapter;
  std::string path = MakeDb(captured ? "capture.db" : "plain.db", 1000);
  if (captured) (void)InstallCapture(path, adapter);
  absl::StatusOr<Db> db = Db::Open(path, Db::Mode::kReadWrite);
  (void)db->Exec("PRAGMA synchronous=OFF; BEGIN");
  absl::StatusOr<Stmt> ins = db->Prepare("INSERT OR REPLACE INTO files VALUES(?, 2.5, 'x')");
  int64_t i = 0;
  for (auto _ : state) {
    ins->Bind(1, absl::StrCat("pkg/w", i++ % 5000, ".meta.json"));
    (void)ins->Run();
    (void)ins->Reset();
  }
  (void)db->Exec("COMMIT");
}
void BM_WritesWithCapture(benchmark::State& state) { Writes(state, true); }
void BM_WritesWithoutCapture(benchmark::State& state) { Writes(state, false); }
BENCHMARK(BM_WritesWithCapture);
BENCHMARK(BM_WritesWithoutCapture);

// The work under the lock when another run published k groups: replace k groups from the live
// generation, in a database of `range(1)` groups.
void BM_ReplaceGroups(benchmark::State& state) {
  MypyAdapter adapter;
  int k = static_cast<int>(state.range(0));
  int size = static_cast<int>(state.range(1));
  std::string live = MakeDb(absl::StrCat("live-", size, ".db"), size);
  std::string mine = MakeDb(absl::StrCat("mine-", size, ".db"), size);
  std::set<std::string> groups;
  for (int i = 0; i < k; ++i)
    groups.insert(absl::StrCat("pkg", (i * 7) % size / 100, "/mod", (i * 7) % size));
  absl::StatusOr<Db> db = OpenForWrite(mine);
  (void)AttachReadOnly(*db, live, "live");
  for (auto _ : state) {
    absl::StatusOr<SqlTransaction> txn = SqlTransaction::Begin(*db, SqlTransaction::Kind::kWrite);
    benchmark::DoNotOptimize(ReplaceGroups(*db, "live", groups, adapter));
    // Rolled back when `txn` goes.
  }
  state.counters["groups/s"] =
      benchmark::Counter(static_cast<double>(k) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReplaceGroups)
    ->Args({1, 1000})
    ->Args({100, 1000})
    ->Args({100, 20000})
    ->Args({1000, 20000})
    ->Unit(benchmark::kMicrosecond);

void BM_UnchangedGroups(benchmark::State& state) {
  MypyAdapter adapter;
  int k = static_cast<int>(state.range(0));
  std::string base = MakeDb("base.db", 5000);
  std::string mine = MakeDb("same.db", 5000);
  std::set<std::string> groups;
  for (int i = 0; i < k; ++i) groups.insert(absl::StrCat("pkg", i / 100, "/mod", i));
  absl::StatusOr<Db> db = Db::Open(mine, Db::Mode::kReadOnly);
  (void)AttachReadOnly(*db, base, "base");
  for (auto _ : state) benchmark::DoNotOptimize(UnchangedGroups(*db, "base", groups, adapter));
}
BENCHMARK(BM_UnchangedGroups)->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond);

// Digests of k groups of one side (what the prepare step does twice per written group).
void BM_DigestGroups(benchmark::State& state) {
  MypyAdapter adapter;
  int k = static_cast<int>(state.range(0));
  std::string mine = MakeDb("same.db", 5000);
  std::set<std::string> groups;
  for (int i = 0; i < k; ++i) groups.insert(absl::StrCat("pkg", i / 100, "/mod", i));
  absl::StatusOr<Db> db = Db::Open(mine, Db::Mode::kReadOnly);
  for (auto _ : state) benchmark::DoNotOptimize(DigestGroups(*db, "main", groups, adapter));
}
BENCHMARK(BM_DigestGroups)->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond);

// verify's scan of a whole database (5,000 groups, 110 MB): every row read, every meta described
// and every group digested.
void BM_ForEachGroup(benchmark::State& state) {
  MypyAdapter adapter;
  std::string path = MakeDb("scan.db", 5000);
  absl::StatusOr<Db> db = Db::Open(path, Db::Mode::kReadOnly);
  for (auto _ : state) {
    uint64_t sum = 0;
    (void)ForEachGroup(*db, adapter, "main", [&](const GroupInfo& g) {
      sum += g.digest.exact;
      return absl::OkStatus();
    });
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_ForEachGroup)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace typecache
