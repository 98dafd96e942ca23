#include "src/commands/merge_plan.h"

#include <algorithm>
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

struct Holding {
  absl::string_view group;
  size_t input;
  const ListedGroup* listed;
  size_t listing;  // Position in the listings.
  size_t index;    // Position in its listing.
};

// Every listed group with its holder, sorted by group, holders in input order: each run of equal
// groups is one group's holders. Views into `listings` (no name copied; 32 + 16 bytes a group).
std::vector<Holding> Holders(const std::vector<InputListing>& listings) {
  std::vector<Holding> holders;
  size_t total = 0;
  for (const InputListing& listing : listings) total += listing.groups.size();
  holders.reserve(total);
  for (size_t l = 0; l < listings.size(); ++l) {
    const std::vector<ListedGroup>& groups = listings[l].groups;
    for (size_t i = 0; i < groups.size(); ++i) {
      holders.push_back({groups[i].group, listings[l].input, &groups[i], l, i});
    }
  }
  std::stable_sort(holders.begin(), holders.end(),
                   [](const Holding& a, const Holding& b) { return a.group < b.group; });
  return holders;
}

// Calls `visit(first, last)` for each run of holders of one group.
template <typename Visit>
void ForEachGroupHeld(const std::vector<Holding>& holders, Visit visit) {
  for (size_t start = 0; start < holders.size();) {
    size_t end = start + 1;
    while (end < holders.size() && holders[end].group == holders[start].group) ++end;
    visit(&holders[start], &holders[end]);
    start = end;
  }
}

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

std::map<size_t, std::set<std::string>> GroupsToDigest(const std::vector<InputListing>& listings) {
  std::map<size_t, std::set<std::string>> out;
  ForEachGroupHeld(Holders(listings), [&out](const Holding* first, const Holding* last) {
    if (last - first < 2) return;
    for (const Holding* h = first; h != last; ++h) {
      if (h->listed->stamp != first->listed->stamp) return;  // A conflict whatever the data.
    }
    for (const Holding* h = first; h != last; ++h) out[h->input].emplace(first->group);
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
  ForEachGroupHeld(Holders(listings), [&](const Holding* first, const Holding* last) {
    const Holding* best = first;
    const std::optional<uint64_t>& digest0 = first->listed->digest;
    const uint64_t stamp0 = first->listed->stamp;
    bool differ = false;
    for (const Holding* h = first + 1; h != last; ++h) {
      const std::optional<uint64_t>& digest = h->listed->digest;
      differ = differ || h->listed->stamp != stamp0 || !digest.has_value() ||
               !digest0.has_value() || *digest != *digest0;
      if (Better(prefer, h->listed->rank, best->listed->rank)) best = h;
    }
    if (differ) ++plan.num_conflicts;
    if (name_groups) {
      if (differ) plan.conflicts.emplace(first->group);
      plan.source.emplace(std::string(first->group), best->input);
    }
    plan.taken[best->listing][best->index] = true;
    if (best->input < plan.groups_from.size()) ++plan.groups_from[best->input];
  });
  return plan;
}

}  // namespace typecache
