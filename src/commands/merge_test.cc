#include "src/commands/merge.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/cachedb/cache_file.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/maintenance.h"
#include "src/commands/verify.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/layout.h"
#include "src/store/local/local_store.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

using Rows = std::map<std::string, std::string>;

std::vector<Row> Versioned(int from, int to, const std::string& version) {
  std::vector<Row> rows;
  for (int i = from; i < to; ++i) {
    for (Row& row : ModuleRowsWithMeta(absl::StrCat("pkg/m", i), "t", 5,
                                       absl::StrCat("\"version_id\": \"", version, "\""))) {
      rows.push_back(row);
    }
  }
  return rows;
}

class MergeTest : public ::testing::Test {
 protected:
  // Writes `rows` into the database file `name` under the temporary directory.
  std::string MakeDb(const std::string& name, const std::vector<Row>& rows,
                     Schema schema = Schema::kFiles) {
    std::string path = tmp_.Sub(name);
    absl::Status s = WriteRows(path, schema, rows);
    EXPECT_TRUE(s.ok()) << s;
    return path;
  }

  absl::StatusOr<MergeReport> Run(const std::string& dest, const std::vector<std::string>& srcs,
                                  Prefer prefer = Prefer::kNewest, bool allow_mixed = false) {
    absl::StatusOr<Target> d = ResolveTarget(RealFs(), adapter_, dest, /*create=*/true);
    if (!d.ok()) return d.status();
    std::vector<Target> sources;
    for (const std::string& s : srcs) {
      absl::StatusOr<Target> t = ResolveTarget(RealFs(), adapter_, s);
      if (!t.ok()) return t.status();
      sources.push_back(*t);
    }
    MergeOptions options;
    options.prefer = prefer;
    options.allow_mixed = allow_mixed;
    options.edit.lock_timeout = absl::Seconds(10);
    return Merge(RealFs(), adapter_, *d, sources, options);
  }

  Rows Exact(const std::string& path, const std::string& table = "files") {
    absl::StatusOr<Rows> rows = ExactRows(path, table);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : Rows{};
  }

  // The rows of `group` in `rows`.
  Rows GroupRows(const Rows& rows, const std::string& group) {
    Rows out;
    for (const auto& [key, value] : rows) {
      if (ModuleOf(key) == group) out[key] = value;
    }
    return out;
  }

  static int64_t Sum(const std::vector<int64_t>& v) {
    return std::accumulate(v.begin(), v.end(), int64_t{0});
  }

  TempDir tmp_;
  MypyAdapter adapter_;
};

TEST_F(MergeTest, ACacheDirectoryIntoADatabaseFileTakesItsVersionDirectory) {
  ASSERT_TRUE(RealFs().MakeDir(tmp_.Sub("c"), false).ok());
  ASSERT_TRUE(RealFs().MakeDir(tmp_.Sub("c/3.11"), false).ok());
  std::string db = MakeDb("c/3.11/cache.db", Modules(0, 4, "a", 10));
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, {tmp_.Sub("c")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(Exact(out), Exact(db));
  // Into the existing file: nothing new to take.
  r = Run(out, {tmp_.Sub("c")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{4, 0}));

  // Two <X.Y>: refused naming the choice, unless DEST sits in one of them.
  ASSERT_TRUE(RealFs().MakeDir(tmp_.Sub("c/3.12"), false).ok());
  MakeDb("c/3.12/cache.db", Modules(4, 6, "b", 10));
  r = Run(tmp_.Sub("two.db"), {tmp_.Sub("c")});
  ASSERT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "holds the caches of 3.11, 3.12"))
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), tmp_.Sub("c/3.11/cache.db"))) << r.status();
  EXPECT_FALSE(RealFs().Stat(tmp_.Sub("two.db"))->exists());
  ASSERT_TRUE(RealFs().MakeDir(tmp_.Sub("d"), false).ok());
  ASSERT_TRUE(RealFs().MakeDir(tmp_.Sub("d/3.12"), false).ok());
  r = Run(tmp_.Sub("d/3.12/cache.db"), {tmp_.Sub("c")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{0, 2}));

  // A sharded <X.Y> into one file: refused.
  ASSERT_TRUE(RealFs().MakeDir(tmp_.Sub("s"), false).ok());
  ASSERT_TRUE(RealFs().MakeDir(tmp_.Sub("s/3.11"), false).ok());
  MakeDb("s/3.11/cache.0.db", Modules(0, 2, "a", 10));
  MakeDb("s/3.11/cache.1.db", Modules(2, 4, "a", 10));
  r = Run(tmp_.Sub("sharded.db"), {tmp_.Sub("s")});
  ASSERT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "sharded into 2 database files"))
      << r.status();
}

