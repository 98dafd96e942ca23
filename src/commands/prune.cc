#include "src/commands/prune.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/base/json.h"
#include "src/base/progress.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"
#include "src/cachedb/group_rows.h"
#include "src/commands/config.h"
#include "src/store/local/layout.h"
#include "src/store/local/local_store.h"
#include "src/store/local/sweep.h"

namespace typecache {
namespace {

// Groups chosen for size: oldest first until `excess` estimated bytes are freed, across the
// databases of `target`. Returns where the choice ends (nullopt: none chosen) and the databases'
// paths in the order the key's `db` indexes them (sorted).
struct SizeChoice {
  std::optional<OldestFirst::Key> last;
  std::vector<std::string> dbs;
};

// Where --max-size's choice spills: $TMPDIR, else /tmp (as tmpfile(3)).
std::string ScratchDir() {
  const char* dir = std::getenv("TMPDIR");
  return dir != nullptr && dir[0] != '\0' ? dir : "/tmp";
}

absl::StatusOr<SizeChoice> ChooseForSize(Fs& fs, const CheckerAdapter& adapter,
                                         const Target& target, int64_t excess,
                                         size_t resident_limit, size_t spill_bytes) {
  SizeChoice choice;
  for (const DbRef& ref : target.dbs) choice.dbs.push_back(ref.path);
  std::sort(choice.dbs.begin(), choice.dbs.end());
  OldestFirst oldest(fs, ScratchDir(), resident_limit, spill_bytes);
  std::vector<double> scale(choice.dbs.size(), 1.2);
  for (uint32_t i = 0; i < choice.dbs.size(); ++i) {
    ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenReadOnly(choice.dbs[i]));
    ASSIGN_OR_RETURN(CacheFile::Transaction read, db.BeginRead());
    int64_t bytes = 0;
    RETURN_IF_ERROR(db.ForEachGroup(adapter, [&](const GroupInfo& g) {
      bytes += g.bytes;
      return oldest.Add(g.newest_mtime, g.group, i, g.bytes);
    }));
    // Rows cost more on disk than their bytes (b-tree and overflow pages, index entries): a
    // group's share of the pages in use, at least 1.2x its bytes.
    ASSIGN_OR_RETURN(PageStats pages, db.Pages());
    if (bytes > 0) {
      scale[i] = std::max(scale[i],
                          static_cast<double>(pages.bytes_in_use()) / static_cast<double>(bytes));
    }
  }
  ASSIGN_OR_RETURN(choice.last, oldest.Choose(excess, scale));
  return choice;
}

// Whether the group `g` of the database `db` is in the size choice.
bool ChosenForSize(const SizeChoice& choice, const std::string& db, const GroupInfo& g) {
  if (!choice.last.has_value()) return false;
  auto at = std::lower_bound(choice.dbs.begin(), choice.dbs.end(), db);
  if (at == choice.dbs.end() || *at != db) return false;
  OldestFirst::Key key{g.newest_mtime, g.group, static_cast<uint32_t>(at - choice.dbs.begin())};
  return !OldestFirst::Before(*choice.last, key);
}

// Whether --missing-sources ROOT judges a group whose meta records `source`: a relative path
// is relative to ROOT; an absolute one only counts when it lies under ROOT, so that stubs and
// libraries outside the project (typeshed, site-packages) are never evicted for it.
bool SourceUnderRoot(const std::string& source, const std::string& root) {
  if (source.empty()) return false;
  if (source.front() != '/') return true;
  std::string base = AbsolutePath(root);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return absl::StartsWith(source, base + "/");
}

// The version `typecache run` recorded for the cache directory of `target`.
absl::StatusOr<std::string> RecordedCheckerVersion(Fs& fs, const Target& target) {
  auto none = [&]() {
    return absl::FailedPreconditionError(
        absl::StrCat(target.path,
                     ": --keep-version current: no typecache run has recorded a mypy version for "
                     "this cache yet; name the version to keep (e.g. --keep-version 1.20.2)"));
  };
  if (target.kind != Target::Kind::kCacheDir) return none();
  std::string path = Layout(target.path).checker_version_path();
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(path));
  if (!info.exists()) return none();
  ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path));
  std::string version(absl::StripAsciiWhitespace(text));
  if (version.empty()) return none();
  return version;
}

