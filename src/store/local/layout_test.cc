#include "src/store/local/layout.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

TEST(LayoutTest, Paths) {
  Layout layout("/c");
  EXPECT_EQ(layout.state_dir(), "/c/.typecache");
  EXPECT_EQ(layout.lock_path(), "/c/.typecache/lock");
  EXPECT_EQ(layout.stats_path(), "/c/.typecache/stats");
  EXPECT_EQ(layout.stats_lock_path(), "/c/.typecache/stats.lock");
  EXPECT_EQ(layout.runs_dir(), "/c/.typecache/runs");
  EXPECT_EQ(layout.trash_dir(), "/c/.typecache/trash");
  EXPECT_EQ(layout.config_path(), "/c/typecache.conf");
  EXPECT_EQ(layout.live_path("3.11"), "/c/3.11");
  EXPECT_EQ(layout.gens_dir("3.11"), "/c/.typecache/gens/3.11");
  EXPECT_EQ(layout.logs_dir("3.11"), "/c/.typecache/logs/3.11");
  EXPECT_EQ(layout.gen_path("3.11", 42), "/c/.typecache/gens/3.11/g00000042");
  EXPECT_EQ(layout.log_path("3.11", 42), "/c/.typecache/logs/3.11/g00000042.log");
}

TEST(LayoutTest, GenNameRoundTrip) {
  EXPECT_EQ(Layout::GenName(42), "g00000042");
  EXPECT_EQ(Layout::GenName(1), "g00000001");
  EXPECT_EQ(Layout::GenName(123456789), "g123456789");
  for (int64_t gen :
       {int64_t{1}, int64_t{42}, int64_t{99999999}, int64_t{100000000}, int64_t{1} << 40}) {
    EXPECT_EQ(Layout::ParseGenName(Layout::GenName(gen)), gen) << gen;
  }
  EXPECT_EQ(Layout::ParseGenName("g42"), 42);
}

TEST(LayoutTest, ParseGenNameRejects) {
  for (const char* bad : {"", "g", "42", "x00000042", "G00000042", "g00000000", "g-1", "g+5", "g 5",
                          "g5 ", "g00000042.log", "g0000004x", "gg1", "g99999999999999999999999"}) {
    EXPECT_EQ(Layout::ParseGenName(bad), -1) << bad;
  }
}

TEST(LayoutTest, LinkTarget) {
  EXPECT_EQ(Layout::LinkTarget("3.11", 42), ".typecache/gens/3.11/g00000042");
  // Relative to the cache directory: the link resolves to gen_path.
  Layout layout("/c");
  EXPECT_EQ(JoinPath(layout.cache_dir(), Layout::LinkTarget("3.12", 7)),
            layout.gen_path("3.12", 7));
}

TEST(LayoutTest, CreateMakesStateDirectories) {
  TempDir tmp;
  MypyAdapter adapter;
  Layout layout(tmp.Sub("a/cache"));
  TC_ASSERT_OK(layout.Create(RealFs(), adapter));
  for (const std::string& dir :
       {layout.cache_dir(), layout.state_dir(), layout.runs_dir(), layout.trash_dir(),
        layout.state_dir() + "/gens", layout.state_dir() + "/logs"}) {
    absl::StatusOr<FileInfo> info = RealFs().Lstat(dir);
    ASSERT_TRUE(info.ok());
    EXPECT_TRUE(info->is_dir()) << dir;
  }
  absl::StatusOr<std::string> tag = RealFs().ReadFile(JoinPath(layout.cache_dir(), "CACHEDIR.TAG"));
  ASSERT_TRUE(tag.ok()) << tag.status();
  EXPECT_TRUE(absl::StartsWith(*tag, "Signature: 8a477f597d28d172789f06886806bc55\n"));
  absl::StatusOr<std::string> ignore =
      RealFs().ReadFile(JoinPath(layout.cache_dir(), ".gitignore"));
  ASSERT_TRUE(ignore.ok()) << ignore.status();
  EXPECT_TRUE(absl::StrContains(*ignore, "\n*\n"));
  // Idempotent.
  TC_EXPECT_OK(layout.Create(RealFs(), adapter));
}

TEST(LayoutTest, WithoutAnAdapterNoCheckerFiles) {
  TempDir tmp;
  Layout layout(tmp.Sub("cache"));
  TC_ASSERT_OK(layout.Create(RealFs()));
  EXPECT_TRUE(RealFs().Stat(layout.state_dir())->is_dir());
  EXPECT_FALSE(RealFs().Stat(JoinPath(layout.cache_dir(), "CACHEDIR.TAG"))->exists());
}