TEST_F(MergeTest, DisjointSourcesIntoANewFileGiveTheUnion) {
  std::string a = MakeDb("a.db", Modules(0, 5, "a", 10));
  std::string b = MakeDb("b.db", Modules(5, 9, "b", 20));
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, {a, b});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(RealFs().Stat(out)->is_file());
  Rows expected = Exact(a);
  for (const auto& [k, v] : Exact(b)) expected[k] = v;
  EXPECT_EQ(Exact(out), expected);
  EXPECT_EQ(r->inputs, (std::vector<std::string>{out, a, b}));
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{0, 5, 4}));
  EXPECT_EQ(r->conflicts, 0);
  EXPECT_EQ(r->bytes, RealFs().Stat(out)->size);
  EXPECT_EQ(*IntegrityCheck(out), "ok");
  absl::StatusOr<typecache::Db> db = typecache::Db::Open(out, Db::Mode::kReadOnly);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*db->QueryText("PRAGMA journal_mode"), "delete");
  // Inputs are never modified.
  EXPECT_EQ(Exact(a).size(), 10u);
}

TEST_F(MergeTest, PreferNewestTakesTheWholeGroupWithTheNewerDataRow) {
  // a's data row is older but its meta is the newest row of all: the data row decides.
  std::vector<Row> ax = ModuleRows("pkg/x", "a", 200);
  ax[0].mtime = 500;
  ax.push_back({"pkg/x.deps.json", 500, "a-deps"});
  std::vector<Row> bx = ModuleRows("pkg/x", "b", 300);
  bx[0].mtime = 100;
  std::string a = MakeDb("a.db", ax);
  std::string b = MakeDb("b.db", bx);
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, {a, b});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Exact(out), Exact(b));  // Never a's deps row beside b's meta and data.
  EXPECT_EQ(r->conflicts, 1);
  // The other way round: a wins whole, deps row included.
  std::string out2 = tmp_.Sub("out2.db");
  r = Run(out2, {b, a});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Exact(out2), Exact(b));
  std::vector<Row> ay = ModuleRows("pkg/x", "a", 400);
  ay.push_back({"pkg/x.deps.json", 400, "a-deps"});
  std::string a2 = MakeDb("a2.db", ay);
  std::string out3 = tmp_.Sub("out3.db");
  r = Run(out3, {b, a2});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Exact(out3), Exact(a2));
}

TEST_F(MergeTest, ByteIdenticalGroupsAreNotConflicts) {
  // Two CI shards that built the same modules identically, and one that differs in one group.
  std::vector<Row> same = Modules(0, 4, "t", 10);
  std::string a = MakeDb("a.db", same);
  std::string b = MakeDb("b.db", same);
  std::vector<Row> other = same;
  other[2].data += " ";  // pkg/m1's meta.
  std::string c = MakeDb("c.db", other);
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, {a, b});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->conflicts, 0);
  EXPECT_EQ(Exact(out), Exact(a));
  EXPECT_EQ(Sum(r->groups_taken), 4);
  // Into the existing result, c preferred: pkg/m1 differs, the rest is identical.
  r = Run(out, {c}, Prefer::kLast);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->conflicts, 1);
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{0, 4}));  // All chosen from c...
  EXPECT_EQ(r->edit.groups_changed, 1);  // ...but only the one that differs is copied.
  EXPECT_EQ(Exact(out), Exact(c));
}

