#include "src/store/local/genlog.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

GenLog Sample() {
  GenLog log;
  log.gen = 42;
  log.parent = 41;
  log.stamps["cache.db"] = FileStamp{40960, 1763758262123456789};
  log.stamps["cache.3.db"] = FileStamp{0, 1};
  log.groups["cache.db"] = {"email/mime/text", "os/path", "@plugins_snapshot"};
  log.groups["cache.3.db"] = {"pkg/__init__"};
  return log;
}

void ExpectEqual(const GenLog& a, const GenLog& b) {
  EXPECT_EQ(a.gen, b.gen);
  EXPECT_EQ(a.parent, b.parent);
  EXPECT_EQ(a.stamps, b.stamps);
  EXPECT_EQ(a.groups, b.groups);
}

TEST(GenLogTest, SerializedFormat) {
  GenLog log;
  log.gen = 42;
  log.parent = 41;
  log.stamps["cache.db"] = FileStamp{40960, 1763758262123456789};
  log.groups["cache.db"] = {"os/path", "email/mime/text"};
  EXPECT_EQ(SerializeGenLog(log),
            "typecache-genlog 1\n"
            "gen 42\n"
            "parent 41\n"
            "stamp cache.db 40960 1763758262123456789\n"
            "group cache.db email/mime/text\n"
            "group cache.db os/path\n"
            "end\n");
}

// The text SerializeGenLog made when it built the log as one string (before it was written in
// pieces), line by line from the format in genlog.h.
std::string OneStringSerialization(const GenLog& log) {
  auto escape = [](const std::string& key) {
    return absl::StrReplaceAll(absl::CEscape(key), {{" ", "\\040"}});
  };
  std::string out =
      absl::StrCat("typecache-genlog 1\ngen ", log.gen, "\nparent ", log.parent, "\n");
  for (const auto& [file, stamp] : log.stamps) {
    absl::StrAppend(&out, "stamp ", escape(file), " ", stamp.size, " ", stamp.mtime_ns, "\n");
  }
  for (const auto& [file, groups] : log.groups) {
    for (const std::string& group : groups) {
      absl::StrAppend(&out, "group ", escape(file), " ", escape(group), "\n");
    }
  }
  return out + "end\n";
}

TEST(GenLogTest, WrittenInPiecesEqualsTheOneStringSerializationByteForByte) {
  GenLog log = Sample();
  for (int i = 0; i < 30000; ++i) {
    log.groups[i % 3 == 0 ? "cache 1.db" : "cache.db"].insert(
        absl::StrCat("pkg", i % 97, "/mod ", i, i % 5 == 0 ? "\n\xc3\xa9" : ""));
  }
  std::string expected = OneStringSerialization(log);
  ASSERT_GT(expected.size(), 1u << 20);
  std::vector<std::string> pieces;
  GenLog header = log;
  header.groups.clear();  // Not read: the groups are passed beside it.
  TC_ASSERT_OK(SerializeGenLogTo(header, log.groups, [&pieces](absl::string_view piece) {
    pieces.emplace_back(piece);
    return absl::OkStatus();
  }));
  EXPECT_GT(pieces.size(), 15u);
  for (const std::string& piece : pieces) {
    EXPECT_LE(piece.size(), (64u << 10) + 100);
    EXPECT_FALSE(piece.empty());
  }
  EXPECT_EQ(absl::StrJoin(pieces, ""), expected);
  EXPECT_EQ(SerializeGenLog(log), expected);
  absl::StatusOr<GenLog> back = ParseGenLog(expected, "g42");
  TC_ASSERT_OK(back.status());
  ExpectEqual(*back, log);
  // The first failing write stops it.
  int calls = 0;
  absl::Status s = SerializeGenLogTo(header, log.groups, [&calls](absl::string_view) {
    ++calls;
    return absl::ResourceExhaustedError("disk full");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(calls, 1);
}

TEST(GenLogTest, RoundTrip) {
  GenLog log = Sample();
  absl::StatusOr<GenLog> parsed = ParseGenLog(SerializeGenLog(log), "g42.log");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectEqual(*parsed, log);
}

// Without its groups (a generation's record): the same log but no group kept; a malformed group
// line still makes it unreadable.
TEST(GenLogTest, WithoutGroupsKeepsTheRestAndStillChecksThem) {
  GenLog log = Sample();
  absl::StatusOr<GenLog> parsed = ParseGenLog(SerializeGenLog(log), "g42.log", false);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  log.groups.clear();
  ExpectEqual(*parsed, log);
  absl::StatusOr<GenLog> bad =
      ParseGenLog("typecache-genlog 1\ngroup cache.db bad\\escape\\q\nend\n", "g.log", false);
  EXPECT_FALSE(bad.ok());
}

TEST(GenLogTest, RoundTripOfSpecialParents) {
  for (int64_t parent : {int64_t{0}, int64_t{-1}}) {
    GenLog log;
    log.gen = 1;
    log.parent = parent;
    absl::StatusOr<GenLog> parsed = ParseGenLog(SerializeGenLog(log), "g1.log");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    ExpectEqual(*parsed, log);
  }
}

TEST(GenLogTest, RoundTripOfOddKeys) {
  GenLog log;
  log.gen = 7;
  log.parent = 6;
  const std::string odd_file = "my cache.db";
  log.stamps[odd_file] = FileStamp{12, 34};
  log.stamps["tab\there"] = FileStamp{1, 2};
  log.groups[odd_file] = {
      "with space",
      "two  spaces ",
      " leading",
      "new\nline",
      "carriage\rreturn",
      "back\\slash",
      "quote\"s and 'single'",
      "tab\tbed",
      std::string("nul\0byte", 8),
      "utf8 \xc3\xa9t\xc3\xa9",
      "high\xff\x80",
      "",
  };
  log.groups["plain.db"] = {"end", "gen 5", "group x y"};
  std::string text = SerializeGenLog(log);
  // One record per line: the only newlines are record separators.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'),
            3 + 2 + static_cast<long>(CountGroups(log.groups)) + 1)
      << text;
  absl::StatusOr<GenLog> parsed = ParseGenLog(text, "g7.log");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  ExpectEqual(*parsed, log);
}

TEST(GenLogTest, TruncatedLogIsRejected) {
  std::string text = SerializeGenLog(Sample());
  ASSERT_TRUE(absl::EndsWith(text, "end\n"));
  std::string truncated = text.substr(0, text.size() - 4);
  absl::StatusOr<GenLog> parsed = ParseGenLog(truncated, "logs/3.11/g00000042.log");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss) << parsed.status();
  EXPECT_TRUE(absl::StrContains(parsed.status().message(), "logs/3.11/g00000042.log:"))
      << parsed.status();
  EXPECT_TRUE(absl::StrContains(parsed.status().message(), "truncated")) << parsed.status();

  // Every proper prefix that ends at a line boundary is rejected too.
  for (size_t i = 0; i < text.size() - 4; ++i) {
    if (i > 0 && text[i - 1] != '\n') continue;
    EXPECT_FALSE(ParseGenLog(text.substr(0, i), "x").ok()) << "prefix of " << i << " bytes";
  }
}

