// Tests for the fixed-format decoder: golden comparison of every fixed-format meta row (and side
// row) of the real mypy caches in tests/fixtures/mypy-caches with what mypy's own reader gave
// (expected.json), malformed input, and one hand-built row per encoding branch of
// FORMAT-NOTES.md. This is the only test that opens the fixture databases with the SQLite C
// API directly: read-only, `immutable=1` for the runfiles (so nothing is created beside them),
// and the wal-hot cache from a copy so that its -wal file is read.
#include "src/checker/mypy/fixed_format.h"

#include <sqlite3.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace typecache {
namespace {

using nlohmann::json;

// ---- Fixture access ----

std::string FixtureDir() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "typecache",
                      "/tests/fixtures/mypy-caches");
}

std::string TempRoot() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return tmp ? tmp : "/tmp";
}

json LoadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << path;
  return j;
}

// "file:" URI for `path` with `query`, percent-encoding everything but unreserved and '/'.
std::string FileUri(const std::string& path, const std::string& query) {
  std::string out = "file:";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::BytesToHexString(std::string(1, static_cast<char>(c))));
    }
  }
  return absl::StrCat(out, "?", query);
}

struct DbRow {
  std::string key;
  double mtime = 0;
  std::string data;
};

// Every row of `table`, keyed by path. Fails the test on any SQLite error.
std::map<std::string, DbRow> ReadTable(const std::string& uri, const std::string& table) {
  std::map<std::string, DbRow> rows;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  EXPECT_EQ(rc, SQLITE_OK) << uri << ": " << (db ? sqlite3_errmsg(db) : "out of memory");
  if (rc != SQLITE_OK) {
    sqlite3_close(db);
    return rows;
  }
  sqlite3_stmt* stmt = nullptr;
  std::string sql = absl::StrCat("SELECT path, mtime, data FROM ", table);
  rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  EXPECT_EQ(rc, SQLITE_OK) << uri << ": " << sqlite3_errmsg(db);
  while (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) break;
    rc = SQLITE_OK;
    DbRow row;
    row.key = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    row.mtime = sqlite3_column_double(stmt, 1);
    const void* blob = sqlite3_column_blob(stmt, 2);
    row.data.assign(static_cast<const char*>(blob), sqlite3_column_bytes(stmt, 2));
    rows[row.key] = std::move(row);
  }
  EXPECT_EQ(rc, SQLITE_DONE) << uri << ": " << sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

std::map<std::string, DbRow> ReadImmutable(const std::string& path) {
  return ReadTable(FileUri(path, "immutable=1"), "files2");
}

std::string CacheDb(const std::string& fixture, const std::string& db = "cache.db") {
  return absl::StrCat(FixtureDir(), "/", fixture, "/cache/3.11/", db);
}

// A copy of wal-hot's cache.db and cache.db-wal in a fresh writable directory.
std::string CopyWalHot(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(TempRoot()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"cache.db", "cache.db-wal"}) {
    fs::copy_file(CacheDb("wal-hot", f), dir / f);
    fs::permissions(dir / f, fs::perms::owner_read | fs::perms::owner_write);
  }
  return (dir / "cache.db").string();
}

bool IsMeta(const std::string& key) { return absl::EndsWith(key, kFfMetaSuffix); }

// Row facts and side-row fields of expected.json's metas; everything else is a decoded field.
const std::set<std::string>& NonDecodedKeys() {
  static const auto* keys = new std::set<std::string>{
      "key",        "db",     "row_mtime",   "length", "data_key", "data_row_mtime",
      "errors_key", "errors", "meta_ex_key", "meta_ex"};
  return *keys;
}

// Field-for-field comparison of a decoded meta with an expected.json entry. `skip` names
// fields left out of the comparison.
void ExpectSameFields(const json& expected, const FixedMeta& meta, const std::string& key,
                      const std::set<std::string>& skip = {}) {
  json got = FixedMetaToJson(meta);
  for (const auto& [field, value] : got.items()) {
    if (skip.count(field)) continue;
    ASSERT_TRUE(expected.contains(field)) << key << ": expected.json has no field " << field;
    EXPECT_EQ(value, expected[field]) << key << ": field " << field;
  }
  for (const auto& [field, value] : expected.items()) {
    if (NonDecodedKeys().count(field)) continue;
    EXPECT_TRUE(got.contains(field)) << key << ": the decoder does not produce field " << field;
  }
}

// Decodes `row` as a meta and checks that the canonical encoder reproduces mypy's bytes.
FixedMeta DecodeOrFail(const DbRow& row) {
  absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(row.data);
  EXPECT_TRUE(meta.ok()) << row.key << ": " << meta.status();
  if (!meta.ok()) return FixedMeta{};
  EXPECT_EQ(EncodeFixedMeta(*meta), row.data) << row.key << ": re-encoding differs";
  return *std::move(meta);
}

std::map<std::string, json> MetasByKey(const json& expected) {
  std::map<std::string, json> out;
  for (const json& m : expected["metas"]) out[m["key"].get<std::string>()] = m;
  return out;
}

// ---- Golden tests ----