// Inputs that share more groups than one batch of digests (2000 groups are digested at a time,
// so that sharing every group never names them all in memory): every identical copy is still
// recognised, across the batches, and only the one that differs is a conflict.
TEST_F(MergeTest, ByteIdenticalGroupsBeyondOneBatchOfDigestsAreNotConflicts) {
  std::vector<Row> same = Modules(0, 4500, "t", 10);
  std::vector<Row> other = same;
  other[2 * 4321].data += " ";  // One group past the first two batches differs.
  std::string a = MakeDb("a.db", same);
  std::string b = MakeDb("b.db", other);
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, {a, b});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->conflicts, 1);
  EXPECT_EQ(Sum(r->groups_taken), 4500);
  EXPECT_EQ(Exact(out).size(), 2u * 4500);
}

TEST_F(MergeTest, JsonIsValidWhateverBytesThePathsHold) {
  std::string a = MakeDb("caf\xe9 \"a\".db", Modules(0, 1, "a", 10));
  std::string out = tmp_.Sub("out\xff.db");
  absl::StatusOr<MergeReport> r = Run(out, {a});
  ASSERT_TRUE(r.ok()) << r.status();
  std::ostringstream json;
  PrintMerge(*r, json, /*json=*/true);
  nlohmann::json parsed = nlohmann::json::parse(json.str(), nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.str();
  // Bytes that are not UTF-8 read as Latin-1.
  EXPECT_EQ(parsed["inputs"][0]["path"], out.substr(0, out.size() - 4) + "\xc3\xbf.db");
  EXPECT_NE(parsed["inputs"][1]["path"].get<std::string>().find("caf\xc3\xa9 \"a\".db"),
            std::string::npos);
}

TEST_F(MergeTest, PreferNewestTieGoesToTheEarlierInput) {
  std::string a = MakeDb("a.db", ModuleRows("pkg/x", "a", 100));
  std::string b = MakeDb("b.db", ModuleRows("pkg/x", "b", 100));
  std::string out = tmp_.Sub("out.db");
  ASSERT_TRUE(Run(out, {a, b}).ok());
  EXPECT_EQ(Exact(out), Exact(a));
}

// A new database starts as a copy of the input most groups come from, here the second: ties
// and --prefer first/last still go by input order, not by which input was copied.
TEST_F(MergeTest, ACopyOfALaterInputStillFollowsInputOrder) {
  std::string a = MakeDb("a.db", Modules(0, 1, "a", 100));
  std::string b = MakeDb("b.db", Modules(0, 6, "b", 100));
  std::string c = MakeDb("c.db", Modules(0, 1, "c", 100));
  for (Prefer prefer : {Prefer::kNewest, Prefer::kFirst, Prefer::kLast}) {
    std::string out = tmp_.Sub(absl::StrCat("out", static_cast<int>(prefer), ".db"));
    absl::StatusOr<MergeReport> r = Run(out, {a, b, c}, prefer);
    ASSERT_TRUE(r.ok()) << r.status();
    const std::string& m0_from = prefer == Prefer::kLast ? c : a;
    EXPECT_EQ(GroupRows(Exact(out), "pkg/m0"), GroupRows(Exact(m0_from), "pkg/m0"));
    EXPECT_EQ(GroupRows(Exact(out), "pkg/m3"), GroupRows(Exact(b), "pkg/m3"));
    EXPECT_EQ(r->groups_taken, prefer == Prefer::kLast ? (std::vector<int64_t>{0, 0, 5, 1})
                                                       : (std::vector<int64_t>{0, 1, 5, 0}));
    EXPECT_EQ(Exact(out).size(), 12u);
  }
}

TEST_F(MergeTest, PreferFirstAndLastGoByOrderWithDestFirst) {
  std::string a = MakeDb("a.db", ModuleRows("pkg/x", "a", 300));
  std::string b = MakeDb("b.db", ModuleRows("pkg/x", "b", 100));
  std::string c = MakeDb("c.db", ModuleRows("pkg/x", "c", 200));
  std::string first = tmp_.Sub("first.db");
  ASSERT_TRUE(Run(first, {b, a, c}, Prefer::kFirst).ok());
  EXPECT_EQ(Exact(first), Exact(b));
  std::string last = tmp_.Sub("last.db");
  ASSERT_TRUE(Run(last, {b, c, a}, Prefer::kLast).ok());
  EXPECT_EQ(Exact(last), Exact(a));
  // An existing destination is the first input.
  std::vector<Row> dest_rows = ModuleRows("pkg/x", "dest", 50);
  dest_rows.push_back({"pkg/x.err.json", 50, "dest-only row"});
  std::string dest = MakeDb("dest.db", dest_rows);
  Rows dest_before = Exact(dest);
  absl::StatusOr<MergeReport> r = Run(dest, {a, c}, Prefer::kFirst);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Exact(dest), dest_before);
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{1, 0, 0}));
  r = Run(dest, {a, c}, Prefer::kLast);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Exact(dest), Exact(c));  // The dest-only err row went with dest's version.
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{0, 0, 1}));
}

