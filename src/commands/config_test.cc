#include "src/commands/config.h"

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

EnvLookup EnvOf(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    user_file_ = tmp_.Sub("user.conf");
    cache_dir_ = tmp_.Sub("cache");
    TC_ASSERT_OK(RealFs().MakeDir(cache_dir_, false));
    cache_file_ = JoinPath(cache_dir_, "typecache.conf");
  }
  void Write(const std::string& path, const std::string& text) {
    TC_ASSERT_OK(WriteFileAtomic(RealFs(), path, text));
  }
  absl::StatusOr<Config> Load(const std::map<std::string, std::string>& flags,
                              std::map<std::string, std::string> env) {
    env.emplace("TYPECACHE_CONFIG", user_file_);
    return Config::Load(RealFs(), flags, EnvOf(env), cache_dir_);
  }

  TempDir tmp_;
  std::string user_file_;
  std::string cache_dir_;
  std::string cache_file_;
};

TEST_F(ConfigTest, DefaultsWhenNothingIsSet) {
  absl::StatusOr<Config> config = Load({}, {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->files_read().empty());
  ASSERT_EQ(config->values().size(), SettingSpecs().size());
  for (const SettingSpec& spec : SettingSpecs()) {
    EXPECT_EQ(config->Get(spec.key).value, spec.default_value) << spec.key;
    EXPECT_EQ(config->Get(spec.key).origin, "default") << spec.key;
  }
  EXPECT_EQ(config->Get("lock_timeout").value, "120s");
  absl::StatusOr<absl::Duration> timeout = config->Duration("lock_timeout");
  ASSERT_TRUE(timeout.ok());
  EXPECT_EQ(*timeout, absl::Seconds(120));
  absl::StatusOr<bool> verbose = config->Bool("verbose");
  ASSERT_TRUE(verbose.ok());
  EXPECT_FALSE(*verbose);
}

TEST_F(ConfigTest, EachLayerOverridesTheWeakerOnes) {
  // lock_timeout is set by every layer; each other key by fewer layers.
  Write(user_file_,
        "lock_timeout = 1s\n"
        "publish = never\n"
        "max_size = 1K\n"
        "verbose = true\n");
  Write(cache_file_,
        "# cache-wide settings\n"
        "lock_timeout = 2s\n"
        "publish = always\n"
        "max_size = 2K\n");
  absl::StatusOr<Config> config = Load(
      {{"lock_timeout", "4s"}}, {{"TYPECACHE_LOCK_TIMEOUT", "3s"}, {"TYPECACHE_PUBLISH", "auto"}});
  ASSERT_TRUE(config.ok()) << config.status();

  EXPECT_EQ(config->Get("lock_timeout").value, "4s");
  EXPECT_EQ(config->Get("lock_timeout").origin, "command line");
  EXPECT_EQ(config->Get("publish").value, "auto");
  EXPECT_EQ(config->Get("publish").origin, "environment (TYPECACHE_PUBLISH)");
  EXPECT_EQ(config->Get("max_size").value, "2K");
  EXPECT_EQ(config->Get("max_size").origin, cache_file_ + ":4");
  EXPECT_EQ(config->Get("verbose").value, "true");
  EXPECT_EQ(config->Get("verbose").origin, user_file_ + ":4");
  EXPECT_EQ(config->files_read(), (std::vector<std::string>{user_file_, cache_file_}));
}

TEST_F(ConfigTest, OriginsOfEachLayerAlone) {
  Write(user_file_, "lock_timeout = 1s\n");
  absl::StatusOr<Config> user = Load({}, {});
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->Get("lock_timeout").origin, user_file_ + ":1");
  EXPECT_EQ(*user->Duration("lock_timeout"), absl::Seconds(1));

  Write(cache_file_, "\n\nlock_timeout = 2s\n");
  absl::StatusOr<Config> cache = Load({}, {});
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ(cache->Get("lock_timeout").origin, cache_file_ + ":3");
  EXPECT_EQ(*cache->Duration("lock_timeout"), absl::Seconds(2));

  absl::StatusOr<Config> env = Load({}, {{"TYPECACHE_LOCK_TIMEOUT", "3s"}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->Get("lock_timeout").origin, "environment (TYPECACHE_LOCK_TIMEOUT)");
  EXPECT_EQ(*env->Duration("lock_timeout"), absl::Seconds(3));

  absl::StatusOr<Config> flag = Load({{"lock_timeout", "4s"}}, {{"TYPECACHE_LOCK_TIMEOUT", "3s"}});
  ASSERT_TRUE(flag.ok()) << flag.status();
  EXPECT_EQ(*flag->Duration("lock_timeout"), absl::Seconds(4));
}

TEST_F(ConfigTest, EmptyEnvironmentValueIsIgnored) {
  Write(cache_file_, "max_size = 2K\n");
  absl::StatusOr<Config> config = Load({}, {{"TYPECACHE_MAX_SIZE", ""}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Get("max_size").value, "2K");
}

TEST_F(ConfigTest, NoCacheDirMeansNoCacheFile) {
  Write(cache_file_, "max_size = 2K\n");
  absl::StatusOr<Config> config =
      Config::Load(RealFs(), {}, EnvOf({{"TYPECACHE_CONFIG", user_file_}}), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Get("max_size").origin, "default");
}

TEST_F(ConfigTest, CommentsAndWhitespace) {
  Write(cache_file_,
        "# a comment\n"
        "   \n"
        "  max_size=64K   # trailing comment\n"
        "\tverbose   =   yes\n");
  absl::StatusOr<Config> config = Load({}, {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Get("max_size").value, "64K");
  EXPECT_EQ(*config->Size("max_size"), 65536);
  EXPECT_EQ(config->Get("verbose").value, "yes");
  EXPECT_TRUE(*config->Bool("verbose"));
}

TEST_F(ConfigTest, BadLineNamesFileAndLine) {
  Write(cache_file_, "max_size = 1K\n# fine\nthis line has no equals sign\n");
  absl::StatusOr<Config> config = Load({}, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(config.status().message(), cache_file_ + ":3:")) << config.status();
}

TEST_F(ConfigTest, UnknownKeyNamesFileAndLine) {
  Write(user_file_, "lock_timeout = 1s\nlock_timout = 2s\n");
  absl::StatusOr<Config> config = Load({}, {});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), user_file_ + ":2:")) << config.status();
  EXPECT_TRUE(absl::StrContains(config.status().message(), "lock_timout")) << config.status();
}

