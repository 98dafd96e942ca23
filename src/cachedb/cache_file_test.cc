// CacheFile, the API layers above src/cachedb use: transactions that roll back unless committed,
// listings, group digests (what they cover and that every way of computing them agrees), group
// edits, whole-file checks and rewrites.
#include "src/cachedb/cache_file.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/cachedb/cache_db.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

using Groups = std::set<std::string>;

class CacheFileTest : public ::testing::Test {
 protected:
  CacheFile Open(const std::string& path) {
    absl::StatusOr<CacheFile> f = CacheFile::OpenForWrite(path);
    EXPECT_TRUE(f.ok()) << f.status();
    return std::move(*f);
  }
  std::map<std::string, GroupHash> Walk(const std::string& path) {
    std::map<std::string, GroupHash> out;
    absl::StatusOr<CacheFile> f = CacheFile::OpenReadOnly(path);
    EXPECT_TRUE(f.ok()) << f.status();
    TC_EXPECT_OK(f->ForEachGroup(adapter_, [&](const GroupInfo& g) {
      out[g.group] = g.digest;
      return absl::OkStatus();
    }));
    return out;
  }
  std::map<std::string, GroupHash> Digests(const std::string& path, const Groups& groups) {
    absl::StatusOr<CacheFile> f = CacheFile::OpenReadOnly(path);
    EXPECT_TRUE(f.ok()) << f.status();
    absl::StatusOr<std::map<std::string, GroupHash>> d = f->DigestGroups(groups, adapter_);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : std::map<std::string, GroupHash>{};
  }
  size_t Rows(const std::string& path) {
    absl::StatusOr<std::map<std::string, std::string>> rows = ReadRows(path, Schema::kFiles);
    return rows.ok() ? rows->size() : 0;
  }

  TempDir tmp_;
  MypyAdapter adapter_;
  std::string db_ = tmp_.Sub("cache.db");
};

TEST_F(CacheFileTest, WriteTransactionRollsBackUnlessCommitted) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 3, "t", 5)));
  CacheFile f = Open(db_);
  {
    absl::StatusOr<CacheFile::Transaction> txn = f.BeginWrite();
    ASSERT_TRUE(txn.ok()) << txn.status();
    TC_ASSERT_OK(f.DeleteGroups({"files:pkg/m0.json"}, adapter_).status());
  }  // Not committed.
  EXPECT_EQ(Rows(db_), 6u);
  {
    absl::StatusOr<CacheFile::Transaction> txn = f.BeginWrite();
    ASSERT_TRUE(txn.ok());
    TC_ASSERT_OK(f.DeleteGroups({"files:pkg/m0.json"}, adapter_).status());
    TC_ASSERT_OK(txn->Commit());
    EXPECT_FALSE(txn->Commit().ok());  // Once.
  }
  EXPECT_EQ(Rows(db_), 4u);
  // Closing with a transaction open rolls it back, and the transaction's end is harmless.
  absl::StatusOr<CacheFile::Transaction> txn = f.BeginWrite();
  ASSERT_TRUE(txn.ok());
  TC_ASSERT_OK(f.DeleteGroups({"files:pkg/m1.json"}, adapter_).status());
  TC_ASSERT_OK(f.Close());
  EXPECT_EQ(Rows(db_), 4u);
}

TEST_F(CacheFileTest, ReadTransactionHoldsOneView) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 2, "t", 5)));
  absl::StatusOr<CacheFile> reader = CacheFile::OpenReadOnly(db_);
  ASSERT_TRUE(reader.ok());
  absl::StatusOr<CacheFile::Transaction> read = reader->BeginRead();
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(reader->ListGroups(adapter_)->size(), 2u);
  // A writer cannot commit while the view is held (rollback journal: SHARED blocks it).
  absl::StatusOr<Db> writer = Db::Open(db_, Db::Mode::kReadWrite);
  ASSERT_TRUE(writer.ok());
  TC_ASSERT_OK(writer->Exec("PRAGMA busy_timeout=0"));
  EXPECT_FALSE(writer->Exec("DELETE FROM files").ok());
  TC_ASSERT_OK(read->Commit());
  TC_EXPECT_OK(writer->Exec("DELETE FROM files"));
}

