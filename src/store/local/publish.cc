#include "src/store/local/publish.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"
#include "src/store/local/changes.h"
#include "src/store/local/local_store.h"

namespace typecache {
namespace {

// ---- Prepare (outside the lock) ----

// The base generation `base` of `dir`, held, to read the rows the run started from. Generations
// are retired as soon as they stop being the head (no window is kept), so when a publish came
// during the run the base is usually gone: then the head is held instead, and `changed` receives
// the groups others changed since the base (the head's rows of every other group are the base's).
// nullopt when neither can be read (nothing is dropped, no digest is kept).
struct HeldBase {
  GenerationReadLock lock;
  std::string path;                  // The generation directory read.
  std::optional<GroupSets> changed;  // Set when `path` is the head, not the base.
};
absl::StatusOr<std::optional<HeldBase>> HoldBase(Fs& fs, const CheckerAdapter& adapter,
                                                 const std::string& dir, const LiveState& base) {
  absl::StatusOr<GenerationReadLock> lock = GenerationReadLock::Acquire(fs, base.resolved);
  if (lock.ok()) return std::optional<HeldBase>(HeldBase{*std::move(lock), base.resolved, {}});
  if (!absl::IsNotFound(lock.status())) return lock.status();
  // The cache directory of the base: <cache>/.typecache/gens/<X.Y>/g<N>.
  Layout layout(DirName(DirName(DirName(DirName(base.resolved)))));
  if (layout.gen_path(dir, base.gen) != base.resolved) return std::optional<HeldBase>();
  for (int attempt = 0; attempt < 5; ++attempt) {
    ASSIGN_OR_RETURN(LiveState head, ReadLiveState(fs, layout, dir));
    if (head.kind != LiveState::Kind::kGeneration) return std::optional<HeldBase>();
    absl::StatusOr<GenerationReadLock> held = GenerationReadLock::Acquire(fs, head.resolved);
    if (absl::IsNotFound(held.status())) continue;
    RETURN_IF_ERROR(held.status());
    ASSIGN_OR_RETURN(std::optional<GroupSets> changed,
                     ChangesSince(fs, layout, adapter, dir, base, head));
    if (!changed.has_value()) return std::optional<HeldBase>();
    return std::optional<HeldBase>(HeldBase{*std::move(held), head.resolved, std::move(changed)});
  }
  return std::optional<HeldBase>();
}

// The digests of the groups the checker wrote into `db` (private) and, when the base is a
// generation, into its copy of the same file; drops from `written` the groups whose rows are
// those of the base (UnchangedGroups' rule). When the base has been retired, the head stands in
// for it for the groups nobody else changed since (HoldBase); the others are kept as written
// (publishing compares them with what the others wrote).
absl::StatusOr<PreparedFile> DigestWritten(Fs& fs, const CheckerAdapter& adapter,
                                           const std::string& dir, const LiveState& base,
                                           const std::string& file, const std::string& db,
                                           std::set<std::string>& written) {
  PreparedFile prepared;
  if (base.kind == LiveState::Kind::kForeign) return prepared;  // No record of its content.
  std::string base_db;
  std::optional<HeldBase> held;
  const std::set<std::string>* others = nullptr;  // Groups whose base rows cannot be read.
  if (base.kind == LiveState::Kind::kGeneration) {
    // Held while it is read, so that it cannot be retired into a spare and rewritten meanwhile.
    ASSIGN_OR_RETURN(held, HoldBase(fs, adapter, dir, base));
    if (!held.has_value()) return prepared;
    if (held->changed.has_value()) {
      static const std::set<std::string> kNone;
      auto it = held->changed->find(file);
      others = it == held->changed->end() ? &kNone : &it->second;
    }
    base_db = JoinPath(held->path, file);
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(base_db));
    if (!info.is_file()) base_db.clear();  // A file the base did not have: every group is new.
  }
  prepared.digest = PreparedFile::Digest::kIncremental;
  if (written.empty()) return prepared;
  ASSIGN_OR_RETURN(CacheFile mine, CacheFile::OpenReadOnly(db));
  ASSIGN_OR_RETURN(auto mine_digests, mine.DigestGroups(written, adapter));
  std::map<std::string, GroupHash> base_digests;
  if (!base_db.empty()) {
    RETURN_IF_ERROR(mine.Attach(base_db, "base"));
    ASSIGN_OR_RETURN(base_digests, mine.DigestGroups(written, adapter, "base"));
  }
  for (auto it = written.begin(); it != written.end();) {
    auto m = mine_digests.find(*it);
    auto b = base_digests.find(*it);
    WrittenDigest& d = prepared.groups[*it];
    if (m != mine_digests.end()) d.mine = m->second.exact;
    bool unknown = others != nullptr && others->count(*it) > 0;
    if (unknown) {  // Changed by others since the base: publishing sees to it.
      ++it;
      continue;
    }
    if (b != base_digests.end()) d.base = b->second.exact;
    // A rewrite that left the group as the base has it is not a change (a warm run rewrites the
    // plugins snapshot every time): with nothing else written there is nothing to publish.
    bool same = base.kind == LiveState::Kind::kGeneration && !base_db.empty() &&
                ((m == mine_digests.end() && b == base_digests.end()) ||
                 (m != mine_digests.end() && b != base_digests.end() &&
                  (adapter.NeedsMetaAndData(*it) ? m->second.exact == b->second.exact
                                                 : m->second.content == b->second.content)));
    it = same ? written.erase(it) : std::next(it);
  }
  return prepared;
}

// ---- Publish, one directory (under the lock) ----

struct DirResult {
  int64_t merged = 0;
  int64_t conflicts = 0;
  bool fast = false;
  bool full = false;
  bool adopted = false;  // A foreign directory, unchanged since the snapshot copied it.
  // A foreign directory written since the snapshot copied it: nothing published under the lock;
  // it is copied again outside it (RecopyForeign).
  bool recopy = false;
  bool recopied = false;  // What was published is that new copy, not the prepared private one.
  LiveState onto;         // The head this publish extended.
  GroupSets others;       // What others published since the snapshot (when !full).
  PublishedGeneration published;
};

// Every group in the live directory's and the private directory's databases. A live database
// that SQLite cannot read (corrupt, truncated) has nothing to contribute: its file is left out,
// so the private copy (e.g. the one `verify --repair` salvaged) replaces it.
absl::StatusOr<GroupSets> AllGroups(Fs& fs, const CheckerAdapter& adapter, const LiveState& live,
                                    const std::string& private_dir) {
  GroupSets all;
  std::set<std::string> unreadable;
  std::vector<std::pair<std::string, bool>> dirs = {{private_dir, false}};
  if (live.kind != LiveState::Kind::kMissing) dirs.emplace_back(live.resolved, true);
  for (const auto& [dir, is_live] : dirs) {
    ASSIGN_OR_RETURN(std::vector<std::string> files, DatabaseFiles(fs, adapter, dir));
    for (const std::string& file : files) {
      absl::StatusOr<std::set<std::string>> groups =
          [&, &dir = dir]() -> absl::StatusOr<std::set<std::string>> {
        ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenReadOnly(JoinPath(dir, file)));
        ASSIGN_OR_RETURN(CacheFile::Transaction read, db.BeginRead());
        return db.ListGroups(adapter);
      }();
      if (!groups.ok()) {
        if (is_live && absl::IsDataLoss(groups.status())) {
          unreadable.insert(file);
          continue;
        }
        return groups.status();
      }
      all[file].insert(groups->begin(), groups->end());
    }
  }
  for (const std::string& file : unreadable) all.erase(file);
  return all;
}

