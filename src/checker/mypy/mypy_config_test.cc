#include "src/checker/mypy/mypy_config.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class MypyConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(project_);
    std::filesystem::create_directories(home_);
    env_["HOME"] = home_;
  }

  void Write(const std::string& path, const std::string& content) {
    std::string full = path[0] == '/' ? path : project_ + "/" + path;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    std::ofstream(full) << content;
  }
  // Writes each {path, content} of `files`, in order.
  void Write(const std::vector<std::pair<std::string, std::string>>& files) {
    for (const auto& [path, content] : files) Write(path, content);
  }

  EnvLookup Env() const { return EnvOf(env_); }

  MypyCacheSettings Read(const std::vector<std::string>& args = {},
                         const MypyConfigRules& rules = MypyConfigRules::Mypy1_0()) {
    absl::StatusOr<MypyCacheSettings> s = ReadMypyCacheSettings(args, cwd(), Env(), rules);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : MypyCacheSettings();
  }

  absl::Status Error(const std::vector<std::string>& args = {},
                     const MypyConfigRules& rules = MypyConfigRules::Mypy1_0()) {
    return ReadMypyCacheSettings(args, cwd(), Env(), rules).status();
  }

  // Writes `content` into `path`, then reads the settings: the error message that gives.
  std::string ErrorWith(const std::string& path, const std::string& content) {
    Write(path, content);
    return std::string(Error().message());
  }

  std::string cwd() const { return cwd_.empty() ? project_ : cwd_; }

  TempDir tmp_;
  std::string root_ = tmp_.path(), project_ = root_ + "/project", home_ = root_ + "/home", cwd_;
  std::map<std::string, std::string> env_;
};

TEST_F(MypyConfigTest, DefaultsWithoutAnyConfig) {
  MypyCacheSettings s = Read({"x.py"});
  EXPECT_EQ(s.cache_dir, project_ + "/.mypy_cache");
  EXPECT_EQ(s.cache_dir_value, ".mypy_cache");
  EXPECT_EQ(s.cache_dir_origin, "default");
  EXPECT_FALSE(s.sqlite_cache);
  EXPECT_EQ(s.sqlite_cache_origin, "default");
  EXPECT_TRUE(s.incremental);
  EXPECT_EQ(s.config_file, "");
  EXPECT_TRUE(Read({}, MypyConfigRules::ForVersion(1, 20)).sqlite_cache);
  EXPECT_FALSE(Read({}, MypyConfigRules::ForVersion(1, 19)).sqlite_cache);
}

TEST_F(MypyConfigTest, MypyIni) {
  Write("mypy.ini", "# comment\n[mypy]\ncache_dir = build/mc\nsqlite_cache = True\n");
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.cache_dir, project_ + "/build/mc");
  EXPECT_EQ(s.cache_dir_origin, "mypy.ini:3 [mypy] cache_dir");
  EXPECT_TRUE(s.sqlite_cache);
  EXPECT_EQ(s.sqlite_cache_origin, "mypy.ini:4 [mypy] sqlite_cache");
  EXPECT_EQ(s.config_file, "mypy.ini");
  EXPECT_EQ(s.config_file_path, project_ + "/mypy.ini");
}

TEST_F(MypyConfigTest, DotMypyIni) {
  Write(".mypy.ini", "[mypy]\nincremental = off\n");
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.config_file, ".mypy.ini");
  EXPECT_FALSE(s.incremental);
  EXPECT_EQ(s.incremental_origin, ".mypy.ini:2 [mypy] incremental");
}

TEST_F(MypyConfigTest, PyprojectToml) {
  Write("pyproject.toml",
        "[project]\nname = 'x'\n\n[tool.mypy]\nsqlite_cache = true\ncache_dir = \"tc\"\n");
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.config_file, "pyproject.toml");
  EXPECT_EQ(s.cache_dir, project_ + "/tc");
  EXPECT_EQ(s.cache_dir_origin, "pyproject.toml:6 [tool.mypy] cache_dir");
  EXPECT_TRUE(s.sqlite_cache);
  EXPECT_EQ(s.sqlite_cache_origin, "pyproject.toml:5 [tool.mypy] sqlite_cache");
}

