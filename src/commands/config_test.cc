#include "src/commands/config.h"

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

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
  // Writes `text` into the configuration file `path`, then loads without flags or environment.
  absl::StatusOr<Config> LoadWritten(const std::string& path, const std::string& text) {
    absl::Status written = WriteFileAtomic(RealFs(), path, text);
    if (!written.ok()) return written;
    return Load({}, {});
  }
  absl::StatusOr<Config> Load(const std::map<std::string, std::string>& flags,
                              std::map<std::string, std::string> env) {
    // A named user file must exist; without one, the default user file is missing.
    if (RealFs().Stat(user_file_)->exists()) {
      env.emplace("TYPECACHE_CONFIG", user_file_);
    } else {
      env.emplace("HOME", tmp_.Sub("home"));
    }
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
  absl::StatusOr<Config> user = LoadWritten(user_file_, "lock_timeout = 1s\n");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->Get("lock_timeout").origin, user_file_ + ":1");
  EXPECT_EQ(*user->Duration("lock_timeout"), absl::Seconds(1));

  absl::StatusOr<Config> cache = LoadWritten(cache_file_, "\n\nlock_timeout = 2s\n");
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

// Every problem as "where: message", for assertions.
std::vector<std::string> Problems(const Config& config) {
  std::vector<std::string> out;
  for (const ConfigProblem& p : config.problems()) out.push_back(p.ToString());
  return out;
}

// Expects the setting `key` of `config` to have the value `value`, for each {key, value}.
void ExpectValues(const Config& config, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) EXPECT_EQ(config.Get(key).value, value) << key;
}

// Whether `config` was loaded, with exactly one problem, at `where`.
::testing::AssertionResult OneProblemAt(const absl::StatusOr<Config>& config,
                                        const std::string& where) {
  if (!config.ok()) return ::testing::AssertionFailure() << config.status();
  if (config->problems().size() != 1) {
    return ::testing::AssertionFailure() << config->problems().size() << " problems:\n"
                                         << absl::StrJoin(Problems(*config), "\n");
  }
  if (config->problems()[0].where != where) {
    return ::testing::AssertionFailure() << "the problem is at " << config->problems()[0].where;
  }
  return ::testing::AssertionSuccess();
}

TEST_F(ConfigTest, BadLineIsOneProblemAndTheRestOfTheFileIsKept) {
  absl::StatusOr<Config> config = LoadWritten(
      cache_file_, "max_size = 1K\n# fine\nthis line has no equals sign\nlock_timeout = 9s\n");
  ASSERT_TRUE(OneProblemAt(config, cache_file_ + ":3"));
  EXPECT_EQ(config->problems()[0].severity, ConfigProblem::Severity::kError);
  ExpectValues(*config, {{"max_size", "1K"}, {"lock_timeout", "9s"}});
}

TEST_F(ConfigTest, UnknownKeyIsAWarningAndTheFileIsKept) {
  absl::StatusOr<Config> config =
      LoadWritten(user_file_, "lock_timeout = 1s\nlock_timout = 2s\nmax_size = 3K\n");
  ASSERT_TRUE(OneProblemAt(config, user_file_ + ":2"));
  const ConfigProblem& p = config->problems()[0];
  EXPECT_EQ(p.severity, ConfigProblem::Severity::kWarning);
  EXPECT_TRUE(absl::StrContains(p.message, "lock_timout")) << p.message;
  EXPECT_EQ(config->FirstError(), nullptr);
  ExpectValues(*config, {{"lock_timeout", "1s"}, {"max_size", "3K"}});
}

