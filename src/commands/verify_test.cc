#include "src/commands/verify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/genlog.h"
#include "src/store/local/layout.h"
#include "src/testing/command_fixture.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

std::vector<Row> Modules(int from, int to, const std::string& tag, double mtime, size_t pad = 0) {
  std::vector<Row> rows;
  for (int i = from; i < to; ++i) {
    for (Row& row : ModuleRows(absl::StrCat("pkg/m", i), tag, mtime)) {
      if (absl::EndsWith(row.path, ".data.json") && pad > 0) {
        row.data = absl::StrCat("{\"tree\": \"", std::string(pad, 'p'), "\"}");
      }
      rows.push_back(row);
    }
  }
  return rows;
}

// The groups a problem list names, "" for whole-database problems.
std::set<std::string> GroupsIn(const std::vector<Problem>& problems) {
  std::set<std::string> out;
  for (const Problem& p : problems) out.insert(ModuleOfGroup(p.group));
  return out;
}

std::string Describe(const std::vector<Problem>& problems) {
  std::string out;
  for (const Problem& p : problems)
    absl::StrAppend(&out, p.where, " [", p.group, "] ", p.what, "\n");
  return out;
}

class VerifyTest : public CommandTest {
 protected:
  absl::StatusOr<VerifyReport> VerifyPath(const std::string& path) {
    return OnTarget(path, [&](const Target& target) { return Verify(RealFs(), adapter_, target); });
  }

  absl::StatusOr<VerifyReport> RepairPath(const std::string& path) {
    return OnTarget(path, [&](const Target& target) {
      return Repair(RealFs(), adapter_, target, TestEditOptions());
    });
  }

  // A database with healthy groups and one group for every kind of breakage.
  void WriteBrokenDb(const std::string& path) {
    std::vector<Row> rows = Modules(0, 6, "ok", 100);
    rows.push_back(ModuleRows("bad/meta_only", "x", 100)[0]);
    std::vector<Row> skew = ModuleRows("bad/skew", "x", 100);
    skew[1].mtime = 101.5;  // int(101.5) != 100
    rows.insert(rows.end(), skew.begin(), skew.end());
    rows.push_back(ModuleRows("bad/orphan", "x", 100)[1]);
    rows.push_back({"bad/json.meta.json", 100, "{\"data_mtime\": 100, \"tag\": "});
    rows.push_back(ModuleRows("bad/json", "x", 100)[1]);
    // Healthy corner cases: a fractional data mtime, a global row, a fixed-format group.
    std::vector<Row> frac = ModuleRows("ok/fraction", "x", 100);
    frac[1].mtime = 100.999;
    rows.insert(rows.end(), frac.begin(), frac.end());
    rows.push_back({"@plugins_snapshot.json", 100, "{}"});
    rows.push_back({"ok/ff.meta.ff", 100, std::string("\x01\x00", 2)});
    rows.push_back({"ok/ff.data.ff", 100, "d"});
    TC_ASSERT_OK(WriteRows(path, Schema::kFiles, rows));
  }

  const std::set<std::string> kBroken = {"bad/json", "bad/meta_only", "bad/orphan", "bad/skew"};

  // A database of several pages, cut to half its size.
  void WriteTruncatedDb(const std::string& path, Rows* original) {
    TC_ASSERT_OK(WriteRows(path, Schema::kFiles, Modules(0, 200, "t", 100, /*pad=*/1500)));
    *original = RowsOf(path);
    int64_t size = RealFs().Stat(path)->size;
    ASSERT_GT(size, 40 * 4096);
    ASSERT_EQ(::truncate(path.c_str(), size / 2), 0);
  }

