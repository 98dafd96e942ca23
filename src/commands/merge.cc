#include "src/commands/merge.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "src/base/json.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"
#include "src/commands/config.h"
#include "src/os/writeback.h"

namespace typecache {
namespace {

constexpr size_t kMaxListedGroups = 200000;  // Beyond this the change is logged as unlisted.
constexpr int kVersionSample = 200;          // Groups per database whose versions are checked.

struct Input {
  size_t index;  // Position in MergeReport::inputs.
  std::string path;
};

// Groups copied per ReplaceGroups call (one transaction per input either way): the progress
// line moves while a large input is copied.
constexpr size_t kCopyBatch = 2000;

// ---- Check: what each input is ----

// The tables of `path` the checker reads (its cache tables but those DeadTables names), and
// the checker versions of its first groups (a sample, not a full scan).
absl::StatusOr<InputDbFacts> DbFacts(const CheckerAdapter& adapter, const std::string& path) {
  InputDbFacts facts;
  facts.path = path;
  ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenReadOnly(path));
  ASSIGN_OR_RETURN(std::vector<std::string> tables, db.ListTables());
  std::map<std::string, std::string> dead = adapter.DeadTables(tables);
  std::vector<std::string> live;
  for (const std::string& t : adapter.tables()) {
    if (std::count(tables.begin(), tables.end(), t) > 0 && dead.count(t) == 0) live.push_back(t);
  }
  facts.format = absl::StrJoin(live, "+");
  int seen = 0;
  absl::Status status = db.ForEachGroup(adapter, [&](const GroupInfo& g) {
    if (!g.version.empty()) facts.versions.insert(g.version);
    return ++seen >= kVersionSample ? absl::CancelledError("enough") : absl::OkStatus();
  });
  if (!status.ok() && !absl::IsCancelled(status)) return status;
  return facts;
}

absl::StatusOr<InputFacts> FactsOf(const CheckerAdapter& adapter, const Target& target) {
  InputFacts facts;
  facts.path = target.path;
  facts.is_file = target.kind == Target::Kind::kFile;
  facts.exists = false;
  for (const DbRef& ref : target.dbs) {
    if (ref.path.empty()) continue;  // A new destination file: nothing to read yet.
    facts.exists = true;
    RETURN_IF_ERROR(CheckReadable(ref.path));
    if (!facts.is_file) facts.files_by_dir[ref.dir].insert(ref.file);
    ASSIGN_OR_RETURN(InputDbFacts db, DbFacts(adapter, ref.path));
    facts.dbs.push_back(std::move(db));
  }
  return facts;
}

// ---- Plan: the listings ----

// `with_digests`: every group's digest too (one scan of the data), and `content_digest` gets
// the file's content digest (CacheFile::ContentDigest), so that the merged copy's digest follows
// from it without reading the result again.
absl::StatusOr<InputListing> ListInput(CacheFile& db, const CheckerAdapter& adapter, size_t input,
                                       bool with_digests = false,
                                       uint64_t* content_digest = nullptr) {
  InputListing listing;
  listing.input = input;
  ASSIGN_OR_RETURN(CacheFile::Transaction read, db.BeginRead());
  // Straight into the compact records (ListedGroups: no list of GroupStamps beside them, no
  // string per group), then sorted.
  RETURN_IF_ERROR(db.ForEachGroupStamp(
      adapter,
      [&listing](GroupStamp& g) {
        uint64_t stamp = absl::HashOf(g.rows, g.newest_mtime, g.data_row_mtime.has_value(),
                                      g.data_row_mtime.value_or(0));
        std::optional<uint64_t> digest;
        if (g.digest.has_value()) digest = g.digest->exact;
        listing.groups.Add(g.group, g.data_row_mtime.value_or(g.newest_mtime), digest, stamp);
      },
      "main", with_digests));
  std::sort(listing.groups.begin(), listing.groups.end(),
            [](const ListedGroup& a, const ListedGroup& b) { return a.group < b.group; });
  // A group listed in several runs of rows has the sum of their digests (the runs are now
  // adjacent).
  if (with_digests) {
    uint64_t total = 0;
    for (auto start = listing.groups.begin(); start != listing.groups.end();) {
      auto end = start;
      uint64_t sum = 0;
      for (; end != listing.groups.end() && end->group == start->group; ++end) sum += *end->digest;
      for (auto g = start; g != end; ++g) g->digest = sum;
      total += sum;
      start = end;
    }
    if (content_digest != nullptr) *content_digest = total;
  }
  return listing;
}

// Fills in the digests PlanMerge needs (groups held by several inputs): O(their rows). DEST's
// copy (`main_input`) was listed with its digests; the other inputs are read from `files`, a
// batch of groups at a time (inputs that share most of their groups, as caches of one project
// on two machines do, would otherwise name every group in memory at once).
constexpr size_t kDigestBatch = 2000;

absl::Status AddDigests(const CheckerAdapter& adapter, std::map<size_t, CacheFile>& files,
                        std::vector<InputListing>& listings, size_t main_input) {
  struct Batch {
    std::set<std::string> groups;
    std::vector<size_t> records;  // Positions in the listing's groups.
  };
  std::map<size_t, Batch> batches;  // By position in `listings`.
  auto flush = [&](size_t l, Batch& batch) -> absl::Status {
    if (batch.records.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(auto digests, files.at(listings[l].input).DigestGroups(batch.groups, adapter));
    for (size_t i : batch.records) {
      ListedGroup& g = listings[l].groups[i];
      auto d = digests.find(std::string(g.group));
      if (d != digests.end()) g.digest = d->second.exact;
    }
    batch = Batch();
    return absl::OkStatus();
  };
  absl::Status status;
  ForEachGroupToDigest(listings, [&](size_t l, size_t i) {
    if (!status.ok() || listings[l].input == main_input) return;
    Batch& batch = batches[l];
    batch.groups.insert(listings[l].groups[i].group);
    batch.records.push_back(i);
    if (batch.groups.size() >= kDigestBatch) status = flush(l, batch);
  });
  RETURN_IF_ERROR(status);
  for (auto& [l, batch] : batches) RETURN_IF_ERROR(flush(l, batch));
  return absl::OkStatus();
}

// Plan, step 1: the listing (keys and mtimes) of each of `inputs`, read from its file, which is
// kept open in `files` (by input). Listed on two threads (each file's connection used by one
// thread at a time), each taking the next input not yet taken; the listings come back in
// input order whatever the timing, and the first error in input order is returned.
absl::StatusOr<std::vector<InputListing>> ListSources(const CheckerAdapter& adapter,
                                                      const std::vector<Input>& inputs,
                                                      std::map<size_t, CacheFile>& files,
                                                      Progress& progress) {
  std::vector<CacheFile*> opened;
  for (const Input& in : inputs) {
    ASSIGN_OR_RETURN(CacheFile src, CacheFile::OpenReadOnly(in.path));
    opened.push_back(&files.emplace(in.index, std::move(src)).first->second);
  }
  std::vector<absl::StatusOr<InputListing>> results(inputs.size(),
                                                    absl::UnknownError("not listed"));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < inputs.size(); i = next++) {
      results[i] = ListInput(*opened[i], adapter, inputs[i].index);
      progress.Add(1);
    }
  };
  {
    std::thread second;
    if (inputs.size() > 1) second = std::thread(work);
    work();
    if (second.joinable()) second.join();
  }
  std::vector<InputListing> listings;
  for (absl::StatusOr<InputListing>& listing : results) {
    if (!listing.ok()) return listing.status();
    listings.push_back(*std::move(listing));
  }
  return listings;
}

