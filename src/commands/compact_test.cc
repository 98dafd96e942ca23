#include "src/commands/compact.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"
#include "src/store/local/layout.h"
#include "src/testing/command_fixture.h"
#include "src/testing/fault_fs.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

std::vector<Row> Modules(int from, int to, size_t pad) {
  std::vector<Row> rows;
  for (int i = from; i < to; ++i) {
    std::vector<Row> group = ModuleRows(absl::StrCat("pkg/m", i), "t", 100 + i);
    group[1].data = absl::StrCat("{\"tree\": \"", std::string(pad, 'x'), "\"}");
    rows.insert(rows.end(), group.begin(), group.end());
  }
  return rows;
}

std::vector<std::string> Keys(int from, int to) {
  std::vector<std::string> keys;
  for (int i = from; i < to; ++i) {
    keys.push_back(absl::StrCat("pkg/m", i, ".meta.json"));
    keys.push_back(absl::StrCat("pkg/m", i, ".data.json"));
  }
  return keys;
}

class CompactTest : public CommandTest {
 protected:
  absl::StatusOr<EditReport> CompactPath(const std::string& path) {
    return OnTarget(path, [&](const Target& target) {
      return Compact(RealFs(), adapter_, target, TestEditOptions());
    });
  }

  int64_t Size(const std::string& path) { return RealFs().Stat(path)->size; }

  // A cache directory holding "3.11" as mypy 2.x writes it, two shards: cache.0.db with `rows0`
  // modules of which the first `deleted0` are deleted (free pages to compact), cache.1.db with
  // `rows1` small ones. Returns the live directory.
  std::string TwoShardCache(const Layout& layout, int rows0, int deleted0, int rows1) {
    std::string dir = layout.live_path("3.11");
    EXPECT_TRUE(MakeDirs(RealFs(), dir).ok());
    std::string shard0 = JoinPath(dir, "cache.0.db");
    EXPECT_TRUE(WriteRows(shard0, Schema::kFiles2, Modules(0, rows0, 3000)).ok());
    EXPECT_TRUE(DeleteRows(shard0, Schema::kFiles2, Keys(0, deleted0)).ok());
    EXPECT_TRUE(
        WriteRows(JoinPath(dir, "cache.1.db"), Schema::kFiles2, Modules(rows0, rows0 + rows1, 50))
            .ok());
    return dir;
  }
};

TEST_F(CompactTest, ShrinksAFileAndKeepsEveryRow) {
  std::string db = tmp_.Sub("cache.db");
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles, Modules(0, 200, 3000)));
  TC_ASSERT_OK(DeleteRows(db, Schema::kFiles, Keys(0, 180)));
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles, {{"@plugins_snapshot.json", 1.25, "{}"}}));
  int64_t before = Size(db);
  Rows rows = ExactRowsOf(db, "files");
  ASSERT_EQ(rows.size(), 20u * 2 + 1);
  absl::StatusOr<EditReport> r = CompactPath(db);
  ASSERT_TRUE(r.ok()) << r.status();
  int64_t after = Size(db);
  EXPECT_LT(after, before / 4) << before << " -> " << after;
  EXPECT_EQ(r->bytes_before, before);
  EXPECT_EQ(r->bytes_after, after);
  EXPECT_EQ(ExactRowsOf(db, "files"), rows);
  EXPECT_EQ(*IntegrityCheck(db), "ok");
  EXPECT_FALSE(RealFs().Stat(db + "-journal")->exists());
}

TEST_F(CompactTest, CompactOfACompactFileKeepsItWhole) {
  std::string db = tmp_.Sub("cache.db");
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles2, Modules(0, 10, 100)));
  Rows rows = ExactRowsOf(db, "files2");
  uint64_t inode = RealFs().Stat(db)->inode;
  absl::StatusOr<EditReport> r = CompactPath(db);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(RealFs().Stat(db)->inode, inode);  // Always a new file, renamed into place.
  EXPECT_EQ(ExactRowsOf(db, "files2"), rows);
}