TEST_F(MergeTest, ExistingDestinationKeepsItsOwnGroups) {
  std::string dest = MakeDb("dest.db", Modules(0, 3, "dest", 100));
  std::string a = MakeDb("a.db", Modules(2, 5, "a", 200));
  Rows before = Exact(dest);
  uint64_t inode = RealFs().Stat(dest)->inode;
  absl::StatusOr<MergeReport> r = Run(dest, {a});
  ASSERT_TRUE(r.ok()) << r.status();
  Rows after = Exact(dest);
  EXPECT_EQ(after.size(), 5u * 2);
  EXPECT_EQ(GroupRows(after, "pkg/m0"), GroupRows(before, "pkg/m0"));
  EXPECT_EQ(GroupRows(after, "pkg/m2"), GroupRows(Exact(a), "pkg/m2"));  // Newer in a.
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r->conflicts, 1);
  EXPECT_NE(RealFs().Stat(dest)->inode, inode);  // Published by rename.
}

TEST_F(MergeTest, GroupsWhoseNamesSortDifferentlyFromTheirKeysStillFollowPrefer) {
  // "tool-cli" sorts after "tool" as a group name, but its keys ("tool-cli.meta.json") sort
  // before "tool.meta.json" ('-' < '.'). mypy names a script "tool-cli.py" module "tool-cli".
  std::vector<Row> newer = ModuleRows("tool", "newer", 200);
  std::vector<Row> older = ModuleRows("tool", "older", 100);
  for (const Row& row : ModuleRows("tool-cli", "older", 100)) older.push_back(row);
  std::string a = MakeDb("a.db", newer);
  std::string b = MakeDb("b.db", older);
  for (const auto& order : {std::vector<std::string>{a, b}, std::vector<std::string>{b, a}}) {
    std::string out = tmp_.Sub(absl::StrCat("out", order[0] == a ? "ab" : "ba", ".db"));
    absl::StatusOr<MergeReport> r = Run(out, order);
    ASSERT_TRUE(r.ok()) << r.status();
    Rows rows = Exact(out);
    EXPECT_EQ(GroupRows(rows, "tool"), GroupRows(Exact(a), "tool")) << out;
    EXPECT_EQ(GroupRows(rows, "tool-cli"), GroupRows(Exact(b), "tool-cli")) << out;
    EXPECT_EQ(r->conflicts, 1) << out;
  }
}

TEST_F(MergeTest, RefusesMixedTableFormats) {
  std::string a = MakeDb("a.db", Modules(0, 1, "a", 1), Schema::kFiles);
  std::string b = MakeDb("b.db", Modules(1, 2, "b", 1), Schema::kFiles2);
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, {a, b});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("table format"), absl::string_view::npos) << r.status();
  EXPECT_FALSE(RealFs().Stat(out)->exists());
  // Into an existing destination of the other format, too.
  std::string dest = MakeDb("dest.db", Modules(5, 6, "d", 1), Schema::kFiles2);
  Rows before = Exact(dest, "files2");
  r = Run(dest, {a});
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(Exact(dest, "files2"), before);
}

