#include "src/cachedb/cache_db.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

using Groups = std::set<std::string>;
class CacheDbTest : public ::testing::Test {
 protected:
  Db Open(const std::string& path, Db::Mode mode = Db::Mode::kReadWrite) {
    absl::StatusOr<Db> db = Db::Open(path, mode);
    EXPECT_TRUE(db.ok()) << db.status();
    return std::move(*db);
  }

  // Names of the objects of `type` ("trigger", "table") in the database.
  std::set<std::string> Objects(const std::string& path, const std::string& type) {
    std::set<std::string> names;
    Db db = Open(path, Db::Mode::kReadOnly);
    absl::StatusOr<Stmt> stmt = db.Prepare("SELECT name FROM sqlite_master WHERE type = ?");
    EXPECT_TRUE(stmt.ok());
    stmt->Bind(1, type);
    while (*stmt->Step()) names.insert(std::string(stmt->ColumnText(0)));
    return names;
  }

  TempDir tmp_;
  MypyAdapter adapter_;
  std::string db_ = tmp_.Sub("cache.db");
};

// ---- ConsistentCopy ----

TEST_F(CacheDbTest, CopyOfAQuietDatabaseIsARawCopy) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 20, "t", 5)));
  std::string dst = tmp_.Sub("copy.db");
  absl::StatusOr<CopyResult> copied = ConsistentCopy(RealFs(), db_, dst);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_NE(copied->method, "backup");
  EXPECT_TRUE(copied->method == "reflink" || copied->method == "copy_file_range" ||
              copied->method == "read/write")
      << copied->method;
  EXPECT_EQ(copied->bytes, RealFs().Stat(db_)->size);
  EXPECT_EQ(*RealFs().ReadFile(dst), *RealFs().ReadFile(db_));
  EXPECT_EQ(*IntegrityCheck(dst), "ok");
}

// A writer killed in the middle of a transaction leaves a hot journal and a half-written file
// (mypy 1.20.1+ even runs with synchronous=OFF). The copy must be the last committed state.
TEST_F(CacheDbTest, CopyOfDatabaseWithHotJournalIsTheCommittedState) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 50, "committed", 5)));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    absl::StatusOr<Db> db = Db::Open(db_, Db::Mode::kReadWrite);
    if (!db.ok()) _exit(3);
    // A small cache forces dirty pages into the database file before the commit.
    (void)db->Exec("PRAGMA cache_size=1; BEGIN");
    std::string big(20000, 'u');
    for (int i = 0; i < 200; ++i) {
      (void)db->Exec(absl::StrCat("INSERT OR REPLACE INTO files VALUES('pkg/m", i % 50,
                                  ".data.json', 9, '", big, "')"));
    }
    raise(SIGKILL);  // Dies inside the transaction.
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  absl::StatusOr<FileInfo> journal = RealFs().Stat(db_ + "-journal");
  ASSERT_TRUE(journal.ok() && journal->exists() && journal->size > 0) << "no hot journal left";
  std::string dst = tmp_.Sub("copy.db");
  absl::StatusOr<CopyResult> copied = ConsistentCopy(RealFs(), db_, dst);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*IntegrityCheck(dst), "ok");
  absl::StatusOr<std::map<std::string, std::string>> rows = ReadRows(dst, Schema::kFiles);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 100u);
  for (const auto& [key, value] : *rows) {
    EXPECT_EQ(value.find("uuuu"), std::string::npos) << key << " holds an uncommitted row";
  }
}

