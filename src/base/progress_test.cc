#include "src/base/progress.h"

#include <sstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace typecache {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A Progress on a string, with a clock moved by hand and no ticker thread.
struct Fixture {
  std::ostringstream out;
  absl::Time now = absl::FromUnixSeconds(1000);
  Progress progress{Options()};
  ProgressOptions Options() {
    ProgressOptions o;
    o.out = &out;
    o.ticker = false;
    o.clock = [this] { return now; };
    return o;
  }
  // Starts counting 10 `label` under `title`, and adds one `after` the start (past the
  // threshold): returns what that drew.
  std::string StartAndDrawOne(const std::string& title, const std::string& label,
                              absl::Duration after) {
    progress.Start(title, 10, ProgressUnit::kCount, label);
    now += after;
    progress.Add(1);
    return out.str();
  }
  // Lines drawn so far ("\r" starts each).
  int Draws() const {
    std::string s = out.str();
    int n = 0;
    for (size_t i = s.find("\rtypecache: "); i != std::string::npos;
         i = s.find("\rtypecache: ", i + 1)) {
      ++n;
    }
    return n;
  }
};

TEST(ProgressTest, SilentBeforeTheThreshold) {
  Fixture f;
  f.progress.Start("stats: cache.db", 100, ProgressUnit::kCount, "groups");
  f.now += absl::Milliseconds(900);
  f.progress.Add(50);
  f.progress.Done();
  EXPECT_EQ(f.out.str(), "");
}

TEST(ProgressTest, CountTotalRateAndTimeLeft) {
  Fixture f;
  f.progress.Start("merge: copying groups", 1000, ProgressUnit::kCount, "groups");
  f.now += absl::Seconds(2);
  f.progress.Add(250);
  EXPECT_EQ(f.out.str(),
            "\rtypecache: merge: copying groups: 250/1000 groups (25%), 125 groups/s, 6 s left");
}

TEST(ProgressTest, BytesShowSizesAndThroughput) {
  Fixture f;
  f.progress.Start("stats", int64_t{2} << 30, ProgressUnit::kBytes);
  f.now += absl::Seconds(4);
  f.progress.Set(int64_t{1} << 30);
  EXPECT_EQ(f.out.str(), "\rtypecache: stats: 1.0 GiB/2.0 GiB (50%), 256.0 MiB/s, 4 s left");
}

TEST(ProgressTest, RedrawsAtMostTenTimesASecond) {
  Fixture f;
  f.progress.Start("verify", 100000, ProgressUnit::kCount, "groups");
  f.now += absl::Seconds(1);
  for (int i = 0; i < 1000; ++i) {  // 1000 updates over one second.
    f.progress.Add(1);
    f.now += absl::Milliseconds(1);
  }
  EXPECT_GE(f.Draws(), 9);
  EXPECT_LE(f.Draws(), 11);
}

TEST(ProgressTest, DoneClearsTheLine) {
  Fixture f;
  std::string drawn = f.StartAndDrawOne("compact: cache.db", "databases", absl::Seconds(3));
  ASSERT_THAT(drawn, HasSubstr("1/10 databases"));
  f.progress.Done();
  std::string width = drawn.substr(1);  // Without the leading '\r'.
  EXPECT_EQ(f.out.str(), drawn + "\r" + std::string(width.size(), ' ') + "\r");
  f.now += absl::Seconds(1);
  f.progress.Add(1);  // After Done: nothing more until the next Start.
  EXPECT_EQ(f.out.str(), drawn + "\r" + std::string(width.size(), ' ') + "\r");
}

TEST(ProgressTest, AMessageInTheMiddleClearsTheLineAndItComesBack) {
  Fixture f;
  std::string drawn = f.StartAndDrawOne("prune", "groups", absl::Seconds(2));
  f.progress.Interject([&] { f.out << "typecache: note: waiting for the lock\n"; });
  EXPECT_EQ(f.out.str(), drawn + "\r" + std::string(drawn.size() - 1, ' ') + "\r" +
                             "typecache: note: waiting for the lock\n");
  f.now += absl::Milliseconds(1);  // Redrawn at once, not an interval later.
  f.progress.Add(1);
  EXPECT_THAT(
      f.out.str(),
      ::testing::EndsWith("lock\n\rtypecache: prune: 2/10 groups (20%), 1.0 groups/s, 9 s left"));
  bool called = false;
  Progress::Silent().Interject([&] { called = true; });
  EXPECT_TRUE(called);
}

TEST(ProgressTest, AShorterLineOverwritesTheLongerOne) {
  Fixture f;
  f.progress.Start("prune: reading a-rather-long-database-name.db", 0);
  f.now += absl::Seconds(2);
  f.progress.Add(5);
  size_t first = f.out.str().size() - 1;
  f.progress.Label("prune");
  f.now += absl::Seconds(1);
  f.progress.Add(5);
  std::string second = f.out.str().substr(first + 1);
  EXPECT_EQ(second.size(), first + 1);  // '\r' + the line padded to the old width.
  EXPECT_THAT(second, HasSubstr("typecache: prune: 10, "));
}

