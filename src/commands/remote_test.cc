// typecache remote pull/push/status/gc and the run hooks against real servers (redis-server,
// nginx WebDAV, s3rver behind the conditional-write proxy; tests/remote/servers.py). Each
// "machine" is its own cache directory; rows are mypy 1.0.1-style JSON metas and data.
#include "src/commands/remote.h"

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/checker/mypy/normalize.h"
#include "src/commands/maintenance.h"
#include "src/commands/verify.h"
#include "src/os/fs.h"
#include "src/store/remote/blob_store.h"
#include "src/store/remote/codec.h"
#include "src/store/remote/kill_util.h"
#include "src/store/remote/store_test_util.h"
#include "src/store/remote/sync.h"
#include "src/store/remote/sync_format.h"
#include "src/store/remote/test_servers.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

const MypyAdapter& Adapter() {
  static const MypyAdapter adapter;
  return adapter;
}
const RowHooks& Hooks() {
  static const RowHooks hooks{&NormalizeMypyRow, &MypyNamespaceFacts, &MypyLayoutOf};
  return hooks;
}

// A mypy 1.0.1 JSON module: meta with version, platform, and machine-local mtime/path.
std::vector<Row> Module(const std::string& module, const std::string& tag, double mtime,
                        const std::string& checkout = "/home/a/proj") {
  return ModuleRowsWithMeta(
      module, tag, mtime,
      absl::StrCat("\"version_id\": \"1.0.1\", \"options\": {\"platform\": \"linux\"}, "
                   "\"mtime\": ",
                   static_cast<int64_t>(mtime) - 7, ", \"path\": \"", checkout, "/", module,
                   ".py\", \"hash\": \"h-", tag, "\""));
}

std::vector<Row> Modules(int from, int to, const std::string& tag, double mtime,
                         const std::string& checkout = "/home/a/proj") {
  std::vector<Row> rows;
  for (int i = from; i < to; ++i) {
    for (Row& r : Module(absl::StrCat("pkg/m", i), tag, mtime, checkout)) rows.push_back(r);
  }
  return rows;
}

std::string LiveDb(const std::string& cache) { return cache + "/3.11/cache.db"; }

std::map<std::string, std::string> Content(const std::string& cache) {
  absl::StatusOr<FileInfo> info = RealFs().Stat(LiveDb(cache));
  if (!info.ok() || !info->exists()) return {};
  absl::StatusOr<std::map<std::string, std::string>> rows = ExactRows(LiveDb(cache), "files");
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *rows : std::map<std::string, std::string>{};
}

// Problems `typecache verify` finds in the cache (empty: clean).
std::vector<std::string> VerifyProblems(const std::string& cache) {
  std::vector<std::string> out;
  absl::StatusOr<Target> target = ResolveTarget(RealFs(), Adapter(), cache);
  if (!target.ok()) return {std::string(target.status().message())};
  absl::StatusOr<VerifyReport> r = Verify(RealFs(), Adapter(), *target);
  if (!r.ok()) return {std::string(r.status().message())};
  for (const Problem& p : r->problems)
    out.push_back(absl::StrCat(p.where, " ", p.group, " ", p.what));
  return out;
}

// A machine: its own cache directory under `tmp`, holding `rows` as mypy wrote them (none: a
// cold machine).
std::string NewMachine(TempDir& tmp, const std::string& name, const std::vector<Row>& rows) {
  std::string cache = tmp.Sub(name);
  if (!rows.empty()) {
    EXPECT_TRUE(MakeDirs(RealFs(), cache + "/3.11").ok());
    EXPECT_TRUE(WriteRows(LiveDb(cache), Schema::kFiles, rows).ok());
  }
  return cache;
}

TestServers*& servers = SharedServers();

struct Backend {
  std::string name;
};