TEST_F(ConfigTest, InvalidValuesNameTheirOrigin) {
  Write(cache_file_, "publish = auto\nmax_size = lots\n");
  absl::StatusOr<Config> from_file = Load({}, {});
  ASSERT_FALSE(from_file.ok());
  EXPECT_TRUE(absl::StrContains(from_file.status().message(), cache_file_ + ":2"))
      << from_file.status();
  EXPECT_TRUE(absl::StrContains(from_file.status().message(), "max_size")) << from_file.status();

  absl::StatusOr<Config> from_env =
      Load({}, {{"TYPECACHE_MAX_SIZE", "8M"}, {"TYPECACHE_LOCK_TIMEOUT", "soon"}});
  ASSERT_FALSE(from_env.ok());
  EXPECT_TRUE(absl::StrContains(from_env.status().message(), "TYPECACHE_LOCK_TIMEOUT"))
      << from_env.status();

  TC_ASSERT_OK(RealFs().Unlink(cache_file_));
  absl::StatusOr<Config> from_flag = Load({{"verbose", "perhaps"}}, {});
  ASSERT_FALSE(from_flag.ok());
  EXPECT_TRUE(absl::StrContains(from_flag.status().message(), "perhaps")) << from_flag.status();
}

TEST_F(ConfigTest, UnknownFlagIsRejected) {
  absl::StatusOr<Config> config = Load({{"no_such_setting", "1"}}, {});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), "no_such_setting")) << config.status();
}

TEST(ConfigBoolTest, Spellings) {
  for (const char* yes : {"1", "true", "TRUE", "yes", "On"}) {
    absl::StatusOr<Config> config = Config::Load(RealFs(), {{"verbose", yes}}, EnvOf({}), "");
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_TRUE(*config->Bool("verbose")) << yes;
  }
  for (const char* no : {"0", "false", "No", "off"}) {
    absl::StatusOr<Config> config = Config::Load(RealFs(), {{"verbose", no}}, EnvOf({}), "");
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_FALSE(*config->Bool("verbose")) << no;
  }
}

TEST(UserConfigPathTest, Precedence) {
  EXPECT_EQ(UserConfigPath(EnvOf({{"TYPECACHE_CONFIG", "/etc/tc.conf"},
                                  {"XDG_CONFIG_HOME", "/xdg"},
                                  {"HOME", "/home/u"}})),
            "/etc/tc.conf");
  EXPECT_EQ(UserConfigPath(EnvOf({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}})),
            "/xdg/typecache/typecache.conf");
  EXPECT_EQ(UserConfigPath(EnvOf({{"XDG_CONFIG_HOME", ""}, {"HOME", "/home/u"}})),
            "/home/u/.config/typecache/typecache.conf");
  EXPECT_EQ(UserConfigPath(EnvOf({})), "");
}