  // Expects verify to find `path` clean: `databases` databases of `groups` groups, no problem.
  void ExpectClean(const std::string& path, int64_t databases, int64_t groups) {
    absl::StatusOr<VerifyReport> r = VerifyPath(path);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->databases, databases);
    EXPECT_EQ(r->groups, groups);
    EXPECT_TRUE(r->problems.empty()) << Describe(r->problems);
  }

  // Makes the cache directory of `layout`, its live directory 3.11 a plain directory (as the
  // checker makes one).
  static absl::Status MakeLiveDir(const Layout& layout) {
    absl::Status made = layout.Create(RealFs());
    return made.ok() ? MakeDirs(RealFs(), layout.live_path("3.11")) : made;
  }
  // The path of database `file` in the live directory 3.11 of `layout`.
  static std::string LiveDb(const Layout& layout, const std::string& file = "cache.db") {
    return JoinPath(layout.live_path("3.11"), file);
  }

  std::string db_ = tmp_.Sub("cache.db");
};

TEST_F(VerifyTest, HealthyDatabaseIsClean) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 10, "ok", 100)));
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, {{"@plugins_snapshot.json", 1, "{}"}}));
  ExpectClean(db_, 1, 11);
}

TEST_F(VerifyTest, HealthyCacheDirectoryIsClean) {
  std::string cache = tmp_.Sub("cache");
  Layout layout(cache);
  TC_ASSERT_OK(MakeLiveDir(layout));
  TC_ASSERT_OK(WriteRows(LiveDb(layout), Schema::kFiles2, Modules(0, 4, "ok", 100)));
  TC_ASSERT_OK(WriteRows(LiveDb(layout, "cache.1.db"), Schema::kFiles2, Modules(4, 6, "ok", 100)));
  ExpectClean(cache, 2, 6);
}

TEST_F(VerifyTest, EachBrokenGroupIsReported) {
  WriteBrokenDb(db_);
  absl::StatusOr<VerifyReport> r = VerifyPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(GroupsIn(r->problems), kBroken) << Describe(r->problems);
  EXPECT_EQ(r->problems.size(), kBroken.size()) << Describe(r->problems);
  std::map<std::string, std::string> what;
  for (const Problem& p : r->problems) {
    what[ModuleOfGroup(p.group)] = p.what;
    EXPECT_EQ(p.where, db_);
  }
  EXPECT_EQ(what["bad/meta_only"], "meta row without data row");
  EXPECT_EQ(what["bad/orphan"], "data row without meta row (orphan)");
  EXPECT_NE(what["bad/skew"].find("101 does not match the meta's data_mtime 100"),
            std::string::npos)
      << what["bad/skew"];
  EXPECT_NE(what["bad/json"].find("invalid JSON"), std::string::npos) << what["bad/json"];
  EXPECT_EQ(r->groups, 6 + 4 + 3);
}

TEST_F(VerifyTest, NonSqliteFileIsReported) {
  TC_ASSERT_OK(RealFs().WriteNewFile(db_, std::string(8192, 'z')));
  absl::StatusOr<VerifyReport> r = VerifyPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->problems.size(), 1u) << Describe(r->problems);
  EXPECT_EQ(r->problems[0].group, "");
  EXPECT_EQ(r->problems[0].where, db_);
  EXPECT_NE(r->problems[0].what.find("not an SQLite database"), std::string::npos)
      << r->problems[0].what;
}

TEST_F(VerifyTest, TruncatedDatabaseIsReported) {
  Rows original;
  WriteTruncatedDb(db_, &original);
  absl::StatusOr<VerifyReport> r = VerifyPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->problems.empty());
  EXPECT_EQ(GroupsIn(r->problems), std::set<std::string>{""}) << Describe(r->problems);
}

TEST_F(VerifyTest, UnexpectedSchemaIsReported) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles2, Modules(0, 1, "ok", 100)));
  {
    absl::StatusOr<Db> db = Db::Open(db_, Db::Mode::kReadWrite);
    ASSERT_TRUE(db.ok());
    TC_ASSERT_OK(db->Exec("CREATE TABLE files (path TEXT, data TEXT); CREATE TABLE junk(x);"));
  }
  absl::StatusOr<VerifyReport> r = VerifyPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string text = Describe(r->problems);
  EXPECT_EQ(r->problems.size(), 2u) << text;
  EXPECT_NE(text.find("unexpected table 'junk'"), std::string::npos) << text;
  EXPECT_NE(text.find("table 'files' has columns (path, data)"), std::string::npos) << text;
}