class RemoteTest : public SharedServersTest<std::string> {
 protected:
  std::string Url() const {
    if (GetParam() == "redis") return servers->RedisUrl();
    if (GetParam() == "webdav") return servers->NginxUrl("dav/sync");
    if (GetParam() == "webdav_apache") return servers->ApacheUrl("dav/sync");
    return "s3://tc-test/sync";
  }
  // A prefix unique to this test, so tests share the servers without seeing each other.
  std::string Prefix() const {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    return absl::StrReplaceAll(name, {{"/", "-"}});
  }
  RemoteOptions Opts(const std::string& cache) const {
    RemoteOptions o;
    o.url = Url();
    o.prefix = Prefix();
    o.cache_dir = cache;
    o.session.budget = absl::Seconds(30);
    o.session.request_timeout = absl::Seconds(10);
    if (GetParam() == "s3") o.session.store = servers->S3Options();
    return o;
  }
  std::string Machine(const std::string& name, const std::vector<Row>& rows) {
    return NewMachine(tmp_, name, rows);
  }
  RemoteReport Push(const std::string& cache, RemoteOptions o) {
    absl::StatusOr<RemoteReport> r = RemotePush(RealFs(), Adapter(), Hooks(), o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RemoteReport{};
  }
  RemoteReport Push(const std::string& cache) { return Push(cache, Opts(cache)); }
  RemoteReport Pull(const std::string& cache, RemoteOptions o) {
    absl::StatusOr<RemoteReport> r = RemotePull(RealFs(), Adapter(), Hooks(), o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RemoteReport{};
  }
  RemoteReport Pull(const std::string& cache) {
    RemoteOptions o = Opts(cache);
    o.python_version = "3.11";  // a cold machine names what it wants
    return Pull(cache, o);
  }
  // Machine `a` with `modules` modules pushes them; machine `b`, cold, pulls: b's report.
  RemoteReport PushThenPullCold(int modules, std::string& a, std::string& b) {
    a = Machine("a", Modules(0, modules, "v1", 1.7e9));
    Push(a);
    b = Machine("b", {});
    return Pull(b);
  }
  std::unique_ptr<BlobStore> Raw() {
    StoreOptions o = GetParam() == "s3" ? servers->S3Options() : StoreOptions{};
    return MustOpen(Url(), o);
  }
  RemoteKeys Keys() const {
    Namespace ns{"mypy", "1.0.1", "3.11", "linux", "1file"};
    return RemoteKeys(Prefix(), ns.Name());
  }
  // The group object of `module`'s rows as machine "a" would push them (sorted by key).
  GroupObject ObjectOf(const std::string& module) {
    GroupObject object;
    object.ns = Keys().ns();
    object.group = absl::StrCat("files:", module, ".json");
    object.file = "cache.db";
    for (const Row& r : Module(module, "v1", 1.7e9)) {
      RemoteRow rr;
      rr.key = r.path;
      rr.mtime.type = RemoteValue::Type::kReal;
      rr.mtime.real = r.mtime;
      rr.data.type = RemoteValue::Type::kText;
      rr.data.bytes = r.data;
      object.rows.push_back(rr);
    }
    std::sort(object.rows.begin(), object.rows.end(),
              [](const RemoteRow& x, const RemoteRow& y) { return x.key < y.key; });
    return object;
  }
  // The object key of a group as the store's log names it.
  std::string ObjectKeyOf(const std::string& module) {
    auto raw = Raw();
    std::string prefix = Keys().ObjectsPrefix();
    auto keys = raw->List(prefix);
    EXPECT_TRUE(keys.ok());
    for (const std::string& k : *keys) {
      auto bytes = raw->Get(k);
      auto obj = DecodeGroupObject(**bytes, 1 << 26, k);
      if (obj.ok() && obj->group == absl::StrCat("files:", module, ".json")) return k;
    }
    ADD_FAILURE() << "no object for " << module;
    return "";
  }

  TempDir tmp_;
};

TEST_P(RemoteTest, PushThenColdPullCarriesRowsExactly) {
  std::string a = Machine("a", Modules(0, 20, "v1", 1700000000.25));
  RemoteReport pushed = Push(a);
  EXPECT_EQ(pushed.groups_pushed, 20);
  EXPECT_EQ(pushed.records_appended, 1);
  std::string b = Machine("b", {});
  RemoteReport pulled = Pull(b);
  EXPECT_EQ(pulled.groups_applied, 20);
  EXPECT_EQ(pulled.counters.hits, 20);
  EXPECT_EQ(Content(b), Content(a)) << "rows, mtimes and storage classes as pushed";
  EXPECT_TRUE(VerifyProblems(b).empty());
}

TEST_P(RemoteTest, EightMachinesPushAtOnceNinthGetsEverything) {
  if (GetParam() == "s3") {
    // s3rver writes objects in place, so a GET racing a PUT of the same key can answer HTTP 500
    // (src/store/remote/README.md): an emulator defect that fails this test now and then. The
    // S3 path is covered by the other tests; concurrent publishers by Redis and WebDAV here.
    GTEST_SKIP() << "s3rver answers 500 to a GET racing a PUT";
  }
  constexpr int kMachines = 8, kPer = 15;
  std::vector<std::string> caches;
  for (int m = 0; m < kMachines; ++m) {
    caches.push_back(Machine(absl::StrCat("m", m),
                             Modules(m * kPer, (m + 1) * kPer, absl::StrCat("w", m), 1.7e9 + m)));
  }
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kMachines);
  std::atomic<int> ready{0};
  for (int m = 0; m < kMachines; ++m) {
    threads.emplace_back([&, m] {
      RemoteOptions o = Opts(caches[m]);
      ++ready;
      while (ready.load() < kMachines) std::this_thread::yield();
      absl::StatusOr<RemoteReport> r = RemotePush(RealFs(), Adapter(), Hooks(), o);
      results[m] = r.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  std::string ninth = Machine("ninth", {});
  RemoteReport pulled = Pull(ninth);
  std::map<std::string, std::string> got = Content(ninth);
  EXPECT_EQ(got.size(), size_t{kMachines * kPer * 2}) << "0 groups lost";
  for (int m = 0; m < kMachines; ++m) {
    for (const auto& [k, v] : Content(caches[m])) EXPECT_EQ(got[k], v) << k;
  }
  // One record per machine, in the store's order.
  auto raw = Raw();
  auto logs = raw->List(Keys().LogPrefix("main"));
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->size(), size_t{kMachines});
}

TEST_P(RemoteTest, OneModuleBehindTransfersOnlyThatGroup) {
  std::string a, b;
  RemoteReport cold = PushThenPullCold(60, a, b);
  ASSERT_EQ(cold.groups_applied, 60);
  // A rechecks one module and publishes it.
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Module("pkg/m7", "v2", 1.8e9)).ok());
  RemoteReport pushed = Push(a);
  EXPECT_EQ(pushed.groups_pushed, 1);
  EXPECT_EQ(pushed.counters.objects_uploaded, 1);
  RemoteReport warm = Pull(b);
  EXPECT_EQ(warm.groups_changed_remotely, 1);
  EXPECT_EQ(warm.counters.hits, 1);
  // (The cold pull took the pack: 60 groups in one frame, some 8x one group's record+object.)
  EXPECT_LT(warm.counters.bytes_down * 5, cold.counters.bytes_down)
      << "one group, not the cache: " << warm.counters.bytes_down << " vs "
      << cold.counters.bytes_down;
  EXPECT_EQ(Content(b), Content(a));
  // Up to date: one Get per lineage, nothing else.
  RemoteReport again = Pull(b);
  EXPECT_EQ(again.counters.records_read, 0);
  EXPECT_EQ(again.counters.hits, 0);
  EXPECT_EQ(again.counters.bytes_down, 0);
}

TEST_P(RemoteTest, MachineLocalFieldsDoNotChangeDigests) {
  // B checked the same source at another path, with other mtimes: same digests, nothing to push.
  std::string a = Machine("a", Modules(0, 10, "v1", 1.7e9, "/home/a/proj"));
  std::string b = Machine("b", Modules(0, 10, "v1", 1.75e9, "/srv/ci/build-42/proj"));
  ASSERT_NE(Content(a), Content(b));
  Push(a);
  RemoteReport pushed = Push(b);
  EXPECT_EQ(pushed.groups_pushed, 0);
  EXPECT_EQ(pushed.counters.objects_uploaded, 0);
  RemoteReport pulled = Pull(b);
  EXPECT_EQ(pulled.groups_applied, 0) << "B already has every group";
  // C never talked to the store: its first pull compares digests and fetches nothing.
  std::string c = Machine("c", Modules(0, 10, "v1", 1.72e9, "/tmp/x/proj"));
  RemoteReport first = Pull(c);
  EXPECT_EQ(first.groups_changed_remotely, 10);
  EXPECT_EQ(first.groups_already_local, 10);
  EXPECT_EQ(first.counters.hits, 0);
  EXPECT_LT(first.counters.bytes_down, 2000);
}

TEST_P(RemoteTest, FeatureLineageReadsMainAndItsOwn) {
  std::string ci = Machine("ci", Modules(0, 10, "main", 1.7e9));
  Push(ci);
  std::string dev = Machine("dev", Modules(0, 10, "main", 1.7e9));
  ASSERT_TRUE(WriteRows(LiveDb(dev), Schema::kFiles, Module("pkg/m3", "feature", 1.8e9)).ok());
  RemoteOptions feature = Opts(dev);
  feature.write_lineage = "feat/x";  // reads main, then feat-x
  RemoteReport pushed = Push(dev, feature);
  EXPECT_EQ(pushed.groups_pushed, 1) << "only what differs from main";
  // Another machine on the feature branch gets main's groups and the feature's m3.
  std::string dev2 = Machine("dev2", {});
  RemoteOptions o2 = Opts(dev2);
  o2.write_lineage = "feat/x";
  o2.python_version = "3.11";
  Pull(dev2, o2);
  EXPECT_EQ(Content(dev2), Content(dev));
  // A main-only machine never sees the feature's version.
  std::string other = Machine("other", {});
  Pull(other);
  EXPECT_EQ(Content(other), Content(ci));
}

TEST_P(RemoteTest, BadObjectsAreRejectedAndRetried) {
  std::string a = Machine("a", Modules(0, 10, "v1", 1.7e9));
  Push(a);
  auto raw = Raw();
  std::map<std::string, std::string> saved;
  for (int i = 0; i < 5; ++i) {
    std::string k = ObjectKeyOf(absl::StrCat("pkg/m", i));
    saved[k] = **raw->Get(k);
  }
  auto it = saved.begin();
  std::string k0 = it->first, k1 = (++it)->first, k2 = (++it)->first, k3 = (++it)->first,
              k4 = (++it)->first;
  // Truncated, garbage, another group's object, altered rows (digest mismatch), another
  // namespace.
  ASSERT_TRUE(raw->Put(k0, saved[k0].substr(0, saved[k0].size() / 2)).ok());
  ASSERT_TRUE(raw->Put(k1, std::string(300, '\x17')).ok());
  ASSERT_TRUE(raw->Put(k2, saved[k3]).ok());
  auto obj = DecodeGroupObject(saved[k3], 1 << 26, k3);
  ASSERT_TRUE(obj.ok());
  obj->rows[0].data.bytes = absl::StrReplaceAll(obj->rows[0].data.bytes, {{"v1", "v9"}});
  ASSERT_TRUE(raw->Put(k3, *EncodeGroupObject(*obj)).ok());
  auto other_ns = DecodeGroupObject(saved[k4], 1 << 26, k4);
  other_ns->ns = "mypy-1.18.2_py3.11_linux_1file";
  ASSERT_TRUE(raw->Put(k4, *EncodeGroupObject(*other_ns)).ok());

  std::string b = Machine("b", Modules(20, 22, "mine", 1.6e9));
  std::map<std::string, std::string> before = Content(b);
  RemoteReport pulled = Pull(b);
  EXPECT_EQ(pulled.counters.errors, 5);
  EXPECT_EQ(pulled.groups_applied, 5) << "the good ones";
  std::map<std::string, std::string> got = Content(b);
  EXPECT_EQ(got.size(), before.size() + 10);
  for (const auto& [k, v] : before) EXPECT_EQ(got[k], v);
  EXPECT_TRUE(VerifyProblems(b).empty());
  // The store is repaired: the next pull fetches exactly the five it could not use.
  for (const auto& [k, v] : saved) ASSERT_TRUE(raw->Put(k, v).ok());
  RemoteReport again = Pull(b);
  EXPECT_EQ(again.counters.errors, 0);
  EXPECT_EQ(again.counters.hits, 5);
  got = Content(b);
  for (const auto& [k, v] : Content(a)) EXPECT_EQ(got[k], v) << k;
}

TEST_P(RemoteTest, MissingObjectIsAMissThenArrives) {
  std::string a = Machine("a", Modules(0, 4, "v1", 1.7e9));
  Push(a);
  auto raw = Raw();
  std::string k = ObjectKeyOf("pkg/m2");
  std::string bytes = **raw->Get(k);
  ASSERT_TRUE(raw->Delete(k).ok());
  std::string b = Machine("b", {});
  RemoteReport pulled = Pull(b);
  EXPECT_EQ(pulled.counters.misses, 1);
  EXPECT_EQ(pulled.counters.hits, 3);
  ASSERT_TRUE(raw->Put(k, bytes).ok());
  RemoteReport again = Pull(b);
  EXPECT_EQ(again.counters.hits, 1);
  EXPECT_EQ(Content(b), Content(a));
}

TEST_P(RemoteTest, CorruptLogRecordStopsTheCatchUpThere) {
  std::string a = Machine("a", Modules(0, 3, "v1", 1.7e9));
  // No pack and snapshot per push: a cold machine would start from snapshot 2, past the record.
  RemoteOptions o = Opts(a);
  o.pack_on_push = false;
  Push(a, o);
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Modules(3, 6, "v1", 1.7e9)).ok());
  Push(a, o);
  auto raw = Raw();
  std::string log2 = Keys().Log("main", 2);
  std::string good = **raw->Get(log2);
  ASSERT_TRUE(raw->Put(log2, good.substr(0, good.size() - 5)).ok());
  std::string b = Machine("b", {});
  RemoteReport pulled = Pull(b);
  EXPECT_EQ(pulled.counters.errors, 1);
  EXPECT_EQ(pulled.groups_applied, 3) << "record 1 only";
  EXPECT_TRUE(VerifyProblems(b).empty());
  ASSERT_TRUE(raw->Put(log2, good).ok());
  RemoteReport again = Pull(b);
  EXPECT_EQ(again.groups_applied, 3);
  EXPECT_EQ(Content(b), Content(a));
}

