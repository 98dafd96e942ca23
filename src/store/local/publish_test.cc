// Publish semantics at library level: union of concurrent runs, later publisher wins a whole
// group, deletions propagate, work proportional to changes, foreign directories, sharded and
// WAL caches, and crashes or faults at every file-system step.
#include "src/store/local/publish.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/cachedb/cache_db.h"
#include "src/cachedb/cache_file.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/lock.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/local_store.h"
#include "src/store/local/snapshot.h"
#include "src/testing/fault_fs.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

// `rows` (as ReadRows gives them) with `added`, TEXT rows of the kFiles schema, written over them.
Rows WithTextRows(Rows rows, const std::vector<Row>& added) {
  for (const Row& row : added) rows[row.path] = absl::StrCat(row.mtime, "|text|", row.data);
  return rows;
}

// Publish options that adopt a foreign directory whose files were `margin` older than the
// snapshot's stamps.
PublishOptions AdoptingWithMargin(absl::Duration margin) {
  PublishOptions options;
  options.adopt_racy_margin = margin;
  return options;
}

class PublishTest : public ::testing::Test {
 protected:
  PublishTest() : layout_(dir_.Sub("cache")) { EXPECT_TRUE(layout_.Create(RealFs()).ok()); }

  // A run in progress: its snapshot and private directory.
  struct SimRun {
    Snapshot snapshot;
    std::string id;
    std::string db(const std::string& file = "cache.db") const {
      return JoinPath(JoinPath(snapshot.private_root, "3.11"), file);
    }
  };

  SimRun Start(Fs& fs = RealFs()) {
    SimRun run;
    run.id = absl::StrCat("run", next_id_++);
    std::string root = JoinPath(layout_.runs_dir(), run.id);
    EXPECT_TRUE(fs.MakeDir(root, false).ok());
    absl::StatusOr<Snapshot> snap = TakeSnapshot(fs, layout_, adapter_, root);
    EXPECT_TRUE(snap.ok()) << snap.status();
    run.snapshot = *snap;
    // Like mypy, the checker creates its version directory when it is missing.
    EXPECT_TRUE(fs.MakeDir(JoinPath(root, "3.11"), true).ok());
    return run;
  }

  // Prepares the run's writes through `prepare_fs` and publishes them through `fs`.
  absl::StatusOr<PublishReport> FinishWith(const SimRun& run, const PublishOptions& options,
                                           Fs& fs = RealFs(), Fs& prepare_fs = RealFs()) {
    absl::StatusOr<WriteSets> writes = PrepareForPublish(prepare_fs, adapter_, run.snapshot);
    if (!writes.ok()) return writes.status();
    return Publish(fs, layout_, adapter_, run.snapshot, *writes, run.id, options);
  }
  // Prepares and publishes through `fs`, with a lock timeout short enough for a test.
  absl::StatusOr<PublishReport> Finish(const SimRun& run, Fs& fs = RealFs()) {
    PublishOptions options;
    options.lock_timeout = absl::Seconds(5);
    return FinishWith(run, options, fs, fs);
  }

  // Publishes `rows` as one complete run.
  void Seed(const std::vector<Row>& rows, Schema schema = Schema::kFiles) {
    SimRun run = Start();
    TC_ASSERT_OK(WriteRows(run.db(), schema, rows));
    ASSERT_TRUE(Finish(run).ok());
  }

  // Writes `rows` in `run` and publishes them in a child process killed before its `nth`
  // file-system call, or not at all if there are fewer: the shared cache is then what it was
  // before, or that with the rows, never a mix.
  void PublishKilledAt(int nth, const SimRun& run, const std::vector<Row>& rows) {
    Rows before = Shared();
    TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, rows));
    absl::StatusOr<bool> killed =
        KilledInChildAt(nth, [&](Fs& fs) { return Finish(run, fs).ok(); });
    ASSERT_TRUE(killed.ok()) << "step " << nth << ": " << killed.status();
    Rows now = Shared();
    EXPECT_TRUE(now == before || now == WithTextRows(before, rows))
        << "torn cache after kill at step " << nth;
  }

  // What a run writes to one database of its private directory.
  struct RunWrites {
    std::vector<Row> rows;
    Schema schema = Schema::kFiles;
    std::string file = "cache.db";
  };
  // Two runs start from the same live generation and write; `first` publishes, then `second`
  // (which merges): returns the second's report.
  absl::StatusOr<PublishReport> PublishOneAfterTheOther(const RunWrites& first,
                                                        const RunWrites& second) {
    SimRun a = Start();
    SimRun b = Start();
    absl::Status written = WriteRows(a.db(first.file), first.schema, first.rows);
    if (written.ok()) written = WriteRows(b.db(second.file), second.schema, second.rows);
    if (!written.ok()) return written;
    absl::StatusOr<PublishReport> ra = Finish(a);
    if (!ra.ok()) return ra.status();
    return Finish(b);
  }

  // The content digest the live generation's record holds for `file`, if any.
  std::optional<uint64_t> RecordedDigest(const std::string& file = "cache.db") {
    LocalGenerationStore store(RealFs(), layout_, adapter_);
    absl::StatusOr<LiveState> live = store.Head("3.11");
    EXPECT_TRUE(live.ok() && live->kind == LiveState::Kind::kGeneration);
    absl::StatusOr<std::optional<GenerationRecord>> record = store.Record("3.11", live->gen);
    EXPECT_TRUE(record.ok() && record->has_value());
    auto it = (*record)->digests.find(file);
    if (it == (*record)->digests.end()) return std::nullopt;
    return it->second;
  }
  // The content digest of the live file, read whole.
  uint64_t LiveDigest(const std::string& file = "cache.db") {
    absl::StatusOr<CacheFile> db =
        CacheFile::OpenReadOnly(JoinPath(layout_.live_path("3.11"), file));
    EXPECT_TRUE(db.ok()) << db.status();
    absl::StatusOr<uint64_t> digest = db->ContentDigest(adapter_);
    EXPECT_TRUE(digest.ok()) << digest.status();
    return digest.ok() ? *digest : 0;
  }

  // The database of a foreign directory: mypy wrote <cache>/3.11/cache.db directly, without
  // typecache.
  std::string ForeignDb() const { return JoinPath(layout_.live_path("3.11"), "cache.db"); }
  // Makes the foreign directory, its database holding modules pkg/m0 .. pkg/m<modules - 1>.
  absl::Status WriteForeign(int modules) {
    absl::Status made = RealFs().MakeDir(layout_.live_path("3.11"), false);
    if (!made.ok()) return made;
    return WriteRows(ForeignDb(), Schema::kFiles, Modules(0, modules, "f", 1));
  }

  Rows Shared(Schema schema = Schema::kFiles, const std::string& file = "cache.db") {
    absl::StatusOr<Rows> rows = ReadRows(JoinPath(layout_.live_path("3.11"), file), schema);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : Rows{};
  }

  TempDir dir_;
  Layout layout_;
  MypyAdapter adapter_;
  int next_id_ = 0;
};

TEST_F(PublishTest, ConcurrentRunsKeepEachOthersGroups) {
  Seed(Modules(0, 3, "base", 100));
  absl::StatusOr<PublishReport> rb =
      PublishOneAfterTheOther({ModuleRows("a/mod", "a", 200)}, {ModuleRows("b/mod", "b", 300)});
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(rb->groups_merged, 1);  // a/mod, carried over; nothing proportional to the cache.
  EXPECT_EQ(rb->full_merges, 0);
  Rows rows = Shared();
  EXPECT_EQ(rows.size(), 3u * 2 + 2 + 2);
  EXPECT_EQ(rows.count("a/mod.meta.json"), 1u);
  EXPECT_EQ(rows.count("b/mod.data.json"), 1u);
  EXPECT_EQ(*IntegrityCheck(JoinPath(layout_.live_path("3.11"), "cache.db")), "ok");
}