TEST_F(CacheDbTest, CopyWithLiveWalWriterUsesBackupAndHoldsEveryRow) {
  Db writer = Open(db_, Db::Mode::kCreate);
  TC_ASSERT_OK(
      writer.Exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                  "CREATE TABLE files2 (path TEXT UNIQUE NOT NULL, mtime REAL, data BLOB);"));
  for (int i = 0; i < 200; ++i) {
    TC_ASSERT_OK(writer.Exec(
        absl::StrCat("INSERT INTO files2 VALUES('m", i, ".meta.ff', ", i, ".5, randomblob(300))")));
  }
  // An open transaction's uncommitted rows are not part of any consistent state.
  TC_ASSERT_OK(writer.Exec("BEGIN; INSERT INTO files2 VALUES('uncommitted.meta.ff', 1, x'00')"));
  absl::StatusOr<FileInfo> wal = RealFs().Stat(db_ + "-wal");
  ASSERT_TRUE(wal.ok() && wal->size > 0);
  std::string dst = tmp_.Sub("copy.db");
  absl::StatusOr<CopyResult> copied = ConsistentCopy(RealFs(), db_, dst);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(copied->method, "backup");
  EXPECT_GT(copied->bytes, 200 * 300);
  TC_ASSERT_OK(writer.Exec("COMMIT"));
  absl::StatusOr<Rows> rows = ReadRows(dst, Schema::kFiles2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 200u);
  EXPECT_EQ(rows->count("m199.meta.ff"), 1u);
  EXPECT_EQ(rows->count("uncommitted.meta.ff"), 0u);
  Rows live = ExactRowsOf(db_, "files2");
  live.erase("uncommitted.meta.ff");
  EXPECT_EQ(ExactRowsOf(dst, "files2"), live);
  // The copy is self-contained in rollback-journal mode.
  Db copy = Open(dst, Db::Mode::kReadOnly);
  EXPECT_EQ(*copy.QueryText("PRAGMA journal_mode"), "delete");
  EXPECT_FALSE(RealFs().Stat(dst + "-wal")->exists());
  EXPECT_EQ(*IntegrityCheck(dst), "ok");
}

TEST_F(CacheDbTest, CopyOfMissingSourceFails) {
  std::string dst = tmp_.Sub("copy.db");
  EXPECT_FALSE(ConsistentCopy(RealFs(), tmp_.Sub("missing.db"), dst).ok());
}

TEST_F(CacheDbTest, CopyOfNonDatabaseFails) {
  std::string junk = tmp_.Sub("junk.db");
  TC_ASSERT_OK(RealFs().WriteNewFile(junk, std::string(4096, 'x')));
  absl::StatusOr<CopyResult> copied = ConsistentCopy(RealFs(), junk, tmp_.Sub("copy.db"));
  ASSERT_FALSE(copied.ok());
  EXPECT_NE(copied.status().message().find("junk.db"), absl::string_view::npos);
}

// ---- Capture ----

TEST_F(CacheDbTest, CaptureRecordsEveryKindOfWriteAsGroups) {
  std::vector<Row> base = Modules(0, 8, "base", 100);
  base.push_back({"@plugins_snapshot.json", 100, "{}"});
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, base));
  TC_ASSERT_OK(InstallCapture(db_, adapter_));
  EXPECT_EQ(Objects(db_, "trigger").size(), 3u);
  // What the checker does, through its own connection.
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, ModuleRows("pkg/new", "run", 200)));      // INSERT
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, {ModuleRows("pkg/m1", "run", 200)[0]}));  // REPLACE
  TC_ASSERT_OK(DeleteRows(db_, Schema::kFiles2, {"pkg/m2.meta.json", "pkg/m2.data.json"}));
  {
    Db db = Open(db_);
    TC_ASSERT_OK(db.Exec("UPDATE files2 SET mtime = 300 WHERE path = 'pkg/m3.data.json'"));
    // A key renamed by an update: both the old and the new group changed.
    TC_ASSERT_OK(
        db.Exec("UPDATE files2 SET path = 'pkg/moved.meta.json' "
                "WHERE path = 'pkg/m4.meta.json'"));
    TC_ASSERT_OK(db.Exec("INSERT OR REPLACE INTO files2 VALUES('@plugins_snapshot.json', 1, x'')"));
    // Writes that match nothing change nothing.
    TC_ASSERT_OK(db.Exec("DELETE FROM files2 WHERE path = 'pkg/none.meta.json'"));
  }
  absl::StatusOr<Groups> groups = FinishCapture(db_, adapter_);
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, (Groups{"files2:@plugins_snapshot.json", "files2:pkg/m1.json",
                             "files2:pkg/m2.json", "files2:pkg/m3.json", "files2:pkg/m4.json",
                             "files2:pkg/moved.json", "files2:pkg/new.json"}));
  EXPECT_TRUE(Objects(db_, "trigger").empty());
  EXPECT_EQ(Objects(db_, "table"), (std::set<std::string>{"files2"}));
  EXPECT_EQ(*Open(db_, Db::Mode::kReadOnly).QueryText("PRAGMA journal_mode"), "delete");
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
}

