#include "src/store/local/snapshot.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/cachedb/cache_db.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/layout.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

class SnapshotTest : public ::testing::Test {
 protected:
  SnapshotTest() : layout_(tmp_.Sub("cache")) {}
  void SetUp() override {
    TC_ASSERT_OK(layout_.Create(RealFs()));
    TC_ASSERT_OK(RealFs().MakeDir(private_root_, false));
  }

  // Makes generation `gen` of `dir` with `files` (name -> rows) and, when `live`, links to it.
  void MakeGeneration(const std::string& dir, int64_t gen,
                      const std::map<std::string, std::vector<Row>>& files, bool live) {
    std::string path = layout_.gen_path(dir, gen);
    TC_ASSERT_OK(MakeDirs(RealFs(), path));
    for (const auto& [name, rows] : files) {
      TC_ASSERT_OK(WriteRows(JoinPath(path, name), Schema::kFiles2, rows));
    }
    if (live) {
      (void)RealFs().Unlink(layout_.live_path(dir));
      TC_ASSERT_OK(RealFs().Symlink(Layout::LinkTarget(dir, gen), layout_.live_path(dir)));
    }
  }

  absl::StatusOr<Snapshot> Take() {
    return TakeSnapshot(RealFs(), layout_, adapter_, private_root_);
  }

  TempDir tmp_;
  Layout layout_;
  MypyAdapter adapter_;
  std::string private_root_ = tmp_.Sub("private");
};

TEST_F(SnapshotTest, CopiesEveryDatabaseOfTheLiveGenerations) {
  MakeGeneration("3.11", 3, {{"cache.db", Modules(0, 3, "old", 1)}}, /*live=*/false);
  MakeGeneration("3.11", 4,
                 {{"cache.db", Modules(0, 5, "live", 2)}, {"cache.7.db", Modules(10, 12, "s", 2)}},
                 /*live=*/true);
  MakeGeneration("3.12", 9, {{"cache.db", Modules(20, 21, "py312", 3)}}, /*live=*/true);
  // Things that are not databases, beside the databases.
  std::string gen = layout_.gen_path("3.11", 4);
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(gen, "notes.txt"), "not a database"));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(gen, "cache.db.bak"), "old copy"));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(gen, "cache.x.db"), "not a shard name"));
  TC_ASSERT_OK(RealFs().MakeDir(JoinPath(gen, "sub"), false));
  // Directories that are not database directories.
  TC_ASSERT_OK(RealFs().MakeDir(JoinPath(layout_.cache_dir(), "misc"), false));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(layout_.cache_dir(), "3.x"), "a file"));

  absl::StatusOr<Snapshot> snap = Take();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->private_root, private_root_);
  EXPECT_EQ(SortedNames(private_root_), (std::vector<std::string>{"3.11", "3.12"}));
  EXPECT_EQ(SortedNames(JoinPath(private_root_, "3.11")),
            (std::vector<std::string>{"cache.7.db", "cache.db"}));
  EXPECT_EQ(SortedNames(JoinPath(private_root_, "3.12")), std::vector<std::string>{"cache.db"});
  EXPECT_EQ(snap->files, 3);
  int64_t bytes = 0;
  for (const auto& [dir, file] : std::vector<std::pair<std::string, std::string>>{
           {"3.11", "cache.db"}, {"3.11", "cache.7.db"}, {"3.12", "cache.db"}}) {
    std::string live = JoinPath(layout_.live_path(dir), file);
    std::string copy = JoinPath(JoinPath(private_root_, dir), file);
    bytes += RealFs().Stat(live)->size;
    absl::StatusOr<Rows> want = ReadRows(live, Schema::kFiles2);
    absl::StatusOr<Rows> got = ReadRows(copy, Schema::kFiles2);
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_EQ(*got, *want) << dir << "/" << file;
  }
  EXPECT_EQ(snap->bytes, bytes);
  EXPECT_FALSE(snap->method.empty());
  // The live generation was copied, not the old one.
  EXPECT_EQ(ReadRows(JoinPath(JoinPath(private_root_, "3.11"), "cache.db"), Schema::kFiles2)
                ->count("pkg/m4.meta.json"),
            1u);

  ASSERT_EQ(snap->dirs.size(), 2u);
  EXPECT_EQ(snap->dirs[0].name, "3.11");
  EXPECT_EQ(snap->BaseOf("3.11").kind, LiveState::Kind::kGeneration);
  EXPECT_EQ(snap->BaseOf("3.11").gen, 4);
  EXPECT_EQ(snap->BaseOf("3.11").resolved, layout_.gen_path("3.11", 4));
  EXPECT_EQ(snap->BaseOf("3.12").gen, 9);
  EXPECT_EQ(snap->BaseOf("3.13").kind, LiveState::Kind::kMissing);
  // The shared cache itself is untouched.
  EXPECT_EQ(SortedNames(gen), (std::vector<std::string>{"cache.7.db", "cache.db", "cache.db.bak",
                                                        "cache.x.db", "notes.txt", "sub"}));
}