TEST_F(PublishTest, LaterPublisherWinsWholeGroup) {
  Seed(ModuleRows("pkg/x", "base", 100));
  SimRun a = Start();
  SimRun b = Start();
  // a rewrites the whole group; b rewrites only its meta (as mypy does when only the source
  // mtime changed). b publishes later: the group is b's, meta *and* data, never a mix.
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/x", "a", 200)));
  std::vector<Row> b_rows = ModuleRows("pkg/x", "b", 100);
  TC_ASSERT_OK(WriteRows(b.db(), Schema::kFiles, {b_rows[0]}));
  ASSERT_TRUE(Finish(a).ok());
  absl::StatusOr<PublishReport> rb = Finish(b);
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->conflicts, 1);
  Rows rows = Shared();
  EXPECT_NE(rows["pkg/x.meta.json"].find("\"b\""), std::string::npos);
  EXPECT_NE(rows["pkg/x.data.json"].find("base"), std::string::npos);  // b's data: the base's.
  EXPECT_EQ(rows["pkg/x.data.json"].find("\"a\""), std::string::npos);
}

TEST_F(PublishTest, DeletionsPropagate) {
  Seed(Modules(0, 4, "base", 100));
  SimRun a = Start();
  SimRun b = Start();
  TC_ASSERT_OK(DeleteRows(a.db(), Schema::kFiles, {"pkg/m1.meta.json", "pkg/m1.data.json"}));
  TC_ASSERT_OK(WriteRows(b.db(), Schema::kFiles, ModuleRows("pkg/m2", "b", 300)));
  ASSERT_TRUE(Finish(a).ok());
  ASSERT_TRUE(Finish(b).ok());  // b never touched m1: a's deletion must survive b's publish.
  Rows rows = Shared();
  EXPECT_EQ(rows.count("pkg/m1.meta.json"), 0u);
  EXPECT_EQ(rows.count("pkg/m1.data.json"), 0u);
  EXPECT_EQ(rows.count("pkg/m0.meta.json"), 1u);
  EXPECT_NE(rows["pkg/m2.meta.json"].find("\"b\""), std::string::npos);
}

TEST_F(PublishTest, NobodyPublishedMeansRenameOnly) {
  Seed(Modules(0, 50, "base", 100));
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/m7", "a", 200)));
  absl::StatusOr<PublishReport> r = Finish(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fast_paths, 1);
  EXPECT_EQ(r->groups_merged, 0);
  EXPECT_EQ(r->groups_written, 1);
}

TEST_F(PublishTest, ReadOnlyRunPublishesNothing) {
  Seed(Modules(0, 5, "base", 100));
  absl::StatusOr<LiveState> before = ReadLiveState(RealFs(), layout_, "3.11");
  SimRun a = Start();
  absl::StatusOr<PublishReport> r = Finish(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->dirs_published, 0);
  EXPECT_EQ(ReadLiveState(RealFs(), layout_, "3.11")->gen, before->gen);
}

TEST_F(PublishTest, WorkUnderLockIsProportionalToChanges) {
  Seed(Modules(0, 2000, "base", 100));
  absl::StatusOr<PublishReport> r =
      PublishOneAfterTheOther({ModuleRows("pkg/m1", "a", 200)}, {ModuleRows("pkg/m2", "b", 200)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->groups_merged, 1);
  EXPECT_EQ(r->full_merges, 0);
}

TEST_F(PublishTest, TypesAndMtimesAreKeptByteForByte) {
  std::string binary("\x00\x01\xff meta", 8);
  Seed({{"pkg/b.meta.ff", 1700000000.75, binary}, {"pkg/b.data.ff", 1700000000.25, "data"}},
       Schema::kFiles2);
  // c is carried over by the merge path.
  ASSERT_TRUE(PublishOneAfterTheOther({{{"pkg/c.meta.ff", 1.5, binary}}, Schema::kFiles2},
                                      {{{"pkg/d.meta.ff", 2.5, "x"}}, Schema::kFiles2})
                  .ok());
  Rows rows = Shared(Schema::kFiles2);
  EXPECT_EQ(rows["pkg/b.meta.ff"], absl::StrCat("1.7e+09|blob|", binary));
  EXPECT_EQ(rows["pkg/c.meta.ff"], absl::StrCat("1.5|blob|", binary));
  EXPECT_EQ(rows["pkg/d.meta.ff"], "2.5|blob|x");
}

TEST_F(PublishTest, ForeignDirectoryIsMergedAndReplacedByALink) {
  TC_ASSERT_OK(WriteForeign(3));  // Without typecache.
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/new", "a", 5)));
  // Meanwhile the direct writer adds another module.
  TC_ASSERT_OK(WriteRows(ForeignDb(), Schema::kFiles, ModuleRows("pkg/late", "f", 2)));
  absl::StatusOr<PublishReport> r = Finish(a);
  ASSERT_TRUE(r.ok()) << r.status();
  // Written after the copy: copied again outside the lock, then adopted (no comparison).
  EXPECT_EQ(r->full_merges, 0);
  EXPECT_EQ(r->adoption_recopies, 1);
  EXPECT_EQ(r->adopted_unchanged, 1);
  EXPECT_EQ(ReadLiveState(RealFs(), layout_, "3.11")->kind, LiveState::Kind::kGeneration);
  Rows rows = Shared();
  EXPECT_EQ(rows.size(), 3u * 2 + 2 + 2);
  EXPECT_EQ(rows.count("pkg/late.meta.json"), 1u);
  EXPECT_EQ(rows.count("pkg/new.meta.json"), 1u);
}

TEST_F(PublishTest, ShardedCachesMergePerShard) {
  // mypy 2.x: 16 shards of files2; two runs write different shards, a third creates a new one.
  SimRun seed = Start();
  for (int shard = 0; shard < 16; ++shard) {
    TC_ASSERT_OK(WriteRows(seed.db(absl::StrCat("cache.", shard, ".db")), Schema::kFiles2,
                           {{absl::StrCat("s", shard, "/m.meta.ff"), 1, "m"},
                            {absl::StrCat("s", shard, "/m.data.ff"), 1, "d"},
                            {absl::StrCat("s", shard, "/m.meta_ex.ff"), 1, "e"}}));
  }
  ASSERT_TRUE(Finish(seed).ok());
  ASSERT_TRUE(PublishOneAfterTheOther({{{"s3/a.meta.ff", 2, "a"}}, Schema::kFiles2, "cache.3.db"},
                                      {{{"s9/b.meta.ff", 2, "b"}}, Schema::kFiles2, "cache.9.db"})
                  .ok());
  EXPECT_EQ(Shared(Schema::kFiles2, "cache.3.db").count("s3/a.meta.ff"), 1u);
  EXPECT_EQ(Shared(Schema::kFiles2, "cache.9.db").count("s9/b.meta.ff"), 1u);
  EXPECT_EQ(Shared(Schema::kFiles2, "cache.9.db").size(), 4u);
  // Every shard of the live generation sits in one directory: one link, one generation.
  absl::StatusOr<std::vector<std::string>> files = RealFs().ListDir(layout_.live_path("3.11"));
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 16u);
}