TEST_P(RemoteTest, GcSnapshotsAndDeletesWhatNobodyNeeds) {
  std::string a = Machine("a", Modules(0, 10, "v1", 1.7e9));
  RemoteOptions o = Opts(a);
  o.pack_every = 1;  // each push writes a pack
  o.now = 1000000;
  Push(a, o);
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Modules(0, 10, "v2", 1.8e9)).ok());
  o.now = 2000000;
  Push(a, o);
  auto raw = Raw();
  ASSERT_EQ(raw->List(Keys().ObjectsPrefix())->size(), 20u);
  GcOptions gc;
  gc.now = 2000000 + 10 * 24 * 3600;
  gc.min_age_seconds = 7 * 24 * 3600;
  absl::StatusOr<RemoteGcReport> r = RemoteGc(RealFs(), o, gc);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->namespaces.size(), 1u);
  EXPECT_EQ(r->namespaces[0].second.objects_deleted, 10) << "the v1 objects";
  EXPECT_EQ(r->namespaces[0].second.records_deleted, 2);
  EXPECT_EQ(raw->List(Keys().ObjectsPrefix())->size(), 10u);
  // Each `remote push` wrote a pack; the pointer names the second, the first is old: gone.
  EXPECT_EQ(r->namespaces[0].second.packs_deleted, 1);
  EXPECT_EQ(r->namespaces[0].second.packs_kept, 1);
  ASSERT_EQ(raw->List(Keys().PacksPrefix())->size(), 1u);
  // Their sizes: the kept one's is the object's, the pointer says so; both packs hold ten
  // groups of the same shape.
  std::string kept = (*raw->List(Keys().PacksPrefix()))[0];
  int64_t kept_bytes = static_cast<int64_t>((*raw->Get(kept))->size());
  EXPECT_EQ(r->namespaces[0].second.pack_bytes_kept, kept_bytes);
  EXPECT_GT(r->namespaces[0].second.pack_bytes_deleted, kept_bytes / 2);
  EXPECT_LT(r->namespaces[0].second.pack_bytes_deleted, kept_bytes * 2);
  // A cold machine starts from the snapshot.
  std::string b = Machine("b", {});
  RemoteOptions ob = Opts(b);
  ob.python_version = "3.11";
  ob.now = gc.now;
  RemoteReport pulled = Pull(b, ob);
  EXPECT_EQ(pulled.counters.records_read, 0);
  EXPECT_EQ(Content(b), Content(a));
  // Records and objects younger than min_age survive a gc, even unreferenced (a pusher that
  // uploaded its object and has not appended its record yet).
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Module("pkg/m1", "v3", 1.9e9)).ok());
  o.now = gc.now + 1;
  Push(a, o);
  GroupObject stray;
  stray.ns = Keys().ns();
  stray.group = "files:pkg/zz.json";
  stray.file = "cache.db";
  stray.created = gc.now + 1;
  ASSERT_TRUE(raw->Put(Keys().Object(std::string(32, 'a')), *EncodeGroupObject(stray)).ok());
  gc.now += 2;
  r = RemoteGc(RealFs(), o, gc);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->namespaces[0].second.records_deleted, 0) << "record 3 is young";
  EXPECT_EQ(r->namespaces[0].second.objects_deleted, 1) << "m1 v2 only: old, unreferenced";
  EXPECT_TRUE(raw->Get(Keys().Object(std::string(32, 'a')))->has_value()) << "young stray kept";
  ob.now = gc.now;
  Pull(b, ob);
  EXPECT_EQ(Content(b), Content(a));
}