TEST_F(MergeTest, RefusesMixedVersionsUnlessAllowed) {
  std::string a = MakeDb("a.db", Versioned(0, 2, "1.0.1"));
  std::string b = MakeDb("b.db", Versioned(2, 4, "1.4.0"));
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, {a, b});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("1.0.1, 1.4.0"), absl::string_view::npos) << r.status();
  EXPECT_FALSE(RealFs().Stat(out)->exists());
  r = Run(out, {a, b}, Prefer::kNewest, /*allow_mixed=*/true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Exact(out).size(), 8u);
  // The same version everywhere merges without --allow-mixed.
  std::string c = MakeDb("c.db", Versioned(4, 5, "1.0.1"));
  std::string out2 = tmp_.Sub("out2.db");
  EXPECT_TRUE(Run(out2, {a, c}).ok());
}

TEST_F(MergeTest, CacheDirectoriesMergeIntoANewCacheDirectory) {
  std::string a = tmp_.Sub("a");
  std::string b = tmp_.Sub("b");
  for (const std::string& cache : {a, b}) {
    TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(cache, "3.11")));
  }
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(b, "3.12")));
  TC_ASSERT_OK(WriteRows(JoinPath(a, "3.11/cache.db"), Schema::kFiles2, Modules(0, 3, "a", 10)));
  TC_ASSERT_OK(WriteRows(JoinPath(b, "3.11/cache.db"), Schema::kFiles2, Modules(2, 5, "b", 20)));
  TC_ASSERT_OK(WriteRows(JoinPath(b, "3.12/cache.db"), Schema::kFiles2, Modules(0, 1, "b", 20)));
  std::string out = tmp_.Sub("merged");
  absl::StatusOr<MergeReport> r = Run(out, {a, b});
  ASSERT_TRUE(r.ok()) << r.status();
  Layout layout(out);
  EXPECT_EQ(ReadLiveState(RealFs(), layout, "3.11")->kind, LiveState::Kind::kGeneration);
  Rows rows = Exact(JoinPath(out, "3.11/cache.db"), "files2");
  EXPECT_EQ(rows.size(), 5u * 2);
  EXPECT_EQ(GroupRows(rows, "pkg/m2"),
            GroupRows(Exact(JoinPath(b, "3.11/cache.db"), "files2"), "pkg/m2"));
  EXPECT_EQ(Exact(JoinPath(out, "3.12/cache.db"), "files2").size(), 2u);
  EXPECT_EQ(r->conflicts, 1);
}