TEST_F(PublishTest, SnapshotOfWalDatabaseWithLiveWriterIsConsistent) {
  // A direct writer (mypy 1.20.2+) keeps the database open in WAL mode with rows in the -wal.
  TC_ASSERT_OK(RealFs().MakeDir(layout_.live_path("3.11"), false));
  std::string db_path = ForeignDb();
  absl::StatusOr<Db> writer = OpenWalWriter(
      db_path, "CREATE TABLE files2 (path TEXT UNIQUE NOT NULL, mtime REAL, data BLOB);",
      Db::Mode::kCreate);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = 0; i < 50; ++i) {
    TC_ASSERT_OK(
        writer->Exec(absl::StrCat("INSERT INTO files2 VALUES('m", i, ".meta.ff', 1, x'00')")));
  }
  absl::StatusOr<FileInfo> wal = RealFs().Stat(db_path + "-wal");
  ASSERT_TRUE(wal.ok() && wal->size > 0);
  SimRun a = Start();
  absl::StatusOr<Rows> copied = ReadRows(a.db(), Schema::kFiles2);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(copied->size(), 50u);
  EXPECT_EQ(a.snapshot.method, "backup");
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles2, {{"new.meta.ff", 3, "n"}}));
  // The writer, idle now, still has the database open. Its files were written just before the
  // snapshot's stamps (racy): copied again after the lock, and that copy adopted. Opening the
  // database (for the copies) changes nothing of its stamps but the empty -wal's ctime.
  absl::StatusOr<PublishReport> r = Finish(a);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->adopted_unchanged, 1);
  EXPECT_EQ(r->full_merges, 0);
  TC_ASSERT_OK(writer->Close());
  EXPECT_EQ(Shared(Schema::kFiles2).size(), 51u);
  // The published database is self-contained in rollback mode.
  absl::StatusOr<Db> pub =
      Db::Open(JoinPath(layout_.live_path("3.11"), "cache.db"), Db::Mode::kReadOnly);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub->QueryText("PRAGMA journal_mode"), "delete");
  EXPECT_FALSE(RealFs().Stat(JoinPath(layout_.live_path("3.11"), "cache.db-wal"))->exists());
}

TEST_F(PublishTest, LockTimeoutNamesTheHolder) {
  Seed(Modules(0, 2, "base", 100));
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/z", "a", 2)));
  absl::StatusOr<WriteSets> writes = PrepareForPublish(RealFs(), adapter_, a.snapshot);
  ASSERT_TRUE(writes.ok());
  absl::StatusOr<FileLock> held =
      FileLock::Acquire(RealFs(), layout_.lock_path(), absl::Seconds(1));
  ASSERT_TRUE(held.ok());
  PublishOptions options;
  options.lock_timeout = absl::Milliseconds(150);
  absl::StatusOr<PublishReport> r =
      Publish(RealFs(), layout_, adapter_, a.snapshot, *writes, a.id, options);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status()));
  EXPECT_NE(r.status().message().find(absl::StrCat("pid ", getpid())), std::string::npos)
      << r.status();
  EXPECT_EQ(Shared().count("pkg/z.meta.json"), 0u);
}

// ---- Spares: a run that publishes nothing leaves its copy for the next run. ----

TEST_F(PublishTest, SpareIsReusedAndBroughtExactlyToTheLiveGeneration) {
  Seed(Modules(0, 20, "base", 100));
  // A run that rewrites groups with identical content (a warm mypy run) publishes nothing...
  SimRun warm = Start();
  TC_ASSERT_OK(WriteRows(warm.db(), Schema::kFiles, ModuleRows("pkg/m3", "base", 100)));
  WriteSets captured;
  absl::StatusOr<WriteSets> writes =
      PrepareForPublish(RealFs(), adapter_, warm.snapshot, &captured);
  ASSERT_TRUE(writes.ok());
  EXPECT_TRUE(writes->empty());
  EXPECT_EQ(CountGroups(captured["3.11"]), 1u);
  // ...and donates its copy.
  TC_ASSERT_OK(DonateSpare(RealFs(), layout_, adapter_, warm.snapshot, "3.11", captured["3.11"]));
  // Meanwhile other runs publish: a new group, a changed group, a deleted group.
  SimRun other = Start();  // Takes the spare.
  EXPECT_EQ(other.snapshot.method, "spare");
  TC_ASSERT_OK(WriteRows(other.db(), Schema::kFiles, ModuleRows("pkg/new", "o", 7)));
  TC_ASSERT_OK(WriteRows(other.db(), Schema::kFiles, ModuleRows("pkg/m5", "changed", 8)));
  TC_ASSERT_OK(DeleteRows(other.db(), Schema::kFiles, {"pkg/m6.meta.json", "pkg/m6.data.json"}));
  ASSERT_TRUE(Finish(other).ok());
  // A spare from an older generation is brought up to date from the logs.
  SimRun older = Start();
  // The donated spare was taken by `other`, whose publish retired its base at once (no window of
  // old generations is kept): `older` claims that one.
  EXPECT_EQ(older.snapshot.spares_from_retired, 1);
  SimRun more = Start();
  WriteSets older_captured;
  ASSERT_TRUE(PrepareForPublish(RealFs(), adapter_, older.snapshot, &older_captured).ok());
  TC_ASSERT_OK(
      DonateSpare(RealFs(), layout_, adapter_, older.snapshot, "3.11", older_captured["3.11"]));
  TC_ASSERT_OK(WriteRows(more.db(), Schema::kFiles, ModuleRows("pkg/m9", "more", 9)));
  TC_ASSERT_OK(DeleteRows(more.db(), Schema::kFiles, {"pkg/m2.meta.json", "pkg/m2.data.json"}));
  ASSERT_TRUE(Finish(more).ok());
  SimRun reused = Start();
  EXPECT_EQ(reused.snapshot.method, "spare");
  EXPECT_EQ(*ReadRows(reused.db(), Schema::kFiles), Shared());
  EXPECT_EQ(*IntegrityCheck(reused.db()), "ok");
}

TEST_F(PublishTest, SpareRevertsWhatItsRunWroteAndIsUnusableWithoutLogs) {
  Seed(Modules(0, 5, "base", 100));
  SimRun run = Start();
  // The run changed a group but did not publish (say its publish failed before trying).
  TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m1", "unpublished", 5)));
  WriteSets captured;
  ASSERT_TRUE(PrepareForPublish(RealFs(), adapter_, run.snapshot, &captured).ok());
  TC_ASSERT_OK(DonateSpare(RealFs(), layout_, adapter_, run.snapshot, "3.11", captured["3.11"]));
  SimRun next = Start();
  EXPECT_EQ(next.snapshot.method, "spare");
  EXPECT_EQ(*ReadRows(next.db(), Schema::kFiles), Shared());  // The change was reverted.
  // Without the logs that lead from its base to the live generation, a spare is discarded.
  WriteSets next_captured;
  ASSERT_TRUE(PrepareForPublish(RealFs(), adapter_, next.snapshot, &next_captured).ok());
  TC_ASSERT_OK(
      DonateSpare(RealFs(), layout_, adapter_, next.snapshot, "3.11", next_captured["3.11"]));
  SimRun publisher = Start();
  EXPECT_EQ(publisher.snapshot.method, "spare");
  TC_ASSERT_OK(WriteRows(publisher.db(), Schema::kFiles, ModuleRows("pkg/x", "x", 1)));
  ASSERT_TRUE(Finish(publisher).ok());
  // Put a spare of the old generation back, then remove the newest log.
  SimRun again = Start();
  WriteSets again_captured;
  ASSERT_TRUE(PrepareForPublish(RealFs(), adapter_, again.snapshot, &again_captured).ok());
  TC_ASSERT_OK(
      DonateSpare(RealFs(), layout_, adapter_, again.snapshot, "3.11", again_captured["3.11"]));
  SimRun bump = Start();
  TC_ASSERT_OK(WriteRows(bump.db(), Schema::kFiles, ModuleRows("pkg/y", "y", 1)));
  ASSERT_TRUE(Finish(bump).ok());
  int64_t live_gen = ReadLiveState(RealFs(), layout_, "3.11")->gen;
  TC_ASSERT_OK(RealFs().Unlink(layout_.log_path("3.11", live_gen)));
  SimRun fallback = Start();
  EXPECT_NE(fallback.snapshot.method, "spare");
  EXPECT_EQ(*ReadRows(fallback.db(), Schema::kFiles), Shared());
}