// Verifying an object parses each row once per check: the digest reuses the normalised rows.
TEST_P(RemoteTest, VerifyNormalisesEachRowOnce) {
  if (GetParam() != "redis") GTEST_SKIP() << "no store involved";
  static int calls = 0;
  RowHooks counting = Hooks();
  counting.normalize = [](absl::string_view key, absl::string_view data) {
    ++calls;
    return NormalizeMypyRow(key, data);
  };
  GroupObject object = ObjectOf("pkg/m0");
  ViewEntry entry{"cache.db", *GroupDigest(object.group, object.rows, Hooks()), 0};
  Namespace ns{"mypy", "1.0.1", "3.11", "linux", "1file"};
  calls = 0;
  absl::Status ok = VerifyGroup(object, ns, object.group, entry, Adapter(), counting);
  ASSERT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(calls, static_cast<int>(object.rows.size()));
}

// A pack's groups are verified on several threads: each answer is VerifyGroup's for its own
// group, in order, good and bad groups mixed.
TEST_P(RemoteTest, ParallelVerificationAnswersAsVerifyGroupInOrder) {
  if (GetParam() != "redis") GTEST_SKIP() << "no store involved";
  Namespace ns{"mypy", "1.0.1", "3.11", "linux", "1file"};
  std::vector<GroupObject> objects;
  std::vector<ViewEntry> entries;
  for (int m = 0; m < 64; ++m) {
    GroupObject object = ObjectOf(absl::StrCat("pkg/m", m));
    entries.push_back({"cache.db", *GroupDigest(object.group, object.rows, Hooks()), 0});
    if (m % 5 == 1) entries.back().digest = std::string(32, 'e');  // a lie about the rows
    if (m % 7 == 3) object.rows.back().data.bytes = "{";           // a malformed row
    if (m % 11 == 4) object.ns = "mypy-0.9_py3.11_linux_1file";    // another namespace
    objects.push_back(std::move(object));
  }
  std::vector<GroupToVerify> items;
  for (size_t i = 0; i < objects.size(); ++i) {
    items.push_back({&objects[i], objects[i].group, &entries[i]});
  }
  for (int threads : {1, 2, 4}) {
    std::vector<absl::Status> got = VerifyGroups(items, ns, Adapter(), Hooks(), threads);
    ASSERT_EQ(got.size(), items.size());
    int bad = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      absl::Status one =
          VerifyGroup(objects[i], ns, objects[i].group, entries[i], Adapter(), Hooks());
      EXPECT_EQ(got[i], one) << threads << " threads, group " << i;
      bad += one.ok() ? 0 : 1;
    }
    EXPECT_GT(bad, 10);
    EXPECT_LT(bad, 40);
  }
}

// ---- Packs: one object for a cold machine ----

TEST_P(RemoteTest, ColdPullTakesThePack) {
  std::string a = Machine("a", Modules(0, 60, "v1", 1.7e9));
  RemoteReport pushed = Push(a);
  EXPECT_EQ(pushed.packs_written, 1);
  auto raw = Raw();
  auto packs = raw->List(Keys().PacksPrefix());
  ASSERT_TRUE(packs.ok());
  ASSERT_EQ(packs->size(), 1u);
  std::string b = Machine("b", {});
  RemoteReport pulled = Pull(b);
  EXPECT_EQ(pulled.packs_used, 1);
  EXPECT_EQ(pulled.groups_from_pack, 60);
  EXPECT_EQ(pulled.groups_applied, 60);
  EXPECT_EQ(pulled.counters.hits, 60);
  EXPECT_EQ(pulled.counters.errors, 0);
  EXPECT_TRUE(pulled.warnings.empty()) << pulled.warnings[0];
  EXPECT_EQ(Content(b), Content(a)) << "rows, mtimes and storage classes as pushed";
  EXPECT_TRUE(VerifyProblems(b).empty());
  // Bytes: the pack is one frame, smaller than the 60 objects it replaces.
  int64_t objects = 0;
  std::vector<std::string> object_keys = *raw->List(Keys().ObjectsPrefix());
  for (const std::string& k : object_keys) objects += (*raw->Get(k))->size();
  EXPECT_LT(pulled.counters.bytes_down, objects);
  // One commit behind stays one group: no pack for a machine that is caught up.
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Module("pkg/m7", "v2", 1.8e9)).ok());
  RemoteReport second = Push(a);
  EXPECT_EQ(second.packs_written, 0) << "the pack is one record behind: not rewritten";
  EXPECT_LT(second.counters.bytes_up, 4000) << "a record and one object";
  RemoteReport warm = Pull(b);
  EXPECT_EQ(warm.packs_used, 0);
  EXPECT_EQ(warm.counters.hits, 1);
  EXPECT_LT(warm.counters.bytes_down, 4000) << "a record and one object";
  EXPECT_EQ(Content(b), Content(a));
  // A cold machine now: the pack of record 1 gives 59 groups, m7 v2 comes one by one.
  std::string c = Machine("c", {});
  RemoteReport later = Pull(c);
  EXPECT_EQ(later.packs_used, 1);
  EXPECT_EQ(later.groups_from_pack, 59);
  EXPECT_EQ(later.counters.hits, 60);
  EXPECT_EQ(later.counters.errors, 0);
  EXPECT_TRUE(later.warnings.empty()) << later.warnings[0];
  EXPECT_EQ(Content(c), Content(a));
  // pack_every records after the pack, a push writes a new one.
  RemoteOptions o = Opts(a);
  o.pack_every = 2;
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Module("pkg/m8", "v2", 1.8e9)).ok());
  EXPECT_EQ(Push(a, o).packs_written, 1);
  // A store written without packs gets one from a `remote push` with nothing new to publish.
  RemoteOptions np = Opts(a);
  np.prefix += "-nopack";
  np.pack_on_push = false;
  EXPECT_EQ(Push(a, np).packs_written, 0);
  np.pack_on_push = true;
  RemoteReport unchanged = Push(a, np);
  EXPECT_EQ(unchanged.records_appended, 0);
  EXPECT_EQ(unchanged.packs_written, 1);
  EXPECT_EQ(Push(a, np).packs_written, 0) << "the head's pack exists";
}

// A cold machine's pull writes the verified groups straight into a new generation (no private
// copy of a live database, the digests from the rows); a machine with a generation merges.
TEST_P(RemoteTest, ColdPullPublishesANewGenerationDirectly) {
  std::string a, b;
  RemoteReport cold = PushThenPullCold(40, a, b);
  EXPECT_EQ(cold.direct_publishes, 1);
  EXPECT_EQ(cold.groups_applied, 40);
  EXPECT_EQ(cold.counters.hits, 40);
  EXPECT_EQ(Content(b), Content(a)) << "rows, mtimes and storage classes as pushed";
  EXPECT_TRUE(VerifyProblems(b).empty()) << VerifyProblems(b)[0];
  // The generation's content digest was recorded at once, from the rows: verify compares it.
  auto digests = RealFs().ListDir(b + "/.typecache/digests/3.11");
  ASSERT_TRUE(digests.ok()) << digests.status();
  EXPECT_EQ(digests->size(), 1u);
  // The same pull through the maintenance frame gives the same cache.
  std::string c = Machine("c", {});
  RemoteOptions oc = Opts(c);
  oc.python_version = "3.11";
  oc.direct_cold_publish = false;
  RemoteReport framed = Pull(c, oc);
  EXPECT_EQ(framed.direct_publishes, 0);
  EXPECT_EQ(Content(c), Content(b));
  // A machine with a cache of its own (mypy wrote <X.Y>): the general path, its group kept.
  std::string d = Machine("d", Modules(100, 101, "mine", 1.6e9));
  RemoteReport warm = Pull(d);
  EXPECT_EQ(warm.direct_publishes, 0);
  EXPECT_EQ(warm.groups_applied, 40);
  EXPECT_EQ(Content(d).size(), Content(a).size() + 2);
  EXPECT_TRUE(VerifyProblems(d).empty());
  // Up to date afterwards: a second pull of the cold machine applies nothing.
  EXPECT_EQ(Pull(b).groups_applied, 0);
}

