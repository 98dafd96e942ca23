#include "src/base/json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

TEST(JsonTextTest, ValidUtf8IsKept) {
  for (std::string s : {std::string(""), std::string("plain"), std::string("plain/path"),
                        std::string("caf\xc3\xa9"), std::string("\xe2\x82\xac \xf0\x9f\x98\x80"),
                        std::string("\xf0\x9f\x98\x80"), std::string("\0x", 2)}) {
    EXPECT_EQ(JsonText(s), s);
  }
}

TEST(JsonTextTest, OtherBytesReadAsLatin1) {
  // Latin-1 é -> U+00E9; truncated, overlong ('/'), surrogate and out-of-range sequences: each
  // byte on its own.
  ExpectEachMapsTo(JsonText, {{"caf\xe9", "caf\xc3\xa9"},
                              {"\xff", "\xc3\xbf"},
                              {"\xff\xfe", "\xc3\xbf\xc3\xbe"},
                              {"\xc3", "\xc3\x83"},
                              {"\xe2\x82", "\xc3\xa2\xc2\x82"},
                              {"\xc0\xaf", "\xc3\x80\xc2\xaf"},
                              {"\xed\xa0\x80", "\xc3\xad\xc2\xa0\xc2\x80"},
                              {"\xf4\x90\x80\x80", "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80"}});
}

TEST(JsonQuoteTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonQuote("l1\nl2\r\t"), R"("l1\nl2\r\t")");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\0", 3)), R"("\u0001\u001f\u0000")");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), R"("caf\u00e9")");
}

TEST(JsonQuoteTest, EveryByteGivesValidAsciiJson) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string quoted = JsonQuote(all);
  for (char c : quoted) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20) << quoted;
    EXPECT_LT(static_cast<unsigned char>(c), 0x80) << quoted;
  }
  nlohmann::json v = nlohmann::json::parse(quoted, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(v.is_string()) << quoted;
  std::string parsed = v.get<std::string>();
  ASSERT_EQ(parsed.size(), 128u + 2 * 128u);  // ASCII as is, the rest two bytes each.
  EXPECT_EQ(parsed.substr(0, 128), all.substr(0, 128));
  EXPECT_EQ(parsed.substr(128, 2), "\xc2\x80");
  std::string path = "/tmp/we \"ird\"\\dir\n/cache.db";
  EXPECT_EQ(nlohmann::json::parse(JsonQuote(path)).get<std::string>(), path);
}

TEST(DumpJsonTest, OneLineDocument) {
  nlohmann::ordered_json doc = {{"k\"ey", {JsonText("v\n1"), JsonText("\xe9")}}, {"n", 3}};
  std::string text = DumpJson(doc);
  EXPECT_EQ(text, R"({"k\"ey":["v\n1","\u00e9"],"n":3})");
  nlohmann::json back = nlohmann::json::parse(text);
  EXPECT_EQ(back["k\"ey"][0], "v\n1");
}

}  // namespace
}  // namespace typecache
