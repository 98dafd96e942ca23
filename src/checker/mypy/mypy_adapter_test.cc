#include "src/checker/mypy/mypy_adapter.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

using Args = std::vector<std::string>;

EnvLookup EnvOf(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

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
  // A dot in a directory name does not end the module.
  EXPECT_EQ(mypy_.GroupOf("files2", "a.b/c.meta.json"), "files2:a.b/c.json");
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
  EXPECT_EQ(MypyAdapter::FirstArgIndex({"python3", "-m", "pytest"}), 1u);
  EXPECT_EQ(MypyAdapter::FirstArgIndex({}), 0u);
}

TEST_F(MypyAdapterTest, CacheDirFromCommand) {
  EnvLookup none = EnvOf({});
  EXPECT_EQ(mypy_.CacheDirFromCommand({"mypy", "--cache-dir", "X", "pkg"}, none),
            std::optional<std::string>("X"));
  EXPECT_EQ(mypy_.CacheDirFromCommand({"mypy", "pkg", "--cache-dir=/tmp/c"}, none),
            std::optional<std::string>("/tmp/c"));
  EXPECT_EQ(mypy_.CacheDirFromCommand({"python3", "-m", "mypy", "--cache-dir", "Y", "pkg"}, none),
            std::optional<std::string>("Y"));
  // The last occurrence wins, as in mypy's argparse.
  EXPECT_EQ(mypy_.CacheDirFromCommand({"mypy", "--cache-dir=A", "--cache-dir", "B"}, none),
            std::optional<std::string>("B"));
  EXPECT_EQ(mypy_.CacheDirFromCommand({"mypy", "pkg"}, none), std::nullopt);
  // Arguments after "--" are file names.
  EXPECT_EQ(mypy_.CacheDirFromCommand({"mypy", "--", "--cache-dir=Z"}, none), std::nullopt);
}

TEST_F(MypyAdapterTest, CacheDirFromEnvironment) {
  EnvLookup env = EnvOf({{"MYPY_CACHE_DIR", "/env/cache"}});
  EXPECT_EQ(mypy_.CacheDirFromCommand({"mypy", "pkg"}, env),
            std::optional<std::string>("/env/cache"));
  // The flag beats the environment.
  EXPECT_EQ(mypy_.CacheDirFromCommand({"mypy", "--cache-dir=flag", "pkg"}, env),
            std::optional<std::string>("flag"));
  EXPECT_EQ(mypy_.CacheDirFromCommand({"mypy", "pkg"}, EnvOf({{"MYPY_CACHE_DIR", ""}})),
            std::nullopt);
}

TEST_F(MypyAdapterTest, RedirectPlainCommand) {
  absl::StatusOr<Invocation> inv = mypy_.Redirect({"mypy", "pkg"}, "/priv");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->argv, (Args{"mypy", "--cache-dir=/priv", "--sqlite-cache", "pkg"}));
  EXPECT_EQ(inv->set_env,
            (std::vector<std::pair<std::string, std::string>>{{"MYPY_CACHE_DIR", "/priv"}}));
  ASSERT_EQ(inv->notes.size(), 1u);
  EXPECT_TRUE(absl::StrContains(inv->notes[0], "--sqlite-cache"));
}

TEST_F(MypyAdapterTest, RedirectReplacesEveryCacheDir) {
  absl::StatusOr<Invocation> inv = mypy_.Redirect(
      {"mypy", "--cache-dir", "a", "-p", "pkg", "--cache-dir=b", "--strict", "--cache-dir", "c"},
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
  EXPECT_TRUE(inv->notes.empty());
}

TEST_F(MypyAdapterTest, RedirectPythonModuleForm) {
  absl::StatusOr<Invocation> inv =
      mypy_.Redirect({"python3", "-m", "mypy", "--cache-dir", "old", "pkg"}, "/priv");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->argv,
            (Args{"python3", "-m", "mypy", "--cache-dir=/priv", "--sqlite-cache", "pkg"}));
  EXPECT_EQ(inv->set_env.size(), 1u);
}

TEST_F(MypyAdapterTest, RedirectLeavesArgumentsAfterDoubleDash) {
  absl::StatusOr<Invocation> inv = mypy_.Redirect({"mypy", "--", "--cache-dir=x"}, "/p");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->argv, (Args{"mypy", "--cache-dir=/p", "--sqlite-cache", "--", "--cache-dir=x"}));
}

TEST_F(MypyAdapterTest, RedirectOfNothingFails) { EXPECT_FALSE(mypy_.Redirect({}, "/p").ok()); }

TEST_F(MypyAdapterTest, Bypass) {
  std::string why;
  EXPECT_TRUE(mypy_.Bypass({"mypy", "--cache-dir=/dev/null", "pkg"}, &why));
  EXPECT_TRUE(absl::StrContains(why, "/dev/null")) << why;
  why.clear();
  EXPECT_TRUE(mypy_.Bypass({"mypy", "--cache-dir", "/dev/null", "pkg"}, &why));
  EXPECT_FALSE(why.empty());
  why.clear();
  EXPECT_TRUE(mypy_.Bypass({"mypy", "--no-sqlite-cache", "pkg"}, &why));
  EXPECT_TRUE(absl::StrContains(why, "--no-sqlite-cache")) << why;
  why.clear();
  EXPECT_TRUE(mypy_.Bypass({"mypy", "--version"}, &why));
  EXPECT_TRUE(absl::StrContains(why, "--version")) << why;
  EXPECT_TRUE(mypy_.Bypass({"python3", "-m", "mypy", "-V"}, &why));
  EXPECT_TRUE(mypy_.Bypass({"mypy", "--help"}, &why));
  EXPECT_TRUE(mypy_.Bypass({"mypy", "-h"}, &why));

  why.clear();
  EXPECT_FALSE(mypy_.Bypass({"mypy", "pkg"}, &why));
  EXPECT_FALSE(mypy_.Bypass({"mypy", "--cache-dir=/tmp/dev/null", "pkg"}, &why));
  EXPECT_FALSE(mypy_.Bypass({"mypy", "--sqlite-cache", "--strict", "pkg"}, &why));
  // After "--" these are file names.
  EXPECT_FALSE(mypy_.Bypass({"mypy", "--", "--version"}, &why));
}

}  // namespace
}  // namespace typecache