// A database DEST does not have yet starts as a copy of one input: the one the plan takes most
// groups from (the earliest of those), so that the fewest groups are copied row by row.
// Returns its position in `listings` (in input order).
size_t MostTaken(const std::vector<InputListing>& listings, Prefer prefer, size_t num_inputs) {
  MergePlan plan = PlanMerge(listings, prefer, num_inputs, /*name_groups=*/false);
  size_t best = 0;
  for (size_t i = 1; i < listings.size(); ++i) {
    if (plan.groups_from[listings[i].input] > plan.groups_from[listings[best].input]) best = i;
  }
  return best;
}

// ---- Apply ----

// The digest DEST's copy (`main`, sorted by group) holds of `group`; nullptr: none.
const std::optional<uint64_t>* HeldDigest(const InputListing& main, absl::string_view group) {
  auto at =
      std::lower_bound(main.groups.begin(), main.groups.end(), group,
                       [](const ListedGroup& g, absl::string_view key) { return g.group < key; });
  return at != main.groups.end() && at->group == group ? &at->digest : nullptr;
}

// The groups to copy from each input, in group order: those the plan takes from it, unless
// DEST's copy (`listings[main]`) already holds them byte for byte; they still count as that
// input's. Views into `listings`.
using Take = std::map<size_t, std::vector<const ListedGroup*>>;
Take Transfers(const MergePlan& plan, const std::vector<InputListing>& listings, size_t main) {
  Take take;
  for (size_t l = 0; l < listings.size(); ++l) {
    if (l == main) continue;
    const ListedGroups& groups = listings[l].groups;
    for (size_t i = 0; i < groups.size(); ++i) {
      if (!plan.taken[l][i]) continue;
      const std::optional<uint64_t>* held = HeldDigest(listings[main], groups[i].group);
      if (held != nullptr && held->has_value() && *held == groups[i].digest) continue;
      take[listings[l].input].push_back(&groups[i]);
    }
  }
  return take;
}