// Packs come from `run --remote` pushes too: a store only runs publish to still serves cold
// machines one pack, rewritten every pack_every records, and the 100th-record snapshot keeps it.
TEST_P(RemoteTest, RunPushesWriteThePackForColdMachines) {
  std::string a = Machine("a", Modules(0, 20, "v1", 1.7e9));
  RemoteOptions o = Opts(a);
  o.pack_every = 3;
  o.snapshot_every = 2;
  auto run_push = [&](const std::set<std::string>& groups) {
    WriteSets published;
    published["3.11"]["cache.db"] = groups;
    RemoteRunState run;
    return RemotePushAfterPublish(RealFs(), Adapter(), Hooks(), o, published, run);
  };
  // The first run checked every module; the later ones one each (their write set is all the
  // push holds: the pack is made from the whole live generation, read when it is due).
  std::set<std::string> everything;
  for (int i = 0; i < 20; ++i) everything.insert(absl::StrCat("files:pkg/m", i, ".json"));
  RemoteReport first = run_push(everything);
  EXPECT_TRUE(first.warnings.empty()) << first.warnings[0];
  EXPECT_EQ(first.records_appended, 1);
  EXPECT_EQ(first.packs_written, 1);
  int written = 0;
  for (int i = 2; i <= 7; ++i) {
    ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles,
                          Module(absl::StrCat("pkg/m", i), absl::StrCat("r", i), 1.8e9))
                    .ok());
    RemoteReport r = run_push({absl::StrCat("files:pkg/m", i, ".json")});
    EXPECT_EQ(r.records_appended, 1);
    written += static_cast<int>(r.packs_written);
    // Every snapshot (seq 2, 4, 6) keeps naming the newest pack.
    auto latest = Raw()->Get(Keys().SnapLatest("main"));
    ASSERT_TRUE(latest.ok() && latest->has_value());
    auto pack = ParseLatestPack(**latest);
    ASSERT_TRUE(pack.ok() && pack->has_value()) << "seq " << i << ": " << **latest;
    EXPECT_EQ((*pack)->seq, i < 4 ? 1 : (i < 7 ? 4 : 7)) << "seq " << i;
  }
  EXPECT_EQ(written, 2) << "at records 4 and 7";
  std::string b = Machine("b", {});
  RemoteReport cold = Pull(b);
  EXPECT_EQ(cold.packs_used, 1);
  EXPECT_EQ(cold.groups_from_pack, 20);
  EXPECT_EQ(Content(b), Content(a));
  EXPECT_TRUE(VerifyProblems(b).empty());
}

TEST_P(RemoteTest, LyingPackFallsBackToGroupsAndLosesNothing) {
  std::string a = Machine("a", Modules(0, 40, "v1", 1.7e9));
  Push(a);
  auto raw = Raw();
  RemoteKeys keys = Keys();
  std::string latest_text = **raw->Get(keys.SnapLatest("main"));
  absl::StatusOr<std::optional<PackRef>> ref = ParseLatestPack(latest_text);
  ASSERT_TRUE(ref.ok() && ref->has_value()) << latest_text;
  std::string key = keys.Pack((*ref)->digest);
  std::string good = **raw->Get(key);
  absl::StatusOr<int64_t> latest_seq = ParseLatest(latest_text);
  ASSERT_TRUE(latest_seq.ok());
  // A pack that decodes and matches a rewritten pointer, one group's rows altered: only that
  // group's own check can catch it.
  absl::StatusOr<PackObject> altered = DecodePack(good, 1 << 26, "pack");
  ASSERT_TRUE(altered.ok()) << altered.status();
  altered->groups[3].object.rows[0].data.bytes =
      absl::StrReplaceAll(altered->groups[3].object.rows[0].data.bytes, {{"v1", "v9"}});
  std::string altered_bytes = *EncodePack(*altered);
  PackRef altered_ref{(*ref)->seq, Xxh3Hex(altered_bytes),
                      static_cast<int64_t>(altered_bytes.size())};
  struct Lie {
    std::string name;
    std::function<void()> apply;
    int64_t from_pack;
    int64_t errors;
    int64_t misses;
  };
  std::vector<Lie> lies = {
      {"truncated", [&] { ASSERT_TRUE(raw->Put(key, good.substr(0, good.size() / 2)).ok()); }, 0, 1,
       0},
      {"garbage of the right size",
       [&] { ASSERT_TRUE(raw->Put(key, std::string(good.size(), '\x17')).ok()); }, 0, 1, 0},
      {"missing", [&] { ASSERT_TRUE(raw->Delete(key).ok()); }, 0, 0, 1},
      {"one group altered",
       [&] {
         ASSERT_TRUE(raw->Put(keys.Pack(altered_ref.digest), altered_bytes).ok());
         ASSERT_TRUE(
             raw->Put(keys.SnapLatest("main"), SerializeLatest(*latest_seq, &altered_ref)).ok());
       },
       39, 1, 0},
  };
  for (size_t i = 0; i < lies.size(); ++i) {
    SCOPED_TRACE(lies[i].name);
    lies[i].apply();
    std::string b = Machine(absl::StrCat("b", i), {});
    RemoteReport pulled = Pull(b);
    EXPECT_EQ(pulled.groups_from_pack, lies[i].from_pack);
    EXPECT_EQ(pulled.counters.hits, 40) << "the rest one by one";
    EXPECT_EQ(pulled.counters.errors, lies[i].errors);
    EXPECT_EQ(pulled.counters.misses, lies[i].misses);
    ASSERT_EQ(pulled.warnings.size(), 1u) << "one warning";
    EXPECT_TRUE(absl::StrContains(pulled.warnings[0], "one by one")) << pulled.warnings[0];
    EXPECT_EQ(Content(b), Content(a)) << "nothing lost, nothing altered";
    EXPECT_TRUE(VerifyProblems(b).empty());
    ASSERT_TRUE(raw->Put(key, good).ok());
    ASSERT_TRUE(raw->Put(keys.SnapLatest("main"), latest_text).ok());
  }
}

TEST_P(RemoteTest, StatusShowsHowFarBehind) {
  std::string a = Machine("a", Modules(0, 5, "v1", 1.7e9));
  Push(a);
  std::string b = Machine("b", {});
  Pull(b);
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Module("pkg/m1", "v2", 1.8e9)).ok());
  Push(a);
  absl::StatusOr<RemoteStatusReport> st = RemoteStatus(RealFs(), Adapter(), Hooks(), Opts(b));
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->namespaces.size(), 1u);
  const RemoteNamespaceStatus& ns = st->namespaces[0];
  EXPECT_TRUE(ns.local);
  ASSERT_EQ(ns.lineages.size(), 1u);
  EXPECT_EQ(ns.lineages[0].head, 2);
  EXPECT_EQ(ns.lineages[0].local_seq, 1);
  EXPECT_EQ(ns.groups_differing, 1);
  EXPECT_EQ(ns.objects, 6);
  std::string text = FormatRemoteStatus(*st);
  EXPECT_NE(text.find("(1 behind)"), std::string::npos) << text;
}

