#include "src/store/local/fresh_publish.h"

#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "src/cachedb/cache_file.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/store/local/local_store.h"
#include "src/testing/fault_fs.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

class FreshPublishTest : public ::testing::Test {
 protected:
  // The groups of a database written by the test helper (mypy's own schema and classes).
  FreshGeneration Source(const std::vector<Row>& rows) {
    std::string src = tmp_.Sub(absl::StrCat("src", ++sources_, ".db"));
    EXPECT_TRUE(WriteRows(src, Schema::kFiles2, rows).ok());
    absl::StatusOr<GroupFile> file = GroupFile::OpenReadOnly(src);
    EXPECT_TRUE(file.ok()) << file.status();
    absl::StatusOr<GroupRowMap> all = file->ReadAll(adapter_);
    EXPECT_TRUE(all.ok()) << all.status();
    source_rows_ = *ExactRows(src, "files2");
    return {{"3.11", {{"cache.db", *all}}}};
  }
  // The live generation's recorded content digest of cache.db, and the one its rows give.
  std::pair<std::optional<uint64_t>, uint64_t> Digests(const Layout& layout) {
    absl::StatusOr<LiveState> live = ReadLiveState(RealFs(), layout, "3.11");
    if (!live.ok() || live->kind != LiveState::Kind::kGeneration) {
      ADD_FAILURE() << "3.11 is not a generation";
      return {std::nullopt, 0};
    }
    LocalGenerationStore store(RealFs(), layout, adapter_);
    absl::StatusOr<std::optional<GenerationRecord>> record = store.Record("3.11", live->gen);
    if (!record.ok() || !record->has_value()) {
      ADD_FAILURE() << "generation " << live->gen << " has no record";
      return {std::nullopt, 0};
    }
    std::optional<uint64_t> recorded;
    auto it = (*record)->digests.find("cache.db");
    if (it != (*record)->digests.end()) recorded = it->second;
    absl::StatusOr<CacheFile> db = CacheFile::OpenReadOnly(layout.live_path("3.11") + "/cache.db");
    absl::StatusOr<uint64_t> actual =
        db.ok() ? db->ContentDigest(adapter_) : absl::StatusOr<uint64_t>(db.status());
    EXPECT_TRUE(actual.ok()) << actual.status();
    return {recorded, actual.ok() ? *actual : 0};
  }
  MypyAdapter adapter_;
  TempDir tmp_;
  int sources_ = 0;
  std::map<std::string, std::string> source_rows_;
};

TEST_F(FreshPublishTest, PublishesTheRowsExactlyWithTheirDigest) {
  FreshGeneration gen = Source(Modules(0, 12, "v1", 1700000000.25));
  Layout layout(tmp_.Sub("cache"));
  absl::StatusOr<PublishReport> r =
      PublishFreshGeneration(RealFs(), layout, adapter_, gen, PublishOptions());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dirs_published, 1);
  EXPECT_EQ(r->fast_paths, 1) << "nothing live: publishing is a rename";
  EXPECT_EQ(*ExactRows(layout.live_path("3.11") + "/cache.db", "files2"), source_rows_);
  auto [recorded, actual] = Digests(layout);
  ASSERT_TRUE(recorded.has_value()) << "the digest comes from the rows: recorded at once";
  EXPECT_EQ(*recorded, actual);
  EXPECT_TRUE(RealFs().ListDir(layout.runs_dir())->empty()) << "the private directory is gone";
}

TEST_F(FreshPublishTest, ARowSqliteWouldConvertGetsItsDigestReadBack) {
  FreshGeneration gen = Source(Modules(0, 3, "v1", 1700000000.5));
  // An integer mtime becomes a real in the REAL column: its digest from memory would be wrong.
  CacheRow& row = gen["3.11"]["cache.db"].begin()->second[0];
  ASSERT_EQ(row.mtime.type, SqlValue::Type::kReal);
  row.mtime = SqlValue{SqlValue::Type::kInt, 1700000000, 0, ""};
  EXPECT_FALSE(StoredAsGiven(row));
  Layout layout(tmp_.Sub("cache"));
  ASSERT_TRUE(PublishFreshGeneration(RealFs(), layout, adapter_, gen, PublishOptions()).ok());
  auto [recorded, actual] = Digests(layout);
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(*recorded, actual);
}

TEST_F(FreshPublishTest, DigestOfRowsIsWhatTheWrittenFileGives) {
  FreshGeneration gen = Source(Modules(0, 5, "v1", 1700000000.125));
  GroupRowMap& groups = gen["3.11"]["cache.db"];
  // Every class the row encoding carries and StoredAsGiven accepts: null mtime, text data.
  groups.begin()->second[0].mtime = SqlValue{};
  groups.begin()->second[1].data.type = SqlValue::Type::kText;
  std::string path = tmp_.Sub("written.db");
  ASSERT_TRUE(WriteGroupsToFile(path, groups, adapter_).ok());
  absl::StatusOr<CacheFile> db = CacheFile::OpenReadOnly(path);
  ASSERT_TRUE(db.ok());
  std::set<std::string> names;
  for (const auto& [g, rows] : groups) names.insert(g);
  absl::StatusOr<std::map<std::string, GroupHash>> read = db->DigestGroups(names, adapter_);
  ASSERT_TRUE(read.ok());
  for (const auto& [g, rows] : groups) {
    for (const CacheRow& r : rows) EXPECT_TRUE(StoredAsGiven(r)) << g;
    EXPECT_EQ(DigestOfRows(g, rows), read->at(g)) << g;
  }
}