TEST(FixedFormatGolden, Mypy1202EveryMetaAndErrRow) {
  const json expected = LoadJson(FixtureDir() + "/1.20.2/expected.json");
  ASSERT_EQ(expected["header"], json({0, 7}));
  const std::map<std::string, json> metas = MetasByKey(expected);
  ASSERT_EQ(metas.size(), 63u);
  std::map<std::string, DbRow> rows = ReadImmutable(CacheDb("1.20.2"));
  ASSERT_EQ(rows.size(), expected["rows"].size());
  size_t decoded = 0, err_rows = 0;
  std::set<std::string> seen;
  for (const auto& [key, row] : rows) {
    if (absl::EndsWith(key, kFfErrSuffix)) {
      EXPECT_TRUE(CheckSideRow(key, row.data).ok()) << key << ": " << CheckSideRow(key, row.data);
      ++err_rows;
    }
    if (!IsMeta(key)) continue;
    ASSERT_TRUE(metas.count(key)) << key << " is not in expected.json";
    const json& want = metas.at(key);
    EXPECT_EQ(want["db"], "cache.db");
    EXPECT_EQ(want["length"], row.data.size()) << key;
    EXPECT_EQ(want["row_mtime"].get<double>(), row.mtime) << key;
    FixedMeta meta = DecodeOrFail(row);
    ExpectSameFields(want, meta, key);
    EXPECT_EQ(meta.data_mtime,
              static_cast<int64_t>(std::floor(want["data_row_mtime"].get<double>())))
        << key;

    const std::string err_key = want["errors_key"].get<std::string>();
    ASSERT_TRUE(rows.count(err_key)) << err_key;
    absl::StatusOr<std::vector<FfError>> errors = DecodeErrorsRow(rows.at(err_key).data);
    ASSERT_TRUE(errors.ok()) << err_key << ": " << errors.status();
    EXPECT_EQ(FfErrorsToJson(*errors), want["errors"]) << err_key;
    EXPECT_EQ(EncodeErrorsRow(*errors), rows.at(err_key).data) << err_key;
    seen.insert(key);
    ++decoded;
  }
  EXPECT_EQ(decoded, metas.size());
  EXPECT_EQ(seen.size(), metas.size());
  EXPECT_EQ(err_rows, metas.size());
}

TEST(FixedFormatGolden, Mypy231EveryMetaAndMetaExRowInSixteenShards) {
  const json expected = LoadJson(FixtureDir() + "/2.3.1/expected.json");
  ASSERT_EQ(expected["header"], json({0, 10}));
  const std::map<std::string, json> metas = MetasByKey(expected);
  ASSERT_EQ(metas.size(), 52u);
  ASSERT_EQ(expected["databases"].size(), 16u);
  size_t decoded = 0, meta_ex_rows = 0, all_rows = 0;
  for (const json& db_name : expected["databases"]) {
    const std::string db = db_name.get<std::string>();
    std::map<std::string, DbRow> rows = ReadImmutable(CacheDb("2.3.1", db));
    all_rows += rows.size();
    for (const auto& [key, row] : rows) {
      if (absl::EndsWith(key, kFfMetaExSuffix)) {
        EXPECT_TRUE(CheckSideRow(key, row.data).ok()) << key;
        ++meta_ex_rows;
      }
      if (!IsMeta(key)) continue;
      ASSERT_TRUE(metas.count(key)) << key << " is not in expected.json";
      const json& want = metas.at(key);
      EXPECT_EQ(want["db"], db) << key;
      EXPECT_EQ(want["length"], row.data.size()) << key;
      FixedMeta meta = DecodeOrFail(row);
      ExpectSameFields(want, meta, key);

      const std::string ex_key = want["meta_ex_key"].get<std::string>();
      ASSERT_TRUE(rows.count(ex_key)) << ex_key << " is not in " << db;
      absl::StatusOr<FixedMetaEx> ex = DecodeMetaExRow(rows.at(ex_key).data);
      ASSERT_TRUE(ex.ok()) << ex_key << ": " << ex.status();
      EXPECT_EQ(FixedMetaExToJson(*ex), want["meta_ex"]) << ex_key;
      EXPECT_EQ(EncodeMetaExRow(*ex), rows.at(ex_key).data) << ex_key;
      ++decoded;
    }
  }
  EXPECT_EQ(all_rows, expected["rows"].size());
  EXPECT_EQ(decoded, metas.size());
  EXPECT_EQ(meta_ex_rows, metas.size());
}

