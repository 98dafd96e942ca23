#include "src/base/json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

JsonValue Parse(absl::string_view text) {
  absl::StatusOr<JsonValue> value = ParseJson(text);
  EXPECT_TRUE(value.ok()) << text << ": " << value.status();
  return value.ok() ? *value : JsonValue{};
}

bool Fails(absl::string_view text) {
  absl::StatusOr<JsonValue> value = ParseJson(text);
  return !value.ok() && absl::IsInvalidArgument(value.status());
}

std::string Nested(int levels) {
  return absl::StrCat(std::string(static_cast<size_t>(levels), '['),
                      std::string(static_cast<size_t>(levels), ']'));
}

TEST(ParseJsonTest, Scalars) {
  EXPECT_EQ(Parse("null").type, JsonValue::Type::kNull);
  JsonValue t = Parse("true");
  EXPECT_EQ(t.type, JsonValue::Type::kBool);
  EXPECT_TRUE(t.boolean);
  JsonValue f = Parse(" false ");
  EXPECT_EQ(f.type, JsonValue::Type::kBool);
  EXPECT_FALSE(f.boolean);
  JsonValue s = Parse("\"abc\"");
  EXPECT_EQ(s.type, JsonValue::Type::kString);
  EXPECT_EQ(s.string, "abc");
}

TEST(ParseJsonTest, Numbers) {
  EXPECT_EQ(Parse("0").number, 0);
  EXPECT_EQ(Parse("42").number, 42);
  EXPECT_EQ(Parse("-7").number, -7);
  EXPECT_EQ(Parse("1700000000.75").number, 1700000000.75);
  EXPECT_EQ(Parse("1e3").number, 1000);
  EXPECT_EQ(Parse("2.5E-1").number, 0.25);
  EXPECT_EQ(Parse("-1.5e+2").number, -150);
  EXPECT_EQ(Parse("3").type, JsonValue::Type::kNumber);
}

TEST(ParseJsonTest, MalformedNumbersAreRejected) {
  for (const char* text : {"-", "1.", ".5", "+1", "1e", "1e+", "--1", "0x10", "1.2.3"}) {
    EXPECT_TRUE(Fails(text)) << text;
  }
}

TEST(ParseJsonTest, StringEscapes) {
  EXPECT_EQ(Parse(R"("a\"b\\c\/d\b\f\n\r\t")").string, "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(Parse(R"("\u0041\u00e9\u20AC")").string, "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(Parse(R"("\u0000")").string, std::string("\0", 1));
  // A surrogate pair is one code point (U+1F600), four UTF-8 bytes.
  EXPECT_EQ(Parse(R"("\ud83d\ude00")").string, "\xf0\x9f\x98\x80");
  // Raw UTF-8 passes through.
  EXPECT_EQ(Parse("\"caf\xc3\xa9\"").string, "caf\xc3\xa9");
}

TEST(ParseJsonTest, HighSurrogateNotFollowedByLowSurrogateKeepsTheNextEscape) {
  // Python's json.dumps writes lone surrogates (from undecodable file names) as \udXXX. The
  // escape after an unpaired high surrogate is a character of its own and must not be lost.
  JsonValue v = Parse(R"("\ud800\u0041")");
  ASSERT_GE(v.string.size(), 1u);
  EXPECT_EQ(v.string.back(), 'A') << v.string;
  EXPECT_EQ(v.string.substr(0, 3), "\xed\xa0\x80");  // U+D800 as WTF-8.
  JsonValue w = Parse(R"("\udbff\ud800x")");
  EXPECT_EQ(w.string, "\xed\xaf\xbf\xed\xa0\x80x");
}

TEST(ParseJsonTest, BadStringsAreRejected) {
  EXPECT_TRUE(Fails("\"abc"));
  EXPECT_TRUE(Fails("\"abc\\"));
  EXPECT_TRUE(Fails("\"a\\qb\""));
  EXPECT_TRUE(Fails("\"\\u12\""));
  EXPECT_TRUE(Fails("\"\\u12g4\""));
  EXPECT_TRUE(Fails("\"line\nbreak\""));  // Control characters must be escaped.
  EXPECT_TRUE(Fails(std::string("\"nul\0\"", 6)));
}

TEST(ParseJsonTest, ArraysAndObjects) {
  JsonValue v = Parse(R"( { "a" : [1, "two", true, null, {"b": []}], "c": {} } )");
  ASSERT_EQ(v.type, JsonValue::Type::kObject);
  ASSERT_EQ(v.object.size(), 2u);
  const JsonValue* a = v.Find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->type, JsonValue::Type::kArray);
  ASSERT_EQ(a->array.size(), 5u);
  EXPECT_EQ(a->array[0].number, 1);
  EXPECT_EQ(a->array[1].string, "two");
  EXPECT_TRUE(a->array[2].boolean);
  EXPECT_EQ(a->array[3].type, JsonValue::Type::kNull);
  const JsonValue* b = a->array[4].Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, JsonValue::Type::kArray);
  EXPECT_TRUE(b->array.empty());
  const JsonValue* c = v.Find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->type, JsonValue::Type::kObject);
  EXPECT_TRUE(c->object.empty());
  EXPECT_EQ(Parse("[]").array.size(), 0u);
  EXPECT_EQ(Parse("[ ]").type, JsonValue::Type::kArray);
}