TEST_F(CacheDbTest, NoWritesMeansNoGroups) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 3, "base", 100)));
  Rows before = ExactRowsOf(db_, "files");
  TC_ASSERT_OK(InstallCapture(db_, adapter_));
  absl::StatusOr<Groups> groups = FinishCapture(db_, adapter_);
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_TRUE(groups->empty());
  EXPECT_EQ(ExactRowsOf(db_, "files"), before);
}

TEST_F(CacheDbTest, TableCreatedAfterInstallYieldsAllItsGroups) {
  // A cache of mypy <= 1.13 opened by mypy >= 1.14: `files2` is created during the run.
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 4, "old", 100)));
  TC_ASSERT_OK(InstallCapture(db_, adapter_));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(10, 13, "new", 200)));
  TC_ASSERT_OK(DeleteRows(db_, Schema::kFiles, {"pkg/m0.meta.json"}));
  absl::StatusOr<Groups> groups = FinishCapture(db_, adapter_);
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, (Groups{"files2:pkg/m10.json", "files2:pkg/m11.json", "files2:pkg/m12.json",
                             "files:pkg/m0.json"}));
  EXPECT_TRUE(Objects(db_, "trigger").empty());
  EXPECT_EQ(Objects(db_, "table").count("typecache_changes"), 0u);
}

TEST_F(CacheDbTest, DatabaseCreatedAfterInstallYieldsAllGroups) {
  TC_ASSERT_OK(InstallCapture(db_, adapter_));  // An empty private copy.
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 3, "new", 200)));
  absl::StatusOr<Groups> groups = FinishCapture(db_, adapter_);
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, (Groups{"files2:pkg/m0.json", "files2:pkg/m1.json", "files2:pkg/m2.json"}));
  std::string fresh = tmp_.Sub("fresh.db");  // Capture never installed at all.
  TC_ASSERT_OK(WriteRows(fresh, Schema::kFiles, Modules(5, 7, "new", 200)));
  groups = FinishCapture(fresh, adapter_);
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, (Groups{"files:pkg/m5.json", "files:pkg/m6.json"}));
}

TEST_F(CacheDbTest, FinishCaptureLeavesRollbackJournalModeAfterAWalWriter) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 3, "base", 100)));
  TC_ASSERT_OK(InstallCapture(db_, adapter_));
  {
    Db db = Open(db_);
    TC_ASSERT_OK(db.Exec("PRAGMA journal_mode=WAL"));
    TC_ASSERT_OK(db.Exec("INSERT INTO files2 VALUES('pkg/w.meta.ff', 1, x'01')"));
    TC_ASSERT_OK(db.Close());
  }
  EXPECT_EQ(*Open(db_, Db::Mode::kReadOnly).QueryText("PRAGMA journal_mode"), "wal");
  absl::StatusOr<Groups> groups = FinishCapture(db_, adapter_);
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, Groups{"files2:pkg/w.ff"});
  EXPECT_EQ(*Open(db_, Db::Mode::kReadOnly).QueryText("PRAGMA journal_mode"), "delete");
  EXPECT_FALSE(RealFs().Stat(db_ + "-wal")->exists());
  EXPECT_TRUE(Objects(db_, "trigger").empty());
}

TEST_F(CacheDbTest, InstallCaptureTwiceIsHarmless) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 2, "base", 100)));
  TC_ASSERT_OK(InstallCapture(db_, adapter_));
  TC_ASSERT_OK(InstallCapture(db_, adapter_));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, ModuleRows("pkg/m1", "x", 2)));
  absl::StatusOr<Groups> groups = FinishCapture(db_, adapter_);
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(*groups, Groups{"files2:pkg/m1.json"});
}

// ---- ListGroups ----

TEST_F(CacheDbTest, ListGroupsCoversBothTablesAndAttachedSchemas) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 2, "t", 1)));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2,
                         {{"pkg/x.meta.ff", 1, "m"},
                          {"pkg/x.data.ff", 1, "d"},
                          {"pkg/x.meta_ex.ff", 1, "e"},
                          {"@plugins_snapshot.json", 1, "{}"}}));
  std::string other = tmp_.Sub("other.db");
  TC_ASSERT_OK(WriteRows(other, Schema::kFiles2, Modules(7, 8, "t", 1)));
  Db db = Open(db_);
  absl::StatusOr<Groups> groups = ListGroups(db, adapter_);
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, (Groups{"files2:@plugins_snapshot.json", "files2:pkg/x.ff",
                             "files:pkg/m0.json", "files:pkg/m1.json"}));
  TC_ASSERT_OK(AttachReadOnly(db, other, "src"));
  groups = ListGroups(db, adapter_, "src");
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, Groups{"files2:pkg/m7.json"});
  Db empty = Open(tmp_.Sub("empty.db"), Db::Mode::kCreate);
  EXPECT_TRUE(ListGroups(empty, adapter_)->empty());
}

