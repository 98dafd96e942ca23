#include "src/commands/stats_cmd.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"
#include "src/store/local/layout.h"
#include "src/store/local/stats.h"
#include "src/testing/command_fixture.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

std::vector<Row> Modules(int from, int to, const std::string& tag, double mtime,
                         const std::string& version = "") {
  std::vector<Row> rows;
  for (int i = from; i < to; ++i) {
    std::string module = absl::StrCat("pkg/m", i);
    std::vector<Row> group =
        version.empty() ? ModuleRows(module, tag, mtime)
                        : ModuleRowsWithMeta(module, tag, mtime,
                                             absl::StrCat("\"version_id\": \"", version, "\""));
    rows.insert(rows.end(), group.begin(), group.end());
  }
  return rows;
}

int64_t Bytes(const std::vector<Row>& rows) {
  int64_t n = 0;
  for (const Row& r : rows) n += static_cast<int64_t>(r.path.size() + r.data.size());
  return n;
}

class StatsCmdTest : public CommandTest {
 protected:
  absl::StatusOr<CacheStats> Collect(const std::string& path) {
    return OnTarget(path,
                    [&](const Target& target) { return CollectStats(RealFs(), adapter_, target); });
  }

  nlohmann::json Json(const CacheStats& stats) {
    std::ostringstream out;
    PrintStatsJson(stats, out);
    nlohmann::json json = nlohmann::json::parse(out.str(), nullptr, false);
    EXPECT_FALSE(json.is_discarded()) << out.str();
    return json.is_discarded() ? nlohmann::json::object() : json;
  }
};

TEST_F(StatsCmdTest, CountsGroupsRowsBytesAndVersionsOfAFile) {
  std::string db = tmp_.Sub("cache.db");
  std::vector<Row> v1 = Modules(0, 3, "a", 10, "1.0.1");
  std::vector<Row> v2 = Modules(3, 5, "b", 10, "1.4.0");
  std::vector<Row> plain = Modules(5, 6, "c", 10);
  std::vector<Row> orphan = {ModuleRows("pkg/orphan", "o", 10)[1]};
  std::vector<Row> global = {{"@plugins_snapshot.json", 10, "{}"}};
  for (const auto* rows : {&v1, &v2, &plain, &orphan, &global}) {
    TC_ASSERT_OK(WriteRows(db, Schema::kFiles, *rows));
  }
  absl::StatusOr<CacheStats> stats = Collect(db);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_FALSE(stats->is_cache_dir);
  EXPECT_EQ(stats->path, db);
  ASSERT_EQ(stats->dbs.size(), 1u);
  const DbStats& s = stats->dbs[0];
  EXPECT_EQ(s.error, "");
  EXPECT_EQ(s.groups, 3 + 2 + 1 + 1 + 1);
  EXPECT_EQ(s.rows, 6 + 4 + 2 + 1 + 1);
  EXPECT_EQ(s.bytes, Bytes(v1) + Bytes(v2) + Bytes(plain) + Bytes(orphan) + Bytes(global));
  EXPECT_EQ(s.broken, 1);
  EXPECT_EQ(s.size, RealFs().Stat(db)->size);
  EXPECT_EQ(s.groups_by_version,
            (std::map<std::string, int64_t>{{"1.0.1", 3}, {"1.4.0", 2}, {"unrecorded", 1}}));
  EXPECT_EQ(s.tables, std::vector<std::string>{"files"});
  EXPECT_EQ(s.bytes_by_kind.at("global"), 2);
  EXPECT_GT(s.bytes_by_kind.at("meta.json"), 0);
  EXPECT_TRUE(stats->counters.empty());
}

TEST_F(StatsCmdTest, CacheDirectoryCoversEveryDatabaseAndReadsCounters) {
  std::string cache = tmp_.Sub("cache");
  Layout layout(cache);
  TC_ASSERT_OK(layout.Create(RealFs()));
  TC_ASSERT_OK(MakeDirs(RealFs(), layout.live_path("3.11")));
  TC_ASSERT_OK(MakeDirs(RealFs(), layout.live_path("3.12")));
  TC_ASSERT_OK(WriteRows(JoinPath(layout.live_path("3.11"), "cache.db"), Schema::kFiles2,
                         Modules(0, 4, "a", 1)));
  TC_ASSERT_OK(WriteRows(JoinPath(layout.live_path("3.12"), "cache.db"), Schema::kFiles2,
                         Modules(0, 2, "b", 1)));
  StatsDelta delta;
  delta.Add("runs", 3);
  TC_ASSERT_OK(UpdateStats(RealFs(), layout, delta));
  absl::StatusOr<CacheStats> stats = Collect(cache);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(stats->is_cache_dir);
  ASSERT_EQ(stats->dbs.size(), 2u);
  EXPECT_EQ(stats->dbs[0].ref.dir, "3.11");
  EXPECT_EQ(stats->dbs[0].groups, 4);
  EXPECT_EQ(stats->dbs[0].rows, 8);
  EXPECT_EQ(stats->dbs[1].ref.dir, "3.12");
  EXPECT_EQ(stats->dbs[1].groups, 2);
  EXPECT_EQ(stats->counters.at("runs"), 3);

  nlohmann::json json = Json(*stats);
  EXPECT_EQ(json["kind"], "cache_dir");
  EXPECT_EQ(json["path"], cache);
  const nlohmann::json& dbs = json["databases"];
  ASSERT_EQ(dbs.size(), 2u);
  EXPECT_EQ(dbs[0]["dir"], "3.11");
  EXPECT_EQ(dbs[0]["groups"], 4);
  EXPECT_EQ(dbs[0]["rows"], 8);
  EXPECT_TRUE(dbs[0]["error"].is_null());
  EXPECT_EQ(dbs[0]["tables"][0], "files2");
  const nlohmann::json& counters = json["counters"];
  EXPECT_EQ(counters["runs"], 3);
  EXPECT_EQ(counters.size(), KnownCounters().size());

  std::ostringstream text;
  PrintStats(*stats, text);
  EXPECT_NE(text.str().find("Cache directory: " + cache), std::string::npos) << text.str();
  // A section per Python version, in order.
  size_t py311 = text.str().find("\nPython 3.11 (1 database");
  size_t py312 = text.str().find("\nPython 3.12 (1 database");
  EXPECT_NE(py311, std::string::npos) << text.str();
  EXPECT_NE(py312, std::string::npos) << text.str();
  EXPECT_LT(py311, py312) << text.str();
}

