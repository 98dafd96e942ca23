#include "src/checker/mypy/normalize.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/fixed_format.h"

namespace typecache {
namespace {

std::string Meta(int64_t mtime, const std::string& path, int64_t data_mtime,
                 const std::string& hash) {
  return "{\"data_mtime\": " + std::to_string(data_mtime) + ", \"hash\": \"" + hash +
         "\", \"id\": \"pkg.a\", \"mtime\": " + std::to_string(mtime) +
         ", \"options\": " + "{\"platform\": \"linux\"}, \"path\": \"" + path +
         "\", \"version_id\": \"1.0.1\"}";
}

TEST(Normalize, JsonMetaDropsMachineLocalFieldsOnly) {
  auto a = NormalizeMypyRow("pkg/a.meta.json", Meta(100, "/home/a/pkg/a.py", 150, "h1"));
  auto b = NormalizeMypyRow("pkg/a.meta.json", Meta(200, "/srv/b/pkg/a.py", 250, "h1"));
  auto c = NormalizeMypyRow("pkg/a.meta.json", Meta(100, "/home/a/pkg/a.py", 150, "h2"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c) << "the source hash still counts";
  EXPECT_EQ(a->find("mtime"), std::string::npos);
  EXPECT_TRUE(absl::IsDataLoss(NormalizeMypyRow("pkg/a.meta.json", "{nope").status()));
  auto facts = MypyNamespaceFacts("pkg/a.meta.json", Meta(1, "p", 1, "h"));
  ASSERT_TRUE(facts.ok());
  EXPECT_EQ(facts->first, "1.0.1");
  EXPECT_EQ(facts->second, "linux");
  EXPECT_EQ(MypyNamespaceFacts("pkg/a.data.json", "{}")->first, "");
}

// The facts of a meta normalised just before reuse that parse only for the very same bytes.
TEST(Normalize, FactsAfterNormaliseAreTheRowsOwn) {
  std::string a = Meta(100, "/home/a/pkg/a.py", 150, "h1");
  std::string b = a;
  b.replace(b.find("1.0.1"), 5, "1.0.2");  // same size, another version
  std::string c = b;
  c.replace(c.find("linux"), 5, "win32");
  ASSERT_TRUE(NormalizeMypyRow("pkg/a.meta.json", a).ok());
  EXPECT_EQ(MypyNamespaceFacts("pkg/a.meta.json", a)->first, "1.0.1");
  EXPECT_EQ(MypyNamespaceFacts("pkg/a.meta.json", b)->first, "1.0.2") << "not the cached row";
  ASSERT_TRUE(NormalizeMypyRow("pkg/a.meta.json", b).ok());
  EXPECT_EQ(MypyNamespaceFacts("pkg/a.meta.json", b)->first, "1.0.2");
  EXPECT_EQ(MypyNamespaceFacts("pkg/a.meta.json", c)->second, "win32");
  EXPECT_TRUE(absl::IsDataLoss(MypyNamespaceFacts("pkg/a.meta.json", "{nope").status()));
  EXPECT_EQ(MypyNamespaceFacts("pkg/a.meta.json", a)->second, "linux");
}

TEST(Normalize, JsonDataDropsTrailingPath) {
  std::string a = "{\".class\": \"MypyFile\", \"names\": {\"path\": \"x\"}, \"path\": \"/a/m.py\"}";
  std::string b = "{\".class\": \"MypyFile\", \"names\": {\"path\": \"x\"}, \"path\": \"/b/m.py\"}";
  EXPECT_EQ(*NormalizeMypyRow("m.data.json", a), *NormalizeMypyRow("m.data.json", b));
  EXPECT_EQ(*NormalizeMypyRow("m.data.json", a),
            "{\".class\": \"MypyFile\", \"names\": {\"path\": \"x\"}}");
  // A nested "path" at the end is not the module's: unchanged.
  std::string nested = "{\"a\": {\"path\": \"x\"}}";
  EXPECT_EQ(*NormalizeMypyRow("m.data.json", nested), nested);
  EXPECT_EQ(*NormalizeMypyRow("m.data.ff", "\x01\x02"), "\x01\x02");
}

TEST(Normalize, FixedFormatMetaClearsMtimePathAndDataMtime) {
  FixedMeta m;
  m.cache_version = kFfCacheVersionMypy120;
  m.id = "pkg.a";
  m.path = "/home/a/pkg/a.py";
  m.mtime = 100;
  m.size = 10;
  m.hash = "abc";
  m.data_mtime = 150;
  m.options.kind = FfValue::Kind::kDict;
  FfValue platform;
  platform.kind = FfValue::Kind::kStr;
  platform.str = "linux";
  m.options.keys.push_back("platform");
  m.options.items.push_back(platform);
  m.version_id = "1.20.2";
  FixedMeta other = m;
  other.path = "/srv/b/pkg/a.py";
  other.mtime = 300;
  other.data_mtime = 350;
  FixedMeta changed = m;
  changed.hash = "abd";
  auto a = NormalizeMypyRow("pkg/a.meta.ff", EncodeFixedMeta(m));
  auto b = NormalizeMypyRow("pkg/a.meta.ff", EncodeFixedMeta(other));
  auto c = NormalizeMypyRow("pkg/a.meta.ff", EncodeFixedMeta(changed));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status() << b.status() << c.status();
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  auto facts = MypyNamespaceFacts("pkg/a.meta.ff", EncodeFixedMeta(m));
  ASSERT_TRUE(facts.ok());
  EXPECT_EQ(facts->first, "1.20.2");
  EXPECT_EQ(facts->second, "linux");
  std::string broken = EncodeFixedMeta(m);
  broken.resize(broken.size() / 2);
  EXPECT_TRUE(absl::IsDataLoss(NormalizeMypyRow("pkg/a.meta.ff", broken).status()));
  std::string unknown = EncodeFixedMeta(m);
  unknown[1] = 99;
  EXPECT_EQ(*NormalizeMypyRow("pkg/a.meta.ff", unknown), unknown) << "unknown header: as is";
}

TEST(Normalize, Layouts) {
  EXPECT_EQ(MypyLayoutOf("cache.db"), "1file");
  EXPECT_EQ(MypyLayoutOf("cache.15.db"), "16shards");
  EXPECT_EQ(MypyLayoutOf("cache.16.db"), "");
  EXPECT_EQ(MypyLayoutOf("other.db"), "");
}

}  // namespace
}  // namespace typecache