// The result's content digest is no longer read from the published file but follows from the
// digest of DEST's copy and of the groups copied: it must be exactly what a scan of the result
// gives, into a new cache and into an existing generation (groups replaced, identical copies,
// conflicts, both tables), and verify must still find an in-place edit of the result.
TEST_F(MergeTest, TheResultsRecordedDigestIsItsContentDigestAndVerifyFindsAnEditInPlace) {
  std::string a = tmp_.Sub("a"), b = tmp_.Sub("b"), c = tmp_.Sub("c"), d = tmp_.Sub("d");
  for (const std::string& cache : {a, b, c, d}) {
    TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(cache, "3.11")));
  }
  std::vector<Row> c_rows = Modules(0, 3, "a", 10);  // Byte-identical to a's: no conflict.
  for (const Row& row : Modules(10, 12, "c", 5)) c_rows.push_back(row);
  TC_ASSERT_OK(WriteRows(JoinPath(a, "3.11/cache.db"), Schema::kFiles, Modules(0, 7, "a", 10)));
  TC_ASSERT_OK(WriteRows(JoinPath(b, "3.11/cache.db"), Schema::kFiles, Modules(4, 9, "b", 20)));
  TC_ASSERT_OK(WriteRows(JoinPath(c, "3.11/cache.db"), Schema::kFiles, c_rows));
  TC_ASSERT_OK(WriteRows(JoinPath(d, "3.11/cache.db"), Schema::kFiles, Modules(6, 14, "d", 30)));
  std::string out = tmp_.Sub("merged");
  std::string live = JoinPath(out, "3.11/cache.db");
  LocalGenerationStore store(RealFs(), Layout(out), adapter_);
  auto expect_recorded_digest_is_content_digest = [&](int64_t gen) {
    absl::StatusOr<GenerationHead> head = store.Head("3.11");
    ASSERT_TRUE(head.ok()) << head.status();
    ASSERT_EQ(head->gen, gen);
    absl::StatusOr<std::optional<GenerationRecord>> record = store.Record("3.11", head->gen);
    ASSERT_TRUE(record.ok() && record->has_value()) << record.status();
    ASSERT_EQ((*record)->digests.count("cache.db"), 1u);
    absl::StatusOr<CacheFile> db = CacheFile::OpenReadOnly(live);
    ASSERT_TRUE(db.ok()) << db.status();
    absl::StatusOr<uint64_t> scanned = db->ContentDigest(adapter_);
    ASSERT_TRUE(scanned.ok()) << scanned.status();
    EXPECT_EQ((*record)->digests.at("cache.db"), *scanned);
  };
  // A new cache: DEST's copy is a's; b's newer m4..m6 replace a's, c's m0..m2 are the same.
  absl::StatusOr<MergeReport> r = Run(out, {a, b, c});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->conflicts, 3);
  expect_recorded_digest_is_content_digest(1);
  // Into that generation: d's newer m6..m13 replace groups of a's copy and of b's.
  r = Run(out, {d});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->groups_taken, (std::vector<int64_t>{6, 8}));
  expect_recorded_digest_is_content_digest(2);
  EXPECT_EQ(GroupRows(Exact(live), "pkg/m7"),
            GroupRows(Exact(JoinPath(d, "3.11/cache.db")), "pkg/m7"));

  absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, out);
  ASSERT_TRUE(target.ok()) << target.status();
  absl::StatusOr<VerifyReport> clean = Verify(RealFs(), adapter_, *target);
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_TRUE(clean->problems.empty());
  // One byte of one row, in place, size and mtime given back: only the digest can tell.
  FileInfo before = *RealFs().Stat(live);
  {
    absl::StatusOr<Db> db = Db::Open(live, Db::Mode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.status();
    TC_ASSERT_OK(db->Exec(
        "UPDATE files SET data = replace(data, 'd', 'D') WHERE path = 'pkg/m9.data.json'"));
    TC_ASSERT_OK(db->Close());
  }
  ASSERT_EQ(RealFs().Stat(live)->size, before.size);
  struct timespec times[2] = {{0, UTIME_OMIT},
                              {before.mtime_ns / 1000000000, before.mtime_ns % 1000000000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, live.c_str(), times, 0), 0);
  target = ResolveTarget(RealFs(), adapter_, out);
  ASSERT_TRUE(target.ok()) << target.status();
  absl::StatusOr<VerifyReport> edited = Verify(RealFs(), adapter_, *target);
  ASSERT_TRUE(edited.ok()) << edited.status();
  ASSERT_EQ(edited->problems.size(), 1u);
  EXPECT_TRUE(absl::StrContains(edited->problems[0].what, "modified in place"))
      << edited->problems[0].what;
  EXPECT_TRUE(absl::StrContains(edited->problems[0].what, "content digest"))
      << edited->problems[0].what;
}