// Apply: copies `take` into `db`, input by input, each in one transaction; records the groups
// changed in `change` (unlisted beyond kMaxListedGroups), and keeps `digest`, the copy's content
// digest, up to date: each group copied replaces what DEST's copy (`main`) held of it by the rows
// copied (digested as they pass, batch by batch: nothing held beyond a batch). `writeback` is
// kicked after each batch (the pages SQLite wrote so far start going to disk).
absl::Status ApplyTransfers(const CheckerAdapter& adapter, CacheFile& db, const DbRef& ref,
                            const std::vector<Input>& inputs, const Take& take,
                            const InputListing& main, DbChange& change, uint64_t& digest,
                            BackgroundWriteback& writeback, Progress& progress) {
  int64_t total = 0;
  for (const auto& [input, groups] : take) total += static_cast<int64_t>(groups.size());
  progress.Start("merge: copying groups", total, ProgressUnit::kCount, "groups");
  progress.Detail(JoinPath(ref.dir, ref.file));
  for (const Input& in : inputs) {
    auto groups = take.find(in.index);
    if (groups == take.end()) continue;
    RETURN_IF_ERROR(db.Attach(in.path, "src"));
    {
      ASSIGN_OR_RETURN(CacheFile::Transaction txn, db.BeginWrite());
      std::set<std::string> batch;
      std::map<std::string, GroupHash> copied;
      for (auto g = groups->second.begin(); g != groups->second.end();) {
        batch.insert((*g++)->group);
        if (batch.size() < kCopyBatch && g != groups->second.end()) continue;
        // Read on a second thread from the same file: reading and writing use both CPUs.
        RETURN_IF_ERROR(db.ReplaceGroupsFrom("src", in.path, batch, adapter, &copied).status());
        for (const std::string& group : batch) {
          const std::optional<uint64_t>* was = HeldDigest(main, group);
          if (was != nullptr) digest -= **was;
          auto now = copied.find(group);
          if (now != copied.end()) digest += now->second.exact;
        }
        progress.Add(static_cast<int64_t>(batch.size()));
        batch.clear();
        copied.clear();
        writeback.Kick();
      }
      RETURN_IF_ERROR(txn.Commit());
      writeback.Kick();
    }
    RETURN_IF_ERROR(db.Detach("src"));
    if (change.unlisted) continue;
    for (const ListedGroup* g : groups->second) change.groups.insert(g->group);
    if (change.groups.size() > kMaxListedGroups) {
      change.unlisted = true;
      change.groups.clear();
    }
  }
  return absl::OkStatus();
}