TEST(FixedFormatGolden, MixedUpgradeFixedFormatRows) {
  const json expected = LoadJson(FixtureDir() + "/mixed-upgrade/expected.json");
  const json& table = expected["tables"]["files2"];
  std::map<std::string, json> want_rows;
  size_t want_ff_metas = 0;
  for (const json& k : table["keys"]) {
    want_rows[k["key"].get<std::string>()] = k;
    if (IsMeta(k["key"].get<std::string>())) ++want_ff_metas;
  }
  ASSERT_EQ(want_ff_metas, table["meta_rows_by_writer"]["1.20.2"].get<size_t>());
  // The same modules, checked by the same mypy 1.20.2 thirty seconds later: every field but
  // data_mtime equals the 1.20.2 fixture's.
  const std::map<std::string, json> same_run =
      MetasByKey(LoadJson(FixtureDir() + "/1.20.2/expected.json"));
  std::map<std::string, DbRow> rows = ReadImmutable(CacheDb("mixed-upgrade"));
  ASSERT_EQ(rows.size(), table["rows"].get<size_t>());
  size_t decoded = 0, json_metas = 0;
  for (const auto& [key, row] : rows) {
    ASSERT_TRUE(want_rows.count(key)) << key;
    const json& want = want_rows.at(key);
    EXPECT_EQ(want["length"], row.data.size()) << key;
    if (absl::EndsWith(key, ".meta.json")) {
      // 1.18.2's JSON metas are not fixed format: refused by their header, never misread.
      absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(row.data);
      EXPECT_EQ(meta.status().code(), absl::StatusCode::kUnimplemented) << key;
      EXPECT_TRUE(absl::StrContains(meta.status().message(), "(header bytes 123, 34)"))
          << meta.status();
      ++json_metas;
    }
    if (absl::EndsWith(key, kFfErrSuffix)) {
      EXPECT_TRUE(CheckSideRow(key, row.data).ok()) << key;
    }
    if (!IsMeta(key)) continue;
    FixedMeta meta = DecodeOrFail(row);
    EXPECT_EQ(meta.version_id, want["version_id"]) << key;
    EXPECT_EQ(meta.version_id, want["written_by"]) << key;
    ASSERT_TRUE(same_run.count(key)) << key;
    ExpectSameFields(same_run.at(key), meta, key, {"data_mtime"});
    const std::string data_key = key.substr(0, key.size() - kFfMetaSuffix.size()) + ".data.ff";
    ASSERT_TRUE(rows.count(data_key)) << data_key;
    EXPECT_EQ(meta.data_mtime, static_cast<int64_t>(std::floor(rows.at(data_key).mtime))) << key;
    ++decoded;
  }
  EXPECT_EQ(decoded, want_ff_metas);
  EXPECT_EQ(json_metas, table["meta_rows_by_writer"]["1.18.2"].get<size_t>());
}

TEST(FixedFormatGolden, WalHotReadsTheWal) {
  const json expected = LoadJson(FixtureDir() + "/wal-hot/expected.json");
  // cache.db is byte-identical to the 1.20.2 fixture; the WAL replaces tinypkg.util's rows.
  const std::map<std::string, json> base =
      MetasByKey(LoadJson(FixtureDir() + "/1.20.2/expected.json"));
  const json& changed = expected["meta_data_mtime"];
  const std::string changed_key = changed["key"].get<std::string>();
  std::map<std::string, json> changed_rows;
  for (const json& c : expected["rows_changed_by_wal"]) changed_rows[c["key"]] = c;

  const std::string db = CopyWalHot("wal-hot-with-wal");
  std::map<std::string, DbRow> rows = ReadTable(FileUri(db, "mode=ro"), "files2");
  ASSERT_EQ(rows.size(), expected["rows_with_wal"].get<size_t>());
  size_t decoded = 0;
  for (const auto& [key, row] : rows) {
    if (changed_rows.count(key)) {
      EXPECT_EQ(row.mtime, changed_rows[key]["with_wal"]["mtime"].get<double>()) << key;
      EXPECT_EQ(row.data.size(), changed_rows[key]["with_wal"]["length"].get<size_t>()) << key;
    }
    if (absl::EndsWith(key, kFfErrSuffix)) {
      EXPECT_TRUE(CheckSideRow(key, row.data).ok()) << key;
    }
    if (!IsMeta(key)) continue;
    ASSERT_TRUE(base.count(key)) << key;
    FixedMeta meta = DecodeOrFail(row);
    if (key == changed_key) {
      ExpectSameFields(base.at(key), meta, key, {"data_mtime"});
      EXPECT_EQ(meta.data_mtime, changed["with_wal"].get<int64_t>());
      EXPECT_NE(meta.data_mtime, base.at(key)["data_mtime"].get<int64_t>());
    } else {
      ExpectSameFields(base.at(key), meta, key);
    }
    ++decoded;
  }
  EXPECT_EQ(decoded, base.size());
  EXPECT_EQ(decoded, 63u);

  // The same copy with the WAL ignored: the old row.
  std::map<std::string, DbRow> alone = ReadImmutable(CopyWalHot("wal-hot-alone"));
  ASSERT_EQ(alone.size(), expected["rows_cache_db_alone"].get<size_t>());
  ASSERT_TRUE(alone.count(changed_key));
  FixedMeta old_meta = DecodeOrFail(alone.at(changed_key));
  EXPECT_EQ(old_meta.data_mtime, changed["cache_db_alone"].get<int64_t>());
}

// ---- Real rows, damaged ----

std::string RealRow(const std::string& fixture, const std::string& db, const std::string& key) {
  std::map<std::string, DbRow> rows = ReadImmutable(CacheDb(fixture, db));
  EXPECT_TRUE(rows.count(key)) << fixture << " " << key;
  return rows.count(key) ? rows.at(key).data : std::string();
}