TEST(ParseJsonTest, FindOnlyOnObjects) {
  JsonValue v = Parse(R"({"data_mtime": 12, "version_id": "1.0.1"})");
  EXPECT_EQ(v.Find("data_mtime")->number, 12);
  EXPECT_EQ(v.Find("version_id")->string, "1.0.1");
  EXPECT_EQ(v.Find("missing"), nullptr);
  EXPECT_EQ(Parse("[1]").Find("0"), nullptr);
  EXPECT_EQ(Parse("\"data_mtime\"").Find("data_mtime"), nullptr);
}

TEST(ParseJsonTest, DuplicateKeysKeepTheLastValue) {
  EXPECT_EQ(Parse(R"({"k": 1, "k": 2})").Find("k")->number, 2);
}

TEST(ParseJsonTest, StructuralErrorsAreRejected) {
  for (const char* text : {"",
                           "   ",
                           "{",
                           "}",
                           "[",
                           "]",
                           "[1,]",
                           "[1 2]",
                           "{\"a\" 1}",
                           "{\"a\":}",
                           "{a: 1}",
                           "{\"a\": 1,}",
                           "{\"a\": 1 \"b\": 2}",
                           "[1] x",
                           "1 2",
                           "tru",
                           "nul",
                           "falsey",
                           "True",
                           "{\"a\": [}",
                           "'single'"}) {
    EXPECT_TRUE(Fails(text)) << "'" << text << "'";
  }
}

TEST(ParseJsonTest, ErrorNamesTheByteOffset) {
  absl::StatusOr<JsonValue> v = ParseJson("[1, 2, x]");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("byte 7"), absl::string_view::npos) << v.status();
}

TEST(ParseJsonTest, NestingIsLimited) {
  EXPECT_EQ(Parse(Nested(200)).type, JsonValue::Type::kArray);
  // Far beyond the limit: an error, not a stack overflow.
  EXPECT_TRUE(Fails(Nested(100000)));
  EXPECT_TRUE(Fails(Nested(300)));
}

TEST(JsonQuoteTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonQuote("l1\nl2\r\t"), R"("l1\nl2\r\t")");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\0", 3)), R"("\u0001\u001f\u0000")");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(JsonQuoteTest, EveryByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string quoted = JsonQuote(all);
  for (char c : quoted) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << quoted;
  JsonValue v = Parse(quoted);
  EXPECT_EQ(v.type, JsonValue::Type::kString);
  EXPECT_EQ(v.string, all);
  std::string path = "/tmp/we \"ird\"\\dir\n/cache.db";
  EXPECT_EQ(Parse(JsonQuote(path)).string, path);
}

TEST(JsonQuoteTest, QuotedStringsComposeIntoDocuments) {
  std::string doc =
      absl::StrCat("{", JsonQuote("k\"ey"), ": [", JsonQuote("v\n1"), ", ", JsonQuote(""), "]}");
  JsonValue v = Parse(doc);
  const JsonValue* k = v.Find("k\"ey");
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(k->array.size(), 2u);
  EXPECT_EQ(k->array[0].string, "v\n1");
  EXPECT_EQ(k->array[1].string, "");
}

}  // namespace
}  // namespace typecache
