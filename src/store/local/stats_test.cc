#include "src/store/local/stats.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

using Values = std::map<std::string, int64_t>;

class StatsTest : public ::testing::Test {
 protected:
  StatsTest() : layout_(tmp_.Sub("cache")) {}
  void SetUp() override { TC_ASSERT_OK(layout_.Create(RealFs())); }

  Values Read() {
    absl::StatusOr<Values> values = ReadStats(RealFs(), layout_);
    EXPECT_TRUE(values.ok()) << values.status();
    return values.ok() ? *values : Values{};
  }

  TempDir tmp_;
  Layout layout_;
};

TEST(StatsDeltaTest, ApplyTo) {
  StatsDelta delta;
  delta.Add("runs", 1);
  delta.Add("runs", 2);
  delta.Add("fresh", 5);
  delta.Max("longest", 3);
  delta.Max("longest", 7);
  delta.Max("longest", 5);
  delta.Max("kept", 1);
  delta.Set("last_run", 100);
  delta.Set("last_run", 50);
  Values values = {{"runs", 10}, {"longest", 6}, {"kept", 9}, {"last_run", 1000}, {"other", 4}};
  delta.ApplyTo(values);
  EXPECT_EQ(values, (Values{{"runs", 13},
                            {"fresh", 5},
                            {"longest", 7},
                            {"kept", 9},
                            {"last_run", 50},
                            {"other", 4}}));
}

TEST_F(StatsTest, MissingFileReadsAsEmpty) {
  EXPECT_TRUE(Read().empty());
  // Even without the state directory.
  absl::StatusOr<Values> none = ReadStats(RealFs(), Layout(tmp_.Sub("nothing")));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST_F(StatsTest, UpdateAddMaxSet) {
  StatsDelta first;
  first.Add("runs", 1);
  first.Max("lock_wait_max_ms", 5);
  first.Set("last_run", 100);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, first));
  EXPECT_EQ(Read(), (Values{{"runs", 1}, {"lock_wait_max_ms", 5}, {"last_run", 100}}));

  StatsDelta second;
  second.Add("runs", 1);
  second.Add("lock_wait_ms", 30);
  second.Max("lock_wait_max_ms", 3);  // Smaller: the maximum stays.
  second.Set("last_run", 50);         // Set replaces even with a smaller value.
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, second));
  EXPECT_EQ(Read(),
            (Values{{"runs", 2}, {"lock_wait_ms", 30}, {"lock_wait_max_ms", 5}, {"last_run", 50}}));

  StatsDelta third;
  third.Max("lock_wait_max_ms", 9);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, third));
  EXPECT_EQ(Read()["lock_wait_max_ms"], 9);
  EXPECT_EQ(Read()["runs"], 2);
}

TEST_F(StatsTest, FileFormatAndNoLeftovers) {
  StatsDelta delta;
  delta.Add("runs", 3);
  delta.Add("groups_written", 12);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, delta));
  absl::StatusOr<std::string> text = RealFs().ReadFile(layout_.stats_path());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "groups_written 12\nruns 3\n");
  absl::StatusOr<std::vector<std::string>> names = RealFs().ListDir(layout_.state_dir());
  ASSERT_TRUE(names.ok());
  for (const std::string& name : *names) {
    EXPECT_FALSE(absl::StrContains(name, ".tmp")) << name;
  }
}

// A run's update rewrites the file in place: no new inode (a rename over the old file made ext4
// allocate and free blocks on every run, issue 12); an update that shortens it replaces it.
TEST_F(StatsTest, GrowingUpdatesRewriteTheFileInPlace) {
  StatsDelta first;
  first.Add("runs", 1);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, first));
  // Held open, so that a replacement could not reuse its inode number.
  int held = ::open(layout_.stats_path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(held, 0);
  for (int i = 0; i < 12; ++i) {
    StatsDelta delta;
    delta.Add("runs", 1);
    delta.Add("checker_ms", 7);
    delta.Set("last_run", 1700000000 + i);
    TC_ASSERT_OK(UpdateStats(RealFs(), layout_, delta));
  }
  absl::StatusOr<FileInfo> now = RealFs().Lstat(layout_.stats_path());
  ASSERT_TRUE(now.ok()) << now.status();
  struct stat st;
  ASSERT_EQ(::fstat(held, &st), 0);
  ::close(held);
  EXPECT_EQ(st.st_nlink, 1u) << "the stats file was replaced, not rewritten";
  EXPECT_EQ(static_cast<uint64_t>(st.st_ino), now->inode);
  EXPECT_EQ(*RealFs().ReadFile(layout_.stats_path()),
            "checker_ms 84\nlast_run 1700000011\nruns 13\n");
  // Shorter ("checker_ms 84" set to 1): the file is replaced whole, no stale tail is left.
  StatsDelta shrink;
  shrink.Set("checker_ms", 1);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, shrink));
  EXPECT_EQ(*RealFs().ReadFile(layout_.stats_path()),
            "checker_ms 1\nlast_run 1700000011\nruns 13\n");
}

TEST_F(StatsTest, MalformedLinesAreIgnored) {
  TC_ASSERT_OK(RealFs().WriteNewFile(layout_.stats_path(),
                                     "runs 4\ngarbage\nbad value\nthree 1 2\n\nconflicts 2\n"));
  EXPECT_EQ(Read(), (Values{{"runs", 4}, {"conflicts", 2}}));
  StatsDelta delta;
  delta.Add("runs", 1);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, delta));
  EXPECT_EQ(Read(), (Values{{"runs", 5}, {"conflicts", 2}}));
}