TEST(LayoutTest, CreateRefusesAFile) {
  TempDir tmp;
  TC_ASSERT_OK(RealFs().WriteNewFile(tmp.Sub("cache"), "x"));
  absl::Status s = Layout(tmp.Sub("cache")).Create(RealFs());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

class LiveStateTest : public ::testing::Test {
 protected:
  LiveStateTest() : layout_(tmp_.Sub("cache")) {}
  void SetUp() override { TC_ASSERT_OK(layout_.Create(RealFs())); }

  // Expects the live state of `dir` read, of `kind`, resolved to `resolved` ("": to nothing).
  void ExpectLive(const std::string& dir, LiveState::Kind kind, const std::string& resolved) {
    absl::StatusOr<LiveState> state = ReadLiveState(RealFs(), layout_, dir);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->kind, kind);
    EXPECT_EQ(state->resolved, resolved);
  }

  TempDir tmp_;
  Layout layout_;
};

TEST_F(LiveStateTest, Missing) { ExpectLive("3.11", LiveState::Kind::kMissing, ""); }

TEST_F(LiveStateTest, GenerationSymlink) {
  TC_ASSERT_OK(MakeDirs(RealFs(), layout_.gen_path("3.11", 42)));
  TC_ASSERT_OK(RealFs().Symlink(Layout::LinkTarget("3.11", 42), layout_.live_path("3.11")));
  absl::StatusOr<LiveState> state = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->kind, LiveState::Kind::kGeneration);
  EXPECT_EQ(state->gen, 42);
  EXPECT_EQ(state->resolved, layout_.gen_path("3.11", 42));
}

TEST_F(LiveStateTest, GenerationOfAnotherVersionIsForeign) {
  // 3.12 pointing into 3.11's generations is not one of 3.12's generations.
  TC_ASSERT_OK(MakeDirs(RealFs(), layout_.gen_path("3.11", 5)));
  TC_ASSERT_OK(RealFs().Symlink(Layout::LinkTarget("3.11", 5), layout_.live_path("3.12")));
  ExpectLive("3.12", LiveState::Kind::kForeign, layout_.live_path("3.12"));
}

TEST_F(LiveStateTest, RealDirectoryIsForeign) {
  TC_ASSERT_OK(RealFs().MakeDir(layout_.live_path("3.11"), false));
  ExpectLive("3.11", LiveState::Kind::kForeign, layout_.live_path("3.11"));
}

TEST_F(LiveStateTest, SymlinkToADirectoryElsewhereIsForeign) {
  TC_ASSERT_OK(RealFs().MakeDir(tmp_.Sub("elsewhere"), false));
  TC_ASSERT_OK(RealFs().Symlink(tmp_.Sub("elsewhere"), layout_.live_path("3.11")));
  ExpectLive("3.11", LiveState::Kind::kForeign, layout_.live_path("3.11"));
}

TEST_F(LiveStateTest, DanglingSymlinkIsMissing) {
  TC_ASSERT_OK(RealFs().Symlink(tmp_.Sub("nowhere"), layout_.live_path("3.11")));
  ExpectLive("3.11", LiveState::Kind::kMissing, "");
}

TEST_F(LiveStateTest, BadGenerationNameIsNotAGeneration) {
  TC_ASSERT_OK(RealFs().Symlink(".typecache/gens/3.11/g0000000x", layout_.live_path("3.11")));
  absl::StatusOr<LiveState> state = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_NE(state->kind, LiveState::Kind::kGeneration);
}

TEST_F(LiveStateTest, RegularFileIsAnError) {
  TC_ASSERT_OK(RealFs().WriteNewFile(layout_.live_path("3.11"), "x"));
  absl::StatusOr<LiveState> state = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(state.status().message(), layout_.live_path("3.11")))
      << state.status();
}

TEST_F(LiveStateTest, SymlinkToARegularFileIsAnError) {
  TC_ASSERT_OK(RealFs().WriteNewFile(tmp_.Sub("file"), "x"));
  TC_ASSERT_OK(RealFs().Symlink(tmp_.Sub("file"), layout_.live_path("3.11")));
  absl::StatusOr<LiveState> state = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace typecache
