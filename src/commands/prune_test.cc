#include "src/commands/prune.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/cachedb/cache_file.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/layout.h"
#include "src/store/local/local_store.h"
#include "src/testing/fault_fs.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

using Rows = std::map<std::string, std::string>;
using Groups = std::set<std::string>;

std::vector<Row> Versioned(const std::string& module, const std::string& version, double mtime) {
  return ModuleRowsWithMeta(module, "t", mtime, absl::StrCat("\"version_id\": \"", version, "\""));
}

std::vector<Row> Padded(const std::string& module, double mtime, size_t pad) {
  std::vector<Row> rows = ModuleRows(module, "t", mtime);
  rows[1].data = absl::StrCat("{\"tree\": \"", std::string(pad, 'p'), "\"}");
  return rows;
}

class PruneTest : public ::testing::Test {
 protected:
  void Write(const std::vector<Row>& rows, Schema schema = Schema::kFiles) {
    TC_ASSERT_OK(WriteRows(db_, schema, rows));
  }

  absl::StatusOr<PruneReport> Run(const std::string& path, PruneOptions options) {
    absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, path);
    if (!target.ok()) return target.status();
    options.edit.lock_timeout = absl::Seconds(10);
    return Prune(RealFs(), adapter_, *target, options);
  }

  Groups GroupsOf(const std::string& path) {
    absl::StatusOr<Db> db = Db::Open(path, Db::Mode::kReadOnly);
    EXPECT_TRUE(db.ok()) << db.status();
    Groups out;
    if (!db.ok()) return out;
    for (const char* table : {"files", "files2"}) {
      if (!*db->HasTable(table)) continue;
      absl::StatusOr<Stmt> stmt = db->Prepare(absl::StrCat("SELECT path FROM ", table));
      while (*stmt->Step()) out.insert(ModuleOf(std::string(stmt->ColumnText(0))));
    }
    return out;
  }

  static Groups Evicted(const PruneReport& report) {
    Groups out;
    for (const Eviction& e : report.evicted)
      out.insert(ModuleOf(e.group.substr(e.group.find(':') + 1)));
    return out;
  }

  Rows Read(const std::string& path, Schema schema = Schema::kFiles) {
    absl::StatusOr<Rows> rows = ReadRows(path, schema);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : Rows{};
  }

  TempDir tmp_;
  MypyAdapter adapter_;
  std::string db_ = tmp_.Sub("cache.db");
};

TEST_F(PruneTest, OlderThanEvictsOnlyGroupsWhoseNewestRowIsOlder) {
  absl::Time now = absl::FromUnixSeconds(1000000);
  Write(ModuleRows("old", "t", 999000));
  Write(ModuleRows("new", "t", 999950));
  std::vector<Row> mixed = ModuleRows("mixed", "t", 999000);
  mixed[0].mtime = 999990;  // An old data row, a fresh meta: the group is fresh.
  Write(mixed);
  Write({{"@plugins_snapshot.json", 10, "{}"}});
  Rows before = Read(db_);
  PruneOptions options;
  options.now = now;
  options.older_than = absl::Seconds(100);
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Evicted(*r), (Groups{"old", "@plugins_snapshot"}));
  EXPECT_EQ(GroupsOf(db_), (Groups{"mixed", "new"}));
  Rows after = Read(db_);
  for (const auto& [key, value] : after) EXPECT_EQ(value, before.at(key)) << key;
  EXPECT_FALSE(r->dry_run);
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
}