absl::StatusOr<int64_t> TotalSize(Fs& fs, const Target& target) {
  int64_t size = 0;
  for (const DbRef& ref : target.dbs) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    size += info.size;
  }
  return size;
}

// What one round of pruning decides for one database, before it edits the copy.
struct DbPlan {
  std::set<std::string> evict;
  std::map<std::string, std::string> dead_tables;  // Dropped whole: table -> why.
  int64_t evict_bytes = 0;                         // The evicted groups' estimated bytes.
  int64_t free_bytes = 0;  // Pages already free in the copy (left by earlier small prunes).
  int64_t file_bytes = 0;  // The copy's size before the edit.
};

// A copy is vacuumed (rewritten whole, O(its size)) only when the file must shrink: a size
// budget, a dropped table, or when the evicted groups and the pages already free make up at
// least this fraction of the file. Otherwise the pages freed stay in the file's free list and
// the next writes reuse them: pruning a few old groups of a 4 GB cache costs what they hold, not
// a rewrite of 4 GB; repeated small prunes still end in a vacuum once a quarter is free.
constexpr double kVacuumFraction = 0.25;

bool ShouldVacuum(const DbPlan& plan, bool size_budget) {
  if (size_budget || !plan.dead_tables.empty()) return true;
  return static_cast<double>(plan.evict_bytes + plan.free_bytes) >=
         kVacuumFraction * static_cast<double>(plan.file_bytes);
}

// The fixed inputs of a round.
struct Round {
  const PruneOptions& options;
  const CheckerAdapter& adapter;
  Fs& fs;
  double cutoff = -1;  // Groups whose newest row is older go (seconds since the epoch).
  const SizeChoice& for_size;
  const std::map<std::string, std::vector<std::string>>& files_by_dir;
  Progress& progress;
};

// Why `g` of the database `ref` goes, or "" when it stays. The first reason that applies wins.
std::string EvictionReason(const Round& r, const DbRef& ref, const GroupInfo& g,
                           const std::string& dead_layout) {
  const PruneOptions& o = r.options;
  if (!dead_layout.empty()) return absl::StrCat("dead layout: ", dead_layout);
  if (r.cutoff >= 0 && g.newest_mtime < r.cutoff) return "older than the age limit";
  if (o.keep_version.has_value() && !g.version.empty() && g.version != *o.keep_version) {
    return absl::StrCat("written by mypy ", g.version);
  }
  if (o.missing_sources_root.has_value() &&
      SourceUnderRoot(g.source_path, *o.missing_sources_root)) {
    absl::StatusOr<FileInfo> info = r.fs.Stat(JoinPath(*o.missing_sources_root, g.source_path));
    if (info.ok() && !info->exists()) return "source file missing";
  }
  if (o.orphans) {
    std::string broken = g.Broken(r.adapter);
    if (!broken.empty()) return broken;
  }
  if (ChosenForSize(r.for_size, ref.path, g)) return "over the size budget (oldest first)";
  return "";
}

// The content digest the live generation holding `ref` recorded for it, if its file still has
// the size and mtime recorded with it (not written in place since); nullopt otherwise.
std::optional<uint64_t> RecordedDigest(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                       const DbRef& ref) {
  if (target.kind != Target::Kind::kCacheDir || ref.path.empty()) return std::nullopt;
  auto live = target.live.find(ref.dir);
  if (live == target.live.end() || live->second.kind != LiveState::Kind::kGeneration) {
    return std::nullopt;
  }
  LocalGenerationStore store(fs, Layout(target.path), adapter);
  absl::StatusOr<std::optional<GenerationRecord>> record = store.Record(ref.dir, live->second.gen);
  if (!record.ok() || !record->has_value()) return std::nullopt;
  auto digest = (*record)->digests.find(ref.file);
  auto stamp = (*record)->stamps.find(ref.file);
  if (digest == (*record)->digests.end() || stamp == (*record)->stamps.end()) return std::nullopt;
  absl::StatusOr<FileInfo> file = fs.Stat(ref.path);
  if (!file.ok() || !(stamp->second == FileStamp{file->size, file->mtime_ns})) return std::nullopt;
  return digest->second;
}

