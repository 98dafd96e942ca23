#include "src/commands/maintenance.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/base/progress.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"
#include "src/os/lock.h"
#include "src/store/local/layout.h"
#include "src/store/local/local_store.h"
#include "src/store/local/snapshot.h"
#include "src/store/local/sweep.h"

namespace typecache {

void HeldGenerations::Hold(const std::string& dir, int64_t gen, GenerationReadLock lock) {
  gens_.emplace_back(dir, gen);
  locks_.push_back(std::move(lock));
}

void HeldGenerations::Release() {
  if (locks_.empty()) return;
  locks_.clear();  // Closing each descriptor drops its flock.
  Layout layout(cache_dir_);
  for (const auto& [dir, gen] : gens_) CollectAfterReading(fs_, layout, dir, gen);
  gens_.clear();
}

namespace {

constexpr int kHoldAttempts = 5;

// "cache.2.db" < "cache.10.db": runs of digits compare by value.
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(a[i])) &&
        absl::ascii_isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ei = i, ej = j;
      while (ei < a.size() && absl::ascii_isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && absl::ascii_isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      std::string da = a.substr(i, ei - i), db = b.substr(j, ej - j);
      da.erase(0, std::min(da.find_first_not_of('0'), da.size()));
      db.erase(0, std::min(db.find_first_not_of('0'), db.size()));
      if (da.size() != db.size()) return da.size() < db.size();
      if (da != db) return da < db;
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

absl::StatusOr<int64_t> SizeOf(Fs& fs, const std::string& path) {
  if (path.empty()) return 0;
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(path));
  return info.size;
}

// StampForeign(`live_dir`), or no stamps when its databases are not those `dbs` lists for `dir`
// (one appeared or went since the target was resolved: the copies would not be all of it).
absl::StatusOr<AdoptedStamps> StampedAsListed(Fs& fs, const CheckerAdapter& adapter,
                                              const std::string& live_dir,
                                              const std::vector<DbRef>& dbs,
                                              const std::string& dir) {
  ASSIGN_OR_RETURN(AdoptedStamps stamps, StampForeign(fs, adapter, live_dir));
  std::set<std::string> listed, stamped;
  for (const DbRef& ref : dbs) {
    if (ref.dir == dir && !ref.path.empty()) listed.insert(ref.file);
  }
  for (const auto& [name, info] : stamps.files) {
    if (adapter.IsDatabaseFile(name) && info.exists()) stamped.insert(name);
  }
  if (listed != stamped) return AdoptedStamps{};
  return stamps;
}

// Whether an edit may start a directory's copy from a retired spare, given the stamps of the
// live directory's files: not for a dry run or when the options forbid it; not when a -wal or
// -journal is beside a database (committed rows may be in it, which a consistent copy includes
// and a spare would not); not when the stamps list nothing (the databases did not match the
// listing: they prove nothing).
bool MayStartFromSpare(const EditOptions& options, const AdoptedStamps& stamps) {
  if (!options.from_spares || options.dry_run || stamps.files.empty()) return false;
  for (const auto& [name, info] : stamps.files) {
    bool side = absl::EndsWith(name, "-wal") || absl::EndsWith(name, "-journal");
    if (side && info.exists()) return false;
  }
  return true;
}

absl::StatusOr<EditReport> EditCacheDir(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                        const DbEditor& editor, const EditOptions& options) {
  EditReport report;
  Layout layout(target.path);
  // What this edit creates, so that a failed one leaves its input as it was: the cache
  // directory itself (merge into a new one), or typecache's state in a cache mypy wrote.
  ASSIGN_OR_RETURN(FileInfo cache_before, fs.Lstat(layout.cache_dir()));
  ASSIGN_OR_RETURN(FileInfo state_before, fs.Lstat(layout.state_dir()));
  std::string created = !cache_before.exists()   ? layout.cache_dir()
                        : !state_before.exists() ? layout.state_dir()
                                                 : "";
  auto undo = [&](absl::Status status) {
    if (!created.empty()) (void)RemoveAll(fs, created);
    return status;
  };
  absl::Status made = layout.Create(fs, adapter);
  if (!made.ok()) return undo(made);
  std::string id = absl::StrCat("maint-", ::getpid(), "-", RandomSuffix());
  absl::StatusOr<RunDir> claimed = ClaimRunDir(fs, layout, id);
  if (!claimed.ok()) return undo(claimed.status());
  RunDir run_dir = *std::move(claimed);
  const std::string& root = run_dir.path;
  auto cleanup = [&]() {
    (void)RemoveAll(fs, root);
    run_dir.Release(fs, layout);
  };

  std::vector<DbRef> dbs = target.dbs;
  dbs.insert(dbs.end(), options.extra.begin(), options.extra.end());
  Snapshot snapshot;
  snapshot.private_root = root;
  WriteSets writes;
  PublishOptions publish_options;
  publish_options.lock_timeout = options.lock_timeout;
  publish_options.notice = options.notice;
  publish_options.yield_conflicts = true;
  publish_options.adopt_racy_margin = options.adopt_racy_margin;
  // A directory written since its stamps (below) is compared group by group under the lock, not
  // copied again: a new copy would lose this edit.
  publish_options.adopt_recopies = 0;
  absl::Status status;
  std::set<std::string> from_spare;  // Directories whose copy is a retired spare.
  for (const DbRef& ref : dbs) {
    std::string dir = JoinPath(root, ref.dir);
    ASSIGN_OR_RETURN(FileInfo dir_info, fs.Stat(dir));
    if (!dir_info.exists()) {
      // First database of this directory: record the generation the copies come from (the one
      // the target holds, which is where ref.path is).
      auto listed = target.live.find(ref.dir);
      absl::StatusOr<LiveState> live = listed != target.live.end()
                                           ? absl::StatusOr<LiveState>(listed->second)
                                           : ReadLiveState(fs, layout, ref.dir);
      if (!live.ok()) {
        status = live.status();
        break;
      }
      // Its files' stamps before any of them is copied, as a run's snapshot takes them: when they
      // are the same under the publish lock (AdoptedUnchanged), the copies hold every row the
      // directory holds, and the publish adopts a directory mypy wrote (or a generation written
      // in place) without listing every group of it (O(groups) names in memory) and copying
      // them over again.
      absl::StatusOr<AdoptedStamps> stamps =
          live->kind == LiveState::Kind::kMissing
              ? absl::StatusOr<AdoptedStamps>(AdoptedStamps{})
              : StampedAsListed(fs, adapter, live->resolved, dbs, ref.dir);
      if (!stamps.ok()) {
        status = stamps.status();
        break;
      }
      snapshot.dirs.push_back({ref.dir, *live, *std::move(stamps), AdoptedStamps{}});
      // A retired generation brought up to date from the logs instead of a copy of every
      // database, as a run's snapshot: a pull that brings one group into a 15 MB cache copied
      // and fsynced all of it. Only for a generation the target holds (nobody rewrites it while
      // the spare is brought up to it).
      bool spare = false;
      if (listed != target.live.end() && target.held != nullptr &&
          MayStartFromSpare(options, snapshot.dirs.back().adopted)) {
        LocalGenerationStore store(fs, layout, adapter);
        absl::StatusOr<bool> reused =
            CopyFromRetiredSpare(store, fs, layout, adapter, ref.dir, *live, dir);
        if (!reused.ok()) {
          status = reused.status();
          break;
        }
        spare = *reused;
      }
      if (spare) {
        from_spare.insert(ref.dir);
      } else {
        status = fs.MakeDir(dir, false);
        if (!status.ok()) break;
      }
    }
    std::string copy = JoinPath(dir, ref.file);
    Progress& progress = Progress::Or(options.progress);
    if (!ref.path.empty() && from_spare.count(ref.dir) > 0) {
      // What the command started from is the live file (held), not the spare's size.
      absl::StatusOr<int64_t> size = SizeOf(fs, ref.path);
      if (!size.ok()) {
        status = size.status();
        break;
      }
      report.bytes_before += *size;
      ++report.dbs_from_spares;
    } else if (!ref.path.empty()) {
      progress.Detail("copying " + JoinPath(ref.dir, ref.file));
      absl::StatusOr<CopyResult> copied = ConsistentCopy(fs, ref.path, copy);
      if (!copied.ok()) {
        status = copied.status();
        break;
      }
      report.bytes_before += copied->bytes;
    }
    absl::StatusOr<DbChange> change = editor(ref, copy);
    if (!change.ok()) {
      status = change.status();
      break;
    }
    // The new generation's content digest: the one the editor computed for its copy, if the
    // copy is published as it left it; else it is read from the published file. Either restarts
    // the digest chain however the edit was made.
    PreparedFile& prepared = writes.prepared[ref.dir][ref.file];
    prepared.digest = PreparedFile::Digest::kRecompute;
    if (change->digest.has_value()) {
      prepared.digest = PreparedFile::Digest::kOfCopy;
      prepared.copy_digest = *change->digest;
    }
    absl::StatusOr<int64_t> after = SizeOf(fs, copy);
    report.bytes_after += after.ok() ? *after : 0;
    if (!change->groups.empty() || change->unlisted) {
      ++report.dbs_changed;
      report.groups_changed += static_cast<int64_t>(change->groups.size());
      writes[ref.dir][ref.file].merge(change->groups);  // Moves the names: one copy in memory.
      if (change->unlisted) publish_options.unlisted_dirs.insert(ref.dir);
    } else if (options.force_publish || change->republish) {
      ++report.dbs_changed;
      writes[ref.dir];  // Publish the directory even though no group changed.
    }
  }
  // A directory brought up from a spare that this edit does not publish is exactly its base
  // generation: it goes back to the spares (unsynced: trusted in this boot only, as a donated
  // one) instead of being deleted with the private root, so the next run still finds one.
  auto give_back_spares = [&]() {
    if (!status.ok()) return;
    for (const std::string& dir : from_spare) {
      if (writes.count(dir) > 0) continue;
      (void)DonateSpare(fs, layout, adapter, snapshot, dir, GroupSets{});
    }
  };
  if (!status.ok() || options.dry_run || writes.empty()) {
    give_back_spares();
    cleanup();
    if (!status.ok()) return undo(status);
    // Nothing published: a cache that had no state of typecache's gets none.
    (void)undo(absl::OkStatus());
    return report;
  }
  Progress::Or(options.progress).Detail("publishing");
  // The copies were written with synchronous=OFF: on disk before the publish makes them live, so
  // that a power cut after the switch cannot expose a database the kernel never wrote (a run's
  // publish does the same in PrepareForPublish).
  for (const DbRef& ref : dbs) {
    if (writes.count(ref.dir) == 0) continue;
    status = fs.Fsync(JoinPath(JoinPath(root, ref.dir), ref.file));
    if (!status.ok()) break;
  }
  if (!status.ok()) {
    cleanup();
    return undo(status);
  }
  // Every copy is made: let go of what was read, so that this publish's collection retires it.
  if (target.held != nullptr) target.held->Release();
  absl::StatusOr<PublishReport> published =
      Publish(fs, layout, adapter, snapshot, writes, id, publish_options);
  if (published.ok()) give_back_spares();
  cleanup();
  if (!published.ok()) {
    // A publish that failed before its switch left the cache as it was; one that switched
    // cannot fail afterwards, so removing what this edit created is safe only without a head.
    bool any_live = false;
    for (const auto& [dir, groups] : writes) {
      absl::StatusOr<LiveState> live = ReadLiveState(fs, layout, dir);
      any_live = any_live || (live.ok() && live->kind == LiveState::Kind::kGeneration);
    }
    if (!any_live) return undo(published.status());
    return published.status();
  }
  report.publish = *published;
  return report;
}

absl::StatusOr<EditReport> EditFile(Fs& fs, const Target& target, const DbEditor& editor,
                                    const EditOptions& options) {
  EditReport report;
  const DbRef& ref = target.dbs.front();
  std::string dir = DirName(target.path);
  std::string base = BaseName(target.path);
  for (const char* suffix : {"-wal", "-journal"}) {
    ASSIGN_OR_RETURN(FileInfo side, fs.Stat(target.path + suffix));
    if (side.exists() && side.size > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          target.path, ": in use by another process or not cleanly closed (", base, suffix,
          " exists); run `typecache verify` on it or retry when the writer is done"));
    }
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSIGN_OR_RETURN(FileInfo before, fs.Stat(target.path));
    std::string copy = JoinPath(dir, absl::StrCat(".", base, ".typecache.", RandomSuffix()));
    auto remove_copy = [&]() { (void)fs.Unlink(copy); };
    if (before.exists()) {
      Progress::Or(options.progress).Detail("copying " + ref.file);
      absl::StatusOr<CopyResult> copied = ConsistentCopy(fs, target.path, copy);
      if (!copied.ok()) {
        remove_copy();
        return copied.status();
      }
      report.bytes_before = copied->bytes;
    }
    DbRef live = ref;
    live.path = before.exists() ? target.path : "";
    absl::StatusOr<DbChange> change = editor(live, copy);
    if (!change.ok()) {
      remove_copy();
      return change.status();
    }
    ASSIGN_OR_RETURN(report.bytes_after, SizeOf(fs, copy));
    report.groups_changed = static_cast<int64_t>(change->groups.size());
    bool changed = !change->groups.empty() || change->unlisted || change->republish;
    report.dbs_changed = changed ? 1 : 0;
    if (options.dry_run || (!changed && !options.force_publish)) {
      remove_copy();
      return report;
    }
    Progress::Or(options.progress).Detail("publishing");
    absl::Status status = fs.Fsync(copy);
    if (!status.ok()) {
      remove_copy();
      return status;
    }
    absl::StatusOr<FileLock> lock = FileLock::Acquire(
        fs, JoinPath(dir, absl::StrCat(".", base, ".typecache-lock")), options.lock_timeout);
    if (!lock.ok()) {
      remove_copy();
      return lock.status();
    }
    ASSIGN_OR_RETURN(FileInfo now, fs.Stat(target.path));
    if (now.exists() != before.exists() || now.inode != before.inode || now.size != before.size ||
        now.mtime_ns != before.mtime_ns) {
      remove_copy();  // Replaced while we worked: redo the edit on the new file.
      continue;
    }
    status = fs.Rename(copy, target.path);
    if (!status.ok()) {
      remove_copy();
      return status;
    }
    RETURN_IF_ERROR(fs.Fsync(dir));
    return report;
  }
  return absl::AbortedError(
      absl::StrCat(target.path, ": replaced by another process three times while editing; retry"));
}

}  // namespace