// Step 2: what others changed since the snapshot, from the store; every group when that cannot
// be known (`full`).
absl::StatusOr<GroupSets> OthersChanges(GenerationStore& store, Fs& fs,
                                        const CheckerAdapter& adapter, const std::string& dir,
                                        const LiveState& base, const LiveState& live,
                                        const std::string& private_dir, bool* full) {
  ASSIGN_OR_RETURN(std::optional<GroupSets> changed, store.Fetch(dir, base, live));
  *full = !changed.has_value();
  if (changed.has_value()) return *changed;
  return AllGroups(fs, adapter, live, private_dir);
}

// Step 3's choice: the groups to take from the live generation. A group both sides changed is a
// conflict: this run's version stays, unless it yields (maintenance commands).
GroupSets GroupsToTake(const GroupSets& changed, const GroupSets& written, bool full,
                       bool yield_conflicts, int64_t* conflicts) {
  GroupSets take;
  for (const auto& [file, groups] : changed) {
    auto mine = written.find(file);
    for (const std::string& group : groups) {
      if (mine != written.end() && mine->second.count(group) > 0) {
        if (full) continue;
        ++*conflicts;
        if (!yield_conflicts) continue;
      }
      take[file].insert(group);
    }
  }
  return take;
}

// Step 3: replaces `take` in the private copy by the live generation's rows, file by file.
// Groups replaced per call, so that `progress` moves inside a large file (one transaction).
constexpr size_t kBringOverBatch = 2000;