TEST_F(MypyConfigTest, PyprojectWithoutToolMypyIsSkipped) {
  Write({{"pyproject.toml", "[tool.black]\nline-length = 100\n"},
         {"setup.cfg", "[mypy]\ncache_dir = from-setup\n"}});
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.config_file, "setup.cfg");
  EXPECT_EQ(s.cache_dir_value, "from-setup");
}

TEST_F(MypyConfigTest, SetupCfgCountsOnlyWithMypySection) {
  Write("setup.cfg", "[metadata]\nname = x\n[mypy-foo]\nignore_errors = True\n");
  EXPECT_EQ(Read().config_file, "");
  Write("setup.cfg", "[metadata]\nname = x\n[mypy]\ncache_dir = sc\n");
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.config_file, "setup.cfg");
  EXPECT_EQ(s.cache_dir_origin, "setup.cfg:4 [mypy] cache_dir");
}

TEST_F(MypyConfigTest, MypyIniWithoutMypySectionIsStillTheConfigFile) {
  Write({{"mypy.ini", "[other]\ncache_dir = no\n"}, {"setup.cfg", "[mypy]\ncache_dir = sc\n"}});
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.config_file, "mypy.ini");
  EXPECT_EQ(s.cache_dir_origin, "default");
  EXPECT_THAT(s.warnings, ElementsAre("mypy.ini: No [mypy] section in config file"));
}

TEST_F(MypyConfigTest, FileOrder) {
  Write({{"setup.cfg", "[mypy]\ncache_dir = 4\n"},
         {"pyproject.toml", "[tool.mypy]\ncache_dir = '3'\n"},
         {".mypy.ini", "[mypy]\ncache_dir = 2\n"},
         {"mypy.ini", "[mypy]\ncache_dir = 1\n"}});
  EXPECT_EQ(Read().cache_dir_value, "1");
  std::filesystem::remove(project_ + "/mypy.ini");
  EXPECT_EQ(Read().cache_dir_value, "2");
  std::filesystem::remove(project_ + "/.mypy.ini");
  EXPECT_EQ(Read().cache_dir_value, "3");
  std::filesystem::remove(project_ + "/pyproject.toml");
  EXPECT_EQ(Read().cache_dir_value, "4");
}

TEST_F(MypyConfigTest, UserConfigFiles) {
  Write(home_ + "/.mypy.ini", "[mypy]\ncache_dir = ~/home-mypy-ini\n");
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.config_file, home_ + "/.mypy.ini");
  EXPECT_EQ(s.cache_dir, home_ + "/home-mypy-ini");
  Write(home_ + "/.config/mypy/config", "[mypy]\ncache_dir = dot-config\n");
  EXPECT_EQ(Read().config_file, home_ + "/.config/mypy/config");
  env_["XDG_CONFIG_HOME"] = root_ + "/xdg";
  Write(root_ + "/xdg/mypy/config", "[mypy]\ncache_dir = xdg\n");
  EXPECT_EQ(Read().config_file, root_ + "/xdg/mypy/config");
  // A project file wins over every user file.
  Write("setup.cfg", "[mypy]\n");
  EXPECT_EQ(Read().config_file, "setup.cfg");
  EXPECT_EQ(Read().cache_dir_origin, "default");
}