TEST_F(CompactTest, CacheDirectoryIsCompactedIntoANewGeneration) {
  std::string cache = tmp_.Sub("cache");
  Layout layout(cache);
  std::string dir = TwoShardCache(layout, 100, 90, 10);
  std::string shard0 = JoinPath(dir, "cache.0.db");
  std::string shard1 = JoinPath(dir, "cache.1.db");
  int64_t before = Size(shard0) + Size(shard1);
  Rows rows0 = ExactRowsOf(shard0, "files2");
  Rows rows1 = ExactRowsOf(shard1, "files2");
  absl::StatusOr<EditReport> r = CompactPath(cache);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->publish.dirs_published, 1);
  absl::StatusOr<LiveState> live = ReadLiveState(RealFs(), layout, "3.11");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->kind, LiveState::Kind::kGeneration);
  EXPECT_LT(Size(shard0) + Size(shard1), before / 2);
  EXPECT_EQ(ExactRowsOf(shard0, "files2"), rows0);
  EXPECT_EQ(ExactRowsOf(shard1, "files2"), rows1);
  // A second compaction republishes a published generation.
  r = CompactPath(cache);
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<LiveState> again = ReadLiveState(RealFs(), layout, "3.11");
  ASSERT_TRUE(again.ok());
  EXPECT_GT(again->gen, live->gen);
  EXPECT_EQ(ExactRowsOf(shard0, "files2"), rows0);
}

// An edit's copies were written with synchronous=OFF: each is fsynced before the publish renames
// the directory into gens/, so that a power cut after the switch cannot expose pages the kernel
// never wrote.
TEST_F(CompactTest, EachCopyIsOnDiskBeforeItsGenerationGoesLive) {
  std::string cache = tmp_.Sub("cache");
  Layout layout(cache);
  TwoShardCache(layout, 20, 10, 10);
  // The first edit adopts the directory (a fresh copy, fsynced by the adoption); the second
  // edits a published generation, the path measured here.
  ASSERT_TRUE(CompactPath(cache).ok());
  absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, cache);
  ASSERT_TRUE(target.ok()) << target.status();
  FaultFs fs(RealFs());
  fs.TraceTo(tmp_.Sub("trace"));
  absl::StatusOr<EditReport> r = Compact(fs, adapter_, *target, TestEditOptions());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->publish.dirs_published, 1);
  std::vector<std::string> lines =
      absl::StrSplit(*RealFs().ReadFile(tmp_.Sub("trace")), '\n', absl::SkipEmpty());
  std::string into_gens = absl::StrCat(" rename ", layout.gens_dir("3.11"), "/");
  size_t live = 0;
  while (live < lines.size() && !absl::StrContains(lines[live], into_gens)) ++live;
  ASSERT_LT(live, lines.size()) << "no rename into " << layout.gens_dir("3.11");
  for (const char* file : {"/3.11/cache.0.db", "/3.11/cache.1.db"}) {
    bool synced = false;
    for (size_t i = 0; i < live; ++i) {
      synced = synced || (absl::StrContains(lines[i], " fsync ") && absl::EndsWith(lines[i], file));
    }
    EXPECT_TRUE(synced) << file << " not fsynced before: " << lines[live];
  }
}

TEST_F(CompactTest, DryRunChangesNothing) {
  std::string db = tmp_.Sub("cache.db");
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles, Modules(0, 50, 3000)));
  TC_ASSERT_OK(DeleteRows(db, Schema::kFiles, Keys(0, 40)));
  std::string bytes = *RealFs().ReadFile(db);
  absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, db);
  ASSERT_TRUE(target.ok());
  EditOptions options;
  options.dry_run = true;
  absl::StatusOr<EditReport> r = Compact(RealFs(), adapter_, *target, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(r->bytes_after, r->bytes_before);  // What it would save.
  EXPECT_EQ(*RealFs().ReadFile(db), bytes);
}

TEST_F(CompactTest, UnreadableDatabaseIsRefusedUntouched) {
  std::string db = tmp_.Sub("cache.db");
  std::string junk(9000, 'q');
  TC_ASSERT_OK(RealFs().WriteNewFile(db, junk));
  absl::StatusOr<EditReport> r = CompactPath(db);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
  EXPECT_EQ(*RealFs().ReadFile(db), junk);
}

}  // namespace
}  // namespace typecache