TEST(UserConfigPathTest, XdgFileIsRead) {
  TempDir tmp;
  TC_ASSERT_OK(MakeDirs(RealFs(), tmp.Sub("xdg/typecache")));
  TC_ASSERT_OK(RealFs().WriteNewFile(tmp.Sub("xdg/typecache/typecache.conf"), "publish = never\n"));
  absl::StatusOr<Config> config =
      Config::Load(RealFs(), {}, EnvOf({{"XDG_CONFIG_HOME", tmp.Sub("xdg")}}), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Get("publish").value, "never");
  EXPECT_EQ(config->Get("publish").origin, tmp.Sub("xdg/typecache/typecache.conf") + ":1");
}

TEST(ParseDurationTest, Units) {
  struct Case {
    const char* text;
    absl::Duration want;
  };
  for (const Case& c : {
           Case{"30d", absl::Hours(24 * 30)},
           Case{"12h", absl::Hours(12)},
           Case{"90m", absl::Minutes(90)},
           Case{"45s", absl::Seconds(45)},
           Case{"250ms", absl::Milliseconds(250)},
           Case{"2w", absl::Hours(24 * 14)},
           Case{"1.5h", absl::Minutes(90)},
           Case{"10", absl::Seconds(10)},
           Case{"0.5", absl::Milliseconds(500)},
           Case{"0", absl::ZeroDuration()},
           Case{" 7s ", absl::Seconds(7)},
       }) {
    absl::StatusOr<absl::Duration> d = ParseDurationSetting(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status();
    EXPECT_EQ(*d, c.want) << c.text;
  }
}

TEST(ParseDurationTest, Errors) {
  for (const char* text :
       {"", "abc", "-5s", "-1", "5x", "s", "ms", "h5", "1d2h", "inf", "nan", "infs"}) {
    absl::StatusOr<absl::Duration> d = ParseDurationSetting(text);
    EXPECT_FALSE(d.ok()) << "accepted '" << text << "' as " << *d;
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_TRUE(absl::StrContains(d.status().message(), "is not a duration")) << d.status();
    }
  }
}

TEST(ParseSizeTest, Units) {
  struct Case {
    const char* text;
    int64_t want;
  };
  for (const Case& c : {
           Case{"0", 0},
           Case{"1234", 1234},
           Case{"64K", 64 * 1024},
           Case{"500M", int64_t{500} * 1024 * 1024},
           Case{"2G", int64_t{2} << 30},
           Case{"1.5G", int64_t{3} << 29},
           Case{"3T", int64_t{3} << 40},
           Case{"2g", int64_t{2} << 30},
           Case{"10KB", 10 * 1024},
           Case{"100B", 100},
           Case{" 8M ", int64_t{8} << 20},
           Case{"2GiB", int64_t{2} << 30},
           Case{"2Gi", int64_t{2} << 30},
           Case{"512KiB", 512 * 1024},
       }) {
    absl::StatusOr<int64_t> size = ParseSize(c.text);
    ASSERT_TRUE(size.ok()) << c.text << ": " << size.status();
    EXPECT_EQ(*size, c.want) << c.text;
  }
}

TEST(ParseSizeTest, Errors) {
  for (const char* text :
       {"", "abc", "-1", "-2G", "1.5X", "G", "B", "KiB", "2iG", "2i", "inf", "2 G G", "nan"}) {
    absl::StatusOr<int64_t> size = ParseSize(text);
    EXPECT_FALSE(size.ok()) << "accepted '" << text << "' as " << *size;
    if (!size.ok()) {
      EXPECT_EQ(size.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_TRUE(absl::StrContains(size.status().message(), "is not a size")) << size.status();
    }
  }
}

TEST(FormatSizeTest, Units) {
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(1023), "1023 B");
  EXPECT_EQ(FormatSize(1024), "1.0 KiB");
  EXPECT_EQ(FormatSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatSize(int64_t{5} << 20), "5.0 MiB");
  EXPECT_EQ(FormatSize(int64_t{2} << 30), "2.0 GiB");
  EXPECT_EQ(FormatSize(int64_t{3} << 40), "3.0 TiB");
  EXPECT_EQ(FormatSize(int64_t{2048} << 40), "2048.0 TiB");
}

TEST(FormatSizeTest, OutputParsesBack) {
  for (int64_t bytes : {int64_t{0}, int64_t{1000}, int64_t{1536}, int64_t{5} << 20,
                        int64_t{2} << 30, int64_t{3} << 40}) {
    absl::StatusOr<int64_t> parsed = ParseSize(FormatSize(bytes));
    ASSERT_TRUE(parsed.ok()) << FormatSize(bytes) << ": " << parsed.status();
    EXPECT_EQ(*parsed, bytes) << FormatSize(bytes);
  }
}

}  // namespace
}  // namespace typecache