// An editor's digest of its copy (merge's) describes the new generation only if the publish
// brought nothing into the copy: when another publish came between the copy and the lock, its
// groups are brought over and the digest is read from the new file instead.
TEST_F(MergeTest, AnEditorsDigestIsNotRecordedWhenThePublishBringsOthersGroupsIn) {
  std::string a = tmp_.Sub("a"), b = tmp_.Sub("b"), out = tmp_.Sub("merged");
  for (const std::string& cache : {a, b}) {
    TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(cache, "3.11")));
  }
  TC_ASSERT_OK(WriteRows(JoinPath(a, "3.11/cache.db"), Schema::kFiles, Modules(0, 3, "a", 10)));
  TC_ASSERT_OK(WriteRows(JoinPath(b, "3.11/cache.db"), Schema::kFiles, Modules(5, 7, "b", 20)));
  ASSERT_TRUE(Run(out, {a}).ok());
  absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, out);
  ASSERT_TRUE(target.ok()) << target.status();
  EditOptions options;
  options.lock_timeout = absl::Seconds(10);
  absl::StatusOr<EditReport> edited = EditTarget(
      RealFs(), adapter_, *target,
      [&](const DbRef&, const std::string& copy) -> absl::StatusOr<DbChange> {
        absl::StatusOr<MergeReport> meanwhile = Run(out, {b});  // Publishes generation 2.
        if (!meanwhile.ok()) return meanwhile.status();
        absl::StatusOr<CacheFile> db = CacheFile::OpenReadOnly(copy);
        if (!db.ok()) return db.status();
        absl::StatusOr<uint64_t> digest = db->ContentDigest(adapter_);
        if (!digest.ok()) return digest.status();
        DbChange change;
        change.republish = true;
        change.digest = *digest;  // Right for the copy, which lacks b's groups.
        return change;
      },
      options);
  ASSERT_TRUE(edited.ok()) << edited.status();
  EXPECT_EQ(edited->publish.groups_merged, 2);
  LocalGenerationStore store(RealFs(), Layout(out), adapter_);
  absl::StatusOr<GenerationHead> head = store.Head("3.11");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->gen, 3);
  absl::StatusOr<std::optional<GenerationRecord>> record = store.Record("3.11", head->gen);
  ASSERT_TRUE(record.ok() && record->has_value()) << record.status();
  absl::StatusOr<CacheFile> db = CacheFile::OpenReadOnly(JoinPath(out, "3.11/cache.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(GroupRows(Exact(JoinPath(out, "3.11/cache.db")), "pkg/m5").size(), 2u);
  ASSERT_EQ((*record)->digests.count("cache.db"), 1u);
  EXPECT_EQ((*record)->digests.at("cache.db"), *db->ContentDigest(adapter_));
}

TEST_F(MergeTest, RefusesDifferentShardLayouts) {
  std::string a = tmp_.Sub("a");
  std::string b = tmp_.Sub("b");
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(a, "3.11")));
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(b, "3.11")));
  TC_ASSERT_OK(WriteRows(JoinPath(a, "3.11/cache.0.db"), Schema::kFiles2, Modules(0, 1, "a", 1)));
  TC_ASSERT_OK(WriteRows(JoinPath(a, "3.11/cache.1.db"), Schema::kFiles2, Modules(1, 2, "a", 1)));
  TC_ASSERT_OK(WriteRows(JoinPath(b, "3.11/cache.db"), Schema::kFiles2, Modules(0, 2, "b", 1)));
  std::string out = tmp_.Sub("merged");
  absl::StatusOr<MergeReport> r = Run(out, {a, b});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("shard"), absl::string_view::npos) << r.status();
  EXPECT_FALSE(RealFs().Stat(JoinPath(out, "3.11"))->exists());
  // The same shard layout merges shard by shard.
  std::string c = tmp_.Sub("c");
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(c, "3.11")));
  TC_ASSERT_OK(WriteRows(JoinPath(c, "3.11/cache.0.db"), Schema::kFiles2, Modules(5, 6, "c", 1)));
  TC_ASSERT_OK(WriteRows(JoinPath(c, "3.11/cache.1.db"), Schema::kFiles2, Modules(6, 7, "c", 1)));
  r = Run(out, {a, c});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Exact(JoinPath(out, "3.11/cache.0.db"), "files2").size(), 4u);
  EXPECT_EQ(Exact(JoinPath(out, "3.11/cache.1.db"), "files2").size(), 4u);
}

TEST_F(MergeTest, RefusesAFileIntoACacheDirectory) {
  std::string cache = tmp_.Sub("cache");
  TC_ASSERT_OK(MakeDirs(RealFs(), JoinPath(cache, "3.11")));
  TC_ASSERT_OK(WriteRows(JoinPath(cache, "3.11/cache.db"), Schema::kFiles, Modules(0, 1, "c", 1)));
  std::string a = MakeDb("a.db", Modules(1, 2, "a", 1));
  absl::StatusOr<MergeReport> r = Run(cache, {a});
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
}

