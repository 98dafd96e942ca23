#include "src/cachedb/inspect.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/sqlite/sqlite_db.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

class InspectTest : public ::testing::Test {
 protected:
  std::vector<GroupInfo> Groups(const std::string& path, absl::string_view schema = "main",
                                GroupDetail detail = GroupDetail::kFull) {
    std::vector<GroupInfo> out;
    absl::StatusOr<Db> db = Db::Open(path, Db::Mode::kReadOnly);
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return out;
    absl::Status status = ForEachGroup(
        *db, adapter_, schema,
        [&](const GroupInfo& g) {
          out.push_back(g);
          return absl::OkStatus();
        },
        detail);
    EXPECT_TRUE(status.ok()) << status;
    return out;
  }

  static const GroupInfo* FindGroup(const std::vector<GroupInfo>& groups, const std::string& name) {
    for (const GroupInfo& g : groups) {
      // By group name, or by module ("pkg/a" for "files:pkg/a.json").
      if (g.group == name || ModuleOf(g.group.substr(g.group.find(':') + 1)) == name) return &g;
    }
    return nullptr;
  }

  TempDir tmp_;
  MypyAdapter adapter_;
  std::string db_ = tmp_.Sub("cache.db");
};

// Digest-only visits (CacheFile::ContentDigest) see the same groups, sizes and digests, and no
// row is decoded: a broken meta is not even looked at.
TEST_F(InspectTest, DigestOnlyMatchesFullWithoutDecoding) {
  std::vector<Row> rows;
  for (const char* m : {"pkg/a", "pkg/b", "z"}) {
    for (const Row& r : ModuleRows(m, "t", 100)) rows.push_back(r);
  }
  rows.push_back({"bad.meta.json", 100, "{not json"});
  rows.push_back({"bad.data.json", 100, "{}"});
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, rows));
  std::vector<GroupInfo> full = Groups(db_);
  std::vector<GroupInfo> quick = Groups(db_, "main", GroupDetail::kDigestOnly);
  ASSERT_EQ(full.size(), quick.size());
  for (size_t i = 0; i < full.size(); ++i) {
    EXPECT_EQ(full[i].group, quick[i].group);
    EXPECT_EQ(full[i].rows, quick[i].rows);
    EXPECT_EQ(full[i].bytes, quick[i].bytes);
    EXPECT_EQ(full[i].digest.exact, quick[i].digest.exact) << full[i].group;
    EXPECT_TRUE(full[i].has_meta) << full[i].group;
    EXPECT_FALSE(quick[i].has_meta) << quick[i].group;
    EXPECT_TRUE(quick[i].bytes_by_kind.empty()) << quick[i].group;
    EXPECT_TRUE(quick[i].problems.empty()) << quick[i].group;
  }
  EXPECT_FALSE(FindGroup(full, "bad")->problems.empty());
}

TEST_F(InspectTest, VisitsEachGroupOnceInKeyOrder) {
  std::vector<Row> rows;
  for (const char* m : {"pkg/b", "pkg/a", "pkg/a/sub", "pkg/a_b", "z"}) {
    for (const Row& r : ModuleRows(m, "t", 100)) rows.push_back(r);
  }
  rows.push_back({"pkg/a.deps.json", 100, "{}"});
  rows.push_back({"@plugins_snapshot.json", 50, "{}"});
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, rows));
  std::vector<GroupInfo> groups = Groups(db_);
  std::vector<std::string> names;
  for (const GroupInfo& g : groups) names.push_back(g.group);
  EXPECT_EQ(names, (std::vector<std::string>{"files:@plugins_snapshot.json", "files:pkg/a.json",
                                             "files:pkg/a/sub.json", "files:pkg/a_b.json",
                                             "files:pkg/b.json", "files:z.json"}));
  EXPECT_EQ(FindGroup(groups, "pkg/a")->rows, 3);
  EXPECT_EQ(FindGroup(groups, "pkg/a/sub")->rows, 2);
  EXPECT_EQ(FindGroup(groups, "@plugins_snapshot")->rows, 1);
  for (const GroupInfo& g : groups) EXPECT_EQ(g.table, "files");
}