absl::StatusOr<int64_t> BringOver(Fs& fs, const CheckerAdapter& adapter, const LiveState& live,
                                  const std::string& private_dir, const GroupSets& take,
                                  Progress& progress, const std::string& dir) {
  int64_t merged = 0;
  if (progress.enabled() && CountGroups(take) > 0) {
    progress.Detail(dir);
    progress.SetWork(static_cast<int64_t>(CountGroups(take)), ProgressUnit::kCount,
                     "groups merged");
  }
  for (const auto& [file, groups] : take) {
    if (groups.empty()) continue;
    std::string private_db = JoinPath(private_dir, file);
    ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenForWrite(private_db));
    std::string src_schema;
    if (live.kind != LiveState::Kind::kMissing) {
      std::string live_db = JoinPath(live.resolved, file);
      ASSIGN_OR_RETURN(FileInfo info, fs.Stat(live_db));
      if (info.exists()) {
        RETURN_IF_ERROR(db.Attach(live_db, "live"));
        src_schema = "live";
      }
    }
    {
      ASSIGN_OR_RETURN(CacheFile::Transaction txn, db.BeginWrite());
      std::set<std::string> batch;
      for (auto g = groups.begin(); g != groups.end();) {
        batch.insert(*g++);
        if (batch.size() < kBringOverBatch && g != groups.end()) continue;
        ASSIGN_OR_RETURN(TransferStats moved, src_schema.empty()
                                                  ? db.DeleteGroups(batch, adapter)
                                                  : db.ReplaceGroups(src_schema, batch, adapter));
        merged += moved.groups;
        progress.Add(static_cast<int64_t>(batch.size()));
        batch.clear();
      }
      RETURN_IF_ERROR(txn.Commit());
    }
    RETURN_IF_ERROR(db.Close());
    RETURN_IF_ERROR(fs.Fsync(private_db));
  }
  return merged;
}

absl::StatusOr<DirResult> PublishDir(GenerationStore& store, Fs& fs, const CheckerAdapter& adapter,
                                     const std::string& dir, const LiveState& base,
                                     const GroupSets& written, const std::string& private_dir,
                                     const PublishOptions& options,
                                     const SnapshotDir* snapshot_dir) {
  DirResult result;
  // Step 1: the head again, under the lock.
  ASSIGN_OR_RETURN(result.onto, store.Head(dir));
  // Adoption: the foreign directory the snapshot copied, still exactly as it was copied, needs
  // no comparison: the private copy holds all of its rows (O(files) stats under the lock).
  GroupSets changed;
  if (base.kind == LiveState::Kind::kForeign && result.onto.kind == LiveState::Kind::kForeign &&
      result.onto.resolved == base.resolved && snapshot_dir != nullptr) {
    ASSIGN_OR_RETURN(result.adopted,
                     AdoptedUnchanged(fs, adapter, snapshot_dir->adopted, result.onto.resolved,
                                      options.adopt_racy_margin));
    // Written since the copy: comparing every group would take O(size) under the lock. The run
    // copies it again after the lock instead (its stamps were taken: not a maintenance edit).
    if (!result.adopted && options.adopt_recopies > 0 && !snapshot_dir->adopted.files.empty() &&
        options.unlisted_dirs.count(dir) == 0) {
      result.recopy = true;
      return result;
    }
  }
  if (!result.adopted) {
    ASSIGN_OR_RETURN(changed, OthersChanges(store, fs, adapter, dir, base, result.onto, private_dir,
                                            &result.full));
  }
  // A generation written in place behind typecache's back (its files no longer match its log),
  // still as the snapshot copied it: the same, no comparison needed.
  if (result.full && base.kind == LiveState::Kind::kGeneration &&
      result.onto.kind == LiveState::Kind::kGeneration && result.onto.gen == base.gen &&
      snapshot_dir != nullptr) {
    ASSIGN_OR_RETURN(result.adopted,
                     AdoptedUnchanged(fs, adapter, snapshot_dir->adopted, result.onto.resolved,
                                      options.adopt_racy_margin));
    if (result.adopted) {
      changed.clear();
      result.full = false;
    }
  }
  GroupSets take =
      GroupsToTake(changed, written, result.full, options.yield_conflicts, &result.conflicts);
  ASSIGN_OR_RETURN(result.merged, BringOver(fs, adapter, result.onto, private_dir, take,
                                            Progress::Or(options.progress), dir));
  result.fast = !result.full && CountGroups(changed) == 0;
  if (!result.full) result.others = std::move(changed);
  // Steps 4 to 7: the store makes it the next generation.
  PublishRequest request{dir, result.onto, private_dir, written,
                         options.unlisted_dirs.count(dir) > 0};
  ASSIGN_OR_RETURN(result.published, store.Publish(request));
  return result;
}