// Merges the inputs holding `ref`'s database into its private copy `copy`: plan, then apply.
absl::StatusOr<DbChange> MergeDb(Fs& fs, const CheckerAdapter& adapter, Prefer prefer,
                                 const DbRef& ref, const std::string& copy,
                                 std::vector<Input> inputs, MergeReport& report,
                                 Progress& progress) {
  DbChange change;
  progress.Start("merge: listing", static_cast<int64_t>(inputs.size()) + 1, ProgressUnit::kCount,
                 "inputs");
  progress.Detail(JoinPath(ref.dir, ref.file));
  std::map<size_t, CacheFile> files;
  ASSIGN_OR_RETURN(std::vector<InputListing> listings,
                   ListSources(adapter, inputs, files, progress));
  // A database DEST does not have yet starts as a copy of an input that has it (a reflink or
  // in-kernel copy): its groups need no row-by-row work. Its changes are then not listed group
  // by group, which only makes later publishers compare every group once.
  size_t main_input = 0;
  if (ref.path.empty()) {
    size_t pick = MostTaken(listings, prefer, report.inputs.size());
    progress.Detail("copying " + inputs[pick].path);
    RETURN_IF_ERROR(ConsistentCopy(fs, inputs[pick].path, copy).status());
    main_input = inputs[pick].index;
    inputs.erase(inputs.begin() + static_cast<std::ptrdiff_t>(pick));
    listings.erase(listings.begin() + static_cast<std::ptrdiff_t>(pick));
    change.unlisted = true;
  }
  // The copy is fsynced before it is published (EditTarget): its pages start going to disk as
  // they are written, on another thread, so that the fsync waits for the last ones only, not
  // for the whole file (755 MB, 0.49 s of a 1.4 s merge of 8 caches). Declared before `db`,
  // so that it closes its descriptor of the file after `db` closed (see writeback.h).
  ASSIGN_OR_RETURN(std::unique_ptr<BackgroundWriteback> writeback,
                   BackgroundWriteback::Start(fs, copy));
  writeback->Kick();  // The pages of the input copied in the kernel.
  ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenForWrite(copy));
  RETURN_IF_ERROR(db.UseForBulkEdit());
  // DEST's copy is listed from the copy itself, with every group's digest: `digest` is then the
  // copy's content digest, kept up to date group by group below.
  uint64_t digest = 0;
  ASSIGN_OR_RETURN(InputListing main,
                   ListInput(db, adapter, main_input, /*with_digests=*/true, &digest));
  progress.Add(1);
  // In input order: PlanMerge breaks ties, and applies --prefer first/last, by position.
  auto at = std::find_if(listings.begin(), listings.end(),
                         [&](const InputListing& l) { return l.input > main_input; });
  listings.insert(at, std::move(main));
  progress.Detail("comparing the groups several inputs hold");
  RETURN_IF_ERROR(AddDigests(adapter, files, listings, main_input));
  files.clear();
  progress.Done();
  MergePlan plan = PlanMerge(listings, prefer, report.inputs.size(), /*name_groups=*/false);
  const size_t main_at = static_cast<size_t>(
      std::find_if(listings.begin(), listings.end(),
                   [&](const InputListing& l) { return l.input == main_input; }) -
      listings.begin());
  Take take = Transfers(plan, listings, main_at);
  RETURN_IF_ERROR(ApplyTransfers(adapter, db, ref, inputs, take, listings[main_at], change, digest,
                                 *writeback, progress));
  progress.Done();
  change.digest = digest;
  for (size_t i = 0; i < plan.groups_from.size(); ++i) {
    report.groups_taken[i] += plan.groups_from[i];
  }
  report.conflicts += plan.num_conflicts;
  RETURN_IF_ERROR(db.UseRollbackJournal());
  RETURN_IF_ERROR(db.Close());
  return change;
}

// The database of `source` that goes into the database file `dest`: a file source is itself; a
// cache directory gives the database of its one <X.Y> (or of the <X.Y> that holds `dest`, as in
// <cache>/3.11/cache.db). Several <X.Y> to choose from, or a sharded <X.Y>, are refused naming
// the choice. nullptr: the source holds no database.
absl::StatusOr<const DbRef*> FileSourceDb(const Target& dest, const Target& source) {
  std::map<std::string, std::vector<const DbRef*>> by_dir;
  for (const DbRef& ref : source.dbs) {
    if (!ref.path.empty()) by_dir[ref.dir].push_back(&ref);
  }
  if (by_dir.empty()) return nullptr;
  auto chosen = by_dir.find(BaseName(DirName(dest.path)));
  if (chosen == by_dir.end()) {
    if (by_dir.size() > 1) {
      std::vector<std::string> dirs;
      for (const auto& [dir, refs] : by_dir) dirs.push_back(dir);
      return absl::InvalidArgumentError(absl::StrCat(
          source.path, " holds the caches of ", absl::StrJoin(dirs, ", "), " and the destination ",
          dest.path, " is one database file: name the one to merge, e.g. ",
          by_dir.begin()->second.front()->shown, " (or merge into a cache directory)"));
    }
    chosen = by_dir.begin();
  }
  if (chosen->second.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.path, ": ", chosen->first, " is sharded into ", chosen->second.size(),
                     " database files and the destination ", dest.path,
                     " is one database file: merge into a cache directory"));
  }
  return chosen->second.front();
}

}  // namespace