TEST_F(InspectTest, FactsOfAHealthyJsonGroup) {
  std::vector<Row> rows = ModuleRowsWithMeta(
      "pkg/mod", "t", 1700000000.5, "\"version_id\": \"1.0.1\", \"path\": \"src/pkg/mod.py\"");
  rows[0].mtime = 1700000100.25;  // The meta is newer than the data row.
  rows.push_back({"pkg/mod.deps.json", 1600000000, "[1,2]"});
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, rows));
  std::vector<GroupInfo> groups = Groups(db_);
  ASSERT_EQ(groups.size(), 1u);
  const GroupInfo& g = groups[0];
  EXPECT_EQ(ModuleOfGroup(g.group), "pkg/mod");
  EXPECT_EQ(g.rows, 3);
  int64_t bytes = 0;
  for (const Row& r : rows) bytes += static_cast<int64_t>(r.path.size() + r.data.size());
  EXPECT_EQ(g.bytes, bytes);
  EXPECT_EQ(g.newest_mtime, 1700000100.25);
  ASSERT_TRUE(g.data_row_mtime.has_value());
  EXPECT_EQ(*g.data_row_mtime, 1700000000.5);
  EXPECT_TRUE(g.has_meta);
  EXPECT_TRUE(g.has_data);
  ASSERT_TRUE(g.recorded_data_stamp.has_value());
  EXPECT_EQ(*g.recorded_data_stamp, 1700000000);
  EXPECT_EQ(g.version, "1.0.1");
  EXPECT_EQ(g.source_path, "src/pkg/mod.py");
  EXPECT_TRUE(g.problems.empty());
  EXPECT_EQ(g.bytes_by_kind.at("meta.json"), static_cast<int64_t>(rows[0].data.size()));
  EXPECT_EQ(g.bytes_by_kind.at("data.json"), static_cast<int64_t>(rows[1].data.size()));
  EXPECT_EQ(g.bytes_by_kind.at("deps.json"), 5);
  EXPECT_EQ(g.Broken(adapter_), "");
}

TEST_F(InspectTest, BrokenGroups) {
  std::vector<Row> rows;
  rows.push_back(ModuleRows("a_meta_only", "t", 10)[0]);
  rows.push_back(ModuleRows("b_data_only", "t", 10)[1]);
  std::vector<Row> skew = ModuleRows("c_skew", "t", 10);
  skew[1].mtime = 11;  // int(11) != data_mtime 10.
  rows.insert(rows.end(), skew.begin(), skew.end());
  std::vector<Row> frac = ModuleRows("d_fraction", "t", 10);
  frac[1].mtime = 10.99;  // int(10.99) == 10: healthy.
  rows.insert(rows.end(), frac.begin(), frac.end());
  rows.push_back({"e_bad_json.meta.json", 10, "{\"data_mtime\": 10,"});
  rows.push_back({"e_bad_json.data.json", 10, "{}"});
  rows.push_back({"f_no_mtime.meta.json", 10, "{\"tag\": 1}"});
  rows.push_back({"f_no_mtime.data.json", 10, "{}"});
  rows.push_back({"g_array.meta.json", 10, "[10]"});
  rows.push_back({"g_array.data.json", 10, "{}"});
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, rows));
  std::vector<GroupInfo> groups = Groups(db_);
  ASSERT_EQ(groups.size(), 7u);
  auto broken = [&](const std::string& name) {
    const GroupInfo* g = FindGroup(groups, name);
    EXPECT_NE(g, nullptr) << name;
    return g == nullptr ? std::string("<missing>") : g->Broken(adapter_);
  };
  EXPECT_EQ(broken("a_meta_only"), "meta row without data row");
  EXPECT_EQ(broken("b_data_only"), "data row without meta row (orphan)");
  EXPECT_NE(broken("c_skew").find("does not match"), std::string::npos) << broken("c_skew");
  EXPECT_EQ(broken("d_fraction"), "");
  EXPECT_TRUE(absl::StartsWith(broken("e_bad_json"), "e_bad_json.meta.json: invalid JSON"))
      << broken("e_bad_json");
  EXPECT_NE(broken("f_no_mtime").find("data_mtime"), std::string::npos);
  EXPECT_NE(broken("g_array").find("not a JSON object"), std::string::npos);
  EXPECT_FALSE(FindGroup(groups, "e_bad_json")->problems.empty());
}

