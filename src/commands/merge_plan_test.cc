// The pure steps of merge: which input each group comes from, which groups are conflicts, and
// which inputs cannot be merged; on listings alone, no database.
#include "src/commands/merge_plan.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace typecache {
namespace {

// A listing from "group:rank:digest" entries (digest 0: none).
InputListing L(size_t input, const std::vector<std::tuple<std::string, double, uint64_t>>& g) {
  InputListing listing;
  listing.input = input;
  for (const auto& [group, rank, digest] : g) {
    ListedGroup& lg = listing.groups.Add(group, rank);
    if (digest != 0) lg.digest = digest;
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

// The plan as PlanMerge made it with a map from each group's name to its holders (before it
// planned over views sorted by group, without copying the names).
MergePlan MapPlan(const std::vector<InputListing>& listings, Prefer prefer, size_t num_inputs) {
  std::map<std::string, std::vector<std::pair<size_t, const ListedGroup*>>> holders;
  for (const InputListing& listing : listings) {
    for (const ListedGroup& g : listing.groups) holders[g.group].push_back({listing.input, &g});
  }
  MergePlan plan;
  plan.groups_from.assign(num_inputs, 0);
  for (const auto& [group, held] : holders) {
    auto best = held.front();
    bool differ = false;
    for (size_t i = 1; i < held.size(); ++i) {
      const ListedGroup& g = *held[i].second;
      const ListedGroup& first = *held.front().second;
      differ = differ || g.stamp != first.stamp || !g.digest || !first.digest ||
               *g.digest != *first.digest;
      bool better =
          prefer == Prefer::kLast || (prefer == Prefer::kNewest && g.rank > best.second->rank);
      if (better) best = held[i];
    }
    if (differ) plan.conflicts.insert(group);
    plan.source.emplace(group, best.first);
    ++plan.groups_from[best.first];
  }
  return plan;
}

// Random listings (unsorted, a group sometimes listed twice by one input, equal and different
// digests, stamps and ranks): the plan names the same sources, conflicts and counts as MapPlan,
// and without naming the groups, `taken` marks exactly one copy of each group, of its source.
TEST(PlanMergeTest, SameResultAsTheMapOfHoldersWithoutCopyingNames) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<InputListing> listings;
    size_t inputs = 1 + rng() % 4;
    for (size_t in = 0; in < inputs; ++in) {
      if (rng() % 5 == 0) continue;  // An input without this database.
      InputListing listing;
      listing.input = in;
      size_t n = rng() % 30;
      for (size_t i = 0; i < n; ++i) {
        std::string name = absl::StrCat("g", rng() % 25);
        double rank = static_cast<double>(rng() % 4);
        ListedGroup& g = listing.groups.Add(name, rank);
        if (rng() % 4 != 0) g.digest = rng() % 3;
        g.stamp = rng() % 2;
      }
      listings.push_back(listing);
    }
    for (Prefer prefer : {Prefer::kNewest, Prefer::kFirst, Prefer::kLast}) {
      MergePlan want = MapPlan(listings, prefer, inputs);
      MergePlan named = PlanMerge(listings, prefer, inputs);
      EXPECT_EQ(named.source, want.source);
      EXPECT_EQ(named.conflicts, want.conflicts);
      EXPECT_EQ(named.groups_from, want.groups_from);
      MergePlan plan = PlanMerge(listings, prefer, inputs, /*name_groups=*/false);
      EXPECT_TRUE(plan.source.empty());
      EXPECT_TRUE(plan.conflicts.empty());
      EXPECT_EQ(plan.num_conflicts, static_cast<int64_t>(want.conflicts.size()));
      EXPECT_EQ(plan.groups_from, want.groups_from);
      std::map<std::string, size_t> taken;
      ASSERT_EQ(plan.taken.size(), listings.size());
      for (size_t l = 0; l < listings.size(); ++l) {
        ASSERT_EQ(plan.taken[l].size(), listings[l].groups.size());
        for (size_t i = 0; i < listings[l].groups.size(); ++i) {
          if (!plan.taken[l][i]) continue;
          EXPECT_TRUE(taken.emplace(listings[l].groups[i].group, listings[l].input).second)
              << "two copies of " << listings[l].groups[i].group << " taken";
        }
      }
      EXPECT_EQ(taken, want.source);
    }
    // Sorted by group, as `merge` lists them: merged as they are, no holding copied or sorted.
    std::vector<InputListing> sorted = listings;
    for (InputListing& listing : sorted) {
      std::stable_sort(
          listing.groups.begin(), listing.groups.end(),
          [](const ListedGroup& a, const ListedGroup& b) { return a.group < b.group; });
    }
    for (Prefer prefer : {Prefer::kNewest, Prefer::kFirst, Prefer::kLast}) {
      MergePlan want = MapPlan(sorted, prefer, inputs);
      MergePlan named = PlanMerge(sorted, prefer, inputs);
      EXPECT_EQ(named.holdings_sorted, 0u);
      EXPECT_EQ(named.source, want.source);
      EXPECT_EQ(named.conflicts, want.conflicts);
      EXPECT_EQ(named.groups_from, want.groups_from);
      EXPECT_EQ(GroupsToDigest(sorted), GroupsToDigest(listings));
    }
  }
}

// Listings own their names (the string given to Add may change or go), packed in blocks: their
// memory is the names' bytes (and a 4-byte length each) and at most one block partly filled, not
// a string per group; records are 40 bytes; copies are deep, moves keep every record valid.
TEST(ListedGroupsTest, NamesAreCopiedIntoPackedBlocks) {
  static_assert(sizeof(ListedGroup) <= 40, "a listed group's record grew");
  const size_t n = 20000;  // Several blocks of names.
  std::vector<std::string> want, given;
  for (size_t i = 0; i < n; ++i) want.push_back(absl::StrCat("pkg/sub", i % 97, "/module", i));
  want.push_back(std::string(ListedGroups::kBlock + 5, 'h'));  // Longer than a block.
  want.push_back("");
  given = want;
  ListedGroups groups;
  size_t name_bytes = 0;
  for (size_t i = 0; i < given.size(); ++i) {
    name_bytes += 4 + given[i].size();
    ListedGroup& g = groups.Add(given[i], static_cast<double>(i));
    if (i % 2 == 0) g.digest = i;
  }
  // The caller's strings change: the listing's copies do not.
  for (std::string& name : given) name.assign(name.size(), '#');
  EXPECT_GE(groups.name_bytes(), name_bytes);
  EXPECT_LE(groups.name_bytes(), name_bytes + ListedGroups::kBlock + ListedGroups::kBlock / 64);
  auto expect_listed = [&](const ListedGroups& l) {
    ASSERT_EQ(l.size(), want.size());
    for (size_t i = 0; i < l.size(); ++i) {
      ASSERT_EQ(l[i].group, want[i]) << i;
      EXPECT_EQ(l[i].rank, static_cast<double>(i));
      EXPECT_EQ(l[i].digest.has_value(), i % 2 == 0);
    }
  };
  expect_listed(groups);
  ListedGroups copy = groups;
  ListedGroups moved = std::move(groups);
  EXPECT_TRUE(groups.empty());  // NOLINT: moved from, on purpose.
  expect_listed(moved);
  moved = ListedGroups();
  expect_listed(copy);  // Its own names, not the moved ones'.
  std::vector<InputListing> listings(1);
  listings[0].groups = std::move(copy);
  for (int i = 0; i < 8; ++i) listings.emplace_back();  // Reallocation moves the listings.
  expect_listed(listings[0].groups);
}

TEST(ParsePreferTest, Values) {
  EXPECT_EQ(*ParsePrefer("newest"), Prefer::kNewest);
  EXPECT_EQ(*ParsePrefer("first"), Prefer::kFirst);
  EXPECT_EQ(*ParsePrefer("last"), Prefer::kLast);
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePrefer("oldest").status()));
}

}  // namespace
}  // namespace typecache