TEST(GenLogTest, LogCutMidLineIsRejected) {
  std::string text = SerializeGenLog(Sample());
  size_t cut = text.find("group cache.db ") + 8;
  EXPECT_FALSE(ParseGenLog(text.substr(0, cut), "x").ok());
}

TEST(GenLogTest, EmptyAndForeignTextsAreRejected) {
  EXPECT_EQ(ParseGenLog("", "x").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(ParseGenLog("typecache-genlog 2\ngen 1\nparent 0\nend\n", "x").ok());
  EXPECT_FALSE(ParseGenLog("hello\nend\n", "x").ok());
}

TEST(GenLogTest, UnknownRecordIsRejectedWithItsLine) {
  absl::StatusOr<GenLog> parsed =
      ParseGenLog("typecache-genlog 1\ngen 3\nparent 2\nfrobnicate cache.db x\nend\n", "g3.log");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(parsed.status().message(), "g3.log:4:")) << parsed.status();
  EXPECT_TRUE(absl::StrContains(parsed.status().message(), "unknown record")) << parsed.status();
}

TEST(GenLogTest, MalformedRecordsAreRejected) {
  const std::string head = "typecache-genlog 1\n";
  for (const char* body : {
           "gen x\n",
           "gen\n",
           "gen 1 2\n",
           "parent\n",
           "parent one\n",
           "stamp cache.db 10\n",
           "stamp cache.db ten 20\n",
           "stamp cache.db 10 twenty\n",
           "group cache.db\n",
           "group cache.db a b\n",
           "group cache.db bad\\escape\\q\n",
       }) {
    absl::StatusOr<GenLog> parsed = ParseGenLog(absl::StrCat(head, body, "end\n"), "g.log");
    EXPECT_FALSE(parsed.ok()) << "accepted: " << body;
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), "g.log:2:")) << parsed.status();
  }
}

TEST(GenLogTest, UnionAndCount) {
  GroupSets into = {{"cache.db", {"a", "b"}}};
  GroupSets from = {{"cache.db", {"b", "c"}}, {"cache.1.db", {"z"}}};
  UnionInto(into, from);
  EXPECT_EQ(into, (GroupSets{{"cache.db", {"a", "b", "c"}}, {"cache.1.db", {"z"}}}));
  EXPECT_EQ(CountGroups(into), 4u);
  EXPECT_EQ(CountGroups(GroupSets{}), 0u);
}

}  // namespace
}  // namespace typecache