// Reads the private copy `copy` of `ref` and decides what goes; appends the groups to `evicted`.
absl::StatusOr<DbPlan> PlanDb(const Round& r, const DbRef& ref, const std::string& copy,
                              Evictions& evicted) {
  DbPlan plan;
  ASSIGN_OR_RETURN(FileInfo info, r.fs.Stat(copy));
  plan.file_bytes = info.size;
  ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenReadOnly(copy));
  ASSIGN_OR_RETURN(PageStats pages, db.Pages());
  plan.free_bytes = pages.free_pages * pages.page_size;
  if (r.options.dead_tables) {
    ASSIGN_OR_RETURN(std::vector<std::string> tables, db.ListTables());
    plan.dead_tables = r.adapter.DeadTables(tables);
  }
  std::string dead_layout;
  if (r.options.dead_layouts && !ref.dir.empty()) {
    auto files = r.files_by_dir.find(ref.dir);
    if (files != r.files_by_dir.end()) {
      (void)r.adapter.IsDeadDatabase(ref.file, files->second, &dead_layout);
    }
  }
  r.progress.Detail("reading " + JoinPath(ref.dir, ref.file));
  auto reason_for = [&](const GroupInfo& g) -> std::string {
    if (plan.dead_tables.count(g.table) > 0) return "";  // The whole table goes.
    return EvictionReason(r, ref, g, dead_layout);
  };
  const PruneOptions& o = r.options;
  if (!o.keep_version.has_value() && !o.missing_sources_root.has_value() && !o.orphans) {
    // Only ages, budgets and layouts decide: keys and mtimes suffice (no row's data is read,
    // O(groups) instead of O(bytes)); the bytes of the groups that go are read afterwards.
    std::vector<std::pair<std::string, std::string>> going;  // group, reason
    RETURN_IF_ERROR(db.ForEachGroupStamp(r.adapter, [&](GroupStamp& s) {
      GroupInfo g;
      g.table = r.adapter.Select(s.group).table;
      g.group = s.group;
      g.rows = s.rows;
      g.newest_mtime = s.newest_mtime;
      g.data_row_mtime = s.data_row_mtime;
      std::string reason = reason_for(g);
      if (!reason.empty() && plan.evict.insert(g.group).second) {
        going.emplace_back(g.group, std::move(reason));
      }
    }));
    r.progress.Add(plan.file_bytes);
    if (going.empty()) return plan;
    ASSIGN_OR_RETURN(GroupFile rows_of, GroupFile::OpenReadOnly(copy));
    ASSIGN_OR_RETURN(GroupRowMap rows, rows_of.Read(plan.evict, r.adapter));
    for (const auto& [group, reason] : going) {
      int64_t bytes = 0;
      auto it = rows.find(group);
      if (it != rows.end()) {
        for (const CacheRow& row : it->second) {
          bytes += static_cast<int64_t>(row.key.size() + row.data.bytes.size());
        }
      }
      plan.evict_bytes += bytes;
      evicted.push_back({ref.shown, group, reason, bytes});
    }
    return plan;
  }
  RETURN_IF_ERROR(db.ForEachGroup(r.adapter, [&](const GroupInfo& g) {
    r.progress.Add(g.bytes);
    std::string reason = reason_for(g);
    if (!reason.empty()) {
      plan.evict.insert(g.group);
      plan.evict_bytes += g.bytes;
      evicted.push_back({ref.shown, g.group, reason, g.bytes});
    }
    return absl::OkStatus();
  }));
  return plan;
}