TEST_F(PublishTest, SpareOfAnotherBootIsDiscarded) {
  Seed(Modules(0, 5, "base", 100));
  SimRun run = Start();
  WriteSets captured;
  ASSERT_TRUE(PrepareForPublish(RealFs(), adapter_, run.snapshot, &captured).ok());
  TC_ASSERT_OK(DonateSpare(RealFs(), layout_, adapter_, run.snapshot, "3.11", captured["3.11"]));
  std::string spares = layout_.spares_dir("3.11");
  std::vector<std::string> names = *RealFs().ListDir(spares);
  ASSERT_EQ(names.size(), 1u);
  // The same spare, as if written before a reboot (its pages may never have reached the disk).
  std::string gen = names[0].substr(0, names[0].find('.'));
  TC_ASSERT_OK(RealFs().Rename(JoinPath(spares, names[0]),
                               JoinPath(spares, gen + ".0123456789abcdef.feedfacecafe")));
  SimRun next = Start();
  EXPECT_NE(next.snapshot.method, "spare");
  EXPECT_TRUE(RealFs().ListDir(spares)->empty());
  EXPECT_EQ(*ReadRows(next.db(), Schema::kFiles), Shared());
}

// ---- Adoption: the copy outside the lock, a stamp check under it ----

TEST_F(PublishTest, ForeignDirectoryUnchangedSinceItsCopyIsAdoptedWithoutAComparison) {
  TC_ASSERT_OK(WriteForeign(30));
  Rows before = Shared();
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/new", "a", 5)));
  FaultFs counting(RealFs());
  // The files were written just now: no margin.
  absl::StatusOr<PublishReport> r =
      FinishWith(a, AdoptingWithMargin(absl::ZeroDuration()), counting);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->full_merges, 0);
  EXPECT_EQ(r->adopted_unchanged, 1);
  EXPECT_EQ(r->groups_merged, 0);
  EXPECT_EQ(ReadLiveState(RealFs(), layout_, "3.11")->kind, LiveState::Kind::kGeneration);
  EXPECT_EQ(Shared(), WithTextRows(before, ModuleRows("pkg/new", "a", 5)));
  EXPECT_EQ(*IntegrityCheck(JoinPath(layout_.live_path("3.11"), "cache.db")), "ok");
}

TEST_F(PublishTest, ForeignDirectoryWrittenAfterItsCopyIsCopiedAgainOutsideTheLock) {
  TC_ASSERT_OK(WriteForeign(3));
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/new", "a", 5)));
  // The direct writer adds a module after the copy: the stamps differ; instead of comparing every
  // group under the lock, the run copies the directory again after it, applies its own groups,
  // and adopts that copy under a second, short lock.
  TC_ASSERT_OK(WriteRows(ForeignDb(), Schema::kFiles, ModuleRows("pkg/late", "f", 2)));
  absl::StatusOr<PublishReport> r = FinishWith(a, AdoptingWithMargin(absl::ZeroDuration()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->adopted_unchanged, 1);
  EXPECT_EQ(r->adoption_recopies, 1);
  EXPECT_EQ(r->full_merges, 0);
  EXPECT_EQ(Shared().count("pkg/late.meta.json"), 1u);
  EXPECT_EQ(Shared().count("pkg/new.meta.json"), 1u);
  EXPECT_EQ(Shared().size(), 3u * 2 + 2 + 2);
}

// A writer that writes the foreign directory every time the publish lock is taken (a gate at a
// fixed point, not timing): each copy is stale by the time it is checked. The run gives up on it
// after the copies allowed (one warning), publishes nothing for it, never compares under the lock.
class WriteForeignAtEachLockFs : public FaultFs {
 public:
  WriteForeignAtEachLockFs(std::string lock, std::string db, int limit)
      : FaultFs(RealFs()), lock_(std::move(lock)), db_(std::move(db)), limit_(limit) {}
  absl::StatusOr<int> OpenLockFile(const std::string& path) override {
    if (path == lock_ && writes < limit_) {
      ++writes;
      EXPECT_TRUE(
          WriteRows(db_, Schema::kFiles, ModuleRows(absl::StrCat("pkg/w", writes), "w", writes))
              .ok());
    }
    return FaultFs::OpenLockFile(path);
  }
  int writes = 0;

 private:
  std::string lock_, db_;
  int limit_;
};

TEST_F(PublishTest, ForeignDirectoryThatKeepsChangingIsNotPublished) {
  TC_ASSERT_OK(WriteForeign(3));
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/new", "a", 5)));
  WriteForeignAtEachLockFs fs(layout_.lock_path(), ForeignDb(), 100);
  PublishOptions options = AdoptingWithMargin(absl::ZeroDuration());
  std::vector<std::string> notices;
  options.notice = [&](const std::string& text) { notices.push_back(text); };
  absl::StatusOr<PublishReport> r = FinishWith(a, options, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(fs.writes, 3);  // The lock, then one per copy made again (2).
  EXPECT_EQ(r->adoption_recopies, 2);
  EXPECT_EQ(r->adoption_given_up, 1);
  EXPECT_EQ(r->dirs_published, 0);
  EXPECT_EQ(r->full_merges, 0);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("warning: not publishing 3.11"), std::string::npos) << notices[0];
  // The writer's directory is untouched by the run: all its rows, none of the run's.
  EXPECT_EQ(ReadLiveState(RealFs(), layout_, "3.11")->kind, LiveState::Kind::kForeign);
  Rows rows = Shared();
  EXPECT_EQ(rows.size(), 3u * 2 + 3 * 2);
  EXPECT_EQ(rows.count("pkg/new.meta.json"), 0u);
  // A writer that stops after two writes: the second copy made again is adopted, with the
  // writer's rows and the run's.
  SimRun b = Start();
  TC_ASSERT_OK(WriteRows(b.db(), Schema::kFiles, ModuleRows("pkg/new", "b", 6)));
  WriteForeignAtEachLockFs twice(layout_.lock_path(), ForeignDb(), 2);
  notices.clear();
  r = FinishWith(b, options, twice);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->adoption_recopies, 2);
  EXPECT_EQ(r->adopted_unchanged, 1);
  EXPECT_EQ(r->full_merges, 0);
  EXPECT_EQ(r->adoption_given_up, 0);
  EXPECT_TRUE(notices.empty());
  EXPECT_EQ(ReadLiveState(RealFs(), layout_, "3.11")->kind, LiveState::Kind::kGeneration);
  rows = Shared();
  EXPECT_EQ(rows.size(), 3u * 2 + 3 * 2 + 2);  // Its modules, pkg/w1..w3 (a's run), pkg/new.
  EXPECT_EQ(rows.count("pkg/w1.meta.json"), 1u);
  EXPECT_EQ(rows.count("pkg/new.meta.json"), 1u);
  EXPECT_EQ(*IntegrityCheck(JoinPath(layout_.live_path("3.11"), "cache.db")), "ok");
}

TEST_F(PublishTest, ForeignFilesWrittenTooCloseToTheirStampsAreNotAdopted) {
  TC_ASSERT_OK(WriteForeign(3));
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/new", "a", 5)));
  // Every file is "racy": the stamps prove nothing.
  absl::StatusOr<PublishReport> r = FinishWith(a, AdoptingWithMargin(absl::Hours(1)));
  ASSERT_TRUE(r.ok()) << r.status();
  // Racy stamps prove nothing, and a margin this long is not waited out: copied again twice,
  // still racy, nothing published (never a comparison under the lock).
  EXPECT_EQ(r->adopted_unchanged, 0);
  EXPECT_EQ(r->full_merges, 0);
  EXPECT_EQ(r->adoption_given_up, 1);
  EXPECT_EQ(Shared().size(), 3u * 2);
}