TEST_F(VerifyTest, LeftoverWalIsReported) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 2, "ok", 100)));
  absl::StatusOr<Db> writer =
      OpenWalWriter(db_, "DELETE FROM files WHERE path = 'pkg/m1.meta.json'");
  ASSERT_TRUE(writer.ok()) << writer.status();
  absl::StatusOr<VerifyReport> r = VerifyPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string text = Describe(r->problems);
  EXPECT_NE(text.find("leftover cache.db-wal"), std::string::npos) << text;
  // The committed deletion in the WAL is seen: pkg/m1 is a data row without meta.
  EXPECT_EQ(GroupsIn(r->problems), (std::set<std::string>{"", "pkg/m1"})) << text;
  TC_ASSERT_OK(writer->Close());
}

TEST_F(VerifyTest, StrayCopyOfADeadRunIsReportedAndRepaired) {
  std::string cache = tmp_.Sub("cache");
  Layout layout(cache);
  TC_ASSERT_OK(MakeLiveDir(layout));
  TC_ASSERT_OK(WriteRows(LiveDb(layout), Schema::kFiles, Modules(0, 2, "ok", 100)));
  std::string run = JoinPath(layout.runs_dir(), "deadrun");
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(run, "3.11")));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(run, "3.11/cache.db"), "x"));
  // 90 s old: past the 60 s that `run` uses (kDeadRunMinAge), as docs/layout.md says.
  timespec old = absl::ToTimespec(absl::Now() - absl::Seconds(90));
  timespec times[2] = {old, old};
  ASSERT_EQ(::utimensat(AT_FDCWD, run.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  absl::StatusOr<VerifyReport> r = VerifyPath(cache);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->problems.size(), 1u) << Describe(r->problems);
  EXPECT_NE(r->problems[0].what.find("dead run"), std::string::npos);
  EXPECT_TRUE(RealFs().Stat(run)->exists());  // Verify alone changes nothing.
  r = RepairPath(cache);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->problems.empty()) << Describe(r->problems);
  EXPECT_FALSE(RealFs().Stat(run)->exists());
  EXPECT_EQ(RowsOf(LiveDb(layout)).size(), 4u);
}

TEST_F(VerifyTest, RepairRemovesExactlyTheBrokenGroups) {
  WriteBrokenDb(db_);
  Rows before = RowsOf(db_);
  absl::StatusOr<VerifyReport> r = RepairPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->problems.empty()) << Describe(r->problems);
  EXPECT_EQ(r->repaired.size(), kBroken.size());
  for (const std::string& group : kBroken) {
    bool listed = false;
    for (const std::string& line : r->repaired) {
      listed = listed ||
               absl::StrContains(line, absl::StrCat("removed group ", group, " (files, JSON) ("));
    }
    EXPECT_TRUE(listed) << group;
  }
  Rows expected;
  for (const auto& [key, value] : before) {
    if (kBroken.count(ModuleOf(key)) == 0) expected[key] = value;
  }
  EXPECT_EQ(RowsOf(db_), expected);
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
  absl::StatusOr<VerifyReport> again = VerifyPath(db_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->problems.empty()) << Describe(again->problems);
  EXPECT_EQ(again->groups, 6 + 3);
}

TEST_F(VerifyTest, RepairOfAHealthyDatabaseChangesNothing) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 5, "ok", 100)));
  std::string bytes = *RealFs().ReadFile(db_);
  uint64_t inode = RealFs().Stat(db_)->inode;
  absl::StatusOr<VerifyReport> r = RepairPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->problems.empty());
  EXPECT_TRUE(r->repaired.empty());
  EXPECT_EQ(*RealFs().ReadFile(db_), bytes);
  EXPECT_EQ(RealFs().Stat(db_)->inode, inode);
}