// Evicting a small part of a file does not rewrite it (VACUUM is O(file)): the pages freed are
// kept for the next writes, the file keeps its size. A quarter or more is vacuumed: it shrinks.
TEST_F(PruneTest, OnlyLargeEvictionsRewriteTheFile) {
  absl::Time now = absl::FromUnixSeconds(1000000);
  for (int m = 0; m < 40; ++m) Write(Padded(absl::StrCat("new", m), 999950, 20000));
  Write(Padded("old0", 999000, 20000));
  PruneOptions options;
  options.now = now;
  options.older_than = absl::Seconds(100);
  int64_t before = RealFs().Stat(db_)->size;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Evicted(*r), (Groups{"old0"}));
  EXPECT_EQ(GroupsOf(db_).count("old0"), 0u);
  EXPECT_EQ(RealFs().Stat(db_)->size, before) << "1 group of 41: not vacuumed";
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
  // 6 of the 40 age out (15%, with what is already free under a quarter): still not rewritten.
  for (int m = 0; m < 6; ++m) Write(Padded(absl::StrCat("new", m), 999000, 20000));
  r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->evicted.size(), 6u);
  EXPECT_EQ(RealFs().Stat(db_)->size, before) << "17% free: not vacuumed";
  // 5 more (12.5%): with the pages the earlier prunes left free, over a quarter: rewritten.
  for (int m = 6; m < 11; ++m) Write(Padded(absl::StrCat("new", m), 999000, 20000));
  r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->evicted.size(), 5u);
  EXPECT_LT(RealFs().Stat(db_)->size, before * 3 / 4) << "vacuumed";
  EXPECT_EQ(GroupsOf(db_).size(), 29u);
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
}

// An age prune lists keys and mtimes only and reads the rows of the groups that go; it evicts
// the same groups, with the same bytes, as a prune that reads every row (--orphans here).
TEST_F(PruneTest, AgeOnlyPruneReadsOnlyTheEvictedGroupsAndAgreesWithAFullRead) {
  auto fill = [&](const std::string& db) {
    for (int m = 0; m < 12; ++m) {
      TC_ASSERT_OK(WriteRows(db, Schema::kFiles,
                             Padded(absl::StrCat("pkg/m", m), m % 3 == 0 ? 999000 : 999950,
                                    1000 + 3000 * static_cast<size_t>(m))));
    }
  };
  std::string other = tmp_.Sub("other.db");
  fill(db_);
  fill(other);
  PruneOptions age;
  age.now = absl::FromUnixSeconds(1000000);
  age.older_than = absl::Seconds(100);
  PruneOptions full = age;
  full.orphans = true;  // Needs every row: the full listing.
  absl::StatusOr<PruneReport> cheap = Run(db_, age);
  absl::StatusOr<PruneReport> read_all = Run(other, full);
  ASSERT_TRUE(cheap.ok()) << cheap.status();
  ASSERT_TRUE(read_all.ok()) << read_all.status();
  std::map<std::string, int64_t> a, b;
  for (const Eviction& e : cheap->evicted) a[e.group] = e.bytes;
  for (const Eviction& e : read_all->evicted) b[e.group] = e.bytes;
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(a, b);
  for (const auto& [group, bytes] : a) EXPECT_GT(bytes, 1000) << group;
  EXPECT_EQ(GroupsOf(db_), GroupsOf(other));
}

TEST_F(PruneTest, KeepVersionEvictsGroupsOfOtherVersions) {
  Write(Versioned("a", "1.0.1", 10));
  Write(Versioned("b", "1.0.0", 10));
  Write(Versioned("c", "0.991", 10));
  Write(ModuleRows("unrecorded", "t", 10));
  PruneOptions options;
  options.keep_version = "1.0.1";
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Evicted(*r), (Groups{"b", "c"}));
  for (const Eviction& e : r->evicted) {
    EXPECT_NE(e.reason.find("written by mypy"), std::string::npos) << e.reason;
    EXPECT_EQ(e.db, db_);
    EXPECT_GT(e.bytes, 0);
  }
  EXPECT_EQ(GroupsOf(db_), (Groups{"a", "unrecorded"}));
}

TEST_F(PruneTest, KeepVersionKeepsFixedFormatGroups) {
  Write({{"ff.meta.ff", 1, std::string("\x01\x02", 2)}, {"ff.data.ff", 1, "d"}}, Schema::kFiles2);
  Write(Versioned("json", "0.1", 1), Schema::kFiles2);
  PruneOptions options;
  options.keep_version = "1.0.1";
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Evicted(*r), Groups{"json"});
  EXPECT_EQ(GroupsOf(db_), Groups{"ff"});
}