// Edits the copy as `plan` says, then vacuums it when ShouldVacuum says the file must shrink
// (`size_budget`: a --max-size round). Returns the change and appends the tables dropped to
// `dropped`.
// `base_digest`: the content digest of what the copy holds, when known (the live generation's
// recorded one, its files unchanged since): the result's is then that minus the evicted groups'
// (read from the copy, O(evicted)), and the publish need not read the whole result to record it.
absl::StatusOr<DbChange> ApplyPlan(const CheckerAdapter& adapter, const DbRef& ref,
                                   const std::string& copy, DbPlan plan, bool size_budget,
                                   std::optional<uint64_t> base_digest,
                                   std::vector<std::string>& dropped) {
  DbChange change;
  if (plan.evict.empty() && plan.dead_tables.empty()) return change;
  ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenForWrite(copy));
  if (base_digest.has_value() && plan.dead_tables.empty()) {
    ASSIGN_OR_RETURN(auto going, db.DigestGroups(plan.evict, adapter));
    uint64_t digest = *base_digest;
    for (const auto& [group, hash] : going) digest -= hash.exact;
    change.digest = digest;
  }
  {
    ASSIGN_OR_RETURN(CacheFile::Transaction txn, db.BeginWrite());
    RETURN_IF_ERROR(db.DeleteGroups(plan.evict, adapter).status());
    for (const auto& [table, why] : plan.dead_tables) {
      ASSIGN_OR_RETURN(std::set<std::string> groups, db.GroupsOfTable(adapter, table));
      change.groups.insert(groups.begin(), groups.end());
      RETURN_IF_ERROR(db.DropTable(table));
      dropped.push_back(absl::StrCat(ref.path, ": table ", table, " (", why, ")"));
    }
    RETURN_IF_ERROR(txn.Commit());
  }
  if (ShouldVacuum(plan, size_budget)) RETURN_IF_ERROR(db.Vacuum());
  RETURN_IF_ERROR(db.Close());
  change.groups.merge(plan.evict);
  return change;
}

}  // namespace

bool OldestFirst::Before(const Key& a, const Key& b) {
  if (a.newest != b.newest) return a.newest < b.newest;
  if (a.group != b.group) return a.group < b.group;
  return a.db < b.db;
}

OldestFirst::OldestFirst(Fs& fs, std::string scratch_dir, size_t resident_limit,
                         size_t buffer_bytes)
    : fs_(fs),
      scratch_dir_(std::move(scratch_dir)),
      resident_limit_(std::max<size_t>(resident_limit, 1)),
      buffer_bytes_(buffer_bytes) {}

// A record: newest (8 bytes), bytes (8), db (4), the group's length (4), the group.
absl::Status OldestFirst::Add(double newest, absl::string_view group, uint32_t db, int64_t bytes) {
  uint32_t size = static_cast<uint32_t>(group.size());
  char head[24];
  std::memcpy(head, &newest, 8);
  std::memcpy(head + 8, &bytes, 8);
  std::memcpy(head + 16, &db, 4);
  std::memcpy(head + 20, &size, 4);
  buffer_.append(head, sizeof(head));
  buffer_.append(group.data(), group.size());
  ++groups_;
  return buffer_.size() >= buffer_bytes_ ? Flush() : absl::OkStatus();
}

