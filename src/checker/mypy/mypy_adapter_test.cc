#include "src/checker/mypy/mypy_adapter.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "src/os/fs.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

using Args = std::vector<std::string>;

class MypyAdapterTest : public ::testing::Test {
 protected:
  MypyAdapter mypy_;
};

TEST_F(MypyAdapterTest, Basics) {
  EXPECT_EQ(mypy_.name(), "mypy");
  EXPECT_EQ(mypy_.DefaultCacheDir(), ".mypy_cache");
  EXPECT_EQ(mypy_.tables(), (std::vector<std::string>{"files", "files2"}));
  EXPECT_EQ(mypy_.key_column(), "path");
  EXPECT_EQ(mypy_.crash_marker(), "INTERNAL ERROR");
}

TEST_F(MypyAdapterTest, GroupOfSeparatesTablesAndFormats) {
  for (const char* key :
       {"email/mime/text.meta.json", "email/mime/text.data.json", "email/mime/text.deps.json"}) {
    EXPECT_EQ(mypy_.GroupOf("files2", key), "files2:email/mime/text.json") << key;
    EXPECT_EQ(mypy_.GroupOf("files", key), "files:email/mime/text.json") << key;
  }
  for (const char* key : {"email/mime/text.meta.ff", "email/mime/text.data.ff",
                          "email/mime/text.err.ff", "email/mime/text.meta_ex.ff"}) {
    EXPECT_EQ(mypy_.GroupOf("files2", key), "files2:email/mime/text.ff") << key;
  }
  EXPECT_EQ(mypy_.GroupOf("files2", "@plugins_snapshot.json"), "files2:@plugins_snapshot.json");
  EXPECT_EQ(mypy_.GroupOf("files2", "pkg/__init__.meta.json"), "files2:pkg/__init__.json");
  EXPECT_EQ(mypy_.GroupOf("files2", "email/mime/text/sub.meta.ff"),
            "files2:email/mime/text/sub.ff");
  // mypy's module paths have no dot in a directory name; a key that has one belongs to the
  // group whose key range holds it, so that ranges never overlap.
  EXPECT_EQ(mypy_.GroupOf("files2", "a.b/c.meta.json"), "files2:a.json");
  EXPECT_EQ(mypy_.GroupOf("files2", "nodot"), "files2:nodot");
  EXPECT_EQ(mypy_.GroupOf("files2", "x.odd"), "files2:x");
}

TEST_F(MypyAdapterTest, RoleOfKeys) {
  EXPECT_EQ(mypy_.RoleOf("a/b.meta.json"), RowFacts::Role::kMeta);
  EXPECT_EQ(mypy_.RoleOf("a/b.meta.ff"), RowFacts::Role::kMeta);
  EXPECT_EQ(mypy_.RoleOf("a/b.data.ff"), RowFacts::Role::kData);
  EXPECT_EQ(mypy_.RoleOf("a/b.meta_ex.ff"), RowFacts::Role::kOther);
  EXPECT_EQ(mypy_.RoleOf("a/b.err.ff"), RowFacts::Role::kOther);
  EXPECT_EQ(mypy_.RoleOf("@plugins_snapshot.json"), RowFacts::Role::kOther);
}

// What SQL selects for a selector (cache_db.cc's GroupCondition), restated.
bool Selects(const MypyAdapter& mypy, const GroupSelector& s, const std::string& table,
             const std::string& key) {
  if (!s.table.empty() && s.table != table) return false;
  if (!((key >= s.lo && key < s.hi) || key == s.exact)) return false;
  if (!s.family.has_value()) return true;
  auto ends = [&](const std::string& f) { return absl::EndsWith(key, "." + f); };
  if (!s.family->empty()) return ends(*s.family);
  for (const std::string& f : mypy.families()) {
    if (ends(f)) return false;
  }
  return true;
}