std::vector<std::string> RealMetaRows() {
  return {RealRow("1.20.2", "cache.db", "tinypkg/util.meta.ff"),
          RealRow("2.3.1", "cache.1.db", "tinypkg/util.meta.ff")};
}

TEST(FixedFormatDamage, UnknownHeaderIsUnimplementedNeverMisread) {
  for (const std::string& row : RealMetaRows()) {
    ASSERT_TRUE(DecodeFixedMeta(row).ok());
    for (auto [b0, b1] : std::vector<std::pair<int, int>>{
             {0, 0}, {0, 6}, {0, 8}, {0, 9}, {0, 11}, {1, 7}, {1, 10}, {255, 255}}) {
      std::string bad = row;
      bad[0] = static_cast<char>(b0);
      bad[1] = static_cast<char>(b1);
      absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(bad);
      EXPECT_EQ(meta.status().code(), absl::StatusCode::kUnimplemented) << b0 << "," << b1;
      EXPECT_TRUE(absl::StrContains(
          meta.status().message(),
          absl::StrCat("written by a mypy this typecache does not know (header bytes ", b0, ", ",
                       b1, ")")))
          << meta.status();
    }
  }
}

TEST(FixedFormatDamage, EveryTruncationIsDataLoss) {
  for (const std::string& row : RealMetaRows()) {
    for (size_t n = 0; n < row.size(); ++n) {
      absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(absl::string_view(row).substr(0, n));
      EXPECT_EQ(meta.status().code(), absl::StatusCode::kDataLoss) << "prefix " << n;
    }
  }
  const std::string err = RealRow("1.20.2", "cache.db", "tinypkg/broken.err.ff");
  ASSERT_TRUE(CheckSideRow("tinypkg/broken.err.ff", err).ok());
  for (size_t n = 0; n < err.size(); ++n) {
    EXPECT_EQ(CheckSideRow(kFfErrSuffix, err.substr(0, n)).code(), absl::StatusCode::kDataLoss)
        << "prefix " << n;
  }
  for (const std::string key : {"tinypkg/broken.meta_ex.ff", "tinypkg/util.meta_ex.ff"}) {
    const std::string ex = RealRow("2.3.1", "cache.1.db", key);
    ASSERT_TRUE(CheckSideRow(key, ex).ok()) << key;
    for (size_t n = 0; n < ex.size(); ++n) {
      EXPECT_EQ(CheckSideRow(key, ex.substr(0, n)).code(), absl::StatusCode::kDataLoss)
          << key << " prefix " << n;
    }
  }
}

TEST(FixedFormatDamage, OneTrailingByteIsDataLoss) {
  for (const std::string& row : RealMetaRows()) {
    absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(row + '\x02');
    EXPECT_EQ(meta.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(meta.status().message(),
                                  absl::StrCat("1 trailing byte at byte ", row.size())))
        << meta.status();
  }
  std::string err = RealRow("1.20.2", "cache.db", "tinypkg/broken.err.ff");
  EXPECT_EQ(CheckSideRow("tinypkg/broken.err.ff", err + '\x00').code(),
            absl::StatusCode::kDataLoss);
  std::string ex = RealRow("2.3.1", "cache.1.db", "tinypkg/broken.meta_ex.ff");
  EXPECT_EQ(CheckSideRow(".meta_ex.ff", ex + '\x00').code(), absl::StatusCode::kDataLoss);
}

// Random byte edits of real rows: never a crash; whatever decodes round-trips.
TEST(FixedFormatDamage, RandomEditsNeverCrash) {
  std::mt19937 rng(20260101);
  size_t ok = 0;
  for (const std::string& row : RealMetaRows()) {
    for (int i = 0; i < 3000; ++i) {
      std::string bad = row;
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        size_t at = 2 + rng() % (bad.size() - 2);
        switch (rng() % 3) {
          case 0:
            bad[at] = static_cast<char>(rng());
            break;
          case 1:
            bad.erase(at, 1);
            break;
          default:
            bad.insert(at, 1, static_cast<char>(rng()));
        }
      }
      absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(bad);
      if (!meta.ok()) {
        EXPECT_EQ(meta.status().code(), absl::StatusCode::kDataLoss) << meta.status();
        continue;
      }
      ++ok;
      absl::StatusOr<FixedMeta> again = DecodeFixedMeta(EncodeFixedMeta(*meta));
      ASSERT_TRUE(again.ok()) << again.status();
      EXPECT_TRUE(*again == *meta);
      (void)FixedMetaToJson(*meta).dump();
    }
  }
  EXPECT_GT(ok, 0u);  // some edits (a hash byte, a path letter) leave a valid row
}

// ---- Hand-built rows, one per encoding branch of FORMAT-NOTES.md ----