TEST_F(CacheFileTest, ListingsByTableAndStamps) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 2, "old", 5)));
  std::vector<Row> rows = ModuleRows("pkg/x", "new", 7);
  rows[0].mtime = 9;  // The meta is newer than the data row.
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, rows));
  CacheFile f = Open(db_);
  EXPECT_EQ(*f.ListTables(), (std::vector<std::string>{"files", "files2"}));
  EXPECT_EQ(*f.GroupsOfTable(adapter_, "files"),
            (Groups{"files:pkg/m0.json", "files:pkg/m1.json"}));
  EXPECT_EQ(*f.ListGroups(adapter_),
            (Groups{"files:pkg/m0.json", "files:pkg/m1.json", "files2:pkg/x.json"}));
  absl::StatusOr<std::vector<GroupStamp>> stamps = f.ListGroupStamps(adapter_);
  ASSERT_TRUE(stamps.ok()) << stamps.status();
  ASSERT_EQ(stamps->size(), 3u);
  const GroupStamp& x = stamps->front();  // Sorted by name: "files2:" < "files:".
  EXPECT_EQ(x.group, "files2:pkg/x.json");
  EXPECT_EQ(x.rows, 2);
  EXPECT_EQ(x.newest_mtime, 9);
  EXPECT_EQ(x.data_row_mtime, 7);
}

TEST_F(CacheFileTest, EveryWayOfDigestingAGroupAgrees) {
  std::vector<Row> rows = Modules(0, 4, "t", 5);
  rows.push_back({"@plugins_snapshot.json", 3, "{}"});
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, rows));
  std::map<std::string, GroupHash> walked = Walk(db_);
  ASSERT_EQ(walked.size(), 5u);
  Groups all;
  for (const auto& [g, d] : walked) all.insert(g);
  all.insert("files2:pkg/absent.json");
  EXPECT_EQ(Digests(db_, all), walked);  // The absent group is left out.
  // The same rows elsewhere (copied group by group) give the same digests; the content digest
  // is their sum.
  std::string copy = tmp_.Sub("copy.db");
  CacheFile out = Open(copy);
  TC_ASSERT_OK(out.Attach(db_, "src"));
  {
    absl::StatusOr<CacheFile::Transaction> txn = out.BeginWrite();
    ASSERT_TRUE(txn.ok());
    TC_ASSERT_OK(out.ReplaceGroups("src", all, adapter_).status());
    TC_ASSERT_OK(txn->Commit());
  }
  TC_ASSERT_OK(out.Detach("src"));
  EXPECT_EQ(Walk(copy), walked);
  uint64_t sum = 0;
  for (const auto& [g, d] : walked) sum += d.exact;
  EXPECT_EQ(*out.ContentDigest(adapter_), sum);
}

TEST_F(CacheFileTest, DigestsSeeEveryDifference) {
  std::vector<Row> base = ModuleRows("pkg/x", "t", 5);
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, base));
  GroupHash before = Walk(db_).at("files2:pkg/x.json");
  auto changed = [&](const std::string& sql) {
    std::string path = tmp_.Sub(absl::StrCat("v", std::hash<std::string>()(sql), ".db"));
    TC_EXPECT_OK(WriteRows(path, Schema::kFiles2, base));
    absl::StatusOr<Db> db = Db::Open(path, Db::Mode::kReadWrite);
    TC_EXPECT_OK(db->Exec(sql));
    return Walk(path).at("files2:pkg/x.json");
  };
  // The mtime: exact digest only.
  GroupHash mtime = changed("UPDATE files2 SET mtime = mtime + 1 WHERE path LIKE '%data%'");
  EXPECT_NE(mtime.exact, before.exact);
  EXPECT_EQ(mtime.content, before.content);
  // The data, one byte; the storage class of the same bytes; a row more.
  for (const char* sql :
       {"UPDATE files2 SET data = CAST(replace(CAST(data AS TEXT), 't', 'u') AS BLOB) WHERE "
        "path LIKE '%meta%'",
        "UPDATE files2 SET data = CAST(data AS TEXT) WHERE path LIKE '%data%'",
        "INSERT INTO files2 VALUES('pkg/x.deps.json', 5, x'00')"}) {
    GroupHash d = changed(sql);
    EXPECT_NE(d.exact, before.exact) << sql;
    EXPECT_NE(d.content, before.content) << sql;
  }
  // Nothing changed: the same digest.
  EXPECT_EQ(changed("UPDATE files2 SET mtime = mtime"), before);
}