TEST_F(MypyAdapterTest, SelectHoldsExactlyTheGroupsRows) {
  const std::vector<std::string> keys = {
      "email/mime/text.meta.json",
      "email/mime/text.data.json",
      "email/mime/text.meta.ff",
      "email/mime/text.data.ff",
      "email/mime/text.err.ff",
      "email/mime/text.meta_ex.ff",
      "email/mime/text.deps.json",
      "email/mime/text.odd",
      // Neighbours that must stay outside.
      "email/mime/text2.meta.json",
      "email/mime/textx.data.json",
      "email/mime/text/sub.meta.json",
      "email/mime/text-x.meta.json",
      "email/mime/tex.meta.json",
      "email/mime/text",
      "email/mime/tex",
      "email/mime/teyt.meta.json",
      "email/mime/text_x.meta.json",
      "email/mime.meta.json",
      "email/mime/__init__.meta.json",
      "@plugins_snapshot.json",
      "pkg/__init__.meta.json",
  };
  int checked = 0;
  for (const std::string& table : {"files", "files2"}) {
    for (const std::string& key : keys) {
      std::string group = mypy_.GroupOf(table, key);
      GroupSelector s = mypy_.Select(group);
      for (const std::string& other_table : {"files", "files2"}) {
        for (const std::string& other : keys) {
          bool same = mypy_.GroupOf(other_table, other) == group;
          EXPECT_EQ(Selects(mypy_, s, other_table, other), same)
              << "group " << group << ", row " << other_table << ":" << other;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 21 * 2 * 21);
}

TEST_F(MypyAdapterTest, LegacyGroupNamesSelectEveryTableAndFamily) {
  GroupSelector s = mypy_.Select("email/mime/text");
  EXPECT_EQ(s.table, "");
  EXPECT_FALSE(s.family.has_value());
  for (const char* key : {"email/mime/text.meta.json", "email/mime/text.err.ff"}) {
    EXPECT_TRUE(Selects(mypy_, s, "files", key)) << key;
    EXPECT_TRUE(Selects(mypy_, s, "files2", key)) << key;
  }
  EXPECT_FALSE(Selects(mypy_, s, "files2", "email/mime/text2.meta.json"));
}

TEST_F(MypyAdapterTest, IsDatabaseDir) {
  for (const char* yes : {"3.11", "3.8", "2.7", "10.0"}) {
    EXPECT_TRUE(mypy_.IsDatabaseDir(yes)) << yes;
  }
  for (const char* no :
       {"3", "x.y", ".typecache", "3.", ".11", "3.11.1", "3.x", "a3.11", "", "3..11", "3-11"}) {
    EXPECT_FALSE(mypy_.IsDatabaseDir(no)) << no;
  }
}

TEST_F(MypyAdapterTest, IsDatabaseFile) {
  for (const char* yes : {"cache.db", "cache.0.db", "cache.15.db", "cache.1234.db"}) {
    EXPECT_TRUE(mypy_.IsDatabaseFile(yes)) << yes;
  }
  for (const char* no :
       {"cache.db-wal", "cache.db-journal", "cache.db-shm", "cache.x.db", "other.db", "cache..db",
        "cache.-1.db", "cache.1.db-wal", "cache", "cache.db.tmp", "Cache.db", "xcache.db", ""}) {
    EXPECT_FALSE(mypy_.IsDatabaseFile(no)) << no;
  }
}

TEST_F(MypyAdapterTest, RunIsPublishable) {
  EXPECT_TRUE(mypy_.RunIsPublishable(0, false));
  EXPECT_TRUE(mypy_.RunIsPublishable(1, false));
  EXPECT_FALSE(mypy_.RunIsPublishable(2, false));
  EXPECT_FALSE(mypy_.RunIsPublishable(0, true));
  EXPECT_FALSE(mypy_.RunIsPublishable(1, true));
  EXPECT_FALSE(mypy_.RunIsPublishable(137, false));
}

TEST_F(MypyAdapterTest, FirstArgIndex) {
  EXPECT_EQ(MypyAdapter::FirstArgIndex({"mypy", "pkg"}), 1u);
  EXPECT_EQ(MypyAdapter::FirstArgIndex({"python3", "-m", "mypy", "pkg"}), 3u);
  EXPECT_EQ(MypyAdapter::FirstArgIndex({"/usr/bin/python3.11", "-m", "mypy"}), 3u);
  EXPECT_EQ(MypyAdapter::FirstArgIndex({"uv", "run", "mypy", "pkg"}), 3u);
  // Not mypy: nothing of mypy's to find.
  EXPECT_EQ(MypyAdapter::FirstArgIndex({"python3", "-m", "pytest"}), 3u);
  EXPECT_EQ(MypyAdapter::FirstArgIndex({}), 0u);
}

// A working directory with files, for the configuration tests.
class MypyPlanTest : public MypyAdapterTest {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("project");
    ASSERT_TRUE(MakeDirs(RealFs(), dir_).ok());
  }
  void Write(const std::string& name, const std::string& text) {
    std::string path = JoinPath(dir_, name);
    ASSERT_TRUE(MakeDirs(RealFs(), DirName(path)).ok());
    ASSERT_TRUE(WriteFileAtomic(RealFs(), path, text).ok());
  }
  CommandPlan Plan(const Args& argv, std::map<std::string, std::string> env = {}) {
    env.emplace("HOME", tmp_.Sub("home"));
    return mypy_.Plan(argv, EnvOf(env), dir_);
  }
  TempDir tmp_;
  std::string dir_;
};

TEST_F(MypyPlanTest, CacheDirAsMypyComputesIt) {
  EXPECT_EQ(Plan({"mypy", "pkg"}).cache_dir, dir_ + "/.mypy_cache");
  EXPECT_EQ(Plan({"mypy", "pkg"}).cache_dir_origin, "default");
  EXPECT_EQ(Plan({"mypy", "--cache-dir", "X", "pkg"}).cache_dir, dir_ + "/X");
  EXPECT_EQ(Plan({"mypy", "--cache-dir", "X", "pkg"}).cache_dir_origin, "--cache-dir flag");
  // The last occurrence wins, as in mypy's argparse; abbreviations count.
  EXPECT_EQ(Plan({"mypy", "--cache-dir=A", "--cache-d", "B"}).cache_dir, dir_ + "/B");
  // Arguments after "--" are file names.
  EXPECT_EQ(Plan({"mypy", "--", "--cache-dir=Z"}).cache_dir, dir_ + "/.mypy_cache");
  CommandPlan env = Plan({"mypy", "pkg"}, {{"MYPY_CACHE_DIR", "/env/cache"}});
  EXPECT_EQ(env.cache_dir, "/env/cache");
  EXPECT_EQ(env.cache_dir_origin, "MYPY_CACHE_DIR");
  EXPECT_EQ(Plan({"mypy", "--cache-dir=flag"}, {{"MYPY_CACHE_DIR", "/env"}}).cache_dir,
            dir_ + "/flag");
}

TEST_F(MypyPlanTest, CacheDirFromEachKindOfConfigurationFile) {
  struct Kind {
    const char* file;
    const char* text;
    const char* origin;
  };
  const Kind kinds[] = {
      {"mypy.ini", "[mypy]\ncache_dir = from_ini\n", "mypy.ini:2 [mypy] cache_dir"},
      {".mypy.ini", "[mypy]\n\ncache_dir = from_dot_ini\n", ".mypy.ini:3 [mypy] cache_dir"},
      {"pyproject.toml", "[tool.mypy]\ncache_dir = \"from_toml\"\n",
       "pyproject.toml:2 [tool.mypy] cache_dir"},
      {"setup.cfg", "[metadata]\nname = x\n[mypy]\ncache_dir = from_cfg\n",
       "setup.cfg:4 [mypy] cache_dir"},
  };
  for (const Kind& kind : kinds) {
    SCOPED_TRACE(kind.file);
    Write(kind.file, kind.text);
    CommandPlan plan = Plan({"uv", "run", "mypy", "pkg"});
    EXPECT_EQ(plan.cache_dir_origin, kind.origin);
    EXPECT_TRUE(absl::StartsWith(plan.cache_dir, dir_ + "/from_")) << plan.cache_dir;
    ASSERT_TRUE(RemoveAll(RealFs(), JoinPath(dir_, kind.file)).ok());
  }
  Write("conf/other.ini", "[mypy]\ncache_dir = ../from_flag_file\n");
  CommandPlan plan = Plan({"mypy", "--config-file", "conf/other.ini", "pkg"});
  EXPECT_EQ(plan.cache_dir, dir_ + "/../from_flag_file") << "relative to mypy's cwd";
  EXPECT_EQ(plan.cache_dir_origin, "conf/other.ini:2 [mypy] cache_dir");
}

TEST_F(MypyPlanTest, LaunchersChangeDirectoryAndEnvironment) {
  Write("sub/mypy.ini", "[mypy]\ncache_dir = in_sub\n");
  EXPECT_EQ(Plan({"env", "-C", "sub", "mypy"}).cache_dir, dir_ + "/sub/in_sub");
  EXPECT_EQ(Plan({"uv", "--directory", "sub", "run", "mypy"}).cache_dir, dir_ + "/sub/in_sub");
  EXPECT_EQ(Plan({"env", "-u", "MYPY_CACHE_DIR", "mypy"}, {{"MYPY_CACHE_DIR", "/e"}}).cache_dir,
            dir_ + "/.mypy_cache");
  EXPECT_EQ(Plan({"env", "MYPY_CACHE_DIR=/set", "timeout", "60", "mypy"}).cache_dir, "/set");
}

TEST_F(MypyPlanTest, Bypass) {
  for (const Args& argv : std::vector<Args>{
           {"mypy", "--cache-dir=/dev/null", "pkg"},
           {"mypy", "--cache-dir", "/dev/null", "pkg"},
           {"mypy", "--no-sqlite-cache", "pkg"},
           {"mypy", "--sqlite-cache", "--no-sqlite-cache", "pkg"},
           {"mypy", "--version"},
           {"python3", "-m", "mypy", "-V"},
           {"uv", "run", "mypy", "--help"},
           {"mypy", "-h"},
           {"dmypy", "run", "--", "pkg"},
           {"python3", "-m", "mypy.dmypy", "status"},
       }) {
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    CommandPlan plan = Plan(argv);
    EXPECT_TRUE(plan.bypass);
    EXPECT_FALSE(plan.warn);
    EXPECT_FALSE(plan.why.empty());
    std::string why;
    EXPECT_TRUE(mypy_.Bypass(argv, &why));
  }
  EXPECT_TRUE(absl::StrContains(Plan({"dmypy", "start"}).why, "daemon"));
  EXPECT_TRUE(absl::StrContains(Plan({"mypy", "--no-sqlite-cache"}).why, "--no-sqlite-cache"));
  for (const Args& argv : std::vector<Args>{
           {"mypy", "pkg"},
           {"mypy", "--cache-dir=/tmp/dev/null", "pkg"},
           {"mypy", "--no-sqlite-cache", "--sqlite-cache", "pkg"},
           {"mypy", "--", "--version"},  // After "--" these are file names.
           {"timeout", "60", "nice", "mypy", "pkg"},
       }) {
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    EXPECT_FALSE(Plan(argv).bypass) << Plan(argv).why;
    std::string why;
    EXPECT_FALSE(mypy_.Bypass(argv, &why)) << why;
  }
  Write("mypy.ini", "[mypy]\ncache_dir = /dev/null\n");
  EXPECT_TRUE(Plan({"mypy", "pkg"}).bypass);
  EXPECT_TRUE(Plan({"make", "check"}).bypass);
}

TEST_F(MypyPlanTest, AnAtFileThatNamesAnotherCacheDirIsABypassWithAWarning) {
  Write("args.txt", "--cache-dir=elsewhere\n");
  CommandPlan plan = Plan({"mypy", "@" + JoinPath(dir_, "args.txt"), "pkg"});
  EXPECT_TRUE(plan.bypass);
  EXPECT_TRUE(plan.warn);
  EXPECT_TRUE(absl::StrContains(plan.why, "overrides")) << plan.why;
}

TEST_F(MypyPlanTest, MypyOutOfSightIsRedirectedThroughTheEnvironmentOnly) {
  CommandPlan plan = Plan({"make", "check"});
  EXPECT_TRUE(plan.environment_only);
  EXPECT_FALSE(plan.bypass);
  EXPECT_EQ(plan.cache_dir, dir_ + "/.mypy_cache");
  // Which mypy runs is unknown: < 1.20 would write JSON, which is checked after the run.
  EXPECT_TRUE(absl::StrContains(plan.no_database_warning, "sqlite_cache = True"));

  Write("mypy.ini", "[mypy]\nsqlite_cache = True\ncache_dir = c\n");
  plan = Plan({"tox", "-e", "mypy"});
  EXPECT_FALSE(plan.bypass);
  EXPECT_TRUE(plan.no_database_warning.empty());
  EXPECT_EQ(plan.cache_dir, dir_ + "/c");

  Write("mypy.ini", "[mypy]\nsqlite_cache = False\n");
  plan = Plan({"tox", "-e", "mypy"});
  EXPECT_TRUE(plan.bypass);
  EXPECT_TRUE(plan.warn);
  EXPECT_TRUE(absl::StrContains(plan.why, "mypy.ini:2")) << plan.why;
  // With mypy in sight, --sqlite-cache beats the configuration.
  EXPECT_FALSE(Plan({"mypy", "pkg"}).bypass);
}

TEST_F(MypyAdapterTest, RedirectPlainCommand) {
  absl::StatusOr<Invocation> inv = mypy_.Redirect({"mypy", "pkg"}, "/priv");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->argv, (Args{"mypy", "--cache-dir=/priv", "--sqlite-cache", "pkg"}));
  EXPECT_EQ(inv->set_env,
            (std::vector<std::pair<std::string, std::string>>{{"MYPY_CACHE_DIR", "/priv"}}));
  ASSERT_EQ(inv->notes.size(), 1u);
  EXPECT_TRUE(absl::StrContains(inv->notes[0], "--sqlite-cache")) << inv->notes[0];
}

TEST_F(MypyAdapterTest, RedirectReplacesEveryCacheDir) {
  absl::StatusOr<Invocation> inv =
      mypy_.Redirect({"mypy", "--cache-dir", "a", "-p", "pkg", "--cache-dir=b", "--strict",
                      "--cache-dir", "c", "--cache-d=d", "--cache-di", "e"},
                     "/priv");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->argv,
            (Args{"mypy", "--cache-dir=/priv", "--sqlite-cache", "-p", "pkg", "--strict"}));
}