// The 19 body fields in order, as hex; MinimalFields() is the smallest valid body: id "a",
// path "b", mtime/size/data_mtime 0, every str, list, dict and bytes empty, ignore_all false,
// plugin_data None.
const std::vector<std::string>& FieldNames() {
  static const auto* names = new std::vector<std::string>{"id",
                                                          "path",
                                                          "mtime",
                                                          "size",
                                                          "hash",
                                                          "dependencies",
                                                          "data_mtime",
                                                          "suppressed",
                                                          "imports_ignored",
                                                          "options",
                                                          "suppressed_deps_opts",
                                                          "dep_prios",
                                                          "dep_lines",
                                                          "dep_hashes",
                                                          "interface_hash",
                                                          "trans_dep_hash",
                                                          "version_id",
                                                          "ignore_all",
                                                          "plugin_data"};
  return *names;
}

std::map<std::string, std::string> MinimalFields() {
  return {{"id", "04 16 61"},
          {"path", "04 16 62"},
          {"mtime", "03 14"},
          {"size", "03 14"},
          {"hash", "04 14"},
          {"dependencies", "16 14"},
          {"data_mtime", "03 14"},
          {"suppressed", "16 14"},
          {"imports_ignored", "14"},
          {"options", "1E 14"},
          {"suppressed_deps_opts", "05 14"},
          {"dep_prios", "15 14"},
          {"dep_lines", "15 14"},
          {"dep_hashes", "17 14"},
          {"interface_hash", "05 14"},
          {"trans_dep_hash", "05 14"},
          {"version_id", "04 14"},
          {"ignore_all", "00"},
          {"plugin_data", "02"}};
}

std::string Hex(absl::string_view spaced) {
  std::string compact;
  for (char c : spaced) {
    if (c != ' ') compact.push_back(c);
  }
  return absl::HexStringToBytes(compact);
}

// A meta row with header (0, cache_version) and `fields` in wire order.
std::string BuildRow(const std::map<std::string, std::string>& fields, int cache_version = 7) {
  std::string out = {0, static_cast<char>(cache_version)};
  for (const std::string& name : FieldNames()) out += Hex(fields.at(name));
  return out;
}

std::string WithField(const std::string& name, const std::string& hex, int cache_version = 7) {
  std::map<std::string, std::string> fields = MinimalFields();
  fields[name] = hex;
  return BuildRow(fields, cache_version);
}

absl::StatusOr<FixedMeta> DecodeWith(const std::string& name, const std::string& hex,
                                     int cache_version = 7) {
  return DecodeFixedMeta(WithField(name, hex, cache_version));
}

// Decodes a row with `mtime` = `hex`; the round trip must hold as well.
int64_t MtimeOf(const std::string& hex) {
  absl::StatusOr<FixedMeta> meta = DecodeWith("mtime", hex);
  EXPECT_TRUE(meta.ok()) << hex << ": " << meta.status();
  if (!meta.ok()) return -424242;
  EXPECT_TRUE(*DecodeFixedMeta(EncodeFixedMeta(*meta)) == *meta);
  return meta->mtime;
}

void ExpectDataLoss(const std::string& name, const std::string& hex, absl::string_view needle,
                    int cache_version = 7) {
  absl::StatusOr<FixedMeta> meta = DecodeWith(name, hex, cache_version);
  EXPECT_EQ(meta.status().code(), absl::StatusCode::kDataLoss) << name << " = " << hex;
  EXPECT_TRUE(absl::StrContains(meta.status().message(), needle)) << meta.status();
  EXPECT_TRUE(absl::StrContains(meta.status().message(), "field " + name)) << meta.status();
}

TEST(FixedFormatRows, MinimalRowBothVersions) {
  for (int version : {7, 10}) {
    std::string row = BuildRow(MinimalFields(), version);
    absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(row);
    ASSERT_TRUE(meta.ok()) << meta.status();
    EXPECT_EQ(meta->cache_version, version);
    EXPECT_EQ(meta->id, "a");
    EXPECT_EQ(meta->path, "b");
    EXPECT_EQ(meta->options.kind, FfValue::Kind::kDict);
    EXPECT_EQ(meta->plugin_data.kind, FfValue::Kind::kNone);
    EXPECT_EQ(EncodeFixedMeta(*meta), row);
  }
}

TEST(FixedFormatRows, ShortOneByteInts) {
  EXPECT_EQ(MtimeOf("03 00"), -10);
  EXPECT_EQ(MtimeOf("03 14"), 0);
  EXPECT_EQ(MtimeOf("03 FE"), 117);
}

TEST(FixedFormatRows, ShortTwoByteInts) {
  EXPECT_EQ(MtimeOf("03 01 00"), -100);   // u = 1: (1 >> 2) - 100
  EXPECT_EQ(MtimeOf("03 65 01"), -11);    // u = 0x165 = (89 << 2) | 1
  EXPECT_EQ(MtimeOf("03 B1 04"), 200);    // u = 0x4B1 = (300 << 2) | 1
  EXPECT_EQ(MtimeOf("03 FD FF"), 16283);  // u = 0xFFFD = (16383 << 2) | 1
}

TEST(FixedFormatRows, ShortFourByteInts) {
  EXPECT_EQ(MtimeOf("03 03 00 00 00"), -10000);
  EXPECT_EQ(MtimeOf("03 83 6D 0D 00"), 100000);     // (110000 << 3) | 3
  EXPECT_EQ(MtimeOf("03 FB FF FF FF"), 536860911);  // the largest 4-byte value
  EXPECT_EQ(MtimeOf("03 07 00 00 00"), -10000);     // bit 2 is not looked at
}