// The real file system, counting the writebacks started (os/writeback.h) per file.
class WritebackCountingFs : public FaultFs {
 public:
  WritebackCountingFs() : FaultFs(RealFs()) {}
  absl::StatusOr<int> OpenForWriteback(const std::string& path) override {
    absl::StatusOr<int> fd = RealFs().OpenForWriteback(path);
    if (fd.ok()) {
      absl::MutexLock lock(&mu_);
      paths_[*fd] = path;
    }
    return fd;
  }
  absl::Status StartWriteback(int fd) override {
    {
      absl::MutexLock lock(&mu_);
      ++started_[paths_[fd]];
    }
    return RealFs().StartWriteback(fd);
  }
  std::map<std::string, int> started() const {
    absl::MutexLock lock(&mu_);
    return started_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<int, std::string> paths_;
  std::map<std::string, int> started_;
};

// The new database's pages start going to disk while SQLite writes it (a cold pull's fsync
// then waits for the last ones only), and the file written is still exactly the rows.
TEST_F(FreshPublishTest, TheDatabaseStartsGoingToDiskWhileSqliteWritesIt) {
  std::vector<Row> rows;
  for (int m = 0; m < 40; ++m) {
    std::vector<Row> module = ModuleRows(absl::StrCat("pkg/big", m), "v1", 1700000000.5);
    for (Row& r : module) r.data += std::string(128 << 10, static_cast<char>('a' + m % 26));
    rows.insert(rows.end(), module.begin(), module.end());
  }
  FreshGeneration gen = Source(rows);  // 80 rows of 128 KiB: 10 MiB
  WritebackCountingFs fs;
  Layout layout(tmp_.Sub("cache"));
  absl::StatusOr<PublishReport> r = PublishFreshGeneration(fs, layout, adapter_, gen, {});
  ASSERT_TRUE(r.ok()) << r.status();
  int started = 0;
  for (const auto& [path, n] : fs.started()) {
    EXPECT_EQ(BaseName(path), "cache.db") << path;
    started += n;
  }
  // One kick per MiB written (WriteGroupRowsCallsBackEveryMiB) and one after the close; kicks
  // made while a writeback runs fold into one, so only the last is certain here.
  EXPECT_GE(started, 1) << "no writeback was started";
  EXPECT_EQ(*ExactRows(layout.live_path("3.11") + "/cache.db", "files2"), source_rows_);
  auto [recorded, actual] = Digests(layout);
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(*recorded, actual);
}

// A crash at any file-system call of the cold publish leaves no <X.Y>, or the whole generation.
TEST_F(FreshPublishTest, KillAtEveryStepLeavesNothingOrTheWholeGeneration) {
  FreshGeneration gen = Source(Modules(0, 6, "v1", 1700000000.75));
  int calls = 0;
  {
    FaultFs counting(RealFs());
    Layout layout(tmp_.Sub("count"));
    ASSERT_TRUE(PublishFreshGeneration(counting, layout, adapter_, gen, PublishOptions()).ok());
    calls = counting.calls();
  }
  ASSERT_GT(calls, 10);
  int whole = 0;
  for (int n = 1; n <= calls + 1; ++n) {
    Layout layout(tmp_.Sub(absl::StrCat("kill", n)));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      FaultFs killing(RealFs());
      killing.KillAt(n);
      _exit(PublishFreshGeneration(killing, layout, adapter_, gen, PublishOptions()).ok() ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    absl::StatusOr<LiveState> live = ReadLiveState(RealFs(), layout, "3.11");
    ASSERT_TRUE(live.ok()) << "kill at " << n;
    if (live->kind == LiveState::Kind::kMissing) continue;
    ASSERT_EQ(live->kind, LiveState::Kind::kGeneration) << "kill at " << n;
    ++whole;
    std::string db = layout.live_path("3.11") + "/cache.db";
    EXPECT_EQ(*IntegrityCheck(db), "ok") << "kill at " << n;
    EXPECT_EQ(*ExactRows(db, "files2"), source_rows_) << "kill at " << n;
    auto [recorded, actual] = Digests(layout);
    if (recorded.has_value()) {
      EXPECT_EQ(*recorded, actual) << "kill at " << n;
    }
  }
  EXPECT_GT(whole, 0);
  EXPECT_LT(whole, calls + 1);
}

}  // namespace
}  // namespace typecache