TEST_F(SnapshotTest, CopiesHaveCaptureInstalled) {
  MakeGeneration("3.11", 1, {{"cache.db", Modules(0, 3, "live", 2)}}, /*live=*/true);
  absl::StatusOr<Snapshot> snap = Take();
  ASSERT_TRUE(snap.ok()) << snap.status();
  std::string copy = JoinPath(JoinPath(private_root_, "3.11"), "cache.db");
  {
    absl::StatusOr<Db> db = Db::Open(copy, Db::Mode::kReadOnly);
    ASSERT_TRUE(db.ok());
    EXPECT_TRUE(*db->HasTable("typecache_changes"));
    EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"), 3);
  }
  // The live database has no capture machinery.
  {
    absl::StatusOr<Db> db =
        Db::Open(JoinPath(layout_.live_path("3.11"), "cache.db"), Db::Mode::kReadOnly);
    ASSERT_TRUE(db.ok());
    EXPECT_FALSE(*db->HasTable("typecache_changes"));
  }
  TC_ASSERT_OK(WriteRows(copy, Schema::kFiles2, ModuleRows("pkg/m1", "run", 3)));
  absl::StatusOr<std::set<std::string>> groups = FinishCapture(copy, adapter_);
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(*groups, std::set<std::string>{"files2:pkg/m1.json"});
}

TEST_F(SnapshotTest, ForeignDirectoryIsCopiedAndRecordedAsForeign) {
  std::string foreign = layout_.live_path("3.10");
  TC_ASSERT_OK(RealFs().MakeDir(foreign, false));
  TC_ASSERT_OK(WriteRows(JoinPath(foreign, "cache.db"), Schema::kFiles, Modules(0, 2, "f", 1)));
  absl::StatusOr<Snapshot> snap = Take();
  ASSERT_TRUE(snap.ok()) << snap.status();
  ASSERT_EQ(snap->dirs.size(), 1u);
  EXPECT_EQ(snap->BaseOf("3.10").kind, LiveState::Kind::kForeign);
  EXPECT_EQ(snap->BaseOf("3.10").resolved, foreign);
  EXPECT_EQ(ReadRows(JoinPath(JoinPath(private_root_, "3.10"), "cache.db"), Schema::kFiles)->size(),
            4u);
}

TEST_F(SnapshotTest, EmptyCacheGivesAnEmptySnapshot) {
  absl::StatusOr<Snapshot> snap = Take();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(snap->dirs.empty());
  EXPECT_EQ(snap->files, 0);
  EXPECT_EQ(snap->bytes, 0);
  EXPECT_TRUE(SortedNames(private_root_).empty());
}

TEST_F(SnapshotTest, LinkToMissingGenerationLeavesNothingBehind) {
  TC_ASSERT_OK(RealFs().Symlink(".typecache/gens/3.11/g00000005", layout_.live_path("3.11")));
  absl::StatusOr<Snapshot> snap = Take();
  // A link to a generation that does not exist is not copyable: the snapshot fails, naming the
  // missing generation, and nothing half-made is left in the private directory.
  ASSERT_FALSE(snap.ok());
  EXPECT_TRUE(absl::IsNotFound(snap.status())) << snap.status();
  EXPECT_NE(snap.status().message().find("g00000005"), absl::string_view::npos) << snap.status();
  EXPECT_FALSE(RealFs().Stat(JoinPath(private_root_, "3.11"))->exists());
  EXPECT_TRUE(SortedNames(private_root_).empty());
}

TEST_F(SnapshotTest, UnreadableDatabaseFailsTheSnapshot) {
  MakeGeneration("3.11", 2, {}, /*live=*/true);
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(layout_.gen_path("3.11", 2), "cache.db"),
                                     std::string(512, 'x')));
  absl::StatusOr<Snapshot> snap = Take();
  ASSERT_FALSE(snap.ok());
  EXPECT_NE(snap.status().message().find("cache.db"), absl::string_view::npos) << snap.status();
  EXPECT_FALSE(RealFs().Stat(JoinPath(private_root_, "3.11"))->exists());
}

}  // namespace
}  // namespace typecache