TEST_F(PruneTest, MissingSourcesEvictsGroupsWhoseSourceIsGone) {
  std::string root = tmp_.Sub("project");
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(root, "src")));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(root, "src/here.py"), "x = 1\n"));
  Write(ModuleRowsWithMeta("here", "t", 5, "\"path\": \"src/here.py\""));
  Write(ModuleRowsWithMeta("gone", "t", 5, "\"path\": \"src/gone.py\""));
  Write(ModuleRows("nopath", "t", 5));
  PruneOptions options;
  options.missing_sources_root = root;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Evicted(*r), Groups{"gone"});
  ASSERT_EQ(r->evicted.size(), 1u);
  EXPECT_EQ(r->evicted[0].reason, "source file missing");
  EXPECT_EQ(GroupsOf(db_), (Groups{"here", "nopath"}));
}

TEST_F(PruneTest, OrphansEvictsBrokenGroupsOnly) {
  Write(ModuleRows("healthy", "t", 5));
  Write({ModuleRows("meta_only", "t", 5)[0]});
  Write({ModuleRows("data_only", "t", 5)[1]});
  std::vector<Row> skew = ModuleRows("skew", "t", 5);
  skew[1].mtime = 6;
  Write(skew);
  Write({{"@plugins_snapshot.json", 1, "{}"}});
  PruneOptions none;
  none.older_than = absl::Hours(24 * 365 * 100);  // Evicts nothing.
  absl::StatusOr<PruneReport> r = Run(db_, none);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->evicted.empty());
  EXPECT_EQ(GroupsOf(db_).size(), 5u);
  PruneOptions options;
  options.orphans = true;
  r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Evicted(*r), (Groups{"data_only", "meta_only", "skew"}));
  EXPECT_EQ(GroupsOf(db_), (Groups{"@plugins_snapshot", "healthy"}));
}

TEST_F(PruneTest, DeadTablesDropsFilesWhenFiles2Exists) {
  Write(ModuleRows("old/a", "t", 5), Schema::kFiles);
  Write(ModuleRows("new/a", "t", 5), Schema::kFiles2);
  Rows files2 = Read(db_, Schema::kFiles2);
  PruneOptions options;
  options.dead_tables = true;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->dropped_tables.size(), 1u);
  EXPECT_NE(r->dropped_tables[0].find("table files "), std::string::npos) << r->dropped_tables[0];
  absl::StatusOr<Db> db = Db::Open(db_, Db::Mode::kReadOnly);
  ASSERT_TRUE(db.ok());
  EXPECT_FALSE(*db->HasTable("files"));
  EXPECT_TRUE(*db->HasTable("files2"));
  EXPECT_EQ(Read(db_, Schema::kFiles2), files2);
}

TEST_F(PruneTest, DeadTablesKeepsFilesAlone) {
  Write(ModuleRows("old/a", "t", 5), Schema::kFiles);
  Rows before = Read(db_);
  PruneOptions options;
  options.dead_tables = true;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->dropped_tables.empty());
  EXPECT_EQ(Read(db_), before);
}

TEST_F(PruneTest, MaxSizeFitsTheFileIntoTheBudgetOldestFirst) {
  std::vector<Row> rows;
  for (int i = 0; i < 300; ++i) {
    for (const Row& r : Padded(absl::StrCat("pkg/m", i), 1000 + i, 2000)) rows.push_back(r);
  }
  Write(rows);
  int64_t size = RealFs().Stat(db_)->size;
  ASSERT_GT(size, 300 * 2000);
  PruneOptions options;
  options.max_size = size * 2 / 5;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  int64_t after = RealFs().Stat(db_)->size;
  EXPECT_LE(after, *options.max_size);
  EXPECT_EQ(r->size_after, after);
  EXPECT_EQ(r->size_before, size);
  Groups kept = GroupsOf(db_);
  // Not far more than needed: the budget holds about 40% of the groups.
  EXPECT_GE(kept.size(), 300u / 4)
      << "size " << size << " budget " << *options.max_size << " after " << after;
  EXPECT_EQ(kept.size() + Evicted(*r).size(), 300u);
  // Oldest first: every kept group is newer than every evicted one.
  int oldest_kept = 1000;
  for (const std::string& g : kept) oldest_kept = std::min(oldest_kept, std::stoi(g.substr(5)));
  for (const std::string& g : Evicted(*r)) EXPECT_LT(std::stoi(g.substr(5)), oldest_kept) << g;
  EXPECT_EQ(*IntegrityCheck(db_), "ok");
}