// ---- Adoption, again (outside the lock) ----

// Waits, at most `margin` and only when it is short (the default second), until every file of
// `dir` is older than `margin`: stamps taken then are not "racy" (AdoptedUnchanged). Outside the
// lock; a file being written all along keeps the stamps racy, and the adoption gives up.
void WaitOutRacyMargin(Fs& fs, const CheckerAdapter& adapter, const std::string& dir,
                       absl::Duration margin) {
  if (margin <= absl::ZeroDuration() || margin > absl::Seconds(2)) return;
  absl::StatusOr<AdoptedStamps> stamps = StampForeign(fs, adapter, dir);
  if (!stamps.ok()) return;
  int64_t newest = 0;
  for (const auto& [name, info] : stamps->files) {
    bool side = absl::EndsWith(name, "-wal") || absl::EndsWith(name, "-journal");
    if (info.exists()) newest = std::max({newest, info.mtime_ns, side ? 0 : info.ctime_ns});
  }
  absl::Duration left = absl::FromUnixNanos(newest) + margin - absl::Now();
  if (left > absl::ZeroDuration()) absl::SleepFor(std::min(left, margin));
}

// A new private copy of the foreign directory `foreign` in `fresh` (stamped first, as the
// snapshot does), with the groups this run wrote taken from its private copy `mine`.
// O(size) copy plus O(groups written); no lock.
absl::StatusOr<AdoptedStamps> CopyForeignAgain(Fs& fs, const CheckerAdapter& adapter,
                                               const std::string& foreign, const std::string& mine,
                                               const std::string& fresh, const GroupSets& written) {
  RETURN_IF_ERROR(RemoveAll(fs, fresh));
  RETURN_IF_ERROR(fs.MakeDir(fresh, /*ok_if_exists=*/false));
  ASSIGN_OR_RETURN(AdoptedStamps stamps, StampForeign(fs, adapter, foreign));
  ASSIGN_OR_RETURN(std::vector<std::string> files, DatabaseFiles(fs, adapter, foreign));
  for (const std::string& file : files) {
    RETURN_IF_ERROR(ConsistentCopy(fs, JoinPath(foreign, file), JoinPath(fresh, file)).status());
  }
  mode_t mask = ::umask(0);
  ::umask(mask);
  ASSIGN_OR_RETURN(std::vector<std::string> mine_files, DatabaseFiles(fs, adapter, mine));
  for (const std::string& file : mine_files) {
    std::string db_path = JoinPath(fresh, file);
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(db_path));
    auto groups = written.find(file);
    if (!info.exists()) {
      // A database the run created: the run's copy is all there is.
      RETURN_IF_ERROR(ConsistentCopy(fs, JoinPath(mine, file), db_path).status());
    } else if (groups != written.end() && !groups->second.empty()) {
      ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenForWrite(db_path));
      RETURN_IF_ERROR(db.Attach(JoinPath(mine, file), "mine"));
      {
        ASSIGN_OR_RETURN(CacheFile::Transaction txn, db.BeginWrite());
        RETURN_IF_ERROR(db.ReplaceGroups("mine", groups->second, adapter).status());
        RETURN_IF_ERROR(txn.Commit());
      }
      RETURN_IF_ERROR(db.Close());
    }
  }
  ASSIGN_OR_RETURN(files, DatabaseFiles(fs, adapter, fresh));
  for (const std::string& file : files) {
    RETURN_IF_ERROR(fs.Chmod(JoinPath(fresh, file), 0666 & ~mask));
    RETURN_IF_ERROR(fs.Fsync(JoinPath(fresh, file)));
  }
  RETURN_IF_ERROR(fs.Fsync(fresh));
  return stamps;
}

