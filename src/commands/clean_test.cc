#include "src/commands/clean.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/lock.h"
#include "src/store/local/layout.h"
#include "src/store/local/sweep.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

class CleanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = tmp_.Sub("cache");
    Layout layout(cache_);
    TC_ASSERT_OK(layout.Create(RealFs(), adapter_));
    Put(".typecache/gens/3.11/g00000001/cache.db", std::string(1000, 'x'));
    TC_ASSERT_OK(RealFs().Symlink(Layout::LinkTarget("3.11", 1), layout.live_path("3.11")));
    Put(".typecache/logs/3.11/g00000001.log", "log\n");
    Put(".typecache/spares/3.11/g00000001.b.c/cache.db", std::string(100, 'y'));
    Put(".typecache/trash/old/cache.db", "z");
    Put("3.12/cache.db", std::string(10, 'w'));  // mypy's own directory
    Put(".typecache/stats", "runs 3\n");
    Put("typecache.conf", "max_size = 2G\n");
    Put("notes.txt", "mine\n");
    // A dead run (its lock free) and a live one.
    Put(".typecache/runs/dead-1-a/3.11/cache.db", "d");
    Put(".typecache/runs/dead-1-a.lock", "");
    absl::StatusOr<RunDir> live = ClaimRunDir(RealFs(), layout, "live-2-b");
    ASSERT_TRUE(live.ok()) << live.status();
    live_.emplace(*std::move(live));
    Put(".typecache/runs/live-2-b/3.11/cache.db", "l");
  }
  void Put(const std::string& rel, const std::string& text) {
    std::string path = JoinPath(cache_, rel);
    TC_ASSERT_OK(MakeDirs(RealFs(), DirName(path)));
    TC_ASSERT_OK(WriteFileAtomic(RealFs(), path, text));
  }
  bool Exists(const std::string& rel) { return RealFs().Lstat(JoinPath(cache_, rel))->exists(); }

  TempDir tmp_;
  std::string cache_;
  MypyAdapter adapter_;
  std::optional<RunDir> live_;
};

TEST_F(CleanTest, DryRunListsAndRemovesNothing) {
  CleanOptions options;
  options.dry_run = true;
  absl::StatusOr<CleanReport> report = Clean(RealFs(), adapter_, cache_, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->dry_run);
  EXPECT_EQ(report->removed.size(), 7u);
  EXPECT_EQ(report->live_runs, 1);
  EXPECT_GE(report->bytes, 1000 + 100 + 10);
  EXPECT_TRUE(Exists("3.11"));
  EXPECT_TRUE(Exists(".typecache/gens/3.11/g00000001/cache.db"));
  EXPECT_TRUE(Exists(".typecache/runs/dead-1-a"));
}

TEST_F(CleanTest, RemovesWhatTypecacheAndMypyKeepAndNothingElse) {
  absl::StatusOr<CleanReport> report = Clean(RealFs(), adapter_, cache_, CleanOptions());
  ASSERT_TRUE(report.ok()) << report.status();
  std::vector<std::string> removed = report->removed;
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed,
            (std::vector<std::string>{
                JoinPath(cache_, ".typecache/gens"), JoinPath(cache_, ".typecache/logs"),
                JoinPath(cache_, ".typecache/runs/dead-1-a"), JoinPath(cache_, ".typecache/spares"),
                JoinPath(cache_, ".typecache/trash"), JoinPath(cache_, "3.11"),
                JoinPath(cache_, "3.12")}));
  for (const char* gone :
       {"3.11", "3.12", ".typecache/gens", ".typecache/logs", ".typecache/spares",
        ".typecache/trash", ".typecache/runs/dead-1-a", ".typecache/runs/dead-1-a.lock"}) {
    EXPECT_FALSE(Exists(gone)) << gone;
  }
  for (const char* kept :
       {"typecache.conf", "notes.txt", ".gitignore", ".typecache/stats", ".typecache/lock",
        ".typecache/runs/live-2-b/3.11/cache.db", ".typecache/runs/live-2-b.lock"}) {
    EXPECT_TRUE(Exists(kept)) << kept;
  }
  EXPECT_EQ(report->live_runs, 1);
  EXPECT_NE(std::find(report->kept.begin(), report->kept.end(), "notes.txt"), report->kept.end());
  // A second clean finds nothing more to remove.
  report = Clean(RealFs(), adapter_, cache_, CleanOptions());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->removed.empty());
}

TEST_F(CleanTest, WaitsForThePublishLockAndNamesItWhenItTimesOut) {
  absl::StatusOr<FileLock> held =
      FileLock::Acquire(RealFs(), Layout(cache_).lock_path(), absl::Seconds(1));
  ASSERT_TRUE(held.ok()) << held.status();
  CleanOptions options;
  options.lock_timeout = absl::Milliseconds(200);
  absl::StatusOr<CleanReport> report = Clean(RealFs(), adapter_, cache_, options);
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(report.status())) << report.status();
  EXPECT_TRUE(absl::StrContains(report.status().message(), Layout(cache_).lock_path()));
  EXPECT_TRUE(Exists("3.11"));
}

TEST_F(CleanTest, AMissingDirectoryHasNothingToClean) {
  absl::StatusOr<CleanReport> report =
      Clean(RealFs(), adapter_, tmp_.Sub("absent"), CleanOptions());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->exists);
  EXPECT_FALSE(Clean(RealFs(), adapter_, JoinPath(cache_, "notes.txt"), CleanOptions()).ok());
}

}  // namespace
}  // namespace typecache