// The same prune with --max-size's choice held to 3 groups at a time (many passes over its
// spill) evicts the same groups as with the default.
TEST_F(PruneTest, MaxSizeChoiceWithFewResidentGroupsEvictsTheSame) {
  std::vector<Row> rows;
  for (int i = 0; i < 200; ++i) {
    for (const Row& r : Padded(absl::StrCat("pkg/m", i), 1000 + (i * 37) % 50, 1500)) {
      rows.push_back(r);
    }
  }
  Write(rows);
  std::string copy = tmp_.Sub("copy.db");
  TC_ASSERT_OK(RealFs().CopyFile(db_, copy).status());
  PruneOptions options;
  options.max_size = RealFs().Stat(db_)->size / 2;
  absl::StatusOr<PruneReport> whole = Run(db_, options);
  ASSERT_TRUE(whole.ok()) << whole.status();
  options.size_choice_resident = 3;
  absl::StatusOr<PruneReport> bounded = Run(copy, options);
  ASSERT_TRUE(bounded.ok()) << bounded.status();
  EXPECT_FALSE(Evicted(*whole).empty());
  EXPECT_EQ(Evicted(*bounded), Evicted(*whole));
  EXPECT_EQ(GroupsOf(copy), GroupsOf(db_));
  EXPECT_EQ(bounded->rounds, whole->rounds);
}

TEST(EvictionsTest, GivesBackWhatWasAdded) {
  std::vector<Eviction> given = {
      {"a.db", "files:x", "older than the age limit", 10},
      {"a.db", "", "written by mypy 1.0", 0},
      {"b.db", "files:a-very-long-group-name/with/parts", "older than the age limit", 7},
      {"a.db", "files:y", "source file missing", 3}};
  Evictions list;
  EXPECT_TRUE(list.empty());
  for (const Eviction& e : given) list.push_back(e);
  Evictions more;
  more.Append(list);
  ASSERT_EQ(more.size(), given.size());
  size_t i = 0;
  for (const Eviction& e : more) {
    EXPECT_EQ(e.db, given[i].db) << i;
    EXPECT_EQ(e.group, given[i].group) << i;
    EXPECT_EQ(e.reason, given[i].reason) << i;
    EXPECT_EQ(e.bytes, given[i].bytes) << i;
    ++i;
  }
  EXPECT_EQ(i, given.size());
  EXPECT_EQ(more[2].group, given[2].group);
}

// OldestFirst against a full sort: the same prefix for every excess, with never more than N
// records in memory for 100 x N groups (ties in mtime and in name across databases included).
TEST(OldestFirstTest, ChoosesTheSortedPrefixWithBoundedMemory) {
  constexpr size_t kResident = 8;
  constexpr int kGroups = 100 * kResident;
  std::vector<double> scale = {1.2, 2.5};
  OldestFirst oldest(RealFs(), ::testing::TempDir(), kResident, /*buffer_bytes=*/512);
  std::vector<std::pair<OldestFirst::Key, int64_t>> all;
  for (int i = 0; i < kGroups; ++i) {
    OldestFirst::Key key{static_cast<double>((i * 7919) % 97), absl::StrCat("g", i % 300),
                         static_cast<uint32_t>(i % 2)};
    int64_t bytes = 100 + (i * 31) % 1000;
    TC_ASSERT_OK(oldest.Add(key.newest, key.group, key.db, bytes));
    all.push_back({key, bytes});
  }
  EXPECT_TRUE(oldest.spilled());
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return OldestFirst::Before(a.first, b.first); });
  int64_t total = 0;
  for (const auto& [key, bytes] : all) total += static_cast<int64_t>(bytes * scale[key.db]) + 64;
  for (int64_t excess :
       {int64_t{0}, int64_t{1}, int64_t{5000}, total / 3, total - 1, total, total + 1, total * 2}) {
    absl::StatusOr<std::optional<OldestFirst::Key>> last = oldest.Choose(excess, scale);
    ASSERT_TRUE(last.ok()) << last.status();
    std::optional<OldestFirst::Key> want;
    int64_t freed = 0;
    for (const auto& [key, bytes] : all) {
      if (excess <= 0 || freed >= excess) break;
      freed += static_cast<int64_t>(bytes * scale[key.db]) + 64;
      want = key;
    }
    ASSERT_EQ(last->has_value(), want.has_value()) << excess;
    if (!want.has_value()) continue;
    EXPECT_EQ((*last)->newest, want->newest) << excess;
    EXPECT_EQ((*last)->group, want->group) << excess;
    EXPECT_EQ((*last)->db, want->db) << excess;
  }
  EXPECT_LE(oldest.max_resident(), kResident);
  EXPECT_GT(oldest.passes(), 50);  // total * 2 needs every group: 100 passes of 8.
}