TEST_P(RemoteTest, RunHooksPullThenPushWhatTheRunPublished) {
  std::string a = Machine("a", Modules(0, 6, "v1", 1.7e9));
  Push(a);
  std::string b = Machine("b", {});
  RemoteOptions o = Opts(b);
  o.python_version = "3.11";
  o.session.budget = absl::Seconds(5);
  RemoteRunState run;
  RemoteReport pulled = RemotePullBeforeRun(RealFs(), Adapter(), Hooks(), o, run);
  EXPECT_TRUE(pulled.warnings.empty()) << pulled.warnings[0];
  EXPECT_EQ(pulled.groups_applied, 6);
  // The run rewrote m2 and deleted m5.
  ASSERT_TRUE(WriteRows(LiveDb(b), Schema::kFiles, Module("pkg/m2", "b", 1.9e9)).ok());
  ASSERT_TRUE(DeleteRows(LiveDb(b), Schema::kFiles, {"pkg/m5.meta.json", "pkg/m5.data.json"}).ok());
  WriteSets published;
  published["3.11"]["cache.db"] = {"files:pkg/m2.json", "files:pkg/m5.json"};
  RemoteReport pushed = RemotePushAfterPublish(RealFs(), Adapter(), Hooks(), o, published, run);
  EXPECT_EQ(pushed.groups_pushed, 2);
  RemoteReport again = Pull(a);
  EXPECT_EQ(Content(a), Content(b));
}

INSTANTIATE_TEST_SUITE_P(Backends, RemoteTest,
                         ::testing::Values("redis", "webdav", "webdav_apache", "s3"),
                         [](const auto& info) { return info.param; });

// ---- Faults that need servers of their own ----

class RemoteFaultTest : public ::testing::Test {
 protected:
  void SetUp() override { MustStart({"redis", "nginx", "blackhole"}, servers_); }
  RemoteOptions Opts(const std::string& url, const std::string& cache) {
    RemoteOptions o;
    o.url = url;
    o.cache_dir = cache;
    o.python_version = "3.11";
    o.session.budget = absl::Seconds(2);
    return o;
  }
  std::string Machine(const std::string& name, const std::vector<Row>& rows) {
    return NewMachine(tmp_, name, rows);
  }
  std::unique_ptr<TestServers> servers_;
  TempDir tmp_;
};

TEST_F(RemoteFaultTest, BlackholeCostsTheBudgetOnceAndNeverTheBuild) {
  std::string url = absl::StrCat("http://127.0.0.1:", servers_->Port("blackhole"), "/cache/");
  std::string b = Machine("b", Modules(0, 3, "mine", 1.6e9));
  std::map<std::string, std::string> before = Content(b);
  RemoteOptions o = Opts(url, b);
  o.session.budget = absl::Milliseconds(800);
  o.session.request_timeout = absl::Seconds(5);  // the budget, not this, must end the wait
  RemoteRunState run;
  absl::Time start = absl::Now();
  RemoteReport pulled = RemotePullBeforeRun(RealFs(), Adapter(), Hooks(), o, run);
  absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Milliseconds(1300)) << "the budget bounds the run";
  EXPECT_TRUE(pulled.store_failed);
  EXPECT_EQ(pulled.counters.timeouts, 1);
  ASSERT_EQ(pulled.warnings.size(), 1u) << "one warning";
  WriteSets published;
  published["3.11"]["cache.db"] = {"files:pkg/m0.json"};
  start = absl::Now();
  RemoteReport pushed = RemotePushAfterPublish(RealFs(), Adapter(), Hooks(), o, published, run);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(50)) << "a failed store is not retried";
  EXPECT_EQ(pushed.counters.timeouts, 1);
  EXPECT_EQ(Content(b), before);
  EXPECT_TRUE(VerifyProblems(b).empty());
}

// Blocks the Redis server for 100 ms (a busy Lua script run from another connection).
constexpr const char* kStall =
    "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] "
    "while true do local n = redis.call('TIME') "
    "if n[1] * 1000000 + n[2] - s > 100000 then return 1 end end";

TEST_F(RemoteFaultTest, SlowStoreStopsAtTheBudgetAndStaysFailed) {
  int port = servers_->Port("redis");
  std::atomic<bool> stop{false};
  std::thread staller([&] {
    while (!stop) RedisAdmin(port, {"EVAL", kStall, "0"});
  });
  absl::SleepFor(absl::Milliseconds(30));  // the first stall is under way
  SessionOptions o;
  o.budget = absl::Milliseconds(400);
  o.request_timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<RemoteSession>> s = RemoteSession::Open(servers_->RedisUrl(), o);
  ASSERT_TRUE(s.ok()) << s.status();
  RemoteSession& session = **s;
  absl::Time start = absl::Now();
  int done = 0;
  for (int i = 0; i < 100 && session.Get("k").ok(); ++i) ++done;
  absl::Duration took = absl::Now() - start;
  stop = true;
  staller.join();
  // How many Gets slip into the gaps between two stalls depends on the machine's load; what
  // matters is that the budget, not the 5 s request timeout, ends the run of slow requests.
  EXPECT_LT(done, 100) << "the budget never ended the slow requests";
  EXPECT_LT(took, absl::Milliseconds(700)) << "every request is slow, the budget ends it";
  EXPECT_TRUE(session.failed());
  EXPECT_TRUE(IsTimeout(session.failure())) << session.failure();
  EXPECT_EQ(session.counters().timeouts, 1);
  // Failed once, failed for the rest of the run: no traffic, at once.
  start = absl::Now();
  EXPECT_FALSE(session.Get("k").ok());
  EXPECT_FALSE(session.Put("k", "v").ok());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(5));
  EXPECT_EQ(session.counters().timeouts, 1);
  EXPECT_EQ(session.counters().errors, 0);
  EXPECT_EQ(RedisAdmin(port, {"EXISTS", "k"}), "0") << "the Put never reached the server";
}

TEST_F(RemoteFaultTest, OneErrorMarksTheStoreFailedForTheRun) {
  int port = servers_->Port("redis");
  SessionOptions o;
  o.budget = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<RemoteSession>> s = RemoteSession::Open(servers_->RedisUrl(), o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "SET", "maxmemory-policy", "noeviction"}), "OK");
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "SET", "maxmemory", "1"}), "OK");
  EXPECT_FALSE((*s)->Put("a", "v").ok());  // OOM
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "SET", "maxmemory", "0"}), "OK");
  // The store works again, but this run has written it off.
  EXPECT_FALSE((*s)->Put("b", "v").ok());
  EXPECT_FALSE((*s)->Get("b").ok());
  EXPECT_EQ(RedisAdmin(port, {"EXISTS", "b"}), "0");
  EXPECT_EQ((*s)->counters().errors, 1);
}