TEST_F(MergeTest, MoreSourcesThanOneBatchStillGiveTheUnion) {
  // Eleven sources: two batches of attached databases. Each has its own group; pkg/early is
  // newest in the first source, pkg/late in the last, pkg/mid in a source of the first batch.
  std::vector<std::string> sources;
  for (int i = 0; i < 11; ++i) {
    std::vector<Row> rows = ModuleRows(absl::StrCat("pkg/own", i), absl::StrCat("s", i), 10 + i);
    for (const Row& row : ModuleRows("pkg/early", absl::StrCat("s", i), i == 0 ? 1000 : 10 + i)) {
      rows.push_back(row);
    }
    for (const Row& row : ModuleRows("pkg/late", absl::StrCat("s", i), i == 10 ? 1000 : 10 + i)) {
      rows.push_back(row);
    }
    for (const Row& row : ModuleRows("pkg/mid", absl::StrCat("s", i), i == 4 ? 1000 : 10 + i)) {
      rows.push_back(row);
    }
    sources.push_back(MakeDb(absl::StrCat("s", i, ".db"), rows));
  }
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, sources);
  ASSERT_TRUE(r.ok()) << r.status();
  Rows rows = Exact(out);
  EXPECT_EQ(rows.size(), (11u + 3u) * 2);
  for (int i = 0; i < 11; ++i) {
    std::string group = absl::StrCat("pkg/own", i);
    EXPECT_EQ(GroupRows(rows, group), GroupRows(Exact(sources[static_cast<size_t>(i)]), group));
  }
  EXPECT_EQ(GroupRows(rows, "pkg/early"), GroupRows(Exact(sources[0]), "pkg/early"));
  EXPECT_EQ(GroupRows(rows, "pkg/mid"), GroupRows(Exact(sources[4]), "pkg/mid"));
  EXPECT_EQ(GroupRows(rows, "pkg/late"), GroupRows(Exact(sources[10]), "pkg/late"));
  EXPECT_EQ(*IntegrityCheck(out), "ok");
  // Prefer last across batches.
  std::string last = tmp_.Sub("last.db");
  r = Run(last, sources, Prefer::kLast);
  ASSERT_TRUE(r.ok()) << r.status();
  Rows last_rows = Exact(last);
  for (const char* group : {"pkg/early", "pkg/mid", "pkg/late"}) {
    EXPECT_EQ(GroupRows(last_rows, group), GroupRows(Exact(sources[10]), group)) << group;
  }
}

TEST_F(MergeTest, GroupsTakenAddUpToTheResult) {
  std::vector<std::string> sources;
  for (int i = 0; i < 11; ++i) {
    std::vector<Row> rows = ModuleRows(absl::StrCat("pkg/own", i), "t", 10);
    for (const Row& row : ModuleRows("pkg/shared", absl::StrCat("s", i), 10 + i)) {
      rows.push_back(row);
    }
    sources.push_back(MakeDb(absl::StrCat("s", i, ".db"), rows));
  }
  std::string out = tmp_.Sub("out.db");
  absl::StatusOr<MergeReport> r = Run(out, sources);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->groups_taken.size(), 12u);
  EXPECT_EQ(Sum(r->groups_taken), 12);  // Every group of the result counted once.
  EXPECT_EQ(r->groups_taken[0], 0);     // The destination was new.
  EXPECT_EQ(r->groups_taken[11], 2);    // pkg/own10 and the newest pkg/shared.
  EXPECT_EQ(r->conflicts, 1);
  std::ostringstream json;
  PrintMerge(*r, json, /*json=*/true);
  nlohmann::json parsed = nlohmann::json::parse(json.str(), nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.str();
  EXPECT_EQ(parsed["inputs"].size(), 12u);
  EXPECT_EQ(parsed["inputs"][0]["role"], "destination");
  EXPECT_EQ(parsed["conflicts"], 1);
}

}  // namespace
}  // namespace typecache