absl::StatusOr<Target> ResolveTarget(Fs& fs, const CheckerAdapter& adapter, const std::string& path,
                                     bool create) {
  Target target;
  target.path = AbsolutePath(path);
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(target.path));
  if (!info.exists()) {
    if (!create) return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
    // A new destination: a cache directory unless it is named like a database file.
    if (absl::string_view(path).size() > 3 && path.substr(path.size() - 3) == ".db") {
      target.kind = Target::Kind::kFile;
      target.dbs.push_back({"", BaseName(target.path), "", target.path});
    }
    return target;
  }
  if (info.is_file()) {
    target.kind = Target::Kind::kFile;
    target.dbs.push_back({"", BaseName(target.path), target.path, target.path});
    return target;
  }
  if (!info.is_dir()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a cache directory or a database file"));
  }
  Layout layout(target.path);
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(target.path));
  std::sort(names.begin(), names.end());
  // A directory that holds no cache (a project, a home directory) is an error rather than an
  // empty cache: the command would report zeros, or write typecache's state into it. An empty
  // directory is an empty cache (nothing in it could be mistaken for one).
  // typecache.conf alone makes a cache configured before its first run.
  bool holds_cache = names.empty();
  for (const std::string& name : names) {
    if (name == BaseName(layout.config_path())) holds_cache = true;
    if (name == ".typecache" || adapter.IsDatabaseDir(name)) {
      ASSIGN_OR_RETURN(FileInfo entry, fs.Stat(JoinPath(target.path, name)));
      holds_cache = holds_cache || entry.is_dir();
    }
  }
  if (!holds_cache) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": not a cache directory: it holds no cache database directory (such as 3.11/), "
        "no .typecache/ and no typecache.conf"));
  }
  target.held = std::make_shared<HeldGenerations>(fs, target.path);
  for (const std::string& name : names) {
    if (!adapter.IsDatabaseDir(name)) continue;
    // The live generation is held for as long as the target lives (HeldGenerations); one being
    // retired right now: the head moved on, read it again.
    LiveState live;
    absl::Status held = absl::NotFoundError("");
    for (int attempt = 0; attempt < kHoldAttempts && absl::IsNotFound(held); ++attempt) {
      ASSIGN_OR_RETURN(live, ReadLiveState(fs, layout, name));
      if (live.kind != LiveState::Kind::kGeneration) {
        held = absl::OkStatus();
        break;
      }
      absl::StatusOr<GenerationReadLock> lock = GenerationReadLock::Acquire(fs, live.resolved);
      held = lock.status();
      if (lock.ok()) target.held->Hold(name, live.gen, *std::move(lock));
    }
    if (absl::IsNotFound(held)) {
      return absl::UnavailableError(absl::StrCat(path, ": ", name, " was replaced ", kHoldAttempts,
                                                 " times while being read; retry"));
    }
    RETURN_IF_ERROR(held);
    if (live.kind == LiveState::Kind::kMissing) continue;
    target.live[name] = live;
    ASSIGN_OR_RETURN(std::vector<std::string> files, fs.ListDir(live.resolved));
    std::sort(files.begin(), files.end(), NaturalLess);
    for (const std::string& file : files) {
      if (adapter.IsDatabaseFile(file)) {
        target.dbs.push_back({name, file, JoinPath(live.resolved, file),
                              JoinPath(JoinPath(target.path, name), file)});
      }
    }
  }
  return target;
}

absl::StatusOr<EditReport> EditTarget(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                      const DbEditor& editor, const EditOptions& options) {
  if (target.kind == Target::Kind::kFile) return EditFile(fs, target, editor, options);
  return EditCacheDir(fs, adapter, target, editor, options);
}

}  // namespace typecache
