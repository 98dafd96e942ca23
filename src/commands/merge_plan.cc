#include "src/commands/merge_plan.h"

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
  size_t input;
  const ListedGroup* listed;
};

// The holders of every group, in input order.
std::map<std::string, std::vector<Holding>> Holders(const std::vector<InputListing>& listings) {
  std::map<std::string, std::vector<Holding>> holders;
  for (const InputListing& listing : listings) {
    for (const ListedGroup& g : listing.groups) holders[g.group].push_back({listing.input, &g});
  }
  return holders;
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
  for (const auto& [group, held] : Holders(listings)) {
    if (held.size() < 2) continue;
    bool same_stamps = true;
    for (const Holding& h : held) same_stamps &= h.listed->stamp == held.front().listed->stamp;
    if (!same_stamps) continue;  // A conflict whatever the data: no need to read it.
    for (const Holding& h : held) out[h.input].insert(group);
  }
  return out;
}

MergePlan PlanMerge(const std::vector<InputListing>& listings, Prefer prefer, size_t num_inputs) {
  MergePlan plan;
  plan.groups_from.assign(num_inputs, 0);
  for (const auto& [group, held] : Holders(listings)) {
    if (held.empty()) continue;
    const Holding* best = &held.front();
    const std::optional<uint64_t>& first = best->listed->digest;
    const uint64_t best_stamp = best->listed->stamp;
    bool differ = false;
    for (size_t i = 1; i < held.size(); ++i) {
      const Holding& h = held[i];
      const std::optional<uint64_t>& digest = h.listed->digest;
      differ = differ || h.listed->stamp != best_stamp || !digest.has_value() ||
               !first.has_value() || *digest != *first;
      if (Better(prefer, h.listed->rank, best->listed->rank)) best = &h;
    }
    if (differ) plan.conflicts.insert(group);
    plan.source.emplace(group, best->input);
    if (best->input < plan.groups_from.size()) ++plan.groups_from[best->input];
  }
  return plan;
}

}  // namespace typecache