TEST_F(StatsTest, ZeroStatsKeepsOnlyTheZeroTime) {
  StatsDelta delta;
  delta.Add("runs", 7);
  delta.Set("last_run", 123);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, delta));
  int64_t before = absl::ToUnixSeconds(absl::Now());
  TC_ASSERT_OK(ZeroStats(RealFs(), layout_));
  int64_t after = absl::ToUnixSeconds(absl::Now());
  Values values = Read();
  ASSERT_EQ(values.size(), 1u);
  ASSERT_EQ(values.count("zeroed"), 1u);
  EXPECT_GE(values["zeroed"], before);
  EXPECT_LE(values["zeroed"], after);

  StatsDelta more;
  more.Add("runs", 1);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, more));
  EXPECT_EQ(Read()["runs"], 1);
}

TEST_F(StatsTest, ConcurrentUpdatesAreNotLost) {
  constexpr int kProcs = 4;
  constexpr int kEach = 10;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failures = 0;
      for (int i = 0; i < kEach; ++i) {
        StatsDelta delta;
        delta.Add("runs", 1);
        delta.Max("lock_held_max_ms", p * 100 + i);
        if (!UpdateStats(RealFs(), layout_, delta).ok()) ++failures;
      }
      ::_exit(failures);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  Values values = Read();
  EXPECT_EQ(values["runs"], kProcs * kEach);
  EXPECT_EQ(values["lock_held_max_ms"], (kProcs - 1) * 100 + kEach - 1);
}

TEST_F(StatsTest, UpdateWithoutStateDirectoryFails) {
  StatsDelta delta;
  delta.Add("runs", 1);
  EXPECT_FALSE(UpdateStats(RealFs(), Layout(tmp_.Sub("nothing")), delta).ok());
}

TEST(KnownCountersTest, NamesAreUniqueAndLabelled) {
  std::set<std::string> names;
  for (const Counter& c : KnownCounters()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate " << c.name;
    EXPECT_STRNE(c.label, "") << c.name;
    const std::string unit = c.unit;
    EXPECT_TRUE(unit.empty() || unit == "ms" || unit == "bytes" || unit == "time") << c.name;
  }
  EXPECT_EQ(names.count("runs"), 1u);
  EXPECT_EQ(names.count("zeroed"), 1u);
  // Nothing ever recorded it: a bypassed command never reaches the cache.
  EXPECT_EQ(names.count("runs_bypassed"), 0u);
}

TEST(KnownCountersTest, IdsIndexTheTableAndKeepTheFileNames) {
  ASSERT_EQ(KnownCounters().size(), static_cast<size_t>(CounterId::kNumCounters));
  for (size_t i = 0; i < KnownCounters().size(); ++i) {
    const Counter& c = KnownCounters()[i];
    EXPECT_EQ(static_cast<size_t>(c.id), i) << c.name;
    EXPECT_EQ(&CounterInfo(c.id), &CounterInfo(static_cast<CounterId>(i)));
    EXPECT_STREQ(CounterInfo(c.id).name, c.name);
  }
  // The names older files hold.
  EXPECT_STREQ(CounterInfo(CounterId::kRuns).name, "runs");
  EXPECT_STREQ(CounterInfo(CounterId::kLockHeldMaxMs).name, "lock_held_max_ms");
  EXPECT_STREQ(CounterInfo(CounterId::kPublishedBytes).name, "published_bytes");
  EXPECT_STREQ(CounterInfo(CounterId::kZeroed).name, "zeroed");
}

TEST_F(StatsTest, ByIdAndByNameAreTheSameCounter) {
  StatsDelta by_id, by_name;
  by_id.Add(CounterId::kConflicts, 2);
  by_id.Max(CounterId::kLockWaitMaxMs, 7);
  by_id.Set(CounterId::kLastRun, 9);
  by_name.Add("conflicts", 2);
  by_name.Max("lock_wait_max_ms", 7);
  by_name.Set("last_run", 9);
  Values a = {{"conflicts", 1}, {"lock_wait_max_ms", 10}};
  Values b = a;
  by_id.ApplyTo(a);
  by_name.ApplyTo(b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, (Values{{"conflicts", 3}, {"lock_wait_max_ms", 10}, {"last_run", 9}}));
  EXPECT_EQ(CounterValue(a, CounterId::kConflicts), 3);
  EXPECT_EQ(CounterValue(a, CounterId::kRuns), 0);
}

TEST_F(StatsTest, FilesOfOtherVersionsStayReadableBothWays) {
  // An older typecache's file (with its runs_bypassed line) and a newer one's unknown counter:
  // read, kept and written back as they were, beside the counters updated.
  TC_ASSERT_OK(
      RealFs().WriteNewFile(layout_.stats_path(), "runs 4\nruns_bypassed 0\nremote_hits 3\n"));
  StatsDelta delta;
  delta.Add(CounterId::kRuns, 1);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout_, delta));
  EXPECT_EQ(*RealFs().ReadFile(layout_.stats_path()), "remote_hits 3\nruns 5\nruns_bypassed 0\n");
}

}  // namespace
}  // namespace typecache