TEST_F(MypyAdapterTest, RedirectKeepsExistingSqliteCache) {
  absl::StatusOr<Invocation> inv =
      mypy_.Redirect({"mypy", "--sqlite-cache", "--cache-dir=old", "pkg"}, "/priv");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->argv, (Args{"mypy", "--cache-dir=/priv", "--sqlite-cache", "pkg"}));
}

TEST_F(MypyAdapterTest, RedirectPythonModuleForm) {
  absl::StatusOr<Invocation> inv =
      mypy_.Redirect({"python3", "-m", "mypy", "--cache-dir", "old", "pkg"}, "/priv");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->argv,
            (Args{"python3", "-m", "mypy", "--cache-dir=/priv", "--sqlite-cache", "pkg"}));
  EXPECT_EQ(inv->set_env.size(), 1u);
}

TEST_F(MypyAdapterTest, RedirectInsertsWhereMypysArgumentsStartInLaunchers) {
  struct Case {
    Args argv;
    Args expected;
  };
  const Case cases[] = {
      {{"uv", "run", "--cache-dir", "uvs", "mypy", "--cache-dir", "x", "pkg"},
       {"uv", "run", "--cache-dir", "uvs", "mypy", "--cache-dir=/p", "--sqlite-cache", "pkg"}},
      {{"poetry", "run", "mypy", "pkg"},
       {"poetry", "run", "mypy", "--cache-dir=/p", "--sqlite-cache", "pkg"}},
      {{"pdm", "run", "python", "-m", "mypy", "pkg"},
       {"pdm", "run", "python", "-m", "mypy", "--cache-dir=/p", "--sqlite-cache", "pkg"}},
      {{"hatch", "run", "types:mypy", "pkg"},
       {"hatch", "run", "types:mypy", "--cache-dir=/p", "--sqlite-cache", "pkg"}},
      {{"pipx", "run", "mypy==1.0.1", "pkg"},
       {"pipx", "run", "mypy==1.0.1", "--cache-dir=/p", "--sqlite-cache", "pkg"}},
      {{"env", "A=1", "timeout", "-s", "KILL", "60", "nice", "-n", "5", "mypy"},
       {"env", "A=1", "timeout", "-s", "KILL", "60", "nice", "-n", "5", "mypy", "--cache-dir=/p",
        "--sqlite-cache"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.argv, " "));
    absl::StatusOr<Invocation> inv = mypy_.Redirect(c.argv, "/p");
    ASSERT_TRUE(inv.ok()) << inv.status();
    EXPECT_EQ(inv->argv, c.expected);
  }
}