// DescribeRow reads a JSON meta's top-level data_mtime, version_id and path only, and validates
// the whole document (nlohmann-json's SAX parser, no tree).
TEST_F(InspectTest, JsonMetaFieldsAreTheTopLevelOnes) {
  auto facts = [&](const std::string& json) { return adapter_.DescribeRow("m.meta.json", json); };
  RowFacts nested = facts(
      R"({"data_mtime": 1700000000.9, "path": "src/m.py", "version_id": "1.0.1", )"
      R"("options": {"data_mtime": 1, "path": "x", "version_id": "9"}, "deps": [{"path": "y"}]})");
  EXPECT_EQ(nested.problem, "");
  EXPECT_EQ(nested.data_stamp, 1700000000);
  EXPECT_EQ(nested.data_stamp_field, "data_mtime");
  EXPECT_EQ(nested.source_path, "src/m.py");
  EXPECT_EQ(nested.version, "1.0.1");
  // The last of duplicate keys wins, as in a parsed object; a value of the wrong type is absent.
  EXPECT_EQ(facts(R"({"data_mtime": 5, "data_mtime": 6})").data_stamp, 6);
  EXPECT_EQ(facts(R"({"data_mtime": 5, "data_mtime": "6"})").problem,
            "meta has no numeric data_mtime");
  EXPECT_EQ(facts(R"({"data_mtime": 5, "version_id": 3})").version, "");
  EXPECT_EQ(facts(R"({"data_mtime": [5]})").problem, "meta has no numeric data_mtime");
  EXPECT_EQ(facts(R"({"data_mtime": 1e300})").problem, "meta has no numeric data_mtime");
  EXPECT_EQ(facts(R"({"data_mtime": -3})").data_stamp, -3);
  // Invalid documents, however deep: an error message, no crash.
  EXPECT_TRUE(absl::StartsWith(facts(R"({"data_mtime": 1} x)").problem, "invalid JSON: "));
  EXPECT_TRUE(absl::StartsWith(facts(std::string(100000, '[')).problem, "invalid JSON: "));
  EXPECT_TRUE(
      absl::StartsWith(facts("{\"path\": \"\xff\", \"data_mtime\": 1}").problem, "invalid JSON: "));
  EXPECT_EQ(facts("7").problem, "meta is not a JSON object");
}

TEST_F(InspectTest, NonNumericMtimeIsAProblem) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, ModuleRows("m", "t", 10)));
  {
    absl::StatusOr<Db> db = Db::Open(db_, Db::Mode::kReadWrite);
    ASSERT_TRUE(db.ok());
    TC_ASSERT_OK(db->Exec("UPDATE files2 SET mtime = 'soon' WHERE path = 'm.data.json'"));
  }
  std::vector<GroupInfo> groups = Groups(db_);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_NE(groups[0].Broken(adapter_).find("mtime is not a number"), std::string::npos)
      << groups[0].Broken(adapter_);
}

TEST_F(InspectTest, GlobalGroupsNeedNoMetaOrData) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, {{"@plugins_snapshot.json", 5, "{}"}}));
  std::vector<GroupInfo> groups = Groups(db_);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(ModuleOfGroup(groups[0].group), "@plugins_snapshot");
  EXPECT_FALSE(groups[0].has_meta);
  EXPECT_EQ(groups[0].Broken(adapter_), "");
  EXPECT_EQ(groups[0].bytes_by_kind.count("global"), 1u);
}