// Records read back from the scratch file in pieces (1 MiB) come back whole, also those that
// straddle two pieces: the choice over 3 MB of spilled records is a full sort's.
TEST(OldestFirstTest, RecordsStraddlingReadPiecesComeBackWhole) {
  constexpr int kGroups = 60000;
  OldestFirst oldest(RealFs(), ::testing::TempDir(), kGroups, /*buffer_bytes=*/4096);
  std::vector<std::pair<OldestFirst::Key, int64_t>> all;
  for (int i = 0; i < kGroups; ++i) {
    OldestFirst::Key key{static_cast<double>((i * 7919) % 1013),
                         absl::StrCat("group/with/a/longer/name/", i * 31 % kGroups), 0};
    TC_ASSERT_OK(oldest.Add(key.newest, key.group, key.db, 10));
    all.push_back({key, 10});
  }
  ASSERT_TRUE(oldest.spilled());
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return OldestFirst::Before(a.first, b.first); });
  std::vector<double> scale = {1.0};
  for (int take : {1, kGroups / 3, kGroups}) {
    absl::StatusOr<std::optional<OldestFirst::Key>> last = oldest.Choose(take * (10 + 64), scale);
    ASSERT_TRUE(last.ok()) << last.status();
    ASSERT_TRUE(last->has_value());
    EXPECT_EQ((*last)->group, all[take - 1].first.group) << take;
    EXPECT_EQ((*last)->newest, all[take - 1].first.newest) << take;
  }
}

// The spill goes through the Fs seam: a scratch file that cannot be made, a full disk while
// writing it, an error reading it back: --max-size fails with one line naming the step, the
// database is as it was, and nothing is left in the scratch directory (the file has no name).
TEST_F(PruneTest, MaxSizeSpillFailuresChangeNothing) {
  std::vector<Row> rows;
  for (int i = 0; i < 60; ++i) {
    for (const Row& r : Padded(absl::StrCat("pkg/m", i), 1000 + i, 500)) rows.push_back(r);
  }
  Write(rows);
  Rows before = Read(db_);
  std::string scratch = tmp_.Sub("scratch");
  TC_ASSERT_OK(RealFs().MakeDir(scratch, false));
  const char* old_tmpdir = std::getenv("TMPDIR");
  std::string restore = old_tmpdir != nullptr ? old_tmpdir : "";
  setenv("TMPDIR", scratch.c_str(), 1);
  struct Case {
    const char* op;
    int err;
    const char* says;
  } cases[] = {{"scratch", EACCES, "Permission denied"},
               {"pwritefd", ENOSPC, "No space left"},
               {"preadfd", EIO, "Input/output error"}};
  for (const Case& c : cases) {
    FaultFs fs(RealFs());
    fs.FailAt(c.op, 1, c.err);
    PruneOptions options;
    options.max_size = RealFs().Stat(db_)->size / 2;
    options.size_choice_spill_bytes = 64;
    options.edit.lock_timeout = absl::Seconds(10);
    absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, db_);
    ASSERT_TRUE(target.ok()) << target.status();
    absl::StatusOr<PruneReport> r = Prune(fs, adapter_, *target, options);
    ASSERT_FALSE(r.ok()) << c.op;
    EXPECT_EQ(fs.failures(), 1) << c.op;
    EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("prune --max-size"))
        << r.status();
    EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr(c.says)) << r.status();
    EXPECT_EQ(std::string(r.status().message()).find('\n'), std::string::npos);
    EXPECT_EQ(Read(db_), before) << c.op;
    EXPECT_TRUE(RealFs().ListDir(scratch)->empty()) << c.op;
  }
  // And without a fault the same prune spills, evicts, and leaves nothing there either.
  PruneOptions options;
  options.max_size = RealFs().Stat(db_)->size / 2;
  options.size_choice_spill_bytes = 64;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(Evicted(*r).empty());
  EXPECT_TRUE(RealFs().ListDir(scratch)->empty());
  if (restore.empty()) {
    unsetenv("TMPDIR");
  } else {
    setenv("TMPDIR", restore.c_str(), 1);
  }
}