TEST_F(CacheDbTest, AttachReadOnlyRefusesWritesAndNonDatabases) {
  std::string other = tmp_.Sub("we?ird#name%.db");  // URI metacharacters are escaped.
  TC_ASSERT_OK(WriteRows(other, Schema::kFiles2, Modules(0, 1, "t", 1)));
  Db db = Open(db_, Db::Mode::kCreate);
  TC_ASSERT_OK(AttachReadOnly(db, other, "src"));
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM src.files2"), 2);
  EXPECT_FALSE(db.Exec("DELETE FROM src.files2").ok());
  std::string junk = tmp_.Sub("junk.db");
  TC_ASSERT_OK(RealFs().WriteNewFile(junk, std::string(200, 'j')));
  EXPECT_FALSE(AttachReadOnly(db, junk, "junk").ok());
}

// ---- ReplaceGroups ----

class ReplaceGroupsTest : public CacheDbTest {
 protected:
  absl::StatusOr<TransferStats> Replace(const Groups& groups, bool with_source = true,
                                        std::map<std::string, GroupHash>* copied = nullptr) {
    Db db = Open(db_);
    if (with_source) {
      absl::Status attached = AttachReadOnly(db, src_, "src");
      if (!attached.ok()) return attached;
    }
    absl::Status s = db.Exec("BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    absl::StatusOr<TransferStats> stats =
        pipelined_ && with_source
            ? ReplaceGroupsFrom(db, "src", src_, groups, adapter_, copied, queue_bytes_)
            : ReplaceGroups(db, with_source ? "src" : "", groups, adapter_, copied);
    if (!stats.ok()) return stats;
    s = db.Exec("COMMIT");
    if (!s.ok()) return s;
    return stats;
  }

  std::string src_ = tmp_.Sub("src.db");
  // Replace() through ReplaceGroupsFrom (its reader thread) with a queue of this many bytes.
  bool pipelined_ = false;
  size_t queue_bytes_ = kPipelineQueueBytes;

  // Copies groups over every storage class and checks the result byte for byte; `hashed`: with
  // the digests of the copied rows (merge's path: rows pass through the caller, which binds
  // each value with its class), which must be the digests DigestGroups reads from the result.
  void CopiesRowsByteForByteAndDeletesAbsentGroups(bool hashed);
};

TEST_F(ReplaceGroupsTest, CopiesRowsByteForByteAndDeletesAbsentGroups) {
  CopiesRowsByteForByteAndDeletesAbsentGroups(/*hashed=*/false);
}

TEST_F(ReplaceGroupsTest, CopiesRowsByteForByteWhileHashingThem) {
  CopiesRowsByteForByteAndDeletesAbsentGroups(/*hashed=*/true);
}

void ReplaceGroupsTest::CopiesRowsByteForByteAndDeletesAbsentGroups(bool hashed) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 5, "dst", 100)));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, {{"pkg/m1.deps.json", 100, "dst-only row"}}));
  // The source's version of m1: fewer rows, odd mtimes, and every storage class for data.
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles, {}));
  {
    Db src = Open(src_);
    TC_ASSERT_OK(
        src.Exec("INSERT INTO files VALUES('pkg/m1.meta.json', 1700000000.123456789, "
                 "'{\"data_mtime\": 1700000000}');"
                 "INSERT INTO files VALUES('pkg/m1.data.json', 0.1, x'00ff7b0a00');"
                 "INSERT INTO files VALUES('pkg/m1.err.json', -3.5e-7, NULL);"
                 "INSERT INTO files VALUES('pkg/m3.meta.json', 5, 'x');"
                 "INSERT INTO files VALUES('pkg/m3.data.json', 5, 'y');"
                 "INSERT INTO files VALUES('pkg/other.meta.json', 9, 'not requested');"));
  }
  Rows src_rows = ExactRowsOf(src_, "files");
  Rows before = ExactRowsOf(db_, "files");
  std::map<std::string, GroupHash> copied;
  absl::StatusOr<TransferStats> stats =
      Replace({"pkg/m1", "pkg/m3", "pkg/m4"}, true, hashed ? &copied : nullptr);
  ASSERT_TRUE(stats.ok()) << stats.status();
  if (hashed) {
    Db db = Open(db_);
    absl::StatusOr<std::map<std::string, GroupHash>> read =
        DigestGroups(db, "main", {"pkg/m1", "pkg/m3", "pkg/m4"}, adapter_);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->size(), 2u);  // m4: the source has none of it.
    EXPECT_EQ(copied, *read);
  }
  EXPECT_EQ(stats->groups, 3);
  EXPECT_EQ(stats->rows, 5);
  Rows after = ExactRowsOf(db_, "files");
  Rows expected = before;
  for (const char* gone :
       {"pkg/m1.meta.json", "pkg/m1.data.json", "pkg/m1.deps.json", "pkg/m3.meta.json",
        "pkg/m3.data.json", "pkg/m4.meta.json", "pkg/m4.data.json"}) {
    expected.erase(gone);
  }
  for (const char* copied : {"pkg/m1.meta.json", "pkg/m1.data.json", "pkg/m1.err.json",
                             "pkg/m3.meta.json", "pkg/m3.data.json"}) {
    expected[copied] = src_rows.at(copied);
  }
  EXPECT_EQ(after, expected);
  // Spelled out: mtime to the last bit, the storage class of data, the bytes.
  EXPECT_EQ(after.at("pkg/m1.data.json"), "0.10000000000000001|real|blob|00FF7B0A00");
  EXPECT_NE(after.at("pkg/m1.meta.json").find("|real|text|7B"), std::string::npos);
  EXPECT_NE(after.at("pkg/m1.err.json").find("|real|null|"), std::string::npos);
  EXPECT_EQ(after.count("pkg/other.meta.json"), 0u);  // Not requested.
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
}

