#include "src/cachedb/group_rows.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/sqlite/sqlite_db.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

TEST(GroupRows, RoundTripKeepsBytesMtimesAndStorageClasses) {
  TempDir tmp;
  MypyAdapter adapter;
  std::string src = tmp.Sub("src.db");
  TC_ASSERT_OK(WriteRows(src, Schema::kFiles2, ModuleRows("pkg/a", "x", 1700000000.5)));
  TC_ASSERT_OK(WriteRows(src, Schema::kFiles2, ModuleRows("pkg/b", "y", 1700000001.25)));
  {
    // A NULL mtime and a TEXT data row in the BLOB table: classes travel as they are.
    absl::StatusOr<Db> db = Db::Open(src, Db::Mode::kReadWrite);
    ASSERT_TRUE(db.ok());
    TC_ASSERT_OK(db->Exec("INSERT INTO files2 VALUES ('pkg/c.meta.json', NULL, x'00ff')"));
    TC_ASSERT_OK(db->Exec("INSERT INTO files2 VALUES ('pkg/c.data.json', 17.0, 'text')"));
  }
  absl::StatusOr<GroupFile> file = GroupFile::OpenReadOnly(src);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<GroupRowMap> all = file->ReadAll(adapter);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 3u);
  absl::StatusOr<GroupRowMap> some =
      file->Read({"files2:pkg/c.json", "files2:pkg/zz.json"}, adapter);
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 1u);
  const std::vector<CacheRow>& c = some->at("files2:pkg/c.json");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1].mtime.type, SqlValue::Type::kNull);
  EXPECT_EQ(c[0].mtime.type, SqlValue::Type::kReal);
  EXPECT_EQ(c[1].data.type, SqlValue::Type::kBlob);
  EXPECT_EQ(c[0].data.type, SqlValue::Type::kText);

  std::string dst = tmp.Sub("dst.db");
  TC_ASSERT_OK(WriteRows(dst, Schema::kFiles2, ModuleRows("pkg/a", "old", 1.0)));
  TC_ASSERT_OK(WriteRows(dst, Schema::kFiles2, ModuleRows("pkg/keep", "k", 1.0)));
  TC_ASSERT_OK(WriteGroupsToFile(dst, *all, adapter));
  auto want = ExactRows(src, "files2");
  auto got = ExactRows(dst, "files2");
  ASSERT_TRUE(want.ok() && got.ok());
  for (const auto& [k, v] : *want) EXPECT_EQ((*got)[k], v) << k;
  EXPECT_EQ(got->size(), want->size() + 2) << "pkg/keep untouched";
  // An empty row list deletes the group.
  GroupRowMap del{{"files2:pkg/keep.json", {}}};
  TC_ASSERT_OK(WriteGroupsToFile(dst, del, adapter));
  EXPECT_EQ(ExactRows(dst, "files2")->size(), want->size());
  // A fresh file gets the table.
  std::string fresh = tmp.Sub("fresh.db");
  TC_ASSERT_OK(WriteGroupsToFile(fresh, *all, adapter));
  EXPECT_EQ(*ExactRows(fresh, "files2"), *want);
}

// WriteGroupsToFile calls back after about every MiB of rows and once after closing the file
// (fresh_publish.cc starts the file's writeback from it), and writes the same rows as without.
TEST(GroupRows, WriteGroupRowsCallsBackEveryMiB) {
  TempDir tmp;
  MypyAdapter adapter;
  std::string src = tmp.Sub("src.db");
  for (int m = 0; m < 20; ++m) {
    std::vector<Row> rows = ModuleRows(absl::StrCat("pkg/m", m), "x", 1700000000.5);
    for (Row& r : rows) r.data += std::string(128 << 10, 'a' + m);
    TC_ASSERT_OK(WriteRows(src, Schema::kFiles2, rows));
  }
  absl::StatusOr<GroupFile> file = GroupFile::OpenReadOnly(src);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<GroupRowMap> all = file->ReadAll(adapter);
  ASSERT_TRUE(all.ok()) << all.status();
  int calls = 0;
  std::string with = tmp.Sub("with.db");
  TC_ASSERT_OK(WriteGroupsToFile(with, *all, adapter, [&calls] { ++calls; }));
  // 40 rows of 128 KiB = 5 MiB: a call after each full MiB, and one after the close.
  EXPECT_EQ(calls, 5 + 1);
  std::string without = tmp.Sub("without.db");
  TC_ASSERT_OK(WriteGroupsToFile(without, *all, adapter));
  EXPECT_EQ(*ExactRows(with, "files2"), *ExactRows(without, "files2"));
  EXPECT_EQ(*ExactRows(with, "files2"), *ExactRows(src, "files2"));
}

TEST(GroupRows, RowOfAnotherGroupIsRefusedAndNothingWritten) {
  TempDir tmp;
  MypyAdapter adapter;
  std::string dst = tmp.Sub("dst.db");
  TC_ASSERT_OK(WriteRows(dst, Schema::kFiles2, ModuleRows("pkg/a", "old", 1.0)));
  auto before = ExactRows(dst, "files2");
  CacheRow stray;
  stray.key = "pkg/b.meta.json";
  stray.data.type = SqlValue::Type::kText;
  stray.data.bytes = "{}";
  GroupRowMap bad{{"files2:pkg/a.json", {}}, {"files2:pkg/z.json", {stray}}};
  absl::Status s = WriteGroupsToFile(dst, bad, adapter);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(*ExactRows(dst, "files2"), *before);
}

}  // namespace
}  // namespace typecache