TEST(ProgressTest, LongNamesAreShortenedToFitATerminal) {
  Fixture f;
  f.progress.Start("stats: /a/very/long/path/" + std::string(100, 'x') + "/cache.db", 10);
  f.now += absl::Seconds(2);
  f.progress.Add(1);
  std::string line = f.out.str().substr(1);
  EXPECT_LE(line.size(), 79u);
  EXPECT_THAT(line, HasSubstr("xx/cache.db: 1/10"));
  f.progress.Detail("reading /another/long/path/" + std::string(100, 'y') + "/cache.db");
  f.now += absl::Seconds(1);
  f.progress.Add(1);
  line = f.out.str().substr(f.out.str().rfind('\r') + 1);
  EXPECT_LE(line.size(), 79u);
  EXPECT_THAT(line, HasSubstr("x/cache.db: ...cache.db: 2/10"));
  // A short name and a long detail: only the detail is cut.
  Fixture g;
  g.progress.Start("stats", 10);
  g.progress.Detail("reading /another/long/path/" + std::string(100, 'y') + "/cache.db");
  g.now += absl::Seconds(1);
  g.progress.Add(1);
  line = g.out.str().substr(1);
  EXPECT_LE(line.size(), 79u);
  EXPECT_THAT(line, HasSubstr("typecache: stats: ...yyy"));
  EXPECT_THAT(line, HasSubstr("yy/cache.db: 1/10"));
}

// A short name keeps its place: the numbers of a real verify line still fit.
TEST(ProgressTest, TheStepNameStaysWhenTheDetailCanGive) {
  Fixture f;
  f.progress.Start("verify", int64_t{33} << 27, ProgressUnit::kBytes);
  f.progress.Detail("groups of plain.db");
  f.now += absl::Seconds(1);
  f.progress.Set(int64_t{184} << 20);
  std::string line = f.out.str().substr(f.out.str().rfind('\r') + 1);
  EXPECT_LE(line.size(), 79u);
  EXPECT_THAT(line, HasSubstr("typecache: verify: ..."));
  EXPECT_THAT(line, HasSubstr("plain.db: 184.0 MiB/4.1 GiB (4%), 184.0 MiB/s, "));
  EXPECT_THAT(line, HasSubstr(" left"));
}

TEST(ProgressTest, UnknownTotalShowsTheCountAndElapsedTime) {
  EXPECT_EQ(
      Progress::Format("merge: listing", 42, 0, ProgressUnit::kCount, "groups", absl::Seconds(2)),
      "merge: listing: 42 groups, 21 groups/s, 2 s elapsed");
  EXPECT_EQ(Progress::Format("compact: cache.db", 0, 1 << 20, ProgressUnit::kBytes, "",
                             absl::Seconds(75)),
            "compact: cache.db: 0 B/1.0 MiB (0%), 1 min 15 s elapsed");
}

TEST(ProgressTest, SetWorkCountsANewAmountInTheSameStep) {
  Fixture f;
  f.progress.Start("run: snapshot of the shared cache", 0);
  f.now += absl::Seconds(2);
  f.progress.Detail("3.11");
  EXPECT_THAT(f.out.str(), HasSubstr("run: snapshot of the shared cache: 3.11: 2 s elapsed"));
  f.progress.SetWork(4096, ProgressUnit::kBytes);  // Drawn at once, inside the interval.
  EXPECT_THAT(f.out.str(), HasSubstr(": 3.11: 0 B/4.0 KiB (0%), 2 s elapsed"));
  f.now += absl::Seconds(1);
  f.progress.Add(1024);
  EXPECT_THAT(f.out.str(), HasSubstr(": 3.11: 1.0 KiB/4.0 KiB (25%)"));
}

TEST(ProgressTest, PollGivesTheAmountDoneInsideALongCall) {
  Fixture f;
  int64_t copied = 0;
  f.progress.Start("run: snapshot", 1000, ProgressUnit::kBytes);
  f.progress.Poll([&] { return copied; });
  f.now += absl::Seconds(2);
  copied = 500;
  f.progress.Detail("cache.db");  // Any redraw asks.
  EXPECT_THAT(f.out.str(), HasSubstr("500 B/1000 B (50%)"));
  f.progress.Poll(nullptr);
  copied = 900;
  f.now += absl::Seconds(1);
  f.progress.Detail("cache.db");
  EXPECT_THAT(f.out.str(), Not(HasSubstr("900 B")));
  f.progress.Poll([&] { return copied; });
  f.progress.Done();  // Done drops it: nothing dangles.
  f.progress.Start("next", 10);
  f.now += absl::Seconds(2);
  f.progress.Add(1);
  EXPECT_THAT(f.out.str(), HasSubstr("next: 1/10 (10%)"));
}

TEST(ProgressTest, DisabledPrintsNothing) {
  Progress& silent = Progress::Silent();
  EXPECT_FALSE(silent.enabled());
  silent.Start("x", 10);
  silent.Add(5);
  silent.Done();
  EXPECT_EQ(&Progress::Or(nullptr), &silent);
}

// One long call that reports nothing (a VACUUM): the ticker thread draws the elapsed time.
TEST(ProgressTest, TickerDrawsDuringASilentCall) {
  std::ostringstream out;
  std::string text;
  {
    ProgressOptions o;
    o.out = &out;
    o.after = absl::Milliseconds(20);
    o.interval = absl::Milliseconds(10);
    Progress progress(o);
    progress.Start("compact: cache.db", 1 << 20, ProgressUnit::kBytes);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    progress.Done();
  }
  text = out.str();
  EXPECT_THAT(text, HasSubstr("\rtypecache: compact: cache.db: 0 B/1.0 MiB (0%), "));
  EXPECT_THAT(text, HasSubstr(" elapsed"));
  EXPECT_THAT(text.substr(text.rfind('\r', text.size() - 2)), Not(HasSubstr("typecache")));
}

}  // namespace
}  // namespace typecache