// The foreign directory `dir` changed between the run's copy and the lock: copy it again outside
// the lock and adopt that copy if it is unchanged under the lock (O(files) there), up to
// options.adopt_recopies times. Returns nullopt when it kept changing, or someone else published
// it meanwhile: nothing of this run is published for it (its own results were used by the run).
absl::StatusOr<std::optional<DirResult>> RecopyForeign(
    GenerationStore& store, Fs& fs, const CheckerAdapter& adapter, const Snapshot& snapshot,
    const std::string& dir, const GroupSets& written, const PublishOptions& options,
    PublishReport& report) {
  LiveState base = snapshot.BaseOf(dir);
  std::string mine = JoinPath(snapshot.private_root, dir);
  for (int attempt = 0; attempt < options.adopt_recopies; ++attempt) {
    ++report.adoption_recopies;
    std::string fresh = JoinPath(snapshot.private_root, absl::StrCat(".recopy.", dir));
    WaitOutRacyMargin(fs, adapter, base.resolved, options.adopt_racy_margin);
    ASSIGN_OR_RETURN(AdoptedStamps stamps,
                     CopyForeignAgain(fs, adapter, base.resolved, mine, fresh, written));
    ASSIGN_OR_RETURN(std::unique_ptr<PublishLock> lock,
                     store.Lock(options.lock_timeout, [&](const std::string& holder) {
                       if (options.notice) {
                         options.notice("waiting for the publish lock held by " + holder);
                       }
                     }));
    absl::Time held_start = absl::Now();
    DirResult result;
    ASSIGN_OR_RETURN(result.onto, store.Head(dir));
    if (result.onto.kind != LiveState::Kind::kForeign || result.onto.resolved != base.resolved) {
      return std::optional<DirResult>();  // Published by another run meanwhile.
    }
    ASSIGN_OR_RETURN(bool unchanged, AdoptedUnchanged(fs, adapter, stamps, result.onto.resolved,
                                                      options.adopt_racy_margin));
    if (unchanged) {
      result.adopted = true;
      result.recopied = true;
      PublishRequest request{dir, result.onto, fresh, written, false};
      ASSIGN_OR_RETURN(result.published, store.Publish(request));
      report.lock_held += absl::Now() - held_start;
      return std::optional<DirResult>(std::move(result));
    }
    report.lock_held += absl::Now() - held_start;
  }
  return std::optional<DirResult>();
}

// ---- After the lock ----

