#include "src/store/local/sweep.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/lock.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

class SweepTest : public ::testing::Test {
 protected:
  SweepTest() : layout_(tmp_.Sub("cache")) {}
  void SetUp() override { TC_ASSERT_OK(layout_.Create(RealFs())); }

  std::string Run(const std::string& entry) const { return JoinPath(layout_.runs_dir(), entry); }

  // What a run leaves behind: its private copy, its lock file and a temporary link.
  void MakeRun(const std::string& id) {
    TC_ASSERT_OK(MakeDirs(RealFs(), Run(id + "/3.11")));
    TC_ASSERT_OK(RealFs().WriteNewFile(Run(id + "/3.11/cache.db"), "db"));
    absl::StatusOr<int> fd = RealFs().OpenLockFile(Run(id + ".lock"));
    ASSERT_TRUE(fd.ok()) << fd.status();
    RealFs().CloseFd(*fd);
    TC_ASSERT_OK(RealFs().Symlink(id + "/3.11", Run(id + ".3.11.link")));
  }

  // Sets the mtime of every entry of run `id` (not following symlinks) to `age` ago.
  void Backdate(const std::string& id, absl::Duration age) {
    timespec ts = absl::ToTimespec(absl::Now() - age);
    timespec times[2] = {ts, ts};
    for (const std::string& entry : Entries()) {
      if (RunIdOf(entry) != id) continue;
      ASSERT_EQ(::utimensat(AT_FDCWD, Run(entry).c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << entry;
    }
  }

  std::vector<std::string> Entries() const {
    absl::StatusOr<std::vector<std::string>> names = RealFs().ListDir(layout_.runs_dir());
    EXPECT_TRUE(names.ok()) << names.status();
    std::vector<std::string> sorted = names.ok() ? *names : std::vector<std::string>{};
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }

  std::vector<std::string> EntriesOf(const std::string& id) const {
    std::vector<std::string> out;
    for (const std::string& e : Entries()) {
      if (RunIdOf(e) == id) out.push_back(e);
    }
    return out;
  }

  TempDir tmp_;
  Layout layout_;
};

std::vector<std::string> AllEntries(const std::string& id) {
  return {id, id + ".3.11.link", id + ".lock"};
}

TEST(RunIdOfTest, Entries) {
  EXPECT_EQ(RunIdOf("abc123"), "abc123");
  EXPECT_EQ(RunIdOf("abc123.lock"), "abc123");
  EXPECT_EQ(RunIdOf("abc123.3.11.link"), "abc123");
}

// An empty run directory is parked for the next run and renamed into place, never removed and
// made again (issue 12: rmdir took ~1 ms on a busy disk); one that is not empty is never reused.
TEST_F(SweepTest, EmptyRunDirectoriesAreReusedNotRemoved) {
  absl::StatusOr<RunDir> first = ClaimRunDir(RealFs(), layout_, "host-1-a");
  ASSERT_TRUE(first.ok()) << first.status();
  // Held open: a directory removed and made again could not get its inode number back.
  int held = ::open(first->path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_TRUE(ParkRunDir(RealFs(), layout_, first->path));
  first->Release(RealFs(), layout_);
  EXPECT_EQ(Entries(), std::vector<std::string>{});
  absl::StatusOr<RunDir> second = ClaimRunDir(RealFs(), layout_, "host-2-b");
  ASSERT_TRUE(second.ok()) << second.status();
  struct stat was, is;
  ASSERT_EQ(::fstat(held, &was), 0);
  ::close(held);
  ASSERT_EQ(::lstat(second->path.c_str(), &is), 0);
  EXPECT_EQ(was.st_ino, is.st_ino);
  EXPECT_EQ(was.st_nlink, 2u);  // Still linked (as runs/host-2-b).
  // Not empty: not parked; and a slot found not empty is discarded, not handed out.
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(second->path, "left"), "x"));
  EXPECT_FALSE(ParkRunDir(RealFs(), layout_, second->path));
  TC_ASSERT_OK(MakeDirs(RealFs(), layout_.idle_run_path(0)));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(layout_.idle_run_path(0), "stray"), "x"));
  absl::StatusOr<RunDir> third = ClaimRunDir(RealFs(), layout_, "host-3-c");
  ASSERT_TRUE(third.ok()) << third.status();
  absl::StatusOr<std::vector<std::string>> names = RealFs().ListDir(third->path);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_TRUE(names->empty());
}

TEST_F(SweepTest, MissingRunsDirectoryIsEmpty) {
  TC_ASSERT_OK(RemoveAll(RealFs(), layout_.runs_dir()));
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->removed.empty());
  EXPECT_EQ(report->live, 0);
}