TEST(FixedFormatRows, LongInts) {
  EXPECT_EQ(MtimeOf("03 0F 24 00 B9 55 69"), 1767225600);     // FORMAT-NOTES' example
  EXPECT_EQ(MtimeOf("03 0F 26 00 B9 55 69"), -1767225600);    // m = 9: 4 bytes, negative
  EXPECT_EQ(MtimeOf("03 0F B1 01 00 B9 55 69"), 1767225600);  // m as a 2-byte int
  EXPECT_EQ(MtimeOf("03 0F 14"), 0);                          // k = 0
  EXPECT_EQ(MtimeOf("03 0F 34 FF FF FF FF FF FF FF 7F"), INT64_MAX);
  EXPECT_EQ(MtimeOf("03 0F 36 00 00 00 00 00 00 00 80"), INT64_MIN);
  EXPECT_EQ(MtimeOf("03 0F 38 01 00 00 00 00 00 00 00 00"), 1);            // a leading zero byte
  ExpectDataLoss("mtime", "03 0F 34 00 00 00 00 00 00 00 80", "64 bits");  // 2^63
  ExpectDataLoss("mtime", "03 0F 38 00 00 00 00 00 00 00 00 01", "64 bits");
  ExpectDataLoss("mtime", "03 0F 0F 00 00 00", "long int whose size is itself a long int");
  ExpectDataLoss("mtime", "03 0F 00", "negative size");
  ExpectDataLoss("mtime", "03 0F FE", "truncated");  // k = 58, 30 bytes left
}

TEST(FixedFormatRows, EncoderPicksTheShortestForm) {
  const std::vector<std::pair<int64_t, size_t>> cases = {
      {-10, 1},    {117, 1},       {-11, 2},        {118, 2},        {-100, 2},
      {16283, 2},  {-101, 4},      {16284, 4},      {-10000, 4},     {536860911, 4},
      {-10001, 4}, {536860912, 6}, {1767225600, 6}, {INT64_MAX, 10}, {INT64_MIN, 10}};
  for (const auto& [value, bytes] : cases) {
    FixedMeta meta = *DecodeFixedMeta(BuildRow(MinimalFields()));
    meta.mtime = value;
    std::string row = EncodeFixedMeta(meta);
    EXPECT_EQ(row.size(), BuildRow(MinimalFields()).size() - 1 + bytes) << value;
    absl::StatusOr<FixedMeta> back = DecodeFixedMeta(row);
    ASSERT_TRUE(back.ok()) << value << ": " << back.status();
    EXPECT_EQ(back->mtime, value);
  }
}

TEST(FixedFormatRows, StrLengthsInEveryShortForm) {
  std::string two(200, 'x'), four(20000, 'y');
  absl::StatusOr<FixedMeta> meta =
      DecodeWith("id", "04 B1 04" + absl::BytesToHexString(two));  // 200 = (300 << 2) | 1
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->id, two);
  meta = DecodeWith("path", "04 83 A9 03 00" + absl::BytesToHexString(four));  // 20000
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->path, four);
  meta = DecodeWith("hash", "04 18 C3 A9");  // "é", 2 bytes
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->hash, "\xC3\xA9");
}

TEST(FixedFormatRows, BadStrs) {
  ExpectDataLoss("id", "04 0F 24 00 B9 55 69", "long int form");
  ExpectDataLoss("id", "04 00", "negative length -10");
  ExpectDataLoss("id", "04 FE 61", "length 117 exceeds");
  ExpectDataLoss("id", "04 FB FF FF FF", "length 536860911 exceeds");  // absurd, no allocation
  ExpectDataLoss("path", "04 16 FF", "not UTF-8");
  ExpectDataLoss("path", "04 1A ED A0 80", "not UTF-8");  // a surrogate
  ExpectDataLoss("path", "04 18 C0 80", "not UTF-8");     // overlong NUL
  ExpectDataLoss("id", "05 16 61", "tag 5 where a str (tag 4) was expected");
  ExpectDataLoss("mtime", "04 14", "tag 4 where an int (tag 3) was expected");
}

TEST(FixedFormatRows, ByteStringsAreRaw) {
  absl::StatusOr<FixedMeta> meta = DecodeWith("interface_hash", "05 18 FF 00");
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->interface_hash, std::string("\xFF\x00", 2));
  EXPECT_EQ(FixedMetaToJson(*meta)["interface_hash"], "ff00");
  ExpectDataLoss("interface_hash", "04 14", "tag 4 where bytes (tag 5) was expected");
}