TEST_F(MypyConfigTest, ConfigFileFlag) {
  Write({{"mypy.ini", "[mypy]\ncache_dir = default-file\n"},
         {"conf/other.ini", "[mypy]\ncache_dir = other\n"}});
  MypyCacheSettings s = Read({"--config-file", "conf/other.ini"});
  EXPECT_EQ(s.config_file, "conf/other.ini");
  EXPECT_EQ(s.cache_dir_value, "other");
  EXPECT_EQ(Read({"--config-file=conf/other.ini"}).cache_dir_value, "other");
  // --config-file= (empty): no configuration file at all.
  s = Read({"--config-file="});
  EXPECT_EQ(s.config_file, "");
  EXPECT_EQ(s.cache_dir_origin, "default");
  // The last one wins, as argparse does.
  EXPECT_EQ(Read({"--config-file=conf/other.ini", "--config-file="}).config_file, "");
  absl::Status missing = Error({"--config-file", "nope.ini"});
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("Cannot find config file 'nope.ini'"));
  // A TOML file given explicitly without [tool.mypy] is no configuration.
  Write("conf/py.toml", "[tool.other]\n");
  EXPECT_EQ(Read({"--config-file", "conf/py.toml"}).config_file, "");
  // mypy 1.0.1 skips "setup.cfg" without [mypy] even when named explicitly, but not
  // "./setup.cfg" (it compares names); newer mypy compares base names.
  Write("setup.cfg", "[metadata]\n");
  EXPECT_EQ(Read({"--config-file", "setup.cfg"}).config_file, "");
  EXPECT_EQ(Read({"--config-file", "./setup.cfg"}).config_file, "./setup.cfg");
  EXPECT_EQ(Read({"--config-file", "./setup.cfg"}, MypyConfigRules::ForVersion(1, 15)).config_file,
            "");
}

TEST_F(MypyConfigTest, MypyCacheDirBeatsConfigAndLosesToTheFlag) {
  Write("mypy.ini", "[mypy]\ncache_dir = from-config\n");
  env_["MYPY_CACHE_DIR"] = "from-env";
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.cache_dir_value, "from-env");
  EXPECT_EQ(s.cache_dir_origin, "MYPY_CACHE_DIR");
  s = Read({"--cache-dir", "from-flag"});
  EXPECT_EQ(s.cache_dir_value, "from-flag");
  EXPECT_EQ(s.cache_dir_origin, "--cache-dir flag");
  env_["MYPY_CACHE_DIR"] = "  ";  // Blank: ignored.
  EXPECT_EQ(Read().cache_dir_value, "from-config");
  env_["MYPY_CACHE_DIR"] = "~/env-cache";  // ~ is expanded, $VARS are not.
  EXPECT_EQ(Read().cache_dir, home_ + "/env-cache");
  env_["MYPY_CACHE_DIR"] = "$HOME/x";
  EXPECT_EQ(Read().cache_dir_value, "$HOME/x");
}

TEST_F(MypyConfigTest, FlagsOverrideConfig) {
  Write("mypy.ini", "[mypy]\nsqlite_cache = True\nincremental = False\ncache_dir = c\n");
  MypyCacheSettings s = Read({"--no-sqlite-cache", "-i", "--cache-dir=/abs/flag"});
  EXPECT_FALSE(s.sqlite_cache);
  EXPECT_EQ(s.sqlite_cache_origin, "--no-sqlite-cache flag");
  EXPECT_TRUE(s.incremental);
  EXPECT_EQ(s.incremental_origin, "-i flag");
  EXPECT_EQ(s.cache_dir, "/abs/flag");
  s = Read({"--sqlite-cache", "--no-sqlite-cache", "--sqlite-cache", "--no-incremental",
            "--incremental"});
  EXPECT_TRUE(s.sqlite_cache);
  EXPECT_TRUE(s.incremental);
  EXPECT_EQ(s.incremental_origin, "--incremental flag");
  EXPECT_FALSE(Read({"-vi", "--no-incremental"}).incremental);
  EXPECT_TRUE(Read({"--no-incremental", "-vi"}).incremental);
  // After "--" everything is a file name.
  EXPECT_TRUE(Read({"--", "--no-sqlite-cache"}).sqlite_cache);
  // The flag's value is taken verbatim: no ~ or $ expansion.
  EXPECT_EQ(Read({"--cache-dir", "~/x"}).cache_dir, project_ + "/~/x");
  EXPECT_TRUE(Read({"--cache-dir", "/dev/null"}).cache_disabled);
}