TEST_F(ConfigTest, ABadValueFallsBackToItsDefaultAlone) {
  absl::StatusOr<Config> from_file =
      LoadWritten(cache_file_, "publish = never\nmax_size = lots\nlock_timeout = 7s\n");
  ASSERT_TRUE(OneProblemAt(from_file, cache_file_ + ":2"));
  EXPECT_TRUE(absl::StrContains(from_file->problems()[0].message, "max_size"));
  EXPECT_EQ(from_file->Get("max_size").value, "0");
  EXPECT_EQ(from_file->Get("max_size").origin, "default");
  ExpectValues(*from_file, {{"publish", "never"}, {"lock_timeout", "7s"}});

  TC_ASSERT_OK(RealFs().Unlink(cache_file_));
  absl::StatusOr<Config> from_env = Load({}, {{"TYPECACHE_MAX_SIZE", "8M"},
                                              {"TYPECACHE_LOCK_TIMEOUT", "soon"},
                                              {"TYPECACHE_PUBLISH", "sometimes"}});
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(Problems(*from_env),
            (std::vector<std::string>{
                "TYPECACHE_LOCK_TIMEOUT: lock_timeout: 'soon' is not a duration (e.g. 30d, 12h, "
                "90m, 45s, 250ms); using the default, 120s",
                "TYPECACHE_PUBLISH: publish: 'sometimes' is not one of auto, always, never; "
                "using the default, auto"}));
  EXPECT_EQ(from_env->Get("max_size").value, "8M");
  EXPECT_EQ(*from_env->Duration("lock_timeout"), absl::Seconds(120));
}

TEST_F(ConfigTest, AMissingNamedUserFileIsAProblem) {
  absl::StatusOr<Config> config = Config::Load(
      RealFs(), {}, EnvOf({{"TYPECACHE_CONFIG", tmp_.Sub("missing.conf")}}), cache_dir_);
  ASSERT_TRUE(OneProblemAt(config, "TYPECACHE_CONFIG"));
  EXPECT_TRUE(absl::StrContains(config->problems()[0].message, "missing.conf does not exist"));
  // The default user file may be missing.
  config = Config::Load(RealFs(), {}, EnvOf({{"HOME", tmp_.Sub("nohome")}}), cache_dir_);
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->problems().empty());
}

TEST(CheckSettingTest, EveryKey) {
  TC_EXPECT_OK(CheckSetting("lock_timeout", "30s"));
  TC_EXPECT_OK(CheckSetting("max_size", "2G"));
  TC_EXPECT_OK(CheckSetting("publish", "never"));
  TC_EXPECT_OK(CheckSetting("verbose", "yes"));
  TC_EXPECT_OK(CheckSetting("disable", "1"));
  EXPECT_FALSE(CheckSetting("lock_timeout", "x").ok());
  EXPECT_FALSE(CheckSetting("max_size", "big").ok());
  EXPECT_FALSE(CheckSetting("publish", "sometimes").ok());
  EXPECT_FALSE(CheckSetting("disable", "maybe").ok());
  EXPECT_FALSE(CheckSetting("nope", "1").ok());
}

TEST_F(ConfigTest, SetAndUnsetKeepTheRestOfTheFile) {
  std::string path = tmp_.Sub("new/dir/typecache.conf");
  absl::StatusOr<int> line = SetInConfigFile(RealFs(), path, "max_size", "2G");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, 1);
  EXPECT_EQ(*RealFs().ReadFile(path), "max_size = 2G\n");

  Write(path, "# shared CI cache\nmax_size = 1G  # old\nlock_timeout = 5m\nmax_size=3G\n");
  line = SetInConfigFile(RealFs(), path, "max_size", "2G");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*RealFs().ReadFile(path), "# shared CI cache\nlock_timeout = 5m\nmax_size = 2G\n");
  EXPECT_EQ(*line, 3);
  line = SetInConfigFile(RealFs(), path, "publish", "never");
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line, 4);
  EXPECT_FALSE(SetInConfigFile(RealFs(), path, "max_size", "huge").ok());
  EXPECT_FALSE(SetInConfigFile(RealFs(), path, "no_such_key", "1").ok());

  absl::StatusOr<int> removed = UnsetInConfigFile(RealFs(), path, "max_size");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(*RealFs().ReadFile(path), "# shared CI cache\nlock_timeout = 5m\npublish = never\n");
  removed = UnsetInConfigFile(RealFs(), path, "max_size");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0);
  removed = UnsetInConfigFile(RealFs(), tmp_.Sub("absent.conf"), "max_size");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0);
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