TEST(FixedFormatRows, ListsOfStrIntAndBytes) {
  std::map<std::string, std::string> f = MinimalFields();
  f["dependencies"] = "16 18 16 61 18 62 63";           // ["a", "bc"]
  f["suppressed"] = "16 16 16 7A";                      // ["z"]
  f["dep_prios"] = "15 1A 14 B1 04 0F 24 00 B9 55 69";  // [0, 200, 1767225600]
  f["dep_lines"] = "15 1A 16 00 03 00 00 00";           // [1, -10, -10000]
  f["dep_hashes"] = "17 16 3C" + std::string(40, 'A');  // one 20-byte hash
  absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(BuildRow(f));
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->dependencies, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(meta->suppressed, (std::vector<std::string>{"z"}));
  EXPECT_EQ(meta->dep_prios, (std::vector<int64_t>{0, 200, 1767225600}));
  EXPECT_EQ(meta->dep_lines, (std::vector<int64_t>{1, -10, -10000}));
  EXPECT_EQ(meta->dep_hashes, (std::vector<std::string>{std::string(20, '\xAA')}));
  EXPECT_EQ(EncodeFixedMeta(*meta), BuildRow(f));
}

TEST(FixedFormatRows, BadLists) {
  ExpectDataLoss("dependencies", "14 14", "tag 20 where a list of str (tag 22) was expected");
  ExpectDataLoss("dependencies", "16 00", "negative count -10");
  ExpectDataLoss("dependencies", "16 FB FF FF FF", "count 536860911 cannot fit");
  ExpectDataLoss("dep_prios", "16 14", "tag 22 where a list of int (tag 21) was expected");
  ExpectDataLoss("dep_hashes", "15 14", "tag 21 where a list of bytes (tag 23) was expected");
}

TEST(FixedFormatRows, ImportsIgnoredHasABareCount) {
  // Two lines: 5 -> ["import-not-found", "import"] (as in tinypkg.util), 300 -> [].
  std::string hex = "18 03 1E 16 18 34 " + absl::BytesToHexString("import-not-found") + " 20 " +
                    absl::BytesToHexString("import") + " 03 41 06 16 14";
  absl::StatusOr<FixedMeta> meta = DecodeWith("imports_ignored", hex);
  ASSERT_TRUE(meta.ok()) << meta.status();
  ASSERT_EQ(meta->imports_ignored.size(), 2u);
  EXPECT_EQ(meta->imports_ignored[0].first, 5);
  EXPECT_EQ(meta->imports_ignored[0].second,
            (std::vector<std::string>{"import-not-found", "import"}));
  EXPECT_EQ(meta->imports_ignored[1].first, 300);
  EXPECT_EQ(FixedMetaToJson(*meta)["imports_ignored"],
            json::parse(R"({"5": ["import-not-found", "import"], "300": []})"));
  ExpectDataLoss("imports_ignored", "16 1E 16 14", "tag 30 where an int (tag 3)");  // tagged
}

TEST(FixedFormatRows, OptionsAndPluginDataJsonValues) {
  // {"a": None, "b": False, "c": True, "d": 117, "e": "x", "f": [None], "g": (0,), "h": {"i": 2}}
  std::string options =
      "1E 24  16 61 02  16 62 00  16 63 01  16 64 03 FE  16 65 04 16 78"
      "  16 66 14 16 02  16 67 18 16 03 14  16 68 1E 16 16 69 03 18";
  for (int version : {7, 10}) {
    absl::StatusOr<FixedMeta> meta = DecodeWith("options", options, version);
    ASSERT_TRUE(meta.ok()) << meta.status();
    const FfValue& o = meta->options;
    ASSERT_EQ(o.keys.size(), 8u);
    EXPECT_EQ(o.Find("a")->kind, FfValue::Kind::kNone);
    EXPECT_EQ(o.Find("b")->kind, FfValue::Kind::kBool);
    EXPECT_FALSE(o.Find("b")->boolean);
    EXPECT_TRUE(o.Find("c")->boolean);
    EXPECT_EQ(o.Find("d")->integer, 117);
    EXPECT_EQ(o.Find("e")->str, "x");
    EXPECT_EQ(o.Find("f")->kind, FfValue::Kind::kList);
    EXPECT_EQ(o.Find("g")->kind, FfValue::Kind::kTuple);
    EXPECT_EQ(o.Find("h")->Find("i")->integer, 2);
    EXPECT_EQ(FixedMetaToJson(*meta)["options"],
              json::parse(R"({"a": null, "b": false, "c": true, "d": 117, "e": "x",
                              "f": [null], "g": [0], "h": {"i": 2}})"));
    EXPECT_EQ(EncodeFixedMeta(*meta), WithField("options", options, version));
  }
  ExpectDataLoss("options", "02", "tag 2 where a dict (tag 30) was expected");
  ExpectDataLoss("options", "1E 16 16 61 07", "tag 7 is not a JSON value");  // complex
  ExpectDataLoss("plugin_data", "63", "tag 99 is not a JSON value");
}

TEST(FixedFormatRows, FloatOnlyInMypy2) {
  const std::string one_and_a_half = "06 00 00 00 00 00 00 F8 3F";
  absl::StatusOr<FixedMeta> meta = DecodeWith("plugin_data", one_and_a_half, 10);
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->plugin_data.kind, FfValue::Kind::kFloat);
  EXPECT_EQ(meta->plugin_data.real, 1.5);
  EXPECT_EQ(FixedMetaToJson(*meta)["plugin_data"], 1.5);
  ExpectDataLoss("plugin_data", one_and_a_half, "mypy 1.20 does not read", 7);
  ExpectDataLoss("plugin_data", "06 00 00 00", "truncated", 10);
}

