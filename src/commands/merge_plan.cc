#include "src/commands/merge_plan.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/enum_names.h"

namespace typecache {

absl::StatusOr<Prefer> ParsePrefer(absl::string_view text) {
  static constexpr EnumName<Prefer> kPrefers[] = {
      {Prefer::kNewest, "newest"}, {Prefer::kFirst, "first"}, {Prefer::kLast, "last"}};
  return ParseName(text, kPrefers, "--prefer");
}

ListedGroups& ListedGroups::operator=(const ListedGroups& other) {
  if (this == &other) return *this;
  *this = ListedGroups();
  for (const ListedGroup& g : other) Add(g.group, g.rank, g.digest, g.stamp);
  return *this;
}

ListedGroups::ListedGroups(ListedGroups&& other) noexcept
    : records_(std::move(other.records_)),
      blocks_(std::move(other.blocks_)),
      used_(other.used_),
      large_(std::move(other.large_)),
      large_bytes_(other.large_bytes_) {
  other = ListedGroups();
}

ListedGroups& ListedGroups::operator=(ListedGroups&& other) noexcept {
  if (this == &other) return *this;
  records_.swap(other.records_);
  blocks_.swap(other.blocks_);
  std::swap(used_, other.used_);
  large_.swap(other.large_);
  std::swap(large_bytes_, other.large_bytes_);
  other.records_.clear();
  other.blocks_.clear();
  other.used_ = kBlock;
  other.large_.clear();
  other.large_bytes_ = 0;
  return *this;
}

ListedGroup& ListedGroups::Add(absl::string_view group, double rank, std::optional<uint64_t> digest,
                               uint64_t stamp) {
  const uint32_t size = static_cast<uint32_t>(group.size());
  const size_t n = sizeof(size) + group.size();
  char* at;
  if (n > kBlock) {
    large_.push_back(std::make_unique<char[]>(n));
    large_bytes_ += n;
    at = large_.back().get();
  } else {
    if (kBlock - used_ < n) {
      blocks_.push_back(std::make_unique<char[]>(kBlock));
      used_ = 0;
    }
    at = blocks_.back().get() + used_;
    used_ += n;
  }
  std::memcpy(at, &size, sizeof(size));
  if (!group.empty()) std::memcpy(at + sizeof(size), group.data(), group.size());
  records_.push_back({GroupName(at + sizeof(size)), rank, digest, stamp});
  return records_.back();
}

namespace {

const char* KindName(bool is_file) { return is_file ? "database file" : "cache directory"; }

// Every input's <X.Y> must hold the same database files as the first input that has it.
absl::Status CheckLayouts(const std::vector<const InputFacts*>& all) {
  std::map<std::string, std::pair<const InputFacts*, const std::set<std::string>*>> first;
  for (const InputFacts* in : all) {
    for (const auto& [dir, files] : in->files_by_dir) {
      auto [it, inserted] = first.emplace(dir, std::make_pair(in, &files));
      if (!inserted && *it->second.second != files) {
        return absl::FailedPreconditionError(
            absl::StrCat(in->path, ": ", dir, " has ", files.size(), " database files but ",
                         it->second.first->path, " has ", it->second.second->size(),
                         " (different shard counts cannot be merged)"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCanMerge(const InputFacts& dest, const std::vector<InputFacts>& sources,
                           bool allow_mixed, absl::string_view checker) {
  for (const InputFacts& s : sources) {
    // A database file into a cache directory has no <X.Y> to go to; a cache directory into a
    // database file gives it the database of one <X.Y> (Merge refuses a choice of several).
    if (s.is_file && !dest.is_file) {
      return absl::InvalidArgumentError(absl::StrCat(
          s.path, ": cannot merge a ", KindName(s.is_file), " into a ", KindName(dest.is_file)));
    }
  }
  std::vector<const InputFacts*> all = {&dest};
  for (const InputFacts& s : sources) all.push_back(&s);
  if (!dest.is_file) {
    absl::Status layouts = CheckLayouts(all);
    if (!layouts.ok()) return layouts;
  }
  std::string format, format_from;
  std::set<std::string> versions;
  for (const InputFacts* in : all) {
    for (const InputDbFacts& db : in->dbs) {
      if (!db.format.empty()) {
        if (format.empty()) {
          format = db.format;
          format_from = db.path;
        } else if (db.format != format) {
          return absl::FailedPreconditionError(
              absl::StrCat(db.path, ": table format ", db.format, " cannot be merged with ", format,
                           " of ", format_from, " (different ", checker, " cache formats)"));
        }
      }
      versions.insert(db.versions.begin(), db.versions.end());
      if (versions.size() > 1 && !allow_mixed) {
        return absl::FailedPreconditionError(
            absl::StrCat(db.path, ": ", checker, " versions ", absl::StrJoin(versions, ", "),
                         " would be mixed (use --allow-mixed to merge anyway)"));
      }
    }
  }
  return absl::OkStatus();
}

namespace {

// One listed group: its listing (position in the listings) and its position there. 8 bytes; the
// rest is read through `Listed`.
struct Holding {
  uint32_t listing;
  uint32_t index;
};

class Holders {
 public:
  // Every listed group in group order, holders in input order: each run of equal groups is one
  // group's holders. Listings each sorted by group (as `merge` lists them) are merged as they are,
  // with nothing held but one group's holders; otherwise every holding is copied and sorted (no
  // name copied: 8 bytes a listed group).
  explicit Holders(const std::vector<InputListing>& listings) : listings_(listings) {
    bool sorted = true;
    for (const InputListing& listing : listings) {
      sorted = sorted && std::is_sorted(listing.groups.begin(), listing.groups.end(),
                                        [](const ListedGroup& a, const ListedGroup& b) {
                                          return a.group < b.group;
                                        });
    }
    if (sorted) return;
    merged_ = false;
    size_t total = 0;
    for (const InputListing& listing : listings) total += listing.groups.size();
    holders_.reserve(total);
    for (size_t l = 0; l < listings.size(); ++l) {
      for (size_t i = 0; i < listings[l].groups.size(); ++i) {
        holders_.push_back({static_cast<uint32_t>(l), static_cast<uint32_t>(i)});
      }
    }
    std::sort(holders_.begin(), holders_.end(), [this](const Holding& a, const Holding& b) {
      int c = Listed(a).group.compare(Listed(b).group);
      if (c != 0) return c < 0;
      return a.listing != b.listing ? a.listing < b.listing : a.index < b.index;
    });
  }
  const ListedGroup& Listed(const Holding& h) const { return listings_[h.listing].groups[h.index]; }
  size_t Input(const Holding& h) const { return listings_[h.listing].input; }
  size_t sorted() const { return holders_.size(); }
  // Calls `visit(first, last)` for each run of holders of one group.
  template <typename Visit>
  void ForEachGroup(Visit visit) const {
    if (merged_) {
      // The least group at any listing's cursor, then its holders listing by listing: the order
      // the sort gives (group, listing, index). O(listed x listings).
      std::vector<uint32_t> at(listings_.size(), 0);
      std::vector<Holding> run;
      for (;;) {
        const GroupName* least = nullptr;
        for (size_t l = 0; l < listings_.size(); ++l) {
          if (at[l] == listings_[l].groups.size()) continue;
          const GroupName& g = listings_[l].groups[at[l]].group;
          if (least == nullptr || g < *least) least = &g;
        }
        if (least == nullptr) return;
        const GroupName group = *least;
        run.clear();
        for (size_t l = 0; l < listings_.size(); ++l) {
          const ListedGroups& groups = listings_[l].groups;
          while (at[l] < groups.size() && groups[at[l]].group == group) {
            run.push_back({static_cast<uint32_t>(l), at[l]++});
          }
        }
        visit(run.data(), run.data() + run.size());
      }
    }
    for (size_t start = 0; start < holders_.size();) {
      size_t end = start + 1;
      const GroupName& group = Listed(holders_[start]).group;
      while (end < holders_.size() && Listed(holders_[end]).group == group) ++end;
      visit(holders_.data() + start, holders_.data() + end);
      start = end;
    }
  }

 private:
  const std::vector<InputListing>& listings_;
  bool merged_ = true;
  std::vector<Holding> holders_;
};

bool Better(Prefer prefer, double candidate, double best) {
  switch (prefer) {
    case Prefer::kNewest:
      return candidate > best;
    case Prefer::kFirst:
      return false;
    case Prefer::kLast:
      return true;
  }
  return false;
}

}  // namespace

void ForEachGroupToDigest(const std::vector<InputListing>& listings,
                          const std::function<void(size_t listing, size_t index)>& visit) {
  const Holders holders(listings);
  holders.ForEachGroup([&](const Holding* first, const Holding* last) {
    if (last - first < 2) return;
    const ListedGroup& g0 = holders.Listed(*first);
    for (const Holding* h = first; h != last; ++h) {
      if (holders.Listed(*h).stamp != g0.stamp) return;  // A conflict whatever the data.
    }
    for (const Holding* h = first; h != last; ++h) visit(h->listing, h->index);
  });
}

std::map<size_t, std::set<std::string>> GroupsToDigest(const std::vector<InputListing>& listings) {
  std::map<size_t, std::set<std::string>> out;
  ForEachGroupToDigest(listings, [&](size_t listing, size_t index) {
    out[listings[listing].input].insert(listings[listing].groups[index].group);
  });
  return out;
}

MergePlan PlanMerge(const std::vector<InputListing>& listings, Prefer prefer, size_t num_inputs,
                    bool name_groups) {
  MergePlan plan;
  plan.groups_from.assign(num_inputs, 0);
  plan.taken.resize(listings.size());
  for (size_t l = 0; l < listings.size(); ++l)
    plan.taken[l].assign(listings[l].groups.size(), false);
  const Holders holders(listings);
  plan.holdings_sorted = holders.sorted();
  holders.ForEachGroup([&](const Holding* first, const Holding* last) {
    const Holding* best = first;
    const ListedGroup& g0 = holders.Listed(*first);
    bool differ = false;
    for (const Holding* h = first + 1; h != last; ++h) {
      const ListedGroup& g = holders.Listed(*h);
      differ = differ || g.stamp != g0.stamp || !g.digest.has_value() || !g0.digest.has_value() ||
               *g.digest != *g0.digest;
      if (Better(prefer, g.rank, holders.Listed(*best).rank)) best = h;
    }
    if (differ) ++plan.num_conflicts;
    size_t input = holders.Input(*best);
    if (name_groups) {
      if (differ) plan.conflicts.insert(g0.group);
      plan.source.emplace(g0.group, input);
    }
    plan.taken[best->listing][best->index] = true;
    if (input < plan.groups_from.size()) ++plan.groups_from[input];
  });
  return plan;
}

}  // namespace typecache