// A run pulls, mypy runs longer than the server's idle `timeout`, then the run pushes: the
// connection kept from the pull is gone, and the push must not notice.
TEST_F(RemoteFaultTest, RedisIdleTimeoutDuringTheRunDoesNotBreakThePush) {
  int port = servers_->Port("redis");
  std::string a = Machine("a", Modules(0, 6, "v1", 1.7e9));
  ASSERT_TRUE(RemotePush(RealFs(), Adapter(), Hooks(), Opts(servers_->RedisUrl(), a)).ok());
  std::string b = Machine("b", {});
  RemoteOptions o = Opts(servers_->RedisUrl(), b);
  o.session.budget = absl::Seconds(5);
  RemoteRunState run;
  RemoteReport pulled = RemotePullBeforeRun(RealFs(), Adapter(), Hooks(), o, run);
  ASSERT_FALSE(pulled.store_failed) << pulled.failure;
  ASSERT_EQ(pulled.groups_applied, 6);
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "SET", "timeout", "1"}), "OK");
  absl::SleepFor(absl::Milliseconds(2600));  // "mypy runs"; the server closes idle clients
  ASSERT_TRUE(WriteRows(LiveDb(b), Schema::kFiles, Module("pkg/m2", "b", 1.9e9)).ok());
  WriteSets published;
  published["3.11"]["cache.db"] = {"files:pkg/m2.json"};
  RemoteReport pushed = RemotePushAfterPublish(RealFs(), Adapter(), Hooks(), o, published, run);
  EXPECT_FALSE(pushed.store_failed) << pushed.failure;
  EXPECT_TRUE(pushed.warnings.empty()) << pushed.warnings[0];
  EXPECT_EQ(pushed.groups_pushed, 1);
  // And once more after CLIENT KILL, between two pushes of one run.
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "SET", "timeout", "0"}), "OK");
  ASSERT_NE(RedisAdmin(port, {"CLIENT", "KILL", "TYPE", "normal"}), "");
  absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(WriteRows(LiveDb(b), Schema::kFiles, Module("pkg/m3", "b", 1.9e9)).ok());
  published["3.11"]["cache.db"] = {"files:pkg/m3.json"};
  pushed = RemotePushAfterPublish(RealFs(), Adapter(), Hooks(), o, published, run);
  EXPECT_FALSE(pushed.store_failed) << pushed.failure;
  EXPECT_EQ(pushed.groups_pushed, 2);  // the run's total
  absl::StatusOr<RemoteReport> again =
      RemotePull(RealFs(), Adapter(), Hooks(), Opts(servers_->RedisUrl(), a));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Content(a), Content(b));
}

// Every file under `dir` with what a write would change (size, mtime, inode).
std::map<std::string, std::string> FilesUnder(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st;
    if (::lstat(e.path().c_str(), &st) != 0) continue;
    out[e.path().string()] =
        absl::StrCat(st.st_size, " ", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, " ", st.st_ino);
  }
  return out;
}

// Redis commands served and connections accepted since the last CONFIG RESETSTAT, leaving out
// the admin connection that asks ("INFO all" itself is not counted until it has answered).
struct RedisTraffic {
  int64_t commands = 0;  // every command executed, a script's own redis.call()s included
  int64_t evals = 0;
  int64_t connections = 0;
  std::string detail;
};
RedisTraffic Traffic(int port) {
  std::string info = RedisAdmin(port, {"INFO", "all"});
  RedisTraffic t;
  for (absl::string_view line : absl::StrSplit(info, absl::ByAnyChar("\r\n"), absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "cmdstat_")) {
      std::string name(line.substr(0, line.find(':')));
      if (absl::StartsWith(name, "config") || absl::StartsWith(name, "info")) continue;
      size_t at = line.find("calls=");
      int64_t calls = std::stoll(std::string(line.substr(at + 6)));
      t.commands += calls;
      if (name == "eval") t.evals += calls;
      absl::StrAppend(&t.detail, name, "=", calls, " ");
    } else if (absl::ConsumePrefix(&line, "total_commands_processed:")) {
      absl::StrAppend(&t.detail, "processed=", line, " ");
    } else if (absl::ConsumePrefix(&line, "total_connections_received:")) {
      t.connections = std::stoll(std::string(line)) - 1;  // the INFO connection
    }
  }
  return t;
}

// The figure the up-to-date pull is held to: one Redis command on one connection, no file
// written in the cache (state, stats, lock, memo), no sampling needed to know that.
TEST_F(RemoteFaultTest, UpToDatePullIsOneCommandAndWritesNothing) {
  int port = servers_->Port("redis");
  std::string a = Machine("a", Modules(0, 20, "v1", 1.7e9));
  ASSERT_TRUE(RemotePush(RealFs(), Adapter(), Hooks(), Opts(servers_->RedisUrl(), a)).ok());
  std::string b = Machine("b", {});
  RemoteOptions o = Opts(servers_->RedisUrl(), b);
  absl::StatusOr<RemoteReport> cold = RemotePull(RealFs(), Adapter(), Hooks(), o);
  ASSERT_TRUE(cold.ok()) << cold.status();
  ASSERT_EQ(cold->groups_applied, 20);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("up-to-date pull #", round + 1));
    std::map<std::string, std::string> before = FilesUnder(b);
    ASSERT_EQ(RedisAdmin(port, {"CONFIG", "RESETSTAT"}), "OK");
    absl::StatusOr<RemoteReport> again = RemotePull(RealFs(), Adapter(), Hooks(), o);
    ASSERT_TRUE(again.ok()) << again.status();
    RedisTraffic t = Traffic(port);
    std::cerr << "up-to-date pull #" << round + 1 << ": " << t.commands << " Redis commands ("
              << t.detail << "), " << t.connections << " connections\n";
    // One round trip: one EVAL of the Get script (blob_store's Get), which runs one GET.
    EXPECT_EQ(t.evals, 1) << t.detail;
    EXPECT_EQ(t.commands, 2) << t.detail;
    EXPECT_EQ(t.connections, 1);
    EXPECT_EQ(FilesUnder(b), before) << "an up-to-date pull writes nothing";
    EXPECT_EQ(again->groups_applied, 0);
  }
  // The run's pull too.
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "RESETSTAT"}), "OK");
  std::map<std::string, std::string> before = FilesUnder(b);
  RemoteRunState run;
  RemoteReport pulled = RemotePullBeforeRun(RealFs(), Adapter(), Hooks(), o, run);
  EXPECT_FALSE(pulled.store_failed) << pulled.failure;
  RedisTraffic t = Traffic(port);
  EXPECT_EQ(t.evals, 1) << t.detail;
  EXPECT_EQ(t.commands, 2) << t.detail;
  EXPECT_EQ(FilesUnder(b), before);
  // And it is not blind: one new record is seen and applied.
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Module("pkg/m4", "v2", 1.8e9)).ok());
  ASSERT_TRUE(RemotePush(RealFs(), Adapter(), Hooks(), Opts(servers_->RedisUrl(), a)).ok());
  absl::StatusOr<RemoteReport> behind = RemotePull(RealFs(), Adapter(), Hooks(), o);
  ASSERT_TRUE(behind.ok()) << behind.status();
  EXPECT_EQ(behind->groups_applied, 1);
  EXPECT_EQ(Content(b), Content(a));
}