TEST_F(VerifyTest, RepairSalvagesATruncatedDatabase) {
  Rows original;
  WriteTruncatedDb(db_, &original);
  absl::StatusOr<VerifyReport> r = RepairPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->problems.empty()) << Describe(r->problems);
  ASSERT_EQ(r->repaired.size(), 1u);
  EXPECT_NE(r->repaired[0].find("rebuilt from its"), std::string::npos) << r->repaired[0];
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
  absl::StatusOr<VerifyReport> again = VerifyPath(db_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->problems.empty()) << Describe(again->problems);
  // What survived is a set of whole groups, each exactly as it was.
  Rows salvaged = RowsOf(db_);
  EXPECT_GT(salvaged.size(), 0u);
  EXPECT_LT(salvaged.size(), original.size());
  for (const auto& [key, value] : salvaged) {
    ASSERT_EQ(original.count(key), 1u) << key;
    EXPECT_EQ(value, original.at(key)) << key;
    std::string group = ModuleOf(key);
    EXPECT_EQ(salvaged.count(group + ".meta.json") + salvaged.count(group + ".data.json"), 2u)
        << group;
  }
}

TEST_F(VerifyTest, RepairSalvagesADatabaseWithCorruptPages) {
  TC_ASSERT_OK(WriteRows(db_, Schema::kFiles, Modules(0, 200, "t", 100, /*pad=*/1500)));
  Rows original = RowsOf(db_);
  int64_t pages = RealFs().Stat(db_)->size / 4096;
  ASSERT_GT(pages, 40);
  {
    // Garbage over a few pages in the second half; the file keeps its size.
    int fd = ::open(db_.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::string junk(4096, '\xff');
    for (int64_t page = pages / 2; page < pages; page += 9) {
      ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), page * 4096), 4096);
    }
    ::close(fd);
  }
  absl::StatusOr<VerifyReport> r = VerifyPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->problems.empty());
  r = RepairPath(db_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->problems.empty()) << Describe(r->problems);
  absl::StatusOr<VerifyReport> again = VerifyPath(db_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->problems.empty()) << Describe(again->problems);
  Rows salvaged = RowsOf(db_);
  EXPECT_GT(salvaged.size(), 0u);
  for (const auto& [key, value] : salvaged) {
    ASSERT_EQ(original.count(key), 1u) << key;
    EXPECT_EQ(value, original.at(key)) << key;
  }
}

TEST_F(VerifyTest, RepairOfACacheDirectoryPublishesAGeneration) {
  std::string cache = tmp_.Sub("cache");
  Layout layout(cache);
  TC_ASSERT_OK(MakeLiveDir(layout));
  std::string live = LiveDb(layout);
  WriteBrokenDb(live);
  TC_ASSERT_OK(WriteRows(LiveDb(layout, "cache.1.db"), Schema::kFiles, Modules(50, 52, "ok", 100)));
  Rows before = RowsOf(live);
  absl::StatusOr<VerifyReport> r = RepairPath(cache);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->problems.empty()) << Describe(r->problems);
  EXPECT_EQ(ReadLiveState(RealFs(), layout, "3.11")->kind, LiveState::Kind::kGeneration);
  Rows expected;
  for (const auto& [key, value] : before) {
    if (kBroken.count(ModuleOf(key)) == 0) expected[key] = value;
  }
  EXPECT_EQ(RowsOf(live), expected);
  EXPECT_EQ(RowsOf(LiveDb(layout, "cache.1.db")).size(), 4u);
}