TEST_F(MypyConfigTest, ArgparseAbbreviationsAndArgFiles) {
  MypyCacheSettings s = Read({"--cache-d", "ab", "--no-sq", "--no-inc"});
  EXPECT_EQ(s.cache_dir_value, "ab");
  EXPECT_EQ(s.sqlite_cache_origin, "--no-sqlite-cache flag");
  EXPECT_FALSE(s.incremental);
  EXPECT_EQ(Read({"--sq"}).sqlite_cache_origin, "--sqlite-cache flag");
  EXPECT_EQ(Read({"--cache-dir=x", "--conf=", "-p", "pkg"}).cache_dir_value, "x");
  absl::Status ambiguous = Error({"--cache", "x"});
  EXPECT_THAT(ambiguous.message(), HasSubstr("ambiguous option: --cache could match"));
  Write({{"args.txt", "--cache-dir\nfrom-file\n@more.txt\n"}, {"more.txt", "--sqlite-cache\n"}});
  s = Read({"@args.txt"});
  EXPECT_EQ(s.cache_dir_value, "from-file");
  EXPECT_TRUE(s.sqlite_cache);
  EXPECT_EQ(Error({"@missing.txt"}).code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Error({"--cache-dir"}).message(), HasSubstr("expected one argument"));
  EXPECT_THAT(Error({"--cache-dir", "--strict"}).message(), HasSubstr("expected one argument"));
  // A value of another option is not a flag: --exclude's value is consumed.
  EXPECT_FALSE(Read({"--exclude", "x", "--package", "p"}).sqlite_cache);
}

TEST_F(MypyConfigTest, CacheDirExpansionInConfig) {
  env_["SOME"] = "/some";
  Write("mypy.ini", "[mypy]\ncache_dir = $MYPY_CONFIG_FILE_DIR/${SOME}/$UNSET/~x\n");
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.cache_dir_value, project_ + "//some/$UNSET/~x");
  EXPECT_EQ(s.cache_dir, project_ + "/some/$UNSET/~x");
  Write("mypy.ini", "[mypy]\ncache_dir = ~/c\n");
  EXPECT_EQ(Read().cache_dir, home_ + "/c");
  // expandvars' result is ~-expanded once more by main.py.
  env_["TILDE"] = "~/t";
  Write("mypy.ini", "[mypy]\ncache_dir = $TILDE\n");
  EXPECT_EQ(Read().cache_dir, home_ + "/t");
  // MYPY_CONFIG_FILE_DIR is the config file's directory, even run from elsewhere.
  Write("conf/m.ini", "[mypy]\ncache_dir = $MYPY_CONFIG_FILE_DIR/c\n");
  cwd_ = root_;
  EXPECT_EQ(Read({"--config-file", "project/conf/m.ini"}).cache_dir, project_ + "/conf/c");
}