// The pack path is really taken: a cold pull of 60 groups is a handful of Gets, not 60+.
TEST_F(RemoteFaultTest, ColdPullIsAFewGetsWithAPack) {
  int port = servers_->Port("redis");
  std::string a = Machine("a", Modules(0, 60, "v1", 1.7e9));
  ASSERT_TRUE(RemotePush(RealFs(), Adapter(), Hooks(), Opts(servers_->RedisUrl(), a)).ok());
  for (bool pack : {true, false}) {
    SCOPED_TRACE(pack ? "with the pack" : "pack disabled");
    std::string b = Machine(pack ? "b" : "c", {});
    RemoteOptions o = Opts(servers_->RedisUrl(), b);
    if (!pack) o.pack_min_groups = 1000000;
    ASSERT_EQ(RedisAdmin(port, {"CONFIG", "RESETSTAT"}), "OK");
    absl::StatusOr<RemoteReport> cold = RemotePull(RealFs(), Adapter(), Hooks(), o);
    ASSERT_TRUE(cold.ok()) << cold.status();
    RedisTraffic t = Traffic(port);
    std::cerr << (pack ? "pack" : "groups") << ": " << t.commands << " Redis commands (" << t.detail
              << ")\n";
    EXPECT_EQ(cold->groups_applied, 60);
    EXPECT_EQ(Content(b), Content(a));
    if (pack) {
      // snap/latest, snap/1, the pack, log/2 (a miss): four Gets.
      EXPECT_EQ(t.evals, 4) << t.detail;
      EXPECT_EQ(cold->groups_from_pack, 60);
    } else {
      EXPECT_GE(t.evals, 63) << t.detail;
    }
  }
}

TEST_F(RemoteFaultTest, HttpErrorsAreErrorsNotBrokenCaches) {
  std::string b = Machine("b", Modules(0, 3, "mine", 1.6e9));
  std::map<std::string, std::string> before = Content(b);
  for (const char* path : {"err500", "err403", "err503"}) {
    RemoteOptions o = Opts(servers_->NginxUrl(path), b);
    absl::StatusOr<RemoteReport> pulled = RemotePull(RealFs(), Adapter(), Hooks(), o);
    EXPECT_FALSE(pulled.ok()) << path;
    absl::StatusOr<RemoteReport> pushed = RemotePush(RealFs(), Adapter(), Hooks(), o);
    EXPECT_FALSE(pushed.ok()) << path;
    RemoteRunState run;
    RemoteReport r = RemotePullBeforeRun(RealFs(), Adapter(), Hooks(), o, run);
    EXPECT_TRUE(r.store_failed) << path;
    EXPECT_EQ(r.counters.errors, 1) << path;
    EXPECT_EQ(Content(b), before);
  }
  EXPECT_TRUE(VerifyProblems(b).empty());
}

TEST_F(RemoteFaultTest, RedisReadOnlyAndOomRefusePushesButServePulls) {
  std::string url = servers_->RedisUrl();
  int port = servers_->Port("redis");
  std::string a = Machine("a", Modules(0, 5, "v1", 1.7e9));
  ASSERT_TRUE(RemotePush(RealFs(), Adapter(), Hooks(), Opts(url, a)).ok());
  ASSERT_TRUE(WriteRows(LiveDb(a), Schema::kFiles, Module("pkg/m1", "v2", 1.8e9)).ok());
  // OOM: maxmemory far below what is used, no eviction.
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "SET", "maxmemory-policy", "noeviction"}), "OK");
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "SET", "maxmemory", "1"}), "OK");
  absl::StatusOr<RemoteReport> oom = RemotePush(RealFs(), Adapter(), Hooks(), Opts(url, a));
  EXPECT_FALSE(oom.ok());
  std::string b = Machine("b", {});
  absl::StatusOr<RemoteReport> pulled = RemotePull(RealFs(), Adapter(), Hooks(), Opts(url, b));
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->groups_applied, 5) << "reads work while writes are refused";
  ASSERT_EQ(RedisAdmin(port, {"CONFIG", "SET", "maxmemory", "0"}), "OK");
  // Read-only replica.
  ASSERT_EQ(RedisAdmin(port, {"REPLICAOF", "127.0.0.1", "1"}), "OK");
  absl::StatusOr<RemoteReport> ro = RemotePush(RealFs(), Adapter(), Hooks(), Opts(url, a));
  EXPECT_FALSE(ro.ok());
  EXPECT_EQ(RedisAdmin(port, {"REPLICAOF", "NO", "ONE"}), "OK");
  // The next sync completes.
  absl::StatusOr<RemoteReport> pushed = RemotePush(RealFs(), Adapter(), Hooks(), Opts(url, a));
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_EQ(pushed->groups_pushed, 1);
  ASSERT_TRUE(RemotePull(RealFs(), Adapter(), Hooks(), Opts(url, b)).ok());
  EXPECT_EQ(Content(b), Content(a));
  EXPECT_TRUE(VerifyProblems(b).empty());
}

TEST_F(RemoteFaultTest, ServerKilledMidPushAndMidPull) {
  for (const char* server : {"redis", "nginx"}) {
    SCOPED_TRACE(server);
    std::string url =
        std::string(server) == "redis" ? servers_->RedisUrl() : servers_->NginxUrl("dav/kill");
    std::string a = Machine(absl::StrCat("a-", server), Modules(0, 200, "v1", 1.7e9));
    std::string b = Machine(absl::StrCat("b-", server), Modules(500, 502, "mine", 1.6e9));
    std::map<std::string, std::string> b_before = Content(b);
    // Mid-push.
    RemoteOptions oa = Opts(url, a);
    oa.session.budget = absl::Seconds(5);
    auto [push_status, push_took] = CallWhileKilled(servers_->Pid(server), [&] {
      return RemotePush(RealFs(), Adapter(), Hooks(), oa).status();
    });
    EXPECT_FALSE(push_status.ok());
    EXPECT_LT(push_took, absl::Seconds(6));
    // Restart the servers (empty), push completes; then kill mid-pull.
    servers_.reset();
    auto s = TestServers::Start({"redis", "nginx", "blackhole"});
    ASSERT_TRUE(s.ok()) << s.status();
    servers_ = std::move(*s);
    url = std::string(server) == "redis" ? servers_->RedisUrl() : servers_->NginxUrl("dav/kill");
    oa.url = url;
    absl::StatusOr<RemoteReport> pushed = RemotePush(RealFs(), Adapter(), Hooks(), oa);
    ASSERT_TRUE(pushed.ok()) << pushed.status();
    RemoteOptions ob = Opts(url, b);
    ob.session.budget = absl::Seconds(5);
    auto [pull_status, pull_took] = CallWhileKilled(servers_->Pid(server), [&] {
      return RemotePull(RealFs(), Adapter(), Hooks(), ob).status();
    });
    EXPECT_FALSE(pull_status.ok());
    EXPECT_EQ(Content(b), b_before) << "nothing half-applied";
    EXPECT_TRUE(VerifyProblems(b).empty());
    // New servers, a push and a pull: the next sync completes.
    servers_.reset();
    s = TestServers::Start({"redis", "nginx", "blackhole"});
    ASSERT_TRUE(s.ok()) << s.status();
    servers_ = std::move(*s);
    url = std::string(server) == "redis" ? servers_->RedisUrl() : servers_->NginxUrl("dav/kill");
    oa.url = url;
    ob.url = url;
    ASSERT_TRUE(RemotePush(RealFs(), Adapter(), Hooks(), oa).ok());
    absl::StatusOr<RemoteReport> pulled = RemotePull(RealFs(), Adapter(), Hooks(), ob);
    ASSERT_TRUE(pulled.ok()) << pulled.status();
    EXPECT_EQ(pulled->groups_applied, 200);
    EXPECT_EQ(Content(b).size(), b_before.size() + 400);
    EXPECT_TRUE(VerifyProblems(b).empty());
  }
}

}  // namespace
}  // namespace typecache