// A prune of a generation whose digest is recorded records the new generation's digest from
// the old one minus the evicted groups' (the publish does not read the result back): it is the
// digest of what the file holds.
TEST_F(PruneTest, PrunedGenerationRecordsTheDigestOfItsRows) {
  std::string cache = tmp_.Sub("cache");
  std::string db = JoinPath(JoinPath(cache, "3.11"), "cache.db");
  TC_ASSERT_OK(MakeDirs(RealFs(), DirName(db)));
  for (int m = 0; m < 8; ++m) {
    TC_ASSERT_OK(
        WriteRows(db, Schema::kFiles2, Padded(absl::StrCat("pkg/m", m), 999950, 1000 + 500 * m)));
  }
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles2, Padded("pkg/ancient", 100, 3000)));
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles2, Padded("pkg/old", 999000, 4000)));
  PruneOptions options;
  options.now = absl::FromUnixSeconds(1000000);
  options.edit.adopt_racy_margin = absl::ZeroDuration();
  auto digests = [&]() -> std::pair<std::optional<uint64_t>, uint64_t> {
    Layout layout(cache);
    absl::StatusOr<LiveState> live = ReadLiveState(RealFs(), layout, "3.11");
    if (!live.ok() || live->kind != LiveState::Kind::kGeneration) return {std::nullopt, 0};
    LocalGenerationStore store(RealFs(), layout, adapter_);
    absl::StatusOr<std::optional<GenerationRecord>> record = store.Record("3.11", live->gen);
    std::optional<uint64_t> recorded;
    if (record.ok() && record->has_value()) {
      auto it = (*record)->digests.find("cache.db");
      if (it != (*record)->digests.end()) recorded = it->second;
    }
    absl::StatusOr<CacheFile> file = CacheFile::OpenReadOnly(JoinPath(live->resolved, "cache.db"));
    absl::StatusOr<uint64_t> actual = file.ok() ? file->ContentDigest(adapter_) : file.status();
    return {recorded, actual.ok() ? *actual : 0};
  };
  options.older_than = absl::Seconds(100000);  // The first prune adopts the directory.
  absl::StatusOr<PruneReport> first = Run(cache, options);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Evicted(*first), (Groups{"pkg/ancient"}));
  auto [before, before_actual] = digests();
  ASSERT_TRUE(before.has_value()) << "the adopted generation has a recorded digest";
  ASSERT_EQ(*before, before_actual);
  options.older_than = absl::Seconds(100);
  absl::StatusOr<PruneReport> second = Run(cache, options);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(Evicted(*second), (Groups{"pkg/old"}));
  auto [after, after_actual] = digests();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(*after, after_actual);
  EXPECT_NE(*after, *before);
  // Written in place behind typecache's back (its record no longer describes it): the prune
  // must not start from the recorded digest.
  std::string live_db = JoinPath(JoinPath(cache, "3.11"), "cache.db");  // Through the link.
  TC_ASSERT_OK(WriteRows(live_db, Schema::kFiles2, Padded("pkg/intruder", 999950, 2000)));
  TC_ASSERT_OK(WriteRows(live_db, Schema::kFiles2, Padded("pkg/stale", 999000, 2000)));
  absl::StatusOr<PruneReport> third = Run(cache, options);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(Evicted(*third), (Groups{"pkg/stale"}));
  auto [last, last_actual] = digests();
  if (last.has_value()) EXPECT_EQ(*last, last_actual);
}