TEST_F(CacheFileTest, UnchangedGroupsComparesByDigest) {
  std::vector<Row> rows = Modules(0, 3, "t", 5);
  rows.push_back({"@plugins_snapshot.json", 3, "{}"});
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, rows));
  std::string mine = tmp_.Sub("mine.db");
  TC_ASSERT_OK(WriteRows(mine, Schema::kFiles2, rows));
  // m0 rewritten as it was; m1's data changed; the plugins snapshot rewritten later (its mtime
  // does not matter); m2 deleted; a group new in mine.
  TC_ASSERT_OK(WriteRows(mine, Schema::kFiles2,
                         {ModuleRows("pkg/m0", "t", 5)[0],
                          {"pkg/m1.data.json", 5, "other"},
                          {"@plugins_snapshot.json", 99, "{}"},
                          {"pkg/new.meta.json", 1, "{}"}}));
  TC_ASSERT_OK(DeleteRows(mine, Schema::kFiles2, {"pkg/m2.meta.json", "pkg/m2.data.json"}));
  absl::StatusOr<Db> db = Db::Open(mine, Db::Mode::kReadOnly);
  TC_ASSERT_OK(AttachReadOnly(*db, db_, "base"));
  Groups asked = {"files2:pkg/m0.json",  "files2:pkg/m1.json",
                  "files2:pkg/m2.json",  "files2:@plugins_snapshot.json",
                  "files2:pkg/new.json", "files2:pkg/nowhere.json"};
  absl::StatusOr<Groups> same = UnchangedGroups(*db, "base", asked, adapter_);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same, (Groups{"files2:pkg/m0.json", "files2:@plugins_snapshot.json",
                           "files2:pkg/nowhere.json"}));
}

TEST_F(CacheFileTest, DropTableVacuumAndPages) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 50, "t", 5)));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 1, "t", 5)));
  CacheFile f = Open(db_);
  absl::StatusOr<PageStats> before = f.Pages();
  ASSERT_TRUE(before.ok());
  EXPECT_GT(before->pages, 0);
  EXPECT_GT(before->page_size, 0);
  EXPECT_EQ(adapter_.DeadTables(*f.ListTables()).count("files"), 1u);
  {
    absl::StatusOr<CacheFile::Transaction> txn = f.BeginWrite();
    ASSERT_TRUE(txn.ok());
    TC_ASSERT_OK(f.DropTable("files"));
    TC_ASSERT_OK(txn->Commit());
  }
  EXPECT_GT(f.Pages()->free_pages, 0);
  TC_ASSERT_OK(f.Vacuum());
  EXPECT_EQ(f.Pages()->free_pages, 0);
  EXPECT_LT(f.Pages()->pages, before->pages);
  EXPECT_EQ(*f.ListTables(), (std::vector<std::string>{"files2"}));
  EXPECT_TRUE(adapter_.DeadTables(*f.ListTables()).empty());
}

TEST_F(CacheFileTest, IntegrityProblemsNameUnexpectedTablesAndColumns) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 1, "t", 5)));
  CacheFile f = Open(db_);
  EXPECT_TRUE(f.IntegrityProblems(adapter_).empty());
  absl::StatusOr<Db> db = Db::Open(db_, Db::Mode::kReadWrite);
  TC_ASSERT_OK(db->Exec("CREATE TABLE extra(x); CREATE TABLE files(path, data)"));
  std::vector<std::string> problems = f.IntegrityProblems(adapter_);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0], "unexpected table 'extra'");
  EXPECT_EQ(problems[1], "table 'files' has columns (path, data), not mypy's (path, mtime, data)");
}

TEST_F(CacheFileTest, SalvageKeepsTheWholeHealthyGroups) {
  std::vector<Row> rows = Modules(0, 3, "t", 5);
  rows.push_back({"pkg/orphan.data.json", 5, "x"});
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, rows));
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<int64_t> kept = SalvageDatabase(db_, out, adapter_);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, 3);
  EXPECT_EQ(Rows(out), 6u);
}

TEST(CheckReadableTest, NamesTheFileAndTheReason) {
  TempDir tmp;
  std::string path = tmp.Sub("not.db");
  TC_ASSERT_OK(RealFs().WriteNewFile(path, std::string(200, 'x')));
  absl::Status s = CheckReadable(path);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find(path + ": not an SQLite database"), std::string::npos) << s;
}

}  // namespace
}  // namespace typecache