absl::StatusOr<MergeReport> Merge(Fs& fs, const CheckerAdapter& adapter, const Target& dest,
                                  const std::vector<Target>& sources, const MergeOptions& options) {
  MergeReport report;
  report.inputs.push_back(dest.path);
  for (const Target& s : sources) report.inputs.push_back(s.path);
  report.groups_taken.assign(report.inputs.size(), 0);

  // Check.
  ASSIGN_OR_RETURN(InputFacts dest_facts, FactsOf(adapter, dest));
  std::vector<InputFacts> source_facts;
  for (const Target& s : sources) {
    ASSIGN_OR_RETURN(InputFacts facts, FactsOf(adapter, s));
    source_facts.push_back(std::move(facts));
  }
  RETURN_IF_ERROR(CheckCanMerge(dest_facts, source_facts, options.allow_mixed, adapter.name()));

  // Which inputs hold each database, keyed by (directory, file). A database file DEST is one
  // database, keyed ("", its name): each source gives it one database (FileSourceDb).
  std::map<std::pair<std::string, std::string>, std::vector<Input>> by_db;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (dest.kind == Target::Kind::kFile) {
      ASSIGN_OR_RETURN(const DbRef* ref, FileSourceDb(dest, sources[i]));
      if (ref != nullptr) by_db[{"", BaseName(dest.path)}].push_back({i + 1, ref->path});
      continue;
    }
    for (const DbRef& ref : sources[i].dbs) by_db[{ref.dir, ref.file}].push_back({i + 1, ref.path});
  }
  EditOptions edit = options.edit;
  std::set<std::pair<std::string, std::string>> in_dest;
  for (const DbRef& ref : dest.dbs) in_dest.insert({ref.dir, ref.file});
  for (const auto& [key, inputs] : by_db) {
    if (in_dest.count(key) == 0) {
      edit.extra.push_back(
          {key.first, key.second, "", JoinPath(JoinPath(dest.path, key.first), key.second)});
    }
  }
  if (dest.kind == Target::Kind::kFile && dest.dbs.empty() && !edit.extra.empty()) {
    edit.extra.resize(1);  // A new database file: one database, whatever the sources' names.
  }
  Target dest_target = dest;
  if (dest.kind == Target::Kind::kFile && dest.dbs.empty()) {
    dest_target.dbs.push_back({"", BaseName(dest.path), "", dest.path});
    edit.extra.clear();
  }

  // Plan and apply, database by database, on private copies; then publish.
  Progress& progress = Progress::Or(options.edit.progress);
  DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
    auto found = by_db.find(dest.kind == Target::Kind::kFile
                                ? std::make_pair(std::string(), BaseName(dest.path))
                                : std::make_pair(ref.dir, ref.file));
    if (found == by_db.end()) return DbChange{};
    return MergeDb(fs, adapter, options.prefer, ref, copy, found->second, report, progress);
  };
  absl::StatusOr<EditReport> edited = EditTarget(fs, adapter, dest_target, editor, edit);
  progress.Done();
  ASSIGN_OR_RETURN(report.edit, std::move(edited));
  ASSIGN_OR_RETURN(Target result, ResolveTarget(fs, adapter, dest.path, /*create=*/true));
  for (const DbRef& ref : result.dbs) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    report.bytes += info.size;
  }
  return report;
}

void PrintMerge(const MergeReport& report, std::ostream& out, bool json) {
  if (json) {
    nlohmann::ordered_json inputs = nlohmann::ordered_json::array();
    for (size_t i = 0; i < report.inputs.size(); ++i) {
      inputs.push_back({{"path", JsonText(report.inputs[i])},
                        {"role", i == 0 ? "destination" : "source"},
                        {"groups_taken", report.groups_taken[i]}});
    }
    out << DumpJson({{"inputs", inputs},
                     {"conflicts", report.conflicts},
                     {"bytes", report.bytes},
                     {"groups_changed", report.edit.groups_changed}})
        << "\n";
    return;
  }
  for (size_t i = 0; i < report.inputs.size(); ++i) {
    out << (i == 0 ? "kept in " : "taken from ") << report.inputs[i] << ": "
        << report.groups_taken[i] << " groups\n";
  }
  out << "conflicts resolved: " << report.conflicts << "; result " << FormatSize(report.bytes)
      << "\n";
}

}  // namespace typecache