// The content digest of each file of the new generation: its parent's plus, for every group the
// checker wrote, the difference between what the new generation holds and what the parent held.
// Groups others changed hold the parent's rows unless this run kept its own (a conflict it won);
// those are digested in the parent. O(groups written + conflicts).
absl::StatusOr<std::map<std::string, uint64_t>> NewDigests(
    GenerationStore& store, Fs& fs, const CheckerAdapter& adapter, const std::string& dir,
    const DirResult& result, const GroupSets& written,
    const std::map<std::string, PreparedFile>& prepared, bool yield_conflicts) {
  std::map<std::string, uint64_t> out;
  std::optional<GenerationRecord> parent;
  if (result.onto.kind == LiveState::Kind::kGeneration) {
    ASSIGN_OR_RETURN(parent, store.Record(dir, result.onto.gen));
  }
  for (const std::string& file : result.published.files) {
    auto p = prepared.find(file);
    if (p == prepared.end() || p->second.digest == PreparedFile::Digest::kUnknown) continue;
    if (p->second.digest == PreparedFile::Digest::kOfCopy && result.merged == 0 &&
        !result.recopied) {
      out[file] = p->second.copy_digest;  // The new file is the private copy as it was digested.
      continue;
    }
    if (p->second.digest == PreparedFile::Digest::kRecompute ||
        p->second.digest == PreparedFile::Digest::kOfCopy) {
      ASSIGN_OR_RETURN(GenerationReadLock held,
                       GenerationReadLock::Acquire(fs, result.published.resolved));
      ASSIGN_OR_RETURN(CacheFile db,
                       CacheFile::OpenReadOnly(JoinPath(result.published.resolved, file)));
      ASSIGN_OR_RETURN(out[file], db.ContentDigest(adapter));
      continue;
    }
    // Every group may differ (a full merge, or an adopted directory the parent's digest does not
    // describe): no O(changes) digest.
    if (result.full || result.adopted) continue;
    uint64_t digest = 0;
    bool parent_has_file = false;
    if (result.onto.kind == LiveState::Kind::kGeneration) {
      if (!parent.has_value()) continue;
      parent_has_file = parent->stamps.count(file) > 0;
      auto d = parent->digests.find(file);
      if (d != parent->digests.end()) {
        digest = d->second;
      } else if (parent_has_file) {
        continue;  // The parent has no digest for it (an older typecache published it).
      }
    } else if (result.onto.kind != LiveState::Kind::kMissing) {
      continue;
    }
    static const std::set<std::string> kNone;
    auto others_it = result.others.find(file);
    const std::set<std::string>& others =
        others_it == result.others.end() ? kNone : others_it->second;
    auto written_it = written.find(file);
    const std::set<std::string>& mine = written_it == written.end() ? kNone : written_it->second;
    std::set<std::string> kept_over_others;  // Conflicts this run won: the parent's rows differ.
    for (const auto& [group, d] : p->second.groups) {
      bool changed_by_others = others.count(group) > 0;
      bool kept = mine.count(group) > 0 && !(yield_conflicts && changed_by_others);
      if (!changed_by_others) {
        digest += d.mine - d.base;  // The parent holds the base's rows.
      } else if (kept) {
        digest += d.mine;
        kept_over_others.insert(group);
      }
      // Otherwise the new generation holds the parent's rows: no difference.
    }
    if (!kept_over_others.empty() && parent_has_file) {
      // The parent is held while read (it may leave the kept window and be retired meanwhile).
      ASSIGN_OR_RETURN(GenerationReadLock held,
                       GenerationReadLock::Acquire(fs, result.onto.resolved));
      ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenReadOnly(JoinPath(result.onto.resolved, file)));
      ASSIGN_OR_RETURN(auto theirs, db.DigestGroups(kept_over_others, adapter));
      for (const auto& [group, d] : theirs) digest -= d.exact;
    }
    out[file] = digest;
  }
  return out;
}

// After the lock is released: the new generations' content digests (for verify; best effort:
// without one, verify checks sizes and mtimes), the checker version, garbage collection.
void AfterTheLock(GenerationStore& store, Fs& fs, const CheckerAdapter& adapter,
                  const WriteSets& writes,
                  const std::vector<std::pair<std::string, DirResult>>& published,
                  const PublishOptions& options, PublishReport& report) {
  for (const auto& [dir, result] : published) {
    auto prepared = writes.prepared.find(dir);
    if (prepared == writes.prepared.end()) continue;
    absl::StatusOr<std::map<std::string, uint64_t>> digests = NewDigests(
        store, fs, adapter, dir, result, writes.at(dir), prepared->second, options.yield_conflicts);
    if (digests.ok() && !digests->empty()) {
      (void)store.RecordDigests(dir, result.published.gen, *digests);
    }
  }
  // Which checker version this run used, from what it wrote (never from whatever checker is
  // first on PATH): `prune --keep-version current` keeps that version. Best effort.
  for (const auto& [dir, result] : published) {
    const GroupSets& groups = writes.at(dir);
    if (groups.empty()) continue;
    const auto& [file, written] = *groups.begin();
    absl::StatusOr<GenerationReadLock> held =
        GenerationReadLock::Acquire(fs, result.published.resolved);
    if (!held.ok()) continue;
    absl::StatusOr<std::string> version =
        CheckerVersionOf(JoinPath(result.published.resolved, file), written, adapter);
    held->Release();
    if (version.ok() && !version->empty()) {
      absl::Status recorded = store.RecordCheckerVersion(*version);
      if (!recorded.ok() && options.notice) {
        options.notice("cannot record the checker version: " + std::string(recorded.message()));
      }
      report.checker_version = *version;
      break;
    }
  }
  for (const auto& [dir, result] : published) {
    absl::Status gc = store.CollectGarbage(dir, result.published.gen);
    if (!gc.ok() && options.notice) options.notice("cleanup: " + std::string(gc.message()));
  }
}

}  // namespace