TEST_F(SweepTest, DeadRunIsRemoved) {
  MakeRun("dead");
  Backdate("dead", absl::Hours(1));
  ASSERT_EQ(EntriesOf("dead"), AllEntries("dead"));
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::Seconds(60));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed, std::vector<std::string>{"dead"});
  EXPECT_EQ(report->live, 0);
  EXPECT_TRUE(Entries().empty()) << absl::StrJoin(Entries(), ",");
}

TEST_F(SweepTest, ZeroMinAgeRemovesAFreshDeadRun) {
  MakeRun("dead");
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::ZeroDuration());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed, std::vector<std::string>{"dead"});
  EXPECT_TRUE(Entries().empty()) << absl::StrJoin(Entries(), ",");
}

TEST_F(SweepTest, LinksAreRemovedWithoutFollowingThem) {
  TC_ASSERT_OK(RealFs().MakeDir(tmp_.Sub("precious"), false));
  TC_ASSERT_OK(RealFs().WriteNewFile(tmp_.Sub("precious/cache.db"), "keep"));
  MakeRun("dead");
  TC_ASSERT_OK(RealFs().Symlink(tmp_.Sub("precious"), Run("dead.3.12.link")));
  TC_ASSERT_OK(RealFs().Symlink(tmp_.Sub("precious"), Run("dead/outside")));
  Backdate("dead", absl::Hours(1));
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::Seconds(60));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed, std::vector<std::string>{"dead"});
  EXPECT_TRUE(Entries().empty());
  absl::StatusOr<std::string> kept = RealFs().ReadFile(tmp_.Sub("precious/cache.db"));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, "keep");
}

TEST_F(SweepTest, LiveRunIsKept) {
  MakeRun("live");
  MakeRun("dead");
  // The run holds its lock through its own open file description.
  absl::StatusOr<FileLock> lock = FileLock::Acquire(RealFs(), Run("live.lock"), absl::Seconds(1));
  ASSERT_TRUE(lock.ok()) << lock.status();
  Backdate("live", absl::Hours(1));
  Backdate("dead", absl::Hours(1));

  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::Seconds(60));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->live, 1);
  EXPECT_EQ(report->removed, std::vector<std::string>{"dead"});
  EXPECT_EQ(EntriesOf("live"), AllEntries("live"));
  EXPECT_TRUE(EntriesOf("dead").empty());
  EXPECT_TRUE(lock->held());

  // Once the run ends, its leftovers go.
  lock->Release();
  report = SweepDeadRuns(RealFs(), layout_, absl::ZeroDuration());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed, std::vector<std::string>{"live"});
  EXPECT_EQ(report->live, 0);
  EXPECT_TRUE(Entries().empty());
}

TEST_F(SweepTest, YoungEntriesAreKept) {
  MakeRun("young");
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::Seconds(60));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->removed.empty());
  EXPECT_EQ(report->live, 0);
  EXPECT_EQ(EntriesOf("young"), AllEntries("young"));
}

TEST_F(SweepTest, OneYoungEntryKeepsTheWholeRun) {
  MakeRun("mixed");
  Backdate("mixed", absl::Hours(1));
  timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  ASSERT_EQ(::utimensat(AT_FDCWD, Run("mixed.lock").c_str(), now, 0), 0);
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::Seconds(60));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->removed.empty());
  EXPECT_EQ(EntriesOf("mixed"), AllEntries("mixed"));
}

TEST_F(SweepTest, DeadRunWithoutLockFileIsRemoved) {
  TC_ASSERT_OK(MakeDirs(RealFs(), Run("orphan/3.11")));
  Backdate("orphan", absl::Hours(1));
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::Seconds(60));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed, std::vector<std::string>{"orphan"});
  EXPECT_TRUE(Entries().empty()) << absl::StrJoin(Entries(), ",");
}

TEST_F(SweepTest, DryRunRemovesNothing) {
  MakeRun("dead");
  Backdate("dead", absl::Hours(1));
  absl::StatusOr<SweepReport> report =
      SweepDeadRuns(RealFs(), layout_, absl::Seconds(60), /*dry_run=*/true);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed, std::vector<std::string>{"dead"});
  EXPECT_EQ(EntriesOf("dead"), AllEntries("dead"));
  absl::StatusOr<std::string> db = RealFs().ReadFile(Run("dead/3.11/cache.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*db, "db");
  // The dry run did not leave the lock held.
  EXPECT_TRUE(FileLock::TryAcquire(RealFs(), Run("dead.lock")).ok());
}

TEST_F(SweepTest, DryRunLeavesDeadRunsSweepable) {
  // `verify` (a dry run) followed by `verify --repair`: the dry run must not make the dead run
  // look young (by creating or rewriting its lock file), or the repair never removes it.
  MakeRun("dead");
  TC_ASSERT_OK(MakeDirs(RealFs(), Run("nolock/3.11")));
  Backdate("dead", absl::Hours(1));
  Backdate("nolock", absl::Hours(1));
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<SweepReport> report =
        SweepDeadRuns(RealFs(), layout_, absl::Seconds(60), /*dry_run=*/true);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->removed, (std::vector<std::string>{"dead", "nolock"}));
  }
  EXPECT_EQ(EntriesOf("nolock"), std::vector<std::string>{"nolock"});  // No lock file made.
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::Seconds(60));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed, (std::vector<std::string>{"dead", "nolock"}));
  EXPECT_TRUE(Entries().empty()) << absl::StrJoin(Entries(), ",");
}