TEST_F(MypyConfigTest, IniSyntaxAsConfigparserReadsIt) {
  Write("mypy.ini",
        "; a comment\n"
        "[mypy]\n"
        "  # indented comment\n"
        "Cache_Dir : first\n"  // keys are lower-cased; ':' is a delimiter too
        "   continued\n"       // continuation line
        "\n"
        "    more\n"  // an empty line inside a value is kept
        "SQLITE_CACHE=On\n"
        "incremental = 1 ; not a comment\n");  // no inline comments
  absl::StatusOr<MypyCacheSettings> s = ReadMypyCacheSettings({}, project_, Env());
  ASSERT_FALSE(s.ok());  // "1 ; not a comment" is not a boolean.
  EXPECT_THAT(s.status().message(), HasSubstr("mypy.ini:9 [mypy] incremental: Not a boolean"));
  Write("mypy.ini",
        "[mypy]\n"
        "Cache_Dir : first\n"
        "   continued\n"
        "\n"
        "    more\n"
        "SQLITE_CACHE=On\n");
  MypyCacheSettings r = Read();
  EXPECT_EQ(r.cache_dir_value, "first\ncontinued\n\nmore");
  EXPECT_EQ(r.cache_dir_origin, "mypy.ini:2 [mypy] cache_dir");
  EXPECT_TRUE(r.sqlite_cache);
  // "[mypy]x" is the header "mypy" (SECTCRE is not anchored at the end): a duplicate.
  EXPECT_THAT(ErrorWith("mypy.ini", "[mypy]\n[mypy]x\n"),
              HasSubstr("mypy.ini:2: section 'mypy' already exists"));
  // "[a]b]" is the section "a]b".
  Write("mypy.ini", "[a]b]\nk = v\n[mypy]\n");
  EXPECT_EQ(Read().config_file, "mypy.ini");
}

TEST_F(MypyConfigTest, DefaultSectionAndInvertedKeys) {
  Write("mypy.ini", "[DEFAULT]\ncache_dir = d\n[mypy]\nno_sqlite_cache = False\n");
  MypyCacheSettings s = Read();
  EXPECT_EQ(s.cache_dir_value, "d");
  EXPECT_EQ(s.cache_dir_origin, "mypy.ini:2 [DEFAULT] cache_dir");
  EXPECT_TRUE(s.sqlite_cache);
  EXPECT_EQ(s.sqlite_cache_origin, "mypy.ini:4 [mypy] no_sqlite_cache");
  // Both keys: the later one in the file wins.
  Write("mypy.ini", "[mypy]\nno_incremental = true\nincremental = true\n");
  EXPECT_TRUE(Read().incremental);
  Write("pyproject.toml", "[tool.mypy]\nsqlite_cache = true\nno_sqlite_cache = true\n");
  std::filesystem::remove(project_ + "/mypy.ini");
  EXPECT_FALSE(Read().sqlite_cache);
  // Per-module sections never set these.
  Write("mypy.ini", "[mypy]\n[mypy-foo]\ncache_dir = no\nsqlite_cache = True\n");
  EXPECT_EQ(Read().cache_dir_origin, "default");
  EXPECT_FALSE(Read().sqlite_cache);
}

TEST_F(MypyConfigTest, TomlValueTypes) {
  Write("pyproject.toml", "[tool.mypy]\nsqlite_cache = \"yes\"\nincremental = 0\n");
  MypyCacheSettings s = Read();
  EXPECT_TRUE(s.sqlite_cache);
  EXPECT_FALSE(s.incremental);
  EXPECT_THAT(ErrorWith("pyproject.toml", "[tool.mypy]\nsqlite_cache = 1.5\n"),
              HasSubstr("pyproject.toml:2 [tool.mypy] sqlite_cache: Not a"));
  EXPECT_THAT(ErrorWith("pyproject.toml", "[tool.mypy]\ncache_dir = 3\n"),
              HasSubstr("cache_dir is not a string"));
  // Keys are case-sensitive in TOML.
  Write("pyproject.toml", "[tool.mypy]\nCache_Dir = 'x'\n");
  EXPECT_EQ(Read().cache_dir_origin, "default");
}

