// ScanJsonMeta never changes an answer: whenever it accepts a document, nlohmann-json (the
// general path) accepts it too and gives the same normalised text and facts. Checked on the real
// mypy 1.0.1 and 1.18.2 metas of tests/fixtures, on every truncation and many one-byte edits of
// them, and on generated documents; and the real metas are all in the subset (else the fast path
// would silently never run).
#include "src/checker/mypy/json_meta.h"

#include <sqlite3.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/checker/mypy/normalize.h"

namespace typecache {
namespace {

using nlohmann::json;

// What the general path answers, or nullopt when it rejects the document.
std::optional<JsonMetaScan> Reference(const std::string& data) {
  json j = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  JsonMetaScan out;
  auto m = j.find("data_mtime");
  if (m != j.end() && m->is_number_integer()) out.data_mtime = m->get<int64_t>();
  auto v = j.find("version_id");
  if (v != j.end() && v->is_string()) out.version_id = v->get<std::string>();
  auto p = j.find("path");
  if (p != j.end() && p->is_string()) out.path = p->get<std::string>();
  auto o = j.find("options");
  if (o != j.end() && o->is_object()) {
    auto pl = o->find("platform");
    if (pl != o->end() && pl->is_string()) out.platform = pl->get<std::string>();
  }
  for (const char* f : {"mtime", "path", "data_mtime", "interface_hash"}) j.erase(f);
  out.normalised = j.dump();
  return out;
}

// Checks one document; true when the fast path took it.
bool Agrees(const std::string& data) {
  JsonMetaScan fast;
  bool in_subset = ScanJsonMetaUncached(data, &fast);
  if (!in_subset) return false;
  std::optional<JsonMetaScan> ref = Reference(data);
  EXPECT_TRUE(ref.has_value()) << "accepted what nlohmann rejects: " << data;
  if (!ref.has_value()) return true;
  EXPECT_EQ(fast.normalised, ref->normalised) << data;
  EXPECT_EQ(fast.data_mtime, ref->data_mtime) << data;
  EXPECT_EQ(fast.version_id, ref->version_id) << data;
  EXPECT_EQ(fast.path, ref->path) << data;
  EXPECT_EQ(fast.platform, ref->platform) << data;
  // And what the callers see: the normaliser's output is the reference's.
  absl::StatusOr<std::string> norm = NormalizeMypyRow("m.meta.json", data);
  EXPECT_TRUE(norm.ok());
  if (norm.ok()) {
    EXPECT_EQ(*norm, ref->normalised);
  }
  return true;
}

std::vector<std::string> RealMetas() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  std::vector<std::string> out;
  for (auto [version, table] : {std::pair<const char*, const char*>{"1.0.1", "files"},
                                std::pair<const char*, const char*>{"1.18.2", "files2"}}) {
    std::string path =
        absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "typecache",
                     "/tests/fixtures/mypy-caches/", version, "/cache/3.11/cache.db");
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK) << path;
    sqlite3_stmt* st = nullptr;
    std::string sql = absl::StrCat("SELECT data FROM ", table, " WHERE path LIKE '%.meta.json'");
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << path;
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      out.emplace_back(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                       static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  return out;
}

TEST(JsonMeta, RealMetasAreInTheSubsetAndAgree) {
  std::vector<std::string> metas = RealMetas();
  ASSERT_GT(metas.size(), 20u);
  for (const std::string& m : metas) EXPECT_TRUE(Agrees(m)) << "not in the fast subset: " << m;
}

TEST(JsonMeta, TruncationsAndOneByteEditsNeverDisagree) {
  std::vector<std::string> metas = RealMetas();
  ASSERT_FALSE(metas.empty());
  const std::string& m = metas[metas.size() / 2];
  for (size_t cut = 0; cut < m.size(); ++cut) Agrees(m.substr(0, cut));
  const std::string edits = "\"\\0-.eE,:}]{[ \t\nxtfn1\x80\x01";
  std::mt19937 rng(7);
  int taken = 0;
  for (const std::string& doc : {metas[0], m}) {
    for (size_t at = 0; at < doc.size(); ++at) {
      for (char c : edits) {
        if ((rng() & 7) != 0) continue;  // a sample: every position, an eighth of the edits
        std::string e = doc;
        e[at] = c;
        taken += Agrees(e) ? 1 : 0;
        e.insert(at, 1, c);
        taken += Agrees(e) ? 1 : 0;
      }
    }
  }
  EXPECT_GT(taken, 0);
}

TEST(JsonMeta, EdgeCasesGoToTheGeneralPathOrAgree) {
  for (const char* doc :
       {"{}",
        " {} ",
        "{\"a\":1}",
        "{\"a\": -0}",
        "{\"a\": 0}",
        "{\"a\": -1}",
        "{\"a\": 01}",
        "{\"a\": 1.5}",
        "{\"a\": 1e3}",
        "{\"a\": 123456789012345678}",
        "{\"a\": 1234567890123456789}",
        "{\"b\": 1, \"a\": 2}",
        "{\"a\": 1, \"a\": 2}",
        "{\"a\": \"x\\\"y\"}",
        "{\"a\": \"\xc3\xa9\"}",
        "{\"a\": [1, [2, {}], []]}",
        "[1]",
        "1",
        "",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":[1,]}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":true,\"b\":false,\"c\":null}",
        "{} x",
        "{\"data_mtime\": 5, \"mtime\": 6, \"options\": {\"platform\": \"linux\"}, "
        "\"path\": \"/a\", \"version_id\": \"1.0.1\", \"z\": 1}",
        "{\"data_mtime\": \"5\", \"options\": {\"a\": {\"platform\": \"x\"}}}",
        "{\"data_mtime\": 5.5}",
        "{\"interface_hash\": {\"a\": [1]}, \"x\": 1}",
        "\xef\xbb\xbf{}"}) {
    Agrees(doc);
  }
  EXPECT_TRUE(Agrees("{\"a\": [1, [2, {}], []], \"b\": {\"c\": null}}"));
  JsonMetaScan s;
  EXPECT_FALSE(ScanJsonMetaUncached("{\"a\": 1.5}", &s)) << "floats take the general path";
  EXPECT_FALSE(ScanJsonMetaUncached("{\"a\": -0}", &s)) << "-0 is dumped as 0";
  EXPECT_FALSE(ScanJsonMetaUncached("{\"b\": 1, \"a\": 2}", &s)) << "nlohmann sorts keys";
  std::string deep(100, '[');
  deep = "{\"a\":" + deep + std::string(100, ']') + "}";
  EXPECT_FALSE(ScanJsonMetaUncached(deep, &s)) << "too deep for the scanner";
  Agrees(deep);
}

// Random documents with sorted keys and the scalars the subset allows, written with random
// whitespace: all in the subset, all agreeing.
std::string RandomValue(std::mt19937& rng, int depth) {
  int k = static_cast<int>(rng() % (depth > 3 ? 4 : 6));
  switch (k) {
    case 0:
      return absl::StrCat(static_cast<int64_t>(rng() % 2000000) - 1000000);
    case 1:
      return absl::StrCat("\"s", rng() % 100, " /x\"");
    case 2:
      return rng() % 2 ? "true" : (rng() % 2 ? "false" : "null");
    case 3:
      return absl::StrCat(static_cast<uint64_t>(rng()) * 1000000ull % 999999999999999999ull);
    case 4: {
      std::string out = "[";
      int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) absl::StrAppend(&out, i ? ", " : "", RandomValue(rng, depth + 1));
      return out + "]";
    }
    default: {
      std::string out = "{";
      int n = static_cast<int>(rng() % 5);
      const char* keys[] = {"data_mtime", "interface_hash", "mtime",      "options",
                            "path",       "platform",       "version_id", "zz"};
      int at = 0;
      for (int i = 0; i < n && at < 8; ++i) {
        at += static_cast<int>(rng() % 3);
        if (at >= 8) break;
        absl::StrAppend(&out, i ? (rng() % 2 ? ", " : ",\n ") : "", "\"", keys[at],
                        "\": ", RandomValue(rng, depth + 1));
        ++at;
      }
      return out + "}";
    }
  }
}

TEST(JsonMeta, GeneratedDocumentsAgree) {
  std::mt19937 rng(11);
  int in_subset = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string doc = RandomValue(rng, 0);
    if (doc.empty() || doc[0] != '{') continue;
    in_subset += Agrees(doc) ? 1 : 0;
  }
  EXPECT_GT(in_subset, 300);
}

}  // namespace
}  // namespace typecache