// A cache directory whose live generation typecache published (compact adopts the directory),
// its database path, and the file's stamp.
class VerifyInPlaceTest : public VerifyTest {
 protected:
  void SetUp() override {
    Layout layout(cache_);
    TC_ASSERT_OK(layout.Create(RealFs(), adapter_));
    TC_ASSERT_OK(MakeDirs(RealFs(), layout.live_path("3.11")));
    TC_ASSERT_OK(WriteRows(LiveDb(layout), Schema::kFiles, Modules(0, 20, "ok", 100)));
    absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, cache_);
    ASSERT_TRUE(target.ok());
    EditOptions options;
    options.force_publish = true;
    ASSERT_TRUE(
        EditTarget(
            RealFs(), adapter_, *target,
            [](const DbRef&, const std::string&) { return absl::StatusOr<DbChange>(DbChange{}); },
            options)
            .ok());
    ASSERT_EQ(ReadLiveState(RealFs(), layout, "3.11")->kind, LiveState::Kind::kGeneration);
    live_ = LiveDb(layout);
    digest_ = layout.digest_path("3.11", ReadLiveState(RealFs(), layout, "3.11")->gen);
  }

  // Runs `sql` on the live file in place, then gives it back its size and mtime.
  void EditInPlace(const std::string& sql) {
    FileInfo before = *RealFs().Stat(live_);
    {
      absl::StatusOr<Db> db = Db::Open(live_, Db::Mode::kReadWrite);
      ASSERT_TRUE(db.ok());
      TC_ASSERT_OK(db->Exec(sql));
      TC_ASSERT_OK(db->Close());
    }
    ASSERT_EQ(RealFs().Stat(live_)->size, before.size);
    struct timespec times[2] = {{0, UTIME_OMIT},
                                {before.mtime_ns / 1000000000, before.mtime_ns % 1000000000}};
    ASSERT_EQ(::utimensat(AT_FDCWD, live_.c_str(), times, 0), 0);
    ASSERT_EQ(RealFs().Stat(live_)->mtime_ns, before.mtime_ns);
  }

  std::vector<Problem> InPlace(const VerifyReport& r) {
    std::vector<Problem> out;
    for (const Problem& p : r.problems) {
      if (absl::StrContains(p.what, "modified in place")) out.push_back(p);
    }
    return out;
  }

  std::string cache_ = tmp_.Sub("cache");
  std::string live_;
  std::string digest_;
};

TEST_F(VerifyInPlaceTest, AnEditKeepingSizeAndMtimeIsFoundByTheDigestAndRepaired) {
  ASSERT_TRUE(RealFs().Stat(digest_)->exists());
  absl::StatusOr<VerifyReport> clean = VerifyPath(cache_);
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_TRUE(clean->problems.empty()) << Describe(clean->problems);
  // One byte of one data row, and nothing else: every group stays healthy.
  EditInPlace("UPDATE files SET data = replace(data, 'ok', 'OK') WHERE path = 'pkg/m7.data.json'");
  absl::StatusOr<VerifyReport> r = VerifyPath(cache_);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<Problem> found = InPlace(*r);
  ASSERT_EQ(found.size(), 1u) << Describe(r->problems);
  EXPECT_EQ(found[0].where, JoinPath(cache_, "3.11/cache.db"));
  EXPECT_NE(found[0].what.find("content digest"), std::string::npos) << found[0].what;
  EXPECT_EQ(r->problems.size(), 1u) << Describe(r->problems);
  // --repair republishes it with a record of what it now holds.
  absl::StatusOr<VerifyReport> fixed = RepairPath(cache_);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_TRUE(fixed->problems.empty()) << Describe(fixed->problems);
  ASSERT_EQ(fixed->repaired.size(), 1u);
  EXPECT_NE(fixed->repaired[0].find("republished"), std::string::npos) << fixed->repaired[0];
  EXPECT_NE(RowsOf(live_).at("pkg/m7.data.json").find("OK"), std::string::npos);
  // The new generation's log says its change cannot be listed: others compare every group.
  Layout layout(cache_);
  absl::StatusOr<GenLog> log = ParseGenLog(
      *RealFs().ReadFile(layout.log_path("3.11", ReadLiveState(RealFs(), layout, "3.11")->gen)),
      "log");
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->parent, -1);
}

