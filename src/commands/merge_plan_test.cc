// The pure steps of merge: which input each group comes from, which groups are conflicts, and
// which inputs cannot be merged; on listings alone, no database.
#include "src/commands/merge_plan.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace typecache {
namespace {

// A listing from "group:rank:digest" entries (digest 0: none).
InputListing L(size_t input, const std::vector<std::tuple<std::string, double, uint64_t>>& g) {
  InputListing listing;
  listing.input = input;
  for (const auto& [group, rank, digest] : g) {
    ListedGroup lg{group, rank, {}};
    if (digest != 0) lg.digest = digest;
    listing.groups.push_back(lg);
  }
  return listing;
}

TEST(PlanMergeTest, DisjointGroupsComeFromTheirOnlyHolder) {
  MergePlan plan = PlanMerge({L(0, {{"a", 1, 0}}), L(1, {{"b", 1, 0}}), L(2, {{"c", 1, 0}})},
                             Prefer::kNewest, 3);
  EXPECT_EQ(plan.source, (std::map<std::string, size_t>{{"a", 0}, {"b", 1}, {"c", 2}}));
  EXPECT_TRUE(plan.conflicts.empty());
  EXPECT_EQ(plan.groups_from, (std::vector<int64_t>{1, 1, 1}));
}

TEST(PlanMergeTest, NewestWinsAndTiesGoToTheEarlierInput) {
  std::vector<InputListing> l = {L(0, {{"x", 5, 11}, {"t", 7, 21}}),
                                 L(1, {{"x", 9, 12}, {"t", 7, 22}}),
                                 L(2, {{"x", 6, 13}, {"t", 7, 23}})};
  MergePlan plan = PlanMerge(l, Prefer::kNewest, 3);
  EXPECT_EQ(plan.source.at("x"), 1u);
  EXPECT_EQ(plan.source.at("t"), 0u);
  EXPECT_EQ(plan.groups_from, (std::vector<int64_t>{1, 1, 0}));
}

TEST(PlanMergeTest, FirstAndLastGoByInputOrder) {
  std::vector<InputListing> l = {L(1, {{"x", 9, 1}}), L(2, {{"x", 1, 2}}), L(3, {{"x", 5, 3}})};
  EXPECT_EQ(PlanMerge(l, Prefer::kFirst, 4).source.at("x"), 1u);
  EXPECT_EQ(PlanMerge(l, Prefer::kLast, 4).source.at("x"), 3u);
}

TEST(PlanMergeTest, ConflictsAreGroupsWhoseContentsDiffer) {
  std::vector<InputListing> l = {
      L(0, {{"same", 1, 42}, {"diff", 1, 1}, {"third", 1, 7}, {"alone", 1, 0}}),
      L(1, {{"same", 2, 42}, {"diff", 2, 2}, {"third", 2, 7}}), L(2, {{"third", 3, 8}})};
  MergePlan plan = PlanMerge(l, Prefer::kNewest, 3);
  // Byte-identical copies are no conflict; one differing holder among equal ones is.
  EXPECT_EQ(plan.conflicts, (std::set<std::string>{"diff", "third"}));
  EXPECT_EQ(plan.source.at("same"), 1u);  // Still chosen by the rule.
}

TEST(PlanMergeTest, HoldersWithoutDigestsCountAsDifferent) {
  MergePlan plan = PlanMerge({L(0, {{"x", 1, 0}}), L(1, {{"x", 2, 5}})}, Prefer::kNewest, 2);
  EXPECT_EQ(plan.conflicts, (std::set<std::string>{"x"}));
}

TEST(PlanMergeTest, GroupsToDigestAreThoseSeveralInputsHold) {
  std::vector<InputListing> l = {L(0, {{"a", 1, 0}, {"s", 1, 0}}),
                                 L(3, {{"s", 1, 0}, {"b", 1, 0}})};
  EXPECT_EQ(GroupsToDigest(l), (std::map<size_t, std::set<std::string>>{{0, {"s"}}, {3, {"s"}}}));
}

// Holders whose stamps (row count, mtimes) differ cannot be byte-identical: they are conflicts
// without being digested; holders with equal stamps are digested and compared.
TEST(PlanMergeTest, DifferentStampsAreConflictsWithoutDigests) {
  std::vector<InputListing> l = {L(0, {{"s", 1, 0}, {"t", 1, 0}}),
                                 L(1, {{"s", 1, 0}, {"t", 1, 0}})};
  l[1].groups[0].stamp = 7;  // "s" differs in its mtimes; "t" has the same stamps everywhere.
  EXPECT_EQ(GroupsToDigest(l), (std::map<size_t, std::set<std::string>>{{0, {"t"}}, {1, {"t"}}}));
  l[0].groups[1].digest = 5;
  l[1].groups[1].digest = 5;
  MergePlan plan = PlanMerge(l, Prefer::kNewest, 2);
  EXPECT_EQ(plan.conflicts, (std::set<std::string>{"s"}));
}

InputFacts Dir(const std::string& path, const std::map<std::string, std::set<std::string>>& files,
               const std::vector<InputDbFacts>& dbs) {
  InputFacts f;
  f.path = path;
  f.files_by_dir = files;
  f.dbs = dbs;
  return f;
}

TEST(CheckCanMergeTest, SameFormatsAndVersionsMerge) {
  InputFacts dest = Dir("/d", {{"3.11", {"cache.db"}}}, {{"/d/db", "t2", {"1.0"}}});
  InputFacts a = Dir("/a", {{"3.11", {"cache.db"}}, {"3.12", {"cache.db"}}},
                     {{"/a/db", "t2", {"1.0"}}, {"/a/db2", "", {}}});
  EXPECT_TRUE(CheckCanMerge(dest, {a}, false, "mypy").ok());
}

TEST(CheckCanMergeTest, DifferentShardLayoutsAreRefused) {
  InputFacts dest = Dir("/d", {}, {});
  dest.exists = false;
  InputFacts a = Dir("/a", {{"3.11", {"cache.0.db", "cache.1.db"}}}, {});
  InputFacts b = Dir("/b", {{"3.11", {"cache.db"}}}, {});
  absl::Status s = CheckCanMerge(dest, {a, b}, false, "mypy");
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("/b: 3.11 has 1 database files but /a has 2"), std::string::npos) << s;
}