// ---- ReplaceGroupsFrom: the same through the reader thread ----

TEST_F(ReplaceGroupsTest, PipelinedCopiesRowsByteForByteWhileHashingThem) {
  pipelined_ = true;
  CopiesRowsByteForByteAndDeletesAbsentGroups(/*hashed=*/true);
}

TEST_F(ReplaceGroupsTest, PipelinedCopiesRowsByteForByteWithoutDigests) {
  pipelined_ = true;
  CopiesRowsByteForByteAndDeletesAbsentGroups(/*hashed=*/false);
}

// Many groups over both tables, through a queue that holds about one group at a time (the
// threads hand over hundreds of batches): the result, the digests and the counts are those of
// ReplaceGroups, group by group, and every group is whole from the source (group consistency).
TEST_F(ReplaceGroupsTest, PipelinedThroughASmallQueueIsReplaceGroups) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 300, "dst", 100)));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 50, "dst", 100)));
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles, Modules(100, 400, "src", 200)));
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles2, Modules(20, 80, "src", 200)));
  Groups groups;
  for (int m = 0; m < 500; m += 3) {
    groups.insert(absl::StrCat("pkg/m", m));
    groups.insert(absl::StrCat("files2:pkg/m", m, ".json"));
  }
  std::string original = tmp_.Sub("original.db");
  ASSERT_EQ(std::system(absl::StrCat("cp ", db_, " ", original).c_str()), 0);
  std::map<std::string, GroupHash> serial_copied;
  absl::StatusOr<TransferStats> serial = Replace(groups, true, &serial_copied);
  ASSERT_TRUE(serial.ok()) << serial.status();
  Rows serial_files = ExactRowsOf(db_, "files");
  Rows serial_files2 = ExactRowsOf(db_, "files2");

  ASSERT_EQ(std::system(absl::StrCat("cp ", original, " ", db_).c_str()), 0);
  pipelined_ = true;
  queue_bytes_ = 1;
  std::map<std::string, GroupHash> copied;
  absl::StatusOr<TransferStats> stats = Replace(groups, true, &copied);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->groups, serial->groups);
  EXPECT_EQ(stats->rows, serial->rows);
  EXPECT_GT(stats->rows, 200);
  EXPECT_EQ(copied, serial_copied);
  EXPECT_EQ(ExactRowsOf(db_, "files"), serial_files);
  EXPECT_EQ(ExactRowsOf(db_, "files2"), serial_files2);
  // Each group copied is the source's, whole: its rows there are its rows here.
  Rows src_files = ExactRowsOf(src_, "files");
  Rows after = ExactRowsOf(db_, "files");
  for (int m = 0; m < 500; m += 3) {
    for (const char* kind : {".meta.json", ".data.json"}) {
      std::string key = absl::StrCat("pkg/m", m, kind);
      if (src_files.count(key) > 0) {
        EXPECT_EQ(after.at(key), src_files.at(key)) << key;
      } else {
        EXPECT_EQ(after.count(key), 0u) << key;
      }
    }
  }
  Db db = Open(db_);
  absl::StatusOr<std::map<std::string, GroupHash>> read =
      DigestGroups(db, "main", groups, adapter_);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(copied, *read);
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
}