TEST_F(VerifyInPlaceTest, WithoutADigestSizeAndMtimeAreChecked) {
  TC_ASSERT_OK(RealFs().Unlink(digest_));  // As published by an older typecache.
  EXPECT_TRUE(VerifyPath(cache_)->problems.empty());
  EditInPlace("UPDATE files SET data = replace(data, 'ok', 'OK') WHERE path = 'pkg/m7.data.json'");
  EXPECT_TRUE(InPlace(*VerifyPath(cache_)).empty());  // Invisible without a digest.
  absl::StatusOr<Db> db = Db::Open(live_, Db::Mode::kReadWrite);
  TC_ASSERT_OK(db->Exec("DELETE FROM files WHERE path LIKE 'pkg/m1.%'"));
  TC_ASSERT_OK(db->Close());
  std::vector<Problem> found = InPlace(*VerifyPath(cache_));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].what.find("size or mtime"), std::string::npos) << found[0].what;
}

TEST_F(VerifyInPlaceTest, ATouchThatKeepsTheRowsIsNoProblem) {
  // A reader that rewrote the header (mypy 1.20 switching to WAL and back) or a touch: new
  // mtime, same rows. The digest says nothing changed.
  struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  ASSERT_EQ(::utimensat(AT_FDCWD, live_.c_str(), times, 0), 0);
  absl::StatusOr<VerifyReport> r = VerifyPath(cache_);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->problems.empty()) << Describe(r->problems);
}

TEST_F(VerifyTest, PrintVerify) {
  WriteBrokenDb(db_);
  absl::StatusOr<VerifyReport> r = VerifyPath(db_);
  ASSERT_TRUE(r.ok());
  r->repaired.push_back("something \"quoted\"");
  r->repaired.push_back("not UTF-8: \xff\xc3");
  std::ostringstream json;
  PrintVerify(*r, json, /*json=*/true);
  nlohmann::json parsed = nlohmann::json::parse(json.str(), nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.str();
  EXPECT_EQ(parsed["problems"].size(), kBroken.size());
  EXPECT_EQ(parsed["repaired"].at(0), "something \"quoted\"");
  EXPECT_EQ(parsed["repaired"].at(1), "not UTF-8: \xc3\xbf\xc3\x83");  // Read as Latin-1.
  EXPECT_EQ(parsed["databases"], 1);
  std::ostringstream text;
  PrintVerify(*r, text, /*json=*/false);
  EXPECT_NE(text.str().find(
                absl::StrCat(db_, ": group bad/orphan (files, JSON): data row without meta row")),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("4 problems"), std::string::npos) << text.str();
}

}  // namespace
}  // namespace typecache

namespace typecache {
namespace {

TEST(VerifyUnknownFormatTest, AGroupOfAnUnknownMypyIsReportedAndLeftAlone) {
  TempDir tmp;
  std::string db = tmp.Sub("cache.db");
  // Header bytes (0, 99): no mypy this typecache knows writes them.
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles2,
                         {{"pkg/new.meta.ff", 7, std::string("\x00\x63rest", 6)},
                          {"pkg/new.data.ff", 9, "d"},
                          {"pkg/ok.meta.json", 5, "{\"data_mtime\": 5}"},
                          {"pkg/ok.data.json", 5, "{}"}}));
  MypyAdapter adapter;
  absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter, db);
  ASSERT_TRUE(target.ok()) << target.status();
  absl::StatusOr<VerifyReport> r = Verify(RealFs(), adapter, *target);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->problems.empty());
  ASSERT_EQ(r->unknown.size(), 1u);
  EXPECT_EQ(r->unknown[0].group, "files2:pkg/new.ff");
  std::ostringstream text;
  PrintVerify(*r, text, false);
  EXPECT_NE(text.str().find("does not know"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("(left alone)"), std::string::npos) << text.str();
  Rows before = *ReadRows(db, Schema::kFiles2);
  EditOptions edit;
  absl::StatusOr<VerifyReport> repaired = Repair(RealFs(), adapter, *target, edit);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(*ReadRows(db, Schema::kFiles2), before);
}

}  // namespace
}  // namespace typecache