TEST_F(SweepTest, DryRunSeesLiveRuns) {
  MakeRun("live");
  absl::StatusOr<FileLock> lock = FileLock::Acquire(RealFs(), Run("live.lock"), absl::Seconds(1));
  ASSERT_TRUE(lock.ok()) << lock.status();
  Backdate("live", absl::Hours(1));
  absl::StatusOr<SweepReport> report =
      SweepDeadRuns(RealFs(), layout_, absl::Seconds(60), /*dry_run=*/true);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->removed.empty());
  EXPECT_EQ(report->live, 1);
  EXPECT_TRUE(lock->held());
}

TEST_F(SweepTest, SeveralDeadRuns) {
  for (const char* id : {"a1", "b2", "c3"}) {
    MakeRun(id);
    Backdate(id, absl::Hours(2));
  }
  absl::StatusOr<SweepReport> report = SweepDeadRuns(RealFs(), layout_, absl::Seconds(60));
  ASSERT_TRUE(report.ok()) << report.status();
  std::vector<std::string> removed = report->removed;
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{"a1", "b2", "c3"}));
  EXPECT_TRUE(Entries().empty());
}

void SetAge(const std::string& path, absl::Duration age) {
  timespec ts = absl::ToTimespec(absl::Now() - age);
  timespec times[2] = {ts, ts};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// Generations 1..`last` of 3.11 with `live` the live one, each one database of `bytes` bytes.
void MakeGenerations(const Layout& layout, int last, int live, size_t bytes = 10000) {
  for (int gen = 1; gen <= last; ++gen) {
    TC_ASSERT_OK(MakeDirs(RealFs(), layout.gen_path("3.11", gen)));
    TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(layout.gen_path("3.11", gen), "cache.db"),
                                       std::string(bytes, 'x')));
    SetAge(layout.gen_path("3.11", gen), absl::Hours(1));
  }
  TC_ASSERT_OK(RealFs().Symlink(Layout::LinkTarget("3.11", live), layout.live_path("3.11")));
}

bool Exists(const std::string& path) {
  absl::StatusOr<FileInfo> info = RealFs().Lstat(path);
  return info.ok() && info->exists();
}

TEST_F(SweepTest, NeverLiveGenerationsGoOnlyUnderTheFreePublishLock) {
  MakeGenerations(layout_, 5, 3);  // 4 and 5: publishes that failed before their switch.
  {
    // A publisher holds the lock between renaming its generation in and switching to it.
    absl::StatusOr<FileLock> publisher =
        FileLock::Acquire(RealFs(), layout_.lock_path(), absl::Seconds(1));
    ASSERT_TRUE(publisher.ok()) << publisher.status();
    absl::StatusOr<LeftoverReport> busy = ReclaimLeftovers(RealFs(), layout_);
    ASSERT_TRUE(busy.ok()) << busy.status();
    EXPECT_TRUE(busy->lock_busy);
    EXPECT_TRUE(busy->removed.empty());
    absl::StatusOr<LeftoverReport> looked =
        ReclaimLeftovers(RealFs(), layout_, kDeadRunMinAge, /*dry_run=*/true);
    ASSERT_TRUE(looked.ok()) << looked.status();
    EXPECT_TRUE(looked->lock_busy);
    EXPECT_TRUE(Exists(layout_.gen_path("3.11", 5)));
  }
  SetAge(layout_.gen_path("3.11", 5), absl::Seconds(1));  // Too young to be surely dead.
  absl::StatusOr<LeftoverReport> report = ReclaimLeftovers(RealFs(), layout_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->lock_busy);
  EXPECT_EQ(report->removed, std::vector<std::string>{layout_.gen_path("3.11", 4)});
  EXPECT_GT(report->bytes, 10000);
  for (int gen : {1, 2, 3, 5}) EXPECT_TRUE(Exists(layout_.gen_path("3.11", gen))) << gen;
  EXPECT_FALSE(Exists(layout_.gen_path("3.11", 4)));
}