TEST_F(PruneTest, MaxSizeOverACacheDirectoryCountsEveryDatabase) {
  std::string cache = tmp_.Sub("cache");
  std::string dir = JoinPath(cache, "3.11");
  TC_ASSERT_OK(MakeDirs(RealFs(), dir));
  int64_t total = 0;
  for (int shard = 0; shard < 2; ++shard) {
    std::vector<Row> rows;
    for (int i = 0; i < 150; ++i) {
      for (const Row& r : Padded(absl::StrCat("s", shard, "/m", i), 100 + i * 2 + shard, 2000)) {
        rows.push_back(r);
      }
    }
    std::string path = JoinPath(dir, absl::StrCat("cache.", shard, ".db"));
    TC_ASSERT_OK(WriteRows(path, Schema::kFiles2, rows));
    total += RealFs().Stat(path)->size;
  }
  PruneOptions options;
  options.max_size = total / 2;
  absl::StatusOr<PruneReport> r = Run(cache, options);
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<Target> after = ResolveTarget(RealFs(), adapter_, cache);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->dbs.size(), 2u);
  int64_t size = 0;
  for (const DbRef& ref : after->dbs) {
    size += RealFs().Stat(ref.path)->size;
    EXPECT_FALSE(GroupsOf(ref.path).empty()) << ref.path;  // Both shards had old groups.
  }
  EXPECT_LE(size, *options.max_size);
  EXPECT_EQ(r->size_after, size);
  EXPECT_EQ(ReadLiveState(RealFs(), Layout(cache), "3.11")->kind, LiveState::Kind::kGeneration);
}

TEST_F(PruneTest, DryRunChangesNothing) {
  std::vector<Row> rows;
  for (int i = 0; i < 50; ++i) {
    for (const Row& r : Padded(absl::StrCat("pkg/m", i), 10 + i, 1000)) rows.push_back(r);
  }
  Write(rows);
  Write({ModuleRows("orphan", "t", 5)[1]});
  Write(ModuleRows("old", "t", 1), Schema::kFiles2);
  std::string bytes = *RealFs().ReadFile(db_);
  uint64_t inode = RealFs().Stat(db_)->inode;
  PruneOptions options;
  options.edit.dry_run = true;
  options.orphans = true;
  options.dead_tables = true;
  options.max_size = static_cast<int64_t>(bytes.size() / 2);
  options.keep_version = "9.9";
  options.older_than = absl::Hours(1);
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->dry_run);
  EXPECT_FALSE(r->evicted.empty());
  EXPECT_FALSE(r->dropped_tables.empty());
  EXPECT_EQ(*RealFs().ReadFile(db_), bytes);
  EXPECT_EQ(RealFs().Stat(db_)->inode, inode);
  std::ostringstream text;
  PrintPrune(*r, text, /*json=*/false);
  EXPECT_NE(text.str().find("would evict"), std::string::npos) << text.str();
}

TEST_F(PruneTest, NothingToEvictLeavesTheFileAlone) {
  Write(ModuleRows("a", "t", 5));
  uint64_t inode = RealFs().Stat(db_)->inode;
  PruneOptions options;
  options.orphans = true;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->evicted.empty());
  EXPECT_EQ(RealFs().Stat(db_)->inode, inode);
}

TEST_F(PruneTest, UnreadableDatabaseIsAnError) {
  TC_ASSERT_OK(RealFs().WriteNewFile(db_, std::string(5000, 'n')));
  PruneOptions options;
  options.orphans = true;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(db_), absl::string_view::npos) << r.status();
  EXPECT_EQ(*RealFs().ReadFile(db_), std::string(5000, 'n'));
}

TEST_F(PruneTest, JsonReportParses) {
  Write(ModuleRows("a\"quoted", "t", 5));
  Write({ModuleRows("orph\xe9n", "t", 5)[1]});
  Write({ModuleRows("orphan", "t", 5)[1]});
  PruneOptions options;
  options.orphans = true;
  absl::StatusOr<PruneReport> r = Run(db_, options);
  ASSERT_TRUE(r.ok()) << r.status();
  std::ostringstream out;
  PrintPrune(*r, out, /*json=*/true);
  nlohmann::json json = nlohmann::json::parse(out.str(), nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out.str();
  ASSERT_EQ(json["evicted"].size(), 2u);
  EXPECT_EQ(json["evicted"][0]["group"], "files:orphan.json");
  EXPECT_EQ(json["evicted"][1]["group"], "files:orph\xc3\xa9n.json");  // Latin-1 byte.
  EXPECT_EQ(json["dry_run"], false);
  EXPECT_EQ(json["size_after"], r->size_after);
}

}  // namespace
}  // namespace typecache