// A file last written this close to when its stamps were taken may have been written again in the
// same clock tick without its mtime changing: it is read, not trusted by its stamps.
constexpr absl::Duration kCaptureRacyMargin = absl::Seconds(1);

absl::StatusOr<WriteSets> PrepareForPublish(Fs& fs, const CheckerAdapter& adapter,
                                            const Snapshot& snapshot, WriteSets* captured,
                                            Progress* progress_or_null) {
  Progress& progress = Progress::Or(progress_or_null);
  WriteSets writes;
  ASSIGN_OR_RETURN(std::vector<std::string> dirs, fs.ListDir(snapshot.private_root));
  std::sort(dirs.begin(), dirs.end());
  mode_t mask = ::umask(0);
  ::umask(mask);
  for (const std::string& dir : dirs) {
    if (!adapter.IsDatabaseDir(dir)) continue;
    std::string path = JoinPath(snapshot.private_root, dir);
    ASSIGN_OR_RETURN(std::vector<std::string> files, DatabaseFiles(fs, adapter, path));
    LiveState base = snapshot.BaseOf(dir);
    GroupSets groups;
    std::map<std::string, PreparedFile> prepared;
    const SnapshotDir* snap_dir = snapshot.Find(dir);
    progress.Detail(dir);
    // Capture first, then the digests of what was written: the progress line counts those
    // groups against their total. Files the run did not write keep their capture (no SQLite
    // work at all when their stamps show it; a read otherwise), unless the directory is
    // published: then every file is finished, a generation never holds capture.
    std::map<std::string, std::set<std::string>> written_by_file;
    std::set<std::string> armed;
    for (const std::string& file : files) {
      std::string db = JoinPath(path, file);
      if (snap_dir != nullptr &&
          CaptureUntouched(fs, snap_dir->armed, path, file, kCaptureRacyMargin)) {
        armed.insert(file);
        continue;
      }
      ASSIGN_OR_RETURN(std::set<std::string> written,
                       FinishCapture(db, adapter, CaptureEnd::kKeepArmedIfUnchanged));
      if (written.empty()) {
        armed.insert(file);
      } else {
        written_by_file[file] = std::move(written);
      }
    }
    if (written_by_file.empty()) {
      writes.armed[dir] = std::move(armed);
      continue;
    }
    for (const std::string& file : armed) {
      ASSIGN_OR_RETURN(written_by_file[file], FinishCapture(JoinPath(path, file), adapter));
    }
    int64_t total_written = 0;
    for (const auto& [file, written] : written_by_file) {
      total_written += static_cast<int64_t>(written.size());
    }
    if (total_written > 0) progress.SetWork(total_written, ProgressUnit::kCount, "groups written");
    for (const std::string& file : files) {
      std::string db = JoinPath(path, file);
      std::set<std::string>& written = written_by_file[file];
      int64_t count = static_cast<int64_t>(written.size());
      if (captured != nullptr && !written.empty()) (*captured)[dir][file] = written;
      // Generations are immutable, so the base is exactly what was copied, unless it has been
      // garbage-collected meanwhile (then nothing is dropped and no digest is kept). Groups
      // rewritten with their base's rows leave `written` here.
      absl::StatusOr<PreparedFile> digests =
          DigestWritten(fs, adapter, dir, base, file, db, written);
      if (digests.ok()) prepared[file] = *std::move(digests);
      if (!written.empty()) groups[file] = std::move(written);
      progress.Add(count);
    }
    if (groups.empty()) continue;
    // A claimed spare's list of armed databases stays in the copy until here: never published.
    RETURN_IF_ERROR(RemoveArmedMarker(fs, path));
    for (const std::string& file : files) {
      std::string db = JoinPath(path, file);
      // Shareable by the group, like ccache: 0666 & ~umask.
      RETURN_IF_ERROR(fs.Chmod(db, 0666 & ~mask));
      RETURN_IF_ERROR(fs.Fsync(db));
    }
    writes[dir] = std::move(groups);
    writes.prepared[dir] = std::move(prepared);
  }
  return writes;
}