// An error on the reader's side (here: its file cannot be opened, as if removed after the
// attach) comes back from the call; nothing hangs.
TEST_F(ReplaceGroupsTest, PipelinedReaderErrorIsReturned) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 20, "dst", 100)));
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles, Modules(0, 20, "src", 200)));
  Db db = Open(db_);
  TC_ASSERT_OK(AttachReadOnly(db, src_, "src"));
  TC_ASSERT_OK(db.Exec("BEGIN IMMEDIATE"));
  Groups groups;
  for (int m = 0; m < 20; ++m) groups.insert(absl::StrCat("pkg/m", m));
  absl::StatusOr<TransferStats> stats =
      ReplaceGroupsFrom(db, "src", tmp_.Sub("missing.db"), groups, adapter_, nullptr, 1);
  EXPECT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("missing.db"), std::string::npos) << stats.status();
  TC_EXPECT_OK(db.Exec("ROLLBACK"));
}

// A reader that fails halfway, after batches went through: its file (a copy of the attached
// source) is damaged past its first groups. The error comes back, the thread is joined, and the
// rows copied before it are only in the caller's transaction, which it rolls back.
TEST_F(ReplaceGroupsTest, PipelinedReaderErrorHalfwayIsReturned) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 200, "dst", 100)));
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles, Modules(0, 200, "src", 200)));
  // The reader's file: the later groups' data moved to overflow pages at the end of the file,
  // which are then overwritten.
  std::string damaged = tmp_.Sub("damaged.db");
  ASSERT_EQ(std::system(absl::StrCat("cp ", src_, " ", damaged).c_str()), 0);
  int64_t size = RealFs().Stat(damaged)->size;
  {
    Db d = Open(damaged);
    TC_ASSERT_OK(d.Exec("UPDATE files SET data = randomblob(200000) WHERE path >= 'pkg/m150'"));
  }
  {
    std::FILE* f = std::fopen(damaged.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, static_cast<long>(size), SEEK_SET);  // NOLINT
    std::string junk(static_cast<size_t>(RealFs().Stat(damaged)->size - size), '\xff');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  Db db = Open(db_);
  TC_ASSERT_OK(AttachReadOnly(db, src_, "src"));
  TC_ASSERT_OK(db.Exec("BEGIN IMMEDIATE"));
  Groups groups;
  for (int m = 0; m < 200; ++m) groups.insert(absl::StrCat("pkg/m", m));
  absl::StatusOr<TransferStats> stats =
      ReplaceGroupsFrom(db, "src", damaged, groups, adapter_, nullptr, 1);
  EXPECT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("damaged.db"), std::string::npos) << stats.status();
  // Halfway: the groups before the damage were copied.
  EXPECT_GT(*db.QueryInt("SELECT count(*) FROM files WHERE mtime = 200"), 0);
  TC_EXPECT_OK(db.Exec("ROLLBACK"));
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM files WHERE mtime = 200"), 0);
}

// A writer that fails while the reader waits for room (a full queue): the call returns the
// writer's error and the reader is stopped and joined (the test would hang otherwise).
TEST_F(ReplaceGroupsTest, PipelinedWriterErrorStopsTheReader) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 200, "dst", 100)));
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles, Modules(0, 200, "src", 200)));
  Db db = Open(db_);
  TC_ASSERT_OK(AttachReadOnly(db, src_, "src"));
  // Every insert fails once the writer reaches pkg/m150's rows.
  TC_ASSERT_OK(
      db.Exec("CREATE TRIGGER refuse BEFORE INSERT ON files WHEN new.path >= 'pkg/m150' "
              "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"));
  TC_ASSERT_OK(db.Exec("BEGIN IMMEDIATE"));
  Groups groups;
  for (int m = 0; m < 200; ++m) groups.insert(absl::StrCat("pkg/m", m));
  absl::StatusOr<TransferStats> stats =
      ReplaceGroupsFrom(db, "src", src_, groups, adapter_, nullptr, 1);
  EXPECT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("refused by the test"), std::string::npos)
      << stats.status();
  TC_EXPECT_OK(db.Exec("ROLLBACK"));
}