TEST(CheckCanMergeTest, DifferentTableFormatsAreRefused) {
  InputFacts dest = Dir("/d", {}, {{"/d/db", "t2", {}}});
  InputFacts a = Dir("/a", {}, {{"/a/db", "t1", {}}});
  absl::Status s = CheckCanMerge(dest, {a}, /*allow_mixed=*/true, "mypy");
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("/a/db: table format t1 cannot be merged with t2 of /d/db"),
            std::string::npos)
      << s;
}

TEST(CheckCanMergeTest, MixedVersionsOnlyWhenAllowed) {
  InputFacts dest = Dir("/d", {}, {{"/d/db", "t", {"1.0.1"}}});
  InputFacts a = Dir("/a", {}, {{"/a/db", "t", {"1.4.0"}}});
  absl::Status s = CheckCanMerge(dest, {a}, false, "mypy");
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("mypy versions 1.0.1, 1.4.0 would be mixed"), std::string::npos) << s;
  EXPECT_TRUE(CheckCanMerge(dest, {a}, true, "mypy").ok());
}

TEST(CheckCanMergeTest, FilesAndDirectoriesDoNotMix) {
  InputFacts dest = Dir("/d", {}, {});
  InputFacts file;
  file.path = "/f.db";
  file.is_file = true;
  EXPECT_TRUE(absl::IsInvalidArgument(CheckCanMerge(dest, {file}, false, "mypy")));
  InputFacts dest_file = file;
  dest_file.path = "/out.db";
  EXPECT_TRUE(CheckCanMerge(dest_file, {file}, false, "mypy").ok());
  // A cache directory into a database file, new or existing: Merge picks its <X.Y>.
  dest_file.exists = true;
  EXPECT_TRUE(CheckCanMerge(dest_file, {dest}, false, "mypy").ok());
}

TEST(ParsePreferTest, Values) {
  EXPECT_EQ(*ParsePrefer("newest"), Prefer::kNewest);
  EXPECT_EQ(*ParsePrefer("first"), Prefer::kFirst);
  EXPECT_EQ(*ParsePrefer("last"), Prefer::kLast);
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePrefer("oldest").status()));
}

}  // namespace
}  // namespace typecache