absl::Status OldestFirst::Flush() {
  auto failed = [](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("prune --max-size: ", s.message()));
  };
  if (!file_.valid()) {
    absl::StatusOr<int> fd = fs_.OpenScratchFile(scratch_dir_);
    if (!fd.ok()) return failed(fd.status());
    file_ = OwnedFd(fs_, *fd);
  }
  absl::Status written = fs_.PwriteFd(file_.get(), file_bytes_, buffer_);
  if (!written.ok()) return failed(written);
  file_bytes_ += static_cast<int64_t>(buffer_.size());
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status OldestFirst::ForEach(const std::function<void(Entry&)>& visit) {
  Entry e;
  auto parse = [&](const char* head) {
    uint32_t size = 0;
    std::memcpy(&e.key.newest, head, 8);
    std::memcpy(&e.bytes, head + 8, 8);
    std::memcpy(&e.key.db, head + 16, 4);
    std::memcpy(&size, head + 20, 4);
    return size;
  };
  if (file_.valid()) {
    // Read back in 1 MiB pieces; a record may straddle two.
    std::string chunk;
    size_t at = 0;
    int64_t offset = 0;
    auto need = [&](size_t n) -> absl::StatusOr<bool> {
      if (chunk.size() - at >= n) return true;
      chunk.erase(0, at);
      at = 0;
      size_t have = chunk.size();
      size_t want = std::max(n - have, size_t{1} << 20);
      chunk.resize(have + want);
      ASSIGN_OR_RETURN(size_t got, fs_.PreadFd(file_.get(), offset, &chunk[have], want));
      offset += static_cast<int64_t>(got);
      chunk.resize(have + got);
      return chunk.size() >= n;
    };
    auto failed = [](const absl::Status& s) {
      return absl::Status(s.code(), absl::StrCat("prune --max-size: ", s.message()));
    };
    while (true) {
      absl::StatusOr<bool> head = need(24);
      if (!head.ok()) return failed(head.status());
      if (!*head) break;
      uint32_t size = parse(&chunk[at]);
      absl::StatusOr<bool> body = need(24 + size);
      if (!body.ok()) return failed(body.status());
      if (!*body) return absl::DataLossError("prune --max-size: its scratch file ends in a record");
      e.key.group.assign(chunk, at + 24, size);
      at += 24 + size;
      visit(e);
    }
  }
  for (size_t at = 0; at + 24 <= buffer_.size();) {
    uint32_t size = parse(&buffer_[at]);
    e.key.group.assign(buffer_, at + 24, size);
    at += 24 + size;
    visit(e);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<OldestFirst::Key>> OldestFirst::Choose(
    int64_t excess, const std::vector<double>& scale) {
  std::optional<Key> last;  // Every group up to it is counted in `freed`.
  if (excess <= 0 || groups_ == 0) return last;
  auto later = [](const Entry& a, const Entry& b) { return Before(a.key, b.key); };
  int64_t freed = 0;
  for (;;) {
    ++passes_;
    // The oldest `resident_limit_` groups after `last`, in a heap whose top is the newest.
    std::vector<Entry> heap;
    RETURN_IF_ERROR(ForEach([&](Entry& e) {
      if (last.has_value() && !Before(*last, e.key)) return;
      if (heap.size() < resident_limit_) {
        heap.push_back(std::move(e));
        std::push_heap(heap.begin(), heap.end(), later);
        max_resident_ = std::max(max_resident_, heap.size());
      } else if (Before(e.key, heap.front().key)) {
        std::pop_heap(heap.begin(), heap.end(), later);
        heap.back() = std::move(e);
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }));
    std::sort_heap(heap.begin(), heap.end(), later);
    for (Entry& e : heap) {
      double s = e.key.db < scale.size() ? scale[e.key.db] : 1.2;
      freed += static_cast<int64_t>(static_cast<double>(e.bytes) * s) + 64;
      last = std::move(e.key);
      if (freed >= excess) return last;
    }
    if (heap.size() < resident_limit_) return last;  // Every group is chosen.
  }
}

uint32_t Evictions::Intern(std::vector<std::string>& values,
                           std::unordered_map<std::string, uint32_t>& index, const std::string& v) {
  if (!values.empty() && values.back() == v) return static_cast<uint32_t>(values.size() - 1);
  auto [at, added] = index.emplace(v, static_cast<uint32_t>(values.size()));
  if (added) values.push_back(v);
  return at->second;
}

void Evictions::push_back(const Eviction& e) {
  names_ += e.group;
  items_.push_back({names_.size(), e.bytes, Intern(dbs_, db_index_, e.db),
                    Intern(reasons_, reason_index_, e.reason)});
}

void Evictions::Append(const Evictions& other) {
  for (const Eviction& e : other) push_back(e);
}

Eviction Evictions::operator[](size_t i) const {
  const Item& item = items_[i];
  size_t begin = i == 0 ? 0 : items_[i - 1].group_end;
  return {dbs_[item.db], names_.substr(begin, item.group_end - begin), reasons_[item.reason],
          item.bytes};
}

absl::StatusOr<PruneReport> Prune(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                  const PruneOptions& given) {
  PruneOptions options = given;
  if (options.keep_version == "current") {
    ASSIGN_OR_RETURN(options.keep_version, RecordedCheckerVersion(fs, target));
  }
  PruneReport report;
  report.dry_run = options.edit.dry_run;
  report.budget = options.max_size;
  for (const DbRef& ref : target.dbs) RETURN_IF_ERROR(CheckReadable(ref.path));
  if (target.kind == Target::Kind::kCacheDir && !options.edit.dry_run) {
    ASSIGN_OR_RETURN(LeftoverReport reclaimed,
                     ReclaimLeftovers(fs, Layout(target.path), kDeadRunMinAge, false,
                                      options.edit.lock_timeout));
    report.leftovers_reclaimed = reclaimed.bytes;
  }
  ASSIGN_OR_RETURN(report.size_before, TotalSize(fs, target));
  std::map<std::string, std::vector<std::string>> files_by_dir;
  for (const DbRef& ref : target.dbs) files_by_dir[ref.dir].push_back(ref.file);
  double cutoff = options.older_than.has_value()
                      ? absl::ToDoubleSeconds(options.now - absl::UnixEpoch() - *options.older_than)
                      : -1;
  // Each round edits and publishes; with a size budget, a round whose result is still over it
  // (the estimate was low) is followed by another, which evicts at least one more group, until
  // the size fits or no group is left. Later rounds aim a little lower, so that few are needed.
  Target current = target;
  // Progress in bytes of the groups read, of the databases' total size, per round.
  Progress& progress = Progress::Or(options.edit.progress);
  for (int round = 0;; ++round) {
    SizeChoice for_size;
    ASSIGN_OR_RETURN(int64_t total, TotalSize(fs, current));
    progress.Start(round == 0 ? "prune" : absl::StrCat("prune, round ", round + 1), total,
                   ProgressUnit::kBytes);
    if (options.max_size.has_value()) {
      ASSIGN_OR_RETURN(int64_t size, TotalSize(fs, current));
      if (size > *options.max_size) {
        progress.Detail("choosing the oldest groups");
        int64_t excess = size - *options.max_size;
        ASSIGN_OR_RETURN(
            for_size, ChooseForSize(fs, adapter, current, excess + excess * round / 2,
                                    options.size_choice_resident, options.size_choice_spill_bytes));
        if (!for_size.last.has_value() && round > 0) {
          return absl::FailedPreconditionError(absl::StrCat(
              target.path, ": --max-size ", FormatSize(*options.max_size), ": the databases take ",
              FormatSize(size), " with no module group left in them"));
        }
      }
    }
    Round r{options, adapter, fs, cutoff, for_size, files_by_dir, progress};
    Evictions evicted;
    std::vector<std::string> dropped;
    DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
      ASSIGN_OR_RETURN(DbPlan plan, PlanDb(r, ref, copy, evicted));
      if (!plan.evict.empty() || !plan.dead_tables.empty())
        progress.Detail("rewriting " + JoinPath(ref.dir, ref.file));
      return ApplyPlan(adapter, ref, copy, std::move(plan), options.max_size.has_value(),
                       RecordedDigest(fs, adapter, current, ref), dropped);
    };
    absl::StatusOr<EditReport> edit_result = EditTarget(fs, adapter, current, editor, options.edit);
    progress.Done();
    ASSIGN_OR_RETURN(EditReport edited, std::move(edit_result));
    if (edited.dbs_changed > 0) ++report.rounds;
    bool none_left = evicted.empty() && dropped.empty();
    if (report.evicted.empty()) {
      report.evicted = std::move(evicted);
    } else {
      report.evicted.Append(evicted);
    }
    report.dropped_tables.insert(report.dropped_tables.end(), dropped.begin(), dropped.end());
    if (options.edit.dry_run) {
      report.size_after = edited.bytes_after;
      return report;
    }
    ASSIGN_OR_RETURN(current, ResolveTarget(fs, adapter, target.path));
    ASSIGN_OR_RETURN(report.size_after, TotalSize(fs, current));
    if (!options.max_size.has_value() || report.size_after <= *options.max_size) break;
    if (none_left) {
      return absl::FailedPreconditionError(absl::StrCat(
          target.path, ": --max-size ", FormatSize(*options.max_size), ": the databases take ",
          FormatSize(report.size_after), " with no module group left to evict"));
    }
  }
  return report;
}

void PrintPrune(const PruneReport& report, std::ostream& out, bool json, bool list) {
  if (json) {
    nlohmann::ordered_json evicted = nlohmann::ordered_json::array();
    for (const Eviction& e : report.evicted) {
      evicted.push_back({{"db", JsonText(e.db)},
                         {"group", JsonText(e.group)},
                         {"reason", JsonText(e.reason)},
                         {"bytes", e.bytes}});
    }
    nlohmann::ordered_json dropped = nlohmann::ordered_json::array();
    for (const std::string& t : report.dropped_tables) dropped.push_back(JsonText(t));
    out << DumpJson({{"dry_run", report.dry_run},
                     {"size_before", report.size_before},
                     {"size_after", report.size_after},
                     {"budget", report.budget.has_value() ? nlohmann::ordered_json(*report.budget)
                                                          : nlohmann::ordered_json(nullptr)},
                     {"leftovers_reclaimed", report.leftovers_reclaimed},
                     {"evicted", evicted},
                     {"dropped_tables", dropped}})
        << "\n";
    return;
  }
  const char* verb = report.dry_run ? "would evict" : "evicted";
  if (list) {
    for (const Eviction& e : report.evicted) {
      out << verb << " " << e.group << " from " << e.db << ": " << e.reason << "\n";
    }
    for (const std::string& t : report.dropped_tables) {
      out << (report.dry_run ? "would drop " : "dropped ") << t << "\n";
    }
  }
  int64_t freed = std::max<int64_t>(0, report.size_before - report.size_after);
  out << verb << " " << report.evicted.size()
      << (report.evicted.size() == 1 ? " module group" : " module groups");
  if (!report.dropped_tables.empty()) {
    out << " and " << report.dropped_tables.size()
        << (report.dropped_tables.size() == 1 ? " table" : " tables");
  }
  out << ", " << FormatSize(freed) << (report.dry_run ? " to free" : " freed") << "; size "
      << FormatSize(report.size_before) << " -> " << FormatSize(report.size_after)
      << (report.dry_run ? " (estimated)" : "");
  if (report.budget.has_value()) {
    out << " (budget " << FormatSize(*report.budget)
        << (report.size_after <= *report.budget ? ", within" : ", over") << ")";
  }
  if (report.leftovers_reclaimed > 0) {
    out << "; " << FormatSize(report.leftovers_reclaimed) << " of dead runs' leftovers reclaimed";
  }
  int64_t evicted_bytes = 0;
  for (const Eviction& e : report.evicted) evicted_bytes += e.bytes;
  if (!report.dry_run && evicted_bytes > freed) {
    // Not vacuumed (a small part of the file): the pages stay free for mypy's next writes.
    out << "; " << FormatSize(evicted_bytes - freed)
        << " of evicted groups left as free pages in the files (`typecache compact` shrinks them)";
  }
  out << "\n";
}

}  // namespace typecache