TEST_F(ReplaceGroupsTest, GroupBoundariesAreExact) {
  std::vector<Row> rows;
  for (const char* m : {"pkg/a", "pkg/a/b", "pkg/ab", "pkg/a_", "pkg", "pkg/a0"}) {
    for (const Row& r : ModuleRows(m, "dst", 1)) rows.push_back(r);
  }
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, rows));
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles2, ModuleRows("pkg/a", "src", 2)));
  Rows before = ExactRowsOf(db_, "files2");
  ASSERT_TRUE(Replace({"pkg/a"}).ok());
  Rows after = ExactRowsOf(db_, "files2");
  for (const auto& [key, value] : before) {
    if (key.rfind("pkg/a.", 0) == 0) {
      EXPECT_NE(after.at(key), value) << key;
    } else {
      EXPECT_EQ(after.at(key), value) << key;
    }
  }
  EXPECT_EQ(after.size(), before.size());
}

TEST_F(ReplaceGroupsTest, MissingTableIsCreatedWithTheSourceSchema) {
  {
    Db db = Open(db_, Db::Mode::kCreate);  // Like a salvage target or a new merge destination.
    TC_ASSERT_OK(db.Exec("CREATE TABLE unrelated(x)"));
  }
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles2, ModuleRows("pkg/n", "src", 2)));
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles2, ModuleRows("pkg/not_asked", "src", 2)));
  absl::StatusOr<TransferStats> stats = Replace({"pkg/n"});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->rows, 2);
  Rows expected = ExactRowsOf(src_, "files2");
  expected.erase("pkg/not_asked.meta.json");
  expected.erase("pkg/not_asked.data.json");
  EXPECT_EQ(ExactRowsOf(db_, "files2"), expected);
  const std::string ddl =
      "SELECT group_concat(type || ':' || name || ':' || ifnull(sql, ''), ';') FROM "
      "(SELECT * FROM sqlite_master WHERE tbl_name = 'files2' ORDER BY name)";
  std::string src_ddl = *Open(src_, Db::Mode::kReadOnly).QueryText(ddl);
  EXPECT_NE(src_ddl.find("index:path_idx"), std::string::npos) << src_ddl;
  EXPECT_EQ(*Open(db_, Db::Mode::kReadOnly).QueryText(ddl), src_ddl);
}

TEST_F(ReplaceGroupsTest, NoSourceDeletesTheGroups) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 4, "dst", 1)));
  absl::StatusOr<TransferStats> stats = Replace({"pkg/m0", "pkg/m2"}, /*with_source=*/false);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->rows, 0);
  absl::StatusOr<Groups> left = [&] {
    Db db = Open(db_, Db::Mode::kReadOnly);
    return ListGroups(db, adapter_);
  }();
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, (Groups{"files2:pkg/m1.json", "files2:pkg/m3.json"}));
}

TEST_F(ReplaceGroupsTest, EmptyGroupSetChangesNothing) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 2, "dst", 1)));
  TC_ASSERT_OK(WriteRows(src_, Schema::kFiles2, Modules(0, 2, "src", 2)));
  Rows before = ExactRowsOf(db_, "files2");
  absl::StatusOr<TransferStats> stats = Replace({});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->groups, 0);
  EXPECT_EQ(ExactRowsOf(db_, "files2"), before);
}

TEST(OpenForWriteTest, CreatesTheFile) {
  TempDir tmp;
  std::string path = tmp.Sub("new.db");
  absl::StatusOr<Db> db = OpenForWrite(path);
  ASSERT_TRUE(db.ok()) << db.status();
  TC_ASSERT_OK(db->Exec("CREATE TABLE t(x)"));
  TC_ASSERT_OK(db->Close());
  EXPECT_TRUE(RealFs().Stat(path)->exists());
}

}  // namespace
}  // namespace typecache