TEST_F(SweepTest, OldTrashIsReclaimedYoungTrashIsLeft) {
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(layout_.trash_dir(), "old/3.11")));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(layout_.trash_dir(), "old/3.11/cache.db"), "x"));
  SetAge(JoinPath(layout_.trash_dir(), "old"), absl::Hours(1));
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(layout_.trash_dir(), "young")));
  absl::StatusOr<LeftoverReport> looked =
      ReclaimLeftovers(RealFs(), layout_, kDeadRunMinAge, /*dry_run=*/true);
  ASSERT_TRUE(looked.ok()) << looked.status();
  EXPECT_EQ(looked->removed, std::vector<std::string>{JoinPath(layout_.trash_dir(), "old")});
  EXPECT_TRUE(Exists(JoinPath(layout_.trash_dir(), "old")));
  absl::StatusOr<LeftoverReport> report = ReclaimLeftovers(RealFs(), layout_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(Exists(JoinPath(layout_.trash_dir(), "old")));
  EXPECT_TRUE(Exists(JoinPath(layout_.trash_dir(), "young")));
}

TEST_F(SweepTest, NotTypecachesLayoutIsLeftAlone) {
  TempDir other;
  Layout foreign(other.Sub("mypy-wrote-it"));
  TC_ASSERT_OK(MakeDirs(RealFs(), foreign.live_path("3.11")));
  absl::StatusOr<LeftoverReport> report = ReclaimLeftovers(RealFs(), foreign);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(Exists(foreign.state_dir()));
}

int64_t g_walked = 0;
int CountBlocks(const char*, const struct stat* st, int, struct FTW*) {
  g_walked += static_cast<int64_t>(st->st_blocks) * 512;
  return 0;
}

TEST_F(SweepTest, DiskUsageBucketsAddUpToEveryBlock) {
  MypyAdapter adapter;
  MakeGenerations(layout_, 4, 3, 20000);  // 1, 2 old; 3 live; 4 never live.
  MakeRun("dead");
  MakeRun("alive");
  absl::StatusOr<FileLock> alive = FileLock::Acquire(RealFs(), Run("alive.lock"), absl::Seconds(1));
  ASSERT_TRUE(alive.ok()) << alive.status();
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(layout_.spares_dir("3.11"), "g3.boot.r")));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(layout_.spares_dir("3.11"), "g3.boot.r/cache.db"),
                                     std::string(30000, 's')));
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(layout_.passthrough_dir(), "3.11")));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(layout_.passthrough_dir(), "3.11/m.meta.json"),
                                     std::string(5000, 'j')));
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(layout_.trash_dir(), "t")));
  TC_ASSERT_OK(RealFs().WriteNewFile(layout_.config_path(), "max_size = 1G\n"));
  absl::StatusOr<DiskUsage> u = MeasureDiskUsage(RealFs(), layout_, adapter);
  ASSERT_TRUE(u.ok()) << u.status();
  g_walked = 0;
  ASSERT_EQ(::nftw(layout_.cache_dir().c_str(), CountBlocks, 16, FTW_PHYS), 0);
  EXPECT_EQ(u->total(), g_walked);
  auto tree = [](const std::string& path) {
    g_walked = 0;
    EXPECT_EQ(::nftw(path.c_str(), CountBlocks, 16, FTW_PHYS), 0);
    return g_walked;
  };
  EXPECT_EQ(u->live, tree(layout_.gen_path("3.11", 3)));
  EXPECT_EQ(u->old_generations,
            tree(layout_.gen_path("3.11", 1)) + tree(layout_.gen_path("3.11", 2)));
  EXPECT_EQ(u->spares, tree(JoinPath(layout_.state_dir(), "spares")));
  EXPECT_EQ(u->passthrough, tree(layout_.passthrough_dir()));
  EXPECT_EQ(u->running,
            tree(Run("alive")) + tree(Run("alive.lock")) + tree(Run("alive.3.11.link")));
  EXPECT_EQ(u->leftovers, tree(layout_.gen_path("3.11", 4)) + tree(Run("dead")) +
                              tree(Run("dead.lock")) + tree(Run("dead.3.11.link")) +
                              tree(JoinPath(layout_.trash_dir(), "t")));
  EXPECT_GT(u->state, 0);
}

TEST_F(SweepTest, DiskUsageOfAMissingDirectoryIsZero) {
  MypyAdapter adapter;
  absl::StatusOr<DiskUsage> u = MeasureDiskUsage(RealFs(), Layout(tmp_.Sub("nothing")), adapter);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->total(), 0);
}

}  // namespace
}  // namespace typecache