TEST_F(MypyConfigTest, MalformedFilesNameFileAndLine) {
  EXPECT_THAT(ErrorWith("mypy.ini", "cache_dir = x\n[mypy]\n"),
              HasSubstr("mypy.ini:1: File contains no section headers"));
  EXPECT_THAT(ErrorWith("mypy.ini", "[mypy]\ncache_dir = x\njunk line\n"),
              HasSubstr("mypy.ini:3: Source contains parsing errors"));
  EXPECT_THAT(ErrorWith("mypy.ini", "[mypy]\n[other]\n[mypy]\n"),
              HasSubstr("mypy.ini:3: section 'mypy' already exists"));
  EXPECT_THAT(ErrorWith("mypy.ini", "[mypy]\ncache_dir = a\nCACHE_DIR = b\n"),
              HasSubstr("mypy.ini:3: option 'cache_dir' in section 'mypy' already exists"));
  EXPECT_THAT(ErrorWith("mypy.ini", "[mypy]\nsqlite_cache = maybe\n"),
              HasSubstr("mypy.ini:2 [mypy] sqlite_cache: Not a boolean"));
  std::filesystem::remove(project_ + "/mypy.ini");
  EXPECT_THAT(ErrorWith("pyproject.toml", "[tool.mypy]\ncache_dir = \"unterminated\n"),
              HasSubstr("pyproject.toml:2: "));
  EXPECT_THAT(ErrorWith("pyproject.toml", "[tool.mypy]\noverrides = 1\n"),
              HasSubstr("pyproject.toml:2: tool.mypy.overrides sections"));
  Write("pyproject.toml",
        "[tool.mypy]\n[[tool.mypy.overrides]]\nmodule = 'a'\nx = 1\n"
        "[[tool.mypy.overrides]]\nmodule = ['a']\nx = 2\n");
  EXPECT_THAT(Error().message(), HasSubstr("conflicting values"));
  EXPECT_THAT(ErrorWith("pyproject.toml", "[tool.mypy]\n[[tool.mypy.overrides]]\nx = 1\n"),
              HasSubstr("no module to override"));
}

TEST_F(MypyConfigTest, NewerMypyWalksUpToTheRepositoryRoot) {
  Write("mypy.ini", "[mypy]\ncache_dir = $MYPY_CONFIG_FILE_DIR/c\n");
  std::filesystem::create_directories(project_ + "/.git");
  std::filesystem::create_directories(project_ + "/src/pkg");
  cwd_ = project_ + "/src/pkg";
  MypyConfigRules newer = MypyConfigRules::ForVersion(1, 15);
  MypyCacheSettings s = Read({}, newer);
  EXPECT_EQ(s.config_file, "../../mypy.ini");
  EXPECT_EQ(s.cache_dir, project_ + "/c");
  // mypy 1.0.1 looks in the working directory only.
  EXPECT_EQ(Read().config_file, "");
  // A nearer pyproject.toml without [tool.mypy] does not stop the walk; one with it does.
  Write("src/pyproject.toml", "[tool.black]\n");
  EXPECT_EQ(Read({}, newer).config_file, "../../mypy.ini");
  Write("src/pyproject.toml", "[tool.mypy]\n");
  EXPECT_EQ(Read({}, newer).config_file, "../pyproject.toml");
  // The walk stops at the directory holding .git.
  std::filesystem::remove(project_ + "/src/pyproject.toml");
  std::filesystem::create_directories(project_ + "/src/.git");
  EXPECT_EQ(Read({}, newer).config_file, "");
}

TEST(PythonPathTest, ExpandUserAndVars) {
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HOME") return "/home/u/";
    if (name == "A") return "1";
    return std::nullopt;
  };
  EXPECT_EQ(PythonExpandUser("~", env), "/home/u");
  EXPECT_EQ(PythonExpandUser("~/x", env), "/home/u/x");
  EXPECT_EQ(PythonExpandUser("x/~", env), "x/~");
  EXPECT_EQ(PythonExpandUser("~no-such-user-here/x", env), "~no-such-user-here/x");
  EXPECT_EQ(PythonExpandUser("~root/x", env), "/root/x");
  EXPECT_EQ(PythonExpandVars("$A/${A}/$B/${}/$/a$", env), "1/1/$B/${}/$/a$");
  EXPECT_EQ(PythonExpandVars("${A", env), "${A");
  EXPECT_EQ(PythonExpandVars("$A$A", env), "11");
}

}  // namespace
}  // namespace typecache