TEST_F(PublishTest, GenerationWrittenInPlaceIsAdoptedAsCopiedWithoutADigest) {
  Seed(Modules(0, 10, "base", 100));
  // Plain mypy wrote the live generation in place: its files no longer match its log.
  TC_ASSERT_OK(WriteRows(JoinPath(layout_.live_path("3.11"), "cache.db"), Schema::kFiles,
                         ModuleRows("pkg/inplace", "mypy", 3)));
  Rows before = Shared();
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/new", "a", 5)));
  absl::StatusOr<PublishReport> r = FinishWith(a, AdoptingWithMargin(absl::ZeroDuration()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->adopted_unchanged, 1);
  EXPECT_EQ(r->full_merges, 0);
  EXPECT_EQ(Shared().size(), before.size() + 2);
  EXPECT_EQ(Shared().count("pkg/inplace.meta.json"), 1u);
  std::optional<uint64_t> recorded = RecordedDigest();
  EXPECT_TRUE(!recorded.has_value() || *recorded == LiveDigest());
}

// ---- Retired generations become spares (docs/protocol.md, "Retired generations ...") ----

// Spares of `dir` whose name says they are retired generations.
std::vector<std::string> RetiredSpares(const Layout& layout) {
  std::vector<std::string> out;
  absl::StatusOr<std::vector<std::string>> names = RealFs().ListDir(layout.spares_dir("3.11"));
  if (!names.ok()) return out;
  for (const std::string& name : *names) {
    if (IsRetiredSpare(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// No spare is the inode of a generation directory (a claimed spare is rewritten in place).
void ExpectNoSpareAliasesAGeneration(const Layout& layout) {
  std::set<std::pair<uint64_t, uint64_t>> gens;
  std::vector<std::string> names = *RealFs().ListDir(layout.gens_dir("3.11"));
  for (const std::string& name : names) {
    FileInfo info = *RealFs().Lstat(JoinPath(layout.gens_dir("3.11"), name));
    gens.insert({info.device, info.inode});
  }
  absl::StatusOr<std::vector<std::string>> spares = RealFs().ListDir(layout.spares_dir("3.11"));
  if (!spares.ok()) return;
  for (const std::string& name : *spares) {
    FileInfo info = *RealFs().Lstat(JoinPath(layout.spares_dir("3.11"), name));
    EXPECT_EQ(gens.count({info.device, info.inode}), 0u) << name << " is a generation directory";
  }
}

TEST_F(PublishTest, RetiredGenerationIsASpareTheNextRunBringsUpToDate) {
  Seed(Modules(0, 20, "base", 100));  // g1
  {  // g2: g1 stops being the head, nobody holds it: retired at once (no window is kept).
    SimRun run = Start();
    EXPECT_EQ(run.snapshot.spares_from_retired, 0);
    TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m0", "c0", 10)));
    TC_ASSERT_OK(DeleteRows(run.db(), Schema::kFiles, {"pkg/m7.meta.json", "pkg/m7.data.json"}));
    ASSERT_TRUE(Finish(run).ok());
  }
  ASSERT_EQ(RetiredSpares(layout_).size(), 1u);
  EXPECT_EQ(SpareBase(RetiredSpares(layout_)[0]), 1);
  EXPECT_FALSE(RealFs().Lstat(layout_.gen_path("3.11", 1))->exists());
  ExpectNoSpareAliasesAGeneration(layout_);
  SimRun next = Start();
  EXPECT_EQ(next.snapshot.method, "spare");
  EXPECT_EQ(next.snapshot.spares_from_retired, 1);
  EXPECT_EQ(next.snapshot.copies, 0);
  EXPECT_EQ(next.snapshot.bytes, 0);  // Nothing copied: one generation's changes replayed.
  EXPECT_EQ(*ReadRows(next.db(), Schema::kFiles), Shared());
  EXPECT_EQ(*IntegrityCheck(next.db()), "ok");
  EXPECT_TRUE(RetiredSpares(layout_).empty());  // Claimed: nobody else gets it.
  // Steady state: every changing run's publish retires one generation for the next run.
  TC_ASSERT_OK(WriteRows(next.db(), Schema::kFiles, ModuleRows("pkg/next", "n", 1)));
  ASSERT_TRUE(Finish(next).ok());
  SimRun after = Start();
  EXPECT_EQ(after.snapshot.spares_from_retired, 1);
  EXPECT_EQ(*ReadRows(after.db(), Schema::kFiles), Shared());
}

TEST_F(PublishTest, RetiredSpareWrittenInPlaceOrWithoutItsLogIsNotUsed) {
  Seed(Modules(0, 5, "base", 100));
  {
    SimRun run = Start();
    TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m1", "0", 0)));
    ASSERT_TRUE(Finish(run).ok());
  }
  ASSERT_EQ(RetiredSpares(layout_).size(), 1u);
  // Someone wrote the retired generation in place: its files no longer match its log.
  std::string spare = JoinPath(layout_.spares_dir("3.11"), RetiredSpares(layout_)[0]);
  TC_ASSERT_OK(
      WriteRows(JoinPath(spare, "cache.db"), Schema::kFiles, ModuleRows("pkg/intruder", "x", 1)));
  SimRun next = Start();
  EXPECT_EQ(next.snapshot.spares_from_retired, 0);
  EXPECT_EQ(next.snapshot.copies, 1);
  EXPECT_EQ(*ReadRows(next.db(), Schema::kFiles), Shared());
  EXPECT_TRUE(RetiredSpares(layout_).empty());  // Discarded (to the trash).
}

TEST_F(PublishTest, GenerationAReaderHoldsIsNotRetired) {
  Seed(Modules(0, 5, "base", 100));  // g1
  {
    // A reader still copying g1 (it resolved the link just before the publish).
    absl::StatusOr<GenerationReadLock> reader =
        GenerationReadLock::Acquire(RealFs(), layout_.gen_path("3.11", 1));
    TC_ASSERT_OK(reader.status());
    SimRun run = Start();  // Copies g1 (a shared lock beside the reader's).
    TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m2", "held", 1)));
    ASSERT_TRUE(Finish(run).ok());  // g2: g1 stops being the head, but is held.
    EXPECT_TRUE(RealFs().Lstat(layout_.gen_path("3.11", 1))->is_dir());
    EXPECT_TRUE(RetiredSpares(layout_).empty());
    EXPECT_FALSE(*RetireGeneration(RealFs(), layout_, "3.11", 1, 0));
    EXPECT_FALSE(*RemoveGeneration(RealFs(), layout_, "3.11", 1));
    // Let go: the reader collects what it held back. g1 becomes the spare.
    reader->Release();
    CollectAfterReading(RealFs(), layout_, "3.11", 1);
  }
  EXPECT_FALSE(RealFs().Lstat(layout_.gen_path("3.11", 1))->exists());
  ASSERT_EQ(RetiredSpares(layout_).size(), 1u);
  EXPECT_EQ(SpareBase(RetiredSpares(layout_)[0]), 1);
  {
    // g2 held across two publishes: g3, unheld when g4 goes live, is retired; g2 stays until its
    // reader lets go, and is then removed (the spare kept, g3, is newer).
    absl::StatusOr<GenerationReadLock> reader =
        GenerationReadLock::Acquire(RealFs(), layout_.gen_path("3.11", 2));
    TC_ASSERT_OK(reader.status());
    for (int i = 0; i < 2; ++i) {  // g3, g4
      SimRun run = Start();
      TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m3", absl::StrCat(i), i)));
      ASSERT_TRUE(Finish(run).ok());
    }
    EXPECT_TRUE(RealFs().Lstat(layout_.gen_path("3.11", 2))->is_dir());  // Held: neither.
    ASSERT_EQ(RetiredSpares(layout_).size(), 1u);
    EXPECT_EQ(SpareBase(RetiredSpares(layout_)[0]), 3);  // g3 left unheld: retired.
    reader->Release();
    CollectAfterReading(RealFs(), layout_, "3.11", 2);
  }
  EXPECT_FALSE(RealFs().Lstat(layout_.gen_path("3.11", 2))->exists());  // Removed: older.
  ASSERT_EQ(RetiredSpares(layout_).size(), 1u);
  EXPECT_EQ(SpareBase(RetiredSpares(layout_)[0]), 3);
  // Only the live generation is left in gens/, and it is never retired or removed.
  EXPECT_EQ(*RealFs().ListDir(layout_.gens_dir("3.11")), std::vector<std::string>{"g00000004"});
  EXPECT_FALSE(*RetireGeneration(RealFs(), layout_, "3.11", 4, 0));
  EXPECT_FALSE(*RemoveGeneration(RealFs(), layout_, "3.11", 4));
  ExpectNoSpareAliasesAGeneration(layout_);
}

// A retirer that renames the directory between the reader's open and its lock (it held the
// exclusive lock then and has released it): the reader's re-check sees it and gives up.
class RetireBeforeSharedLockFs : public FaultFs {
 public:
  RetireBeforeSharedLockFs(const std::string& from, const std::string& to)
      : FaultFs(RealFs()), from_(from), to_(to) {}
  absl::StatusOr<bool> TryLockShared(int fd) override {
    if (!from_.empty()) {
      EXPECT_TRUE(RealFs().Rename(from_, to_).ok());
      from_.clear();
    }
    return FaultFs::TryLockShared(fd);
  }

 private:
  std::string from_, to_;
};

TEST_F(PublishTest, ReaderRechecksTheGenerationAfterTakingItsLock) {
  Seed(Modules(0, 5, "base", 100));
  std::string gen = layout_.gen_path("3.11", 1);
  std::string spare = JoinPath(layout_.state_dir(), "retired-meanwhile");
  RetireBeforeSharedLockFs fs(gen, spare);
  absl::StatusOr<GenerationReadLock> lock = GenerationReadLock::Acquire(fs, gen);
  EXPECT_TRUE(absl::IsNotFound(lock.status())) << lock.status();
  // Held, the directory cannot be retired; released, it can.
  TC_ASSERT_OK(RealFs().Rename(spare, gen));
  {
    absl::StatusOr<GenerationReadLock> held = GenerationReadLock::Acquire(RealFs(), gen);
    TC_ASSERT_OK(held.status());
    int fd = *RealFs().OpenDirFd(gen);
    EXPECT_FALSE(*RealFs().TryLock(fd));
    RealFs().CloseFd(fd);
  }
  int fd = *RealFs().OpenDirFd(gen);
  EXPECT_TRUE(*RealFs().TryLock(fd));
  RealFs().CloseFd(fd);
}

// While a snapshot copies the live generation, three other runs publish, so that the generation
// being copied leaves the kept window: their collection must not retire it under the copy.
class PublishDuringCopyFs : public FaultFs {
 public:
  explicit PublishDuringCopyFs(std::function<void()> during) : FaultFs(RealFs()), during_(during) {}
  absl::StatusOr<CopyMethod> CopyFile(const std::string& from, const std::string& to) override {
    if (during_) {
      std::function<void()> during = std::move(during_);
      during_ = nullptr;
      during();
    }
    return FaultFs::CopyFile(from, to);
  }

 private:
  std::function<void()> during_;
};

TEST_F(PublishTest, SnapshotHoldsTheGenerationItCopies) {
  Seed(Modules(0, 5, "base", 100));  // g1: what the snapshot below copies.
  Rows seeded = Shared();
  bool held_during_copy = false;
  PublishDuringCopyFs fs([&]() {
    for (int i = 0; i < 3; ++i) {  // g2..g4: g1 leaves the window.
      SimRun run = Start();
      TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m1", absl::StrCat(i), i)));
      ASSERT_TRUE(Finish(run).ok());
    }
    held_during_copy = RealFs().Lstat(layout_.gen_path("3.11", 1))->is_dir();
  });
  // A spare would be taken instead of a copy: there is none yet (g1 is the only generation).
  SimRun copier = Start(fs);
  EXPECT_EQ(copier.snapshot.copies, 1);
  EXPECT_TRUE(held_during_copy) << "generation 1 was retired while a snapshot copied it";
  EXPECT_EQ(copier.snapshot.BaseOf("3.11").gen, 1);
  EXPECT_EQ(*ReadRows(copier.db(), Schema::kFiles), seeded);
}

TEST_F(PublishTest, WithoutFlockOnDirectoriesReadersGoAheadAndNothingIsRetired) {
  Seed(Modules(0, 5, "base", 100));
  std::string gen = layout_.gen_path("3.11", 1);
  FaultFs no_flock(RealFs());
  no_flock.FailAt("lockshared", 1, ENOLCK);
  TC_ASSERT_OK(GenerationReadLock::Acquire(no_flock, gen).status());
  FaultFs no_exclusive(RealFs());
  no_exclusive.FailAt("lock", 1, ENOLCK);
  absl::StatusOr<bool> retired = RetireGeneration(no_exclusive, layout_, "3.11", 1, -1);
  EXPECT_FALSE(retired.ok() && *retired);
  EXPECT_TRUE(RealFs().Lstat(gen)->is_dir());
}

// SIGKILL before every file-system call of (1) a publish whose collection retires a generation
// and (2) a snapshot that claims the retired spare. After each: the shared cache is the old or
// the new generation, no spare is a generation's directory, and the next run's snapshot is
// exactly the live generation (from a spare or a copy).
TEST_F(PublishTest, KillAtEveryStepOfRetiringAndClaiming) {
  Seed(Modules(0, 8, "base", 100));
  auto bump = [&](const std::string& tag) {
    SimRun run = Start();
    TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m1", tag, 1)));
    ASSERT_TRUE(Finish(run).ok());
  };
  for (int i = 0; i < 3; ++i) bump(absl::StrCat("w", i));
  ASSERT_EQ(RetiredSpares(layout_).size(), 1u);
  int publish_calls = 0, snapshot_calls = 0;
  {
    SimRun run = Start();
    TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m2", "count", 1)));
    FaultFs counting(RealFs());
    ASSERT_TRUE(Finish(run, counting).ok());
    publish_calls = counting.calls();
    FaultFs counting_snapshot(RealFs());
    SimRun claimer = Start(counting_snapshot);
    EXPECT_EQ(claimer.snapshot.spares_from_retired, 1);
    snapshot_calls = counting_snapshot.calls();
  }
  ASSERT_GT(publish_calls, 10);
  ASSERT_GT(snapshot_calls, 5);
  auto check_next = [&](const std::string& what, int n) {
    ExpectNoSpareAliasesAGeneration(layout_);
    EXPECT_EQ(*IntegrityCheck(JoinPath(layout_.live_path("3.11"), "cache.db")), "ok");
    SimRun next = Start();
    EXPECT_EQ(*ReadRows(next.db(), Schema::kFiles), Shared()) << what << " kill at " << n;
    EXPECT_EQ(*IntegrityCheck(next.db()), "ok");
  };
  int retired_seen = 0;
  for (int n = 1; n <= publish_calls + 1; ++n) {
    // Make sure a retirement is due in this publish: a spare older than the leaving generation.
    SimRun mine = Start();
    ASSERT_NO_FATAL_FAILURE(
        PublishKilledAt(n, mine, ModuleRows("pkg/m3", absl::StrCat("k", n), n)));
    retired_seen += RetiredSpares(layout_).empty() ? 0 : 1;
    check_next("publish", n);
  }
  EXPECT_GT(retired_seen, 0);
  int claimed = 0;
  for (int n = 1; n <= snapshot_calls + 1; ++n) {
    if (RetiredSpares(layout_).empty()) bump(absl::StrCat("again", n));  // Retires one.
    ASSERT_FALSE(RetiredSpares(layout_).empty()) << "no retired spare before step " << n;
    Rows before = Shared();
    std::string root = JoinPath(layout_.runs_dir(), absl::StrCat("victim", n));
    TC_ASSERT_OK(RealFs().MakeDir(root, false));
    absl::StatusOr<bool> killed = KilledInChildAt(n, [&](Fs& fs) {
      absl::StatusOr<Snapshot> snap = TakeSnapshot(fs, layout_, adapter_, root);
      return snap.ok() && snap->spares_from_retired == 1;
    });
    ASSERT_TRUE(killed.ok()) << "step " << n << ": " << killed.status();
    claimed += *killed ? 0 : 1;
    EXPECT_EQ(Shared(), before) << "a snapshot changed the shared cache (step " << n << ")";
    TC_ASSERT_OK(RemoveAll(RealFs(), root));  // What the sweeper does for a dead run.
    check_next("snapshot", n);
    bump(absl::StrCat("s", n));
  }
  EXPECT_GE(claimed, 1);  // The run past the last call finished, and claimed the spare.
}

// ---- Content digests: every generation records what verify can check exactly. ----

// After every kind of publish the digest recorded for the new generation, computed from its
// parent's and what was written (no scan), is that of its content read whole.
TEST_F(PublishTest, RecordedDigestIsTheContentAfterEveryKindOfPublish) {
  Seed(Modules(0, 10, "base", 100));  // From nothing.
  ASSERT_TRUE(RecordedDigest().has_value());
  EXPECT_EQ(*RecordedDigest(), LiveDigest());
  // The fast path (nobody published since the snapshot).
  SimRun fast = Start();
  TC_ASSERT_OK(WriteRows(fast.db(), Schema::kFiles, ModuleRows("pkg/m1", "fast", 200)));
  ASSERT_EQ(Finish(fast)->fast_paths, 1);
  EXPECT_EQ(RecordedDigest(), LiveDigest());
  // Merging: others added, changed and deleted groups; this run changed, deleted and added, and
  // won a conflict; a global row rewritten with a new mtime only (not published as a change,
  // but its mtime is in the new generation).
  SimRun a = Start();
  SimRun b = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/a", "a", 300)));
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/m2", "a", 300)));
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/m5", "a", 300)));
  TC_ASSERT_OK(DeleteRows(a.db(), Schema::kFiles, {"pkg/m3.meta.json", "pkg/m3.data.json"}));
  ASSERT_TRUE(Finish(a).ok());
  TC_ASSERT_OK(WriteRows(b.db(), Schema::kFiles, ModuleRows("pkg/b", "b", 400)));
  TC_ASSERT_OK(WriteRows(b.db(), Schema::kFiles, ModuleRows("pkg/m2", "b", 400)));  // Conflict.
  TC_ASSERT_OK(DeleteRows(b.db(), Schema::kFiles, {"pkg/m4.meta.json", "pkg/m4.data.json"}));
  TC_ASSERT_OK(WriteRows(b.db(), Schema::kFiles, {{"@plugins_snapshot.json", 401, "{}"}}));
  absl::StatusOr<PublishReport> rb = Finish(b);
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(rb->conflicts, 1);
  EXPECT_EQ(rb->full_merges, 0);
  ASSERT_TRUE(RecordedDigest().has_value());
  EXPECT_EQ(*RecordedDigest(), LiveDigest());
  // A rewrite of the global row with the same content and an older mtime: not a change, so
  // nothing is published by it alone; with a real change beside it, its mtime goes live too.
  SimRun c = Start();
  TC_ASSERT_OK(WriteRows(c.db(), Schema::kFiles, {{"@plugins_snapshot.json", 7, "{}"}}));
  TC_ASSERT_OK(WriteRows(c.db(), Schema::kFiles, ModuleRows("pkg/c", "c", 500)));
  ASSERT_TRUE(Finish(c).ok());
  EXPECT_EQ(RecordedDigest(), LiveDigest());
}

TEST_F(PublishTest, ConflictsAMaintenanceCommandYieldsKeepTheDigestExact) {
  Seed(Modules(0, 4, "base", 100));
  SimRun edit = Start();
  SimRun run = Start();
  TC_ASSERT_OK(WriteRows(run.db(), Schema::kFiles, ModuleRows("pkg/m1", "run", 200)));
  ASSERT_TRUE(Finish(run).ok());
  TC_ASSERT_OK(WriteRows(edit.db(), Schema::kFiles, ModuleRows("pkg/m1", "edit", 300)));
  TC_ASSERT_OK(WriteRows(edit.db(), Schema::kFiles, ModuleRows("pkg/m2", "edit", 300)));
  absl::StatusOr<WriteSets> writes = PrepareForPublish(RealFs(), adapter_, edit.snapshot);
  ASSERT_TRUE(writes.ok());
  PublishOptions options;
  options.yield_conflicts = true;
  absl::StatusOr<PublishReport> r =
      Publish(RealFs(), layout_, adapter_, edit.snapshot, *writes, edit.id, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(Shared()["pkg/m1.meta.json"].find("\"run\""), std::string::npos);
  EXPECT_EQ(RecordedDigest(), LiveDigest());
}

TEST_F(PublishTest, NoDigestWhereItWouldCostAScanUntilAMaintenanceCommand) {
  // A foreign directory has no record: its adoption (here copied again: its files were written
  // too recently for the first stamps) records no digest, nor does the next publish that builds
  // on it, on the run path.
  TC_ASSERT_OK(WriteForeign(3));
  SimRun a = Start();
  TC_ASSERT_OK(WriteRows(a.db(), Schema::kFiles, ModuleRows("pkg/new", "a", 5)));
  ASSERT_EQ(Finish(a)->adopted_unchanged, 1);
  EXPECT_FALSE(RecordedDigest().has_value());
  SimRun b = Start();
  TC_ASSERT_OK(WriteRows(b.db(), Schema::kFiles, ModuleRows("pkg/b", "b", 5)));
  ASSERT_TRUE(Finish(b).ok());
  EXPECT_FALSE(RecordedDigest().has_value());
  // A publish whose prepare step asks for it (maintenance commands) reads the new file whole
  // and starts the chain again; later runs follow it.
  SimRun c = Start();
  TC_ASSERT_OK(WriteRows(c.db(), Schema::kFiles, ModuleRows("pkg/c", "c", 5)));
  absl::StatusOr<WriteSets> writes = PrepareForPublish(RealFs(), adapter_, c.snapshot);
  ASSERT_TRUE(writes.ok());
  writes->prepared["3.11"]["cache.db"].digest = PreparedFile::Digest::kRecompute;
  ASSERT_TRUE(Publish(RealFs(), layout_, adapter_, c.snapshot, *writes, c.id, {}).ok());
  EXPECT_EQ(RecordedDigest(), LiveDigest());
  SimRun d = Start();
  TC_ASSERT_OK(WriteRows(d.db(), Schema::kFiles, ModuleRows("pkg/d", "d", 5)));
  ASSERT_TRUE(Finish(d).ok());
  EXPECT_EQ(RecordedDigest(), LiveDigest());
}

TEST_F(PublishTest, DigestRecordsGoWithTheirGenerations) {
  for (int i = 0; i < 6; ++i) Seed(ModuleRows(absl::StrCat("pkg/m", i), "t", 1 + i));
  int64_t head = ReadLiveState(RealFs(), layout_, "3.11")->gen;
  // A record a publisher died writing, from an earlier generation.
  TC_ASSERT_OK(RealFs().WriteNewFile(
      absl::StrCat(layout_.digest_path("3.11", head - 1), ".tmp.dead"), "typecache-digests 1\n"));
  Seed(ModuleRows("pkg/last", "t", 9));
  absl::StatusOr<std::vector<std::string>> listed = RealFs().ListDir(layout_.digests_dir("3.11"));
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::vector<std::string> names = *listed;
  std::sort(names.begin(), names.end());
  // The live one's and its parent's (the next publish computes its digest from it).
  EXPECT_EQ(names, (std::vector<std::string>{Layout::GenName(head), Layout::GenName(head + 1)}));
  // Nothing of them in logs/: only logs live there.
  absl::StatusOr<std::vector<std::string>> logs = RealFs().ListDir(layout_.logs_dir("3.11"));
  ASSERT_TRUE(logs.ok());
  for (const std::string& name : *logs) EXPECT_TRUE(absl::EndsWith(name, ".log")) << name;
}

TEST_F(PublishTest, DigestsOfEveryShard) {
  SimRun seed = Start();
  for (int shard = 0; shard < 4; ++shard) {
    TC_ASSERT_OK(WriteRows(seed.db(absl::StrCat("cache.", shard, ".db")), Schema::kFiles2,
                           {{absl::StrCat("s", shard, "/m.meta.ff"), 1, "m"}}));
  }
  ASSERT_TRUE(Finish(seed).ok());
  ASSERT_TRUE(PublishOneAfterTheOther({{{"s1/a.meta.ff", 2, "a"}}, Schema::kFiles2, "cache.1.db"},
                                      {{{"s2/b.meta.ff", 2, "b"}}, Schema::kFiles2, "cache.2.db"})
                  .ok());
  for (int shard = 0; shard < 4; ++shard) {
    std::string file = absl::StrCat("cache.", shard, ".db");
    EXPECT_EQ(RecordedDigest(file), LiveDigest(file)) << file;
  }
}

// The run protocol talks to a GenerationStore only: a store that wraps the local one (as
// another store would stand in for it) sees every step, and the result is the local one's.
class RecordingStore : public GenerationStore {
 public:
  explicit RecordingStore(GenerationStore& inner) : inner_(inner) {}
  absl::StatusOr<GenerationHead> Head(const std::string& dir) override {
    calls.push_back("Head");
    return inner_.Head(dir);
  }
  absl::StatusOr<std::optional<GroupSets>> Fetch(const std::string& dir,
                                                 const GenerationHead& since,
                                                 const GenerationHead& head) override {
    calls.push_back("Fetch");
    return inner_.Fetch(dir, since, head);
  }
  absl::StatusOr<std::optional<GenerationRecord>> Record(const std::string& dir,
                                                         int64_t gen) override {
    calls.push_back("Record");
    return inner_.Record(dir, gen);
  }
  absl::StatusOr<std::unique_ptr<PublishLock>> Lock(
      absl::Duration timeout, const std::function<void(const std::string&)>& waiting) override {
    calls.push_back("Lock");
    return inner_.Lock(timeout, waiting);
  }
  absl::StatusOr<PublishedGeneration> Publish(const PublishRequest& request) override {
    calls.push_back("Publish");
    return inner_.Publish(request);
  }
  absl::Status RecordDigests(const std::string& dir, int64_t gen,
                             const std::map<std::string, uint64_t>& digests) override {
    calls.push_back("RecordDigests");
    return inner_.RecordDigests(dir, gen, digests);
  }
  absl::Status RecordCheckerVersion(const std::string& version) override {
    calls.push_back("RecordCheckerVersion");
    return inner_.RecordCheckerVersion(version);
  }
  absl::Status CollectGarbage(const std::string& dir, int64_t head) override {
    calls.push_back("CollectGarbage");
    return inner_.CollectGarbage(dir, head);
  }
  std::vector<std::string> calls;

 private:
  GenerationStore& inner_;
};

TEST_F(PublishTest, SnapshotAndPublishGoThroughTheStore) {
  Seed(Modules(0, 3, "base", 100));
  LocalGenerationStore local(RealFs(), layout_, adapter_, {2, 1000, "rec"});
  RecordingStore store(local);
  std::string root = JoinPath(layout_.runs_dir(), "rec-a");
  TC_ASSERT_OK(RealFs().MakeDir(root, false));
  absl::StatusOr<Snapshot> snap = TakeSnapshot(store, RealFs(), layout_, adapter_, root);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(store.calls, (std::vector<std::string>{"Head"}));
  SimRun other = Start();  // Publishes meanwhile, so that the publish below merges.
  TC_ASSERT_OK(WriteRows(other.db(), Schema::kFiles, ModuleRows("pkg/o", "o", 5)));
  ASSERT_TRUE(Finish(other).ok());
  TC_ASSERT_OK(WriteRows(JoinPath(root, "3.11/cache.db"), Schema::kFiles,
                         ModuleRowsWithMeta("pkg/r", "r", 6, "\"version_id\": \"1.0.1\"")));
  absl::StatusOr<WriteSets> writes = PrepareForPublish(RealFs(), adapter_, *snap);
  ASSERT_TRUE(writes.ok());
  store.calls.clear();
  absl::StatusOr<PublishReport> r = Publish(store, RealFs(), adapter_, *snap, *writes, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->groups_merged, 1);
  EXPECT_EQ(store.calls,
            (std::vector<std::string>{"Lock", "Head", "Fetch", "Publish", "Record", "RecordDigests",
                                      "RecordCheckerVersion", "CollectGarbage"}));
  Rows rows = Shared();
  EXPECT_EQ(rows.count("pkg/o.meta.json"), 1u);
  EXPECT_EQ(rows.count("pkg/r.meta.json"), 1u);
  EXPECT_EQ(RecordedDigest(), LiveDigest());
}

// Crash (SIGKILL) before every file-system call of a publish that merges, in a child process.
// After each crash the shared cache is the old or the new generation, whole, and the next
// publish works.
TEST_F(PublishTest, KillAtEveryStepLeavesOldOrNewGeneration) {
  Seed(Modules(0, 5, "base", 100));
  // Measure how many calls one merging publish makes.
  int total_calls = 0;
  {
    SimRun other = Start();
    SimRun mine = Start();
    TC_ASSERT_OK(WriteRows(other.db(), Schema::kFiles, ModuleRows("pkg/o", "o", 1)));
    ASSERT_TRUE(Finish(other).ok());
    TC_ASSERT_OK(WriteRows(mine.db(), Schema::kFiles, ModuleRows("pkg/m1", "mine", 1)));
    FaultFs counting(RealFs());
    ASSERT_TRUE(Finish(mine, counting).ok());
    total_calls = counting.calls();
  }
  ASSERT_GT(total_calls, 10);
  for (int n = 1; n <= total_calls + 1; ++n) {
    SimRun other = Start();
    SimRun mine = Start();
    TC_ASSERT_OK(
        WriteRows(other.db(), Schema::kFiles, ModuleRows(absl::StrCat("pkg/o", n), "o", n)));
    ASSERT_TRUE(Finish(other).ok());
    ASSERT_NO_FATAL_FAILURE(
        PublishKilledAt(n, mine, ModuleRows("pkg/m1", absl::StrCat("k", n), n)));
    EXPECT_EQ(*IntegrityCheck(JoinPath(layout_.live_path("3.11"), "cache.db")), "ok");
    // Leftovers never block the next publish.
    SimRun next = Start();
    TC_ASSERT_OK(WriteRows(next.db(), Schema::kFiles, ModuleRows("pkg/after", absl::StrCat(n), n)));
    absl::StatusOr<PublishReport> r = Finish(next);
    ASSERT_TRUE(r.ok()) << "after kill at step " << n << ": " << r.status();
    EXPECT_EQ(Shared().count(absl::StrCat("pkg/o", n, ".meta.json")), 1u);
  }
}

// An injected error at every call: publish fails cleanly and the shared cache is untouched, or
// publish succeeds (a failing cleanup step is only a warning).
TEST_F(PublishTest, InjectedErrorsLeaveSharedCacheUntouched) {
  Seed(Modules(0, 5, "base", 100));
  for (int err : {ENOSPC, EIO, EXDEV, EACCES}) {
    bool reached_the_end = false;
    for (int n = 1; n <= 200; ++n) {
      SimRun mine = Start();
      TC_ASSERT_OK(
          WriteRows(mine.db(), Schema::kFiles, ModuleRows("pkg/f", absl::StrCat(err, "-", n), n)));
      Rows before = Shared();
      FaultFs failing(RealFs());
      failing.FailAt("*", n, err);
      absl::StatusOr<PublishReport> r = Finish(mine, failing);
      Rows after = Shared();
      if (!r.ok()) {
        EXPECT_EQ(before, after) << "errno " << err << " at call " << n;
      } else {
        EXPECT_EQ(after.count("pkg/f.meta.json"), 1u);
      }
      EXPECT_EQ(*IntegrityCheck(JoinPath(layout_.live_path("3.11"), "cache.db")), "ok");
      if (failing.failures() == 0) {  // Past the last call: every step was covered.
        reached_the_end = true;
        break;
      }
    }
    EXPECT_TRUE(reached_the_end) << "errno " << err << ": a publish makes more than 200 calls";
  }
}

}  // namespace
}  // namespace typecache