absl::StatusOr<PublishReport> Publish(GenerationStore& store, Fs& fs, const CheckerAdapter& adapter,
                                      const Snapshot& snapshot, const WriteSets& writes,
                                      const PublishOptions& options) {
  PublishReport report;
  if (writes.empty()) return report;
  absl::Time wait_start = absl::Now();
  ASSIGN_OR_RETURN(std::unique_ptr<PublishLock> lock,
                   store.Lock(options.lock_timeout, [&](const std::string& holder) {
                     if (options.notice) {
                       options.notice("waiting for the publish lock held by " + holder);
                     }
                   }));
  absl::Time held_start = absl::Now();
  report.lock_wait = held_start - wait_start;
  std::vector<std::pair<std::string, DirResult>> published;
  std::vector<std::string> recopy;  // Foreign directories written since the run copied them.
  auto add = [&](const std::string& dir, const GroupSets& groups, DirResult result) {
    ++report.dirs_published;
    report.groups_written += static_cast<int64_t>(CountGroups(groups));
    report.groups_merged += result.merged;
    report.conflicts += result.conflicts;
    report.fast_paths += result.fast ? 1 : 0;
    report.full_merges += result.full ? 1 : 0;
    report.adopted_unchanged += result.adopted ? 1 : 0;
    report.bytes += result.published.bytes;
    if (!result.published.warning.empty() && options.notice) {
      options.notice(result.published.warning);
    }
    published.emplace_back(dir, std::move(result));
  };
  for (const auto& [dir, groups] : writes) {
    ASSIGN_OR_RETURN(DirResult result,
                     PublishDir(store, fs, adapter, dir, snapshot.BaseOf(dir), groups,
                                JoinPath(snapshot.private_root, dir), options, snapshot.Find(dir)));
    if (result.recopy) {
      recopy.push_back(dir);
      continue;
    }
    add(dir, groups, std::move(result));
  }
  lock.reset();
  report.lock_held = absl::Now() - held_start;
  // Outside the lock: copy those again, and adopt the new copy under a short lock.
  for (const std::string& dir : recopy) {
    const GroupSets& groups = writes.at(dir);
    ASSIGN_OR_RETURN(std::optional<DirResult> result,
                     RecopyForeign(store, fs, adapter, snapshot, dir, groups, options, report));
    if (result.has_value()) {
      add(dir, groups, *std::move(result));
      continue;
    }
    ++report.adoption_given_up;
    if (options.notice) {
      options.notice(absl::StrCat("warning: not publishing ", dir,
                                  ": another process kept writing the cache directory "
                                  "while this run copied it (",
                                  options.adopt_recopies + 1,
                                  " copies); this run's results for it are not shared"));
    }
  }
  AfterTheLock(store, fs, adapter, writes, published, options, report);
  return report;
}

absl::StatusOr<PublishReport> Publish(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                                      const Snapshot& snapshot, const WriteSets& writes,
                                      const std::string& run_id, const PublishOptions& options) {
  LocalGenerationStore store(
      fs, layout, adapter,
      {options.keep_generations, options.keep_logs, run_id, options.keep_spares});
  return Publish(store, fs, adapter, snapshot, writes, options);
}

absl::Status CollectGarbage(Fs& fs, const Layout& layout, const std::string& dir, int64_t live_gen,
                            int keep, int keep_logs, int keep_spares) {
  return CollectLocalGarbage(fs, layout, dir, live_gen, keep, keep_logs, keep_spares);
}

}  // namespace typecache