TEST(FixedFormatRows, NestingIsBounded) {
  auto nested = [](int levels) {
    std::string hex;
    for (int i = 0; i < levels; ++i) hex += "14 16 ";
    return hex + "02";
  };
  absl::StatusOr<FixedMeta> meta = DecodeWith("plugin_data", nested(kFfMaxNesting));
  ASSERT_TRUE(meta.ok()) << meta.status();
  ExpectDataLoss("plugin_data", nested(kFfMaxNesting + 1), "nested deeper than 64");
}

TEST(FixedFormatRows, IgnoreAllIsABareBool) {
  absl::StatusOr<FixedMeta> meta = DecodeWith("ignore_all", "01");
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_TRUE(meta->ignore_all);
  ExpectDataLoss("ignore_all", "02", "bool byte 2");
}

TEST(FixedFormatRows, ErrorsNameFieldAndOffset) {
  // Cut the row inside dep_lines: header 2 + id 3 + path 3 + 2 + 2 + hash 2 + 2 + 2 + 2 + 1 +
  // options 2 + 2 + dep_prios 2 = 27, so dep_lines' tag is byte 27 and its count byte 28.
  std::string row = BuildRow(MinimalFields());
  absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(row.substr(0, 28));
  EXPECT_EQ(meta.status().message(),
            "fixed-format meta row: field dep_lines at byte 28: truncated: an int needs 1 byte, "
            "0 left");
  meta = DecodeWith("dependencies", "16 18 16 61 04");  // 2nd entry's length: 0x04 -> -8
  EXPECT_TRUE(absl::StrContains(meta.status().message(),
                                "field dependencies[1] at byte 18: negative length -8"))
      << meta.status();
}

// ---- Side rows ----

TEST(FixedFormatSideRows, HandBuiltErrorList) {
  // [(None, 1, 1, 1, 1, "error", "m", None), ("p.py", 7, -1, 300, 0, "note", "", "c")]
  std::string row =
      Hex("14 18  18 02 03 16 03 16 03 16 03 16 04 1E " + absl::BytesToHexString("error") +
          " 04 16 6D 02" + "  18 04 1C 70 2E 70 79 03 22 03 12 03 41 06 03 14 04 1C " +
          absl::BytesToHexString("note") + " 04 14 04 16 63");
  absl::StatusOr<std::vector<FfError>> errors = DecodeErrorsRow(row);
  ASSERT_TRUE(errors.ok()) << errors.status();
  ASSERT_EQ(errors->size(), 2u);
  EXPECT_FALSE((*errors)[0].path.has_value());
  EXPECT_FALSE((*errors)[0].code.has_value());
  EXPECT_EQ(FfErrorsToJson(*errors), json::parse(R"([[null, 1, 1, 1, 1, "error", "m", null],
                                                    ["p.py", 7, -1, 300, 0, "note", "", "c"]])"));
  EXPECT_EQ(EncodeErrorsRow(*errors), row);
  EXPECT_TRUE(CheckSideRow("m.err.ff", row).ok());
  EXPECT_TRUE(CheckSideRow(kFfErrSuffix, Hex("14 14")).ok());
  EXPECT_EQ(CheckSideRow("m.err.ff", Hex("18 14")).code(), absl::StatusCode::kDataLoss);
  // A tuple with a count (as a generic tuple would have) is not an error tuple.
  absl::Status counted =
      CheckSideRow("m.err.ff", Hex("14 16 18 24 02 03 16 03 16 03 16 03 16 04 1E " +
                                   absl::BytesToHexString("error") + " 04 16 6D 02"));
  EXPECT_EQ(counted.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(counted.message(), "field errors[0] at byte 3: tag 36 where None"))
      << counted;
}

TEST(FixedFormatSideRows, HandBuiltMetaEx) {
  std::string row = Hex("16 16 16 61  16 14  17 16 18 AB CD  14 14");
  absl::StatusOr<FixedMetaEx> ex = DecodeMetaExRow(row);
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(FixedMetaExToJson(*ex), json::parse(R"({"dependencies": ["a"], "suppressed": [],
                                                   "dep_hashes": ["abcd"], "error_lines": []})"));
  EXPECT_EQ(EncodeMetaExRow(*ex), row);
  EXPECT_TRUE(CheckSideRow("a/b.meta_ex.ff", row).ok());
  // An .err.ff row is not a .meta_ex.ff row.
  EXPECT_EQ(CheckSideRow("a/b.meta_ex.ff", Hex("14 14")).code(), absl::StatusCode::kDataLoss);
}

TEST(FixedFormatSideRows, EmptyAndUnknownKeys) {
  EXPECT_EQ(CheckSideRow("m.err.ff", "").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CheckSideRow("m.meta_ex.ff", "").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CheckSideRow("m.data.ff", Hex("14 14")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckSideRow("m.meta.ff", Hex("14 14")).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace typecache