TEST_F(StatsCmdTest, ShardsInNumericOrderGroupsPerVersionAndLayoutDeadLayoutsFlagged) {
  std::string cache = tmp_.Sub("cache");
  std::string dir = JoinPath(cache, "3.11");
  TC_ASSERT_OK(MakeDirs(RealFs(), dir));
  for (int shard : {0, 1, 2, 10, 11}) {
    TC_ASSERT_OK(WriteRows(JoinPath(dir, absl::StrCat("cache.", shard, ".db")), Schema::kFiles2,
                           ModuleRows(absl::StrCat("m", shard), "t", 100)));
  }
  TC_ASSERT_OK(WriteRows(JoinPath(dir, "cache.db"), Schema::kFiles, ModuleRows("old", "t", 1)));
  absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, cache);
  ASSERT_TRUE(target.ok()) << target.status();
  std::vector<std::string> order;
  for (const DbRef& ref : target->dbs) order.push_back(ref.file);
  EXPECT_EQ(order, (std::vector<std::string>{"cache.0.db", "cache.1.db", "cache.2.db",
                                             "cache.10.db", "cache.11.db", "cache.db"}));
  absl::StatusOr<CacheStats> stats = CollectStats(RealFs(), adapter_, *target);
  ASSERT_TRUE(stats.ok()) << stats.status();
  std::ostringstream text;
  PrintStats(*stats, text);
  EXPECT_TRUE(
      absl::StrContains(text.str(), "mypy unrecorded, files2, JSON                5 groups"))
      << text.str();
  EXPECT_TRUE(
      absl::StrContains(text.str(), "mypy unrecorded, files, JSON                 1 group\n"))
      << text.str();
  EXPECT_NE(text.str().find("dead: cache.db"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("typecache prune --dead-layouts"), std::string::npos) << text.str();
  EXPECT_LT(text.str().find("cache.2.db"), text.str().find("cache.10.db")) << text.str();
}

TEST_F(StatsCmdTest, UnreadableDatabaseIsAnErrorNamingIt) {
  std::string cache = tmp_.Sub("cache");
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(cache, "3.11")));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(cache, "3.11/cache.db"), std::string(300, 'x')));
  TC_ASSERT_OK(
      WriteRows(JoinPath(cache, "3.11/cache.1.db"), Schema::kFiles2, Modules(0, 1, "a", 1)));
  absl::StatusOr<CacheStats> stats = Collect(cache);
  ASSERT_FALSE(stats.ok());
  EXPECT_TRUE(absl::IsDataLoss(stats.status())) << stats.status();
  EXPECT_NE(stats.status().message().find(JoinPath(cache, "3.11/cache.db") + ": cannot read"),
            absl::string_view::npos)
      << stats.status();
  EXPECT_NE(stats.status().message().find("not an SQLite database"), absl::string_view::npos)
      << stats.status();
}

TEST_F(StatsCmdTest, JsonOutputParsesWhateverThePathsContain) {
  std::string dir = tmp_.Sub("we \"ird\"\\ na\tme \xe9\xff");
  TC_ASSERT_OK(RealFs().MakeDir(dir, false));
  std::string db = JoinPath(dir, "cache.db");
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles,
                         ModuleRowsWithMeta("pkg/q", "t", 5, "\"version_id\": \"1.0\\\"x\"")));
  absl::StatusOr<CacheStats> stats = Collect(db);
  ASSERT_TRUE(stats.ok()) << stats.status();
  nlohmann::json json = Json(*stats);
  // Bytes that are not UTF-8 read as Latin-1: "\xe9\xff" -> U+00E9 U+00FF.
  std::string expected_path = db;
  expected_path.replace(expected_path.find("\xe9\xff"), 2, "\xc3\xa9\xc3\xbf");
  EXPECT_EQ(json["path"], expected_path);
  EXPECT_EQ(json["kind"], "file");
  const nlohmann::json& first = json["databases"].at(0);
  EXPECT_EQ(first["groups_by_version"]["1.0\"x"], 1);
  EXPECT_EQ(first["bytes_by_kind"].size(), 2u);
  EXPECT_EQ(json["counters"].size(), KnownCounters().size());
}

TEST_F(StatsCmdTest, EmptyCacheDirectory) {
  std::string cache = tmp_.Sub("cache");
  TC_ASSERT_OK(RealFs().MakeDir(cache, false));
  absl::StatusOr<CacheStats> stats = Collect(cache);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(stats->dbs.empty());
  nlohmann::json json = Json(*stats);
  EXPECT_TRUE(json["databases"].empty());
  std::ostringstream text;
  PrintStats(*stats, text);
  EXPECT_NE(text.str().find("Databases"), std::string::npos);
}

}  // namespace
}  // namespace typecache