TEST_F(InspectTest, FixedFormatMetaOfAnUnknownMypyIsLeftAlone) {
  // Header bytes (0, 255): a layout no known mypy writes. Never misread, never called broken.
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2,
                         {{"pkg/m.meta.ff", 7, std::string("\x00\xff", 2)},
                          {"pkg/m.data.ff", 9, "d"},
                          {"pkg/m.meta_ex.ff", 8, "e"}}));
  std::vector<GroupInfo> groups = Groups(db_);
  ASSERT_EQ(groups.size(), 1u);
  const GroupInfo& g = groups[0];
  EXPECT_EQ(g.table, "files2");
  EXPECT_EQ(g.group, "files2:pkg/m.ff");
  EXPECT_TRUE(g.has_meta);
  EXPECT_TRUE(g.has_data);
  EXPECT_FALSE(g.recorded_data_stamp.has_value());
  EXPECT_EQ(*g.data_row_mtime, 9);
  EXPECT_EQ(g.bytes_by_kind.at("meta.ff"), 2);
  EXPECT_EQ(g.bytes_by_kind.at("meta_ex.ff"), 1);
  EXPECT_NE(g.unknown.find("does not know"), std::string::npos) << g.unknown;
  EXPECT_EQ(g.Broken(adapter_), "");
}

TEST_F(InspectTest, BothTablesAreVisited) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, ModuleRows("old", "t", 1)));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, ModuleRows("new", "t", 2)));
  std::vector<GroupInfo> groups = Groups(db_);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].table, "files");
  EXPECT_EQ(ModuleOfGroup(groups[0].group), "old");
  EXPECT_EQ(groups[1].table, "files2");
  EXPECT_EQ(ModuleOfGroup(groups[1].group), "new");
}

TEST_F(InspectTest, EmptyOrTablelessDatabaseHasNoGroups) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, {}));
  EXPECT_TRUE(Groups(db_).empty());
  std::string bare = tmp_.Sub("bare.db");
  {
    absl::StatusOr<Db> db = Db::Open(bare, Db::Mode::kCreate);
    ASSERT_TRUE(db.ok());
    TC_ASSERT_OK(db->Exec("CREATE TABLE other(x)"));
  }
  EXPECT_TRUE(Groups(bare).empty());
}

TEST_F(InspectTest, AttachedSchema) {
  std::string other = tmp_.Sub("other.db");
  TC_ASSERT_OK(WriteRows(other, Schema::kFiles2, ModuleRows("attached/mod", "t", 3)));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, ModuleRows("main/mod", "t", 3)));
  absl::StatusOr<Db> db = Db::Open(db_, Db::Mode::kReadOnly);
  ASSERT_TRUE(db.ok());
  TC_ASSERT_OK(db->Exec(absl::StrCat("ATTACH DATABASE ", QuoteLiteral(other), " AS src")));
  std::vector<std::string> names;
  TC_ASSERT_OK(ForEachGroup(*db, adapter_, "src", [&](const GroupInfo& g) {
    names.push_back(g.group);
    return absl::OkStatus();
  }));
  EXPECT_EQ(names, std::vector<std::string>{"files2:attached/mod.json"});
}

TEST_F(InspectTest, VisitorErrorStopsTheWalk) {
  std::vector<Row> rows;
  for (int i = 0; i < 5; ++i) {
    for (const Row& r : ModuleRows(absl::StrCat("m", i), "t", 1)) rows.push_back(r);
  }
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, rows));
  absl::StatusOr<Db> db = Db::Open(db_, Db::Mode::kReadOnly);
  ASSERT_TRUE(db.ok());
  int visited = 0;
  absl::Status status = ForEachGroup(*db, adapter_, "main", [&](const GroupInfo&) {
    return ++visited == 2 ? absl::CancelledError("stop") : absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_EQ(visited, 2);
}

}  // namespace
}  // namespace typecache