TEST_F(MypyAdapterTest, RedirectNeverHandsMypysFlagsToAnotherProgram) {
  for (const Args& argv : std::vector<Args>{{"make", "check", "--cache-dir=x"},
                                            {"tox", "-e", "mypy"},
                                            {"sh", "-c", "mypy ."},
                                            {"uv", "run", "pytest"}}) {
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    absl::StatusOr<Invocation> inv = mypy_.Redirect(argv, "/p");
    ASSERT_TRUE(inv.ok()) << inv.status();
    EXPECT_EQ(inv->argv, argv);
    EXPECT_EQ(inv->set_env,
              (std::vector<std::pair<std::string, std::string>>{{"MYPY_CACHE_DIR", "/p"}}));
  }
}

TEST_F(MypyAdapterTest, RedirectLeavesArgumentsAfterDoubleDash) {
  absl::StatusOr<Invocation> inv = mypy_.Redirect({"mypy", "--", "--cache-dir=x"}, "/p");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->argv, (Args{"mypy", "--cache-dir=/p", "--sqlite-cache", "--", "--cache-dir=x"}));
}

TEST_F(MypyAdapterTest, RedirectOfNothingFails) { EXPECT_FALSE(mypy_.Redirect({}, "/p").ok()); }

}  // namespace
}  // namespace typecache
