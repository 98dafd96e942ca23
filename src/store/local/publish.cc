#include "src/store/local/publish.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_db.h"
#include "src/os/lock.h"
#include "src/store/local/changes.h"

namespace typecache {
namespace {

// Every group in the live directory's and the private directory's databases. A live database
// that SQLite cannot read (corrupt, truncated) has nothing to contribute: its file is left out,
// so the private copy (e.g. the one `verify --repair` salvaged) replaces it.
absl::StatusOr<GroupSets> AllGroups(Fs& fs, const CheckerAdapter& adapter, const LiveState& live,
                                    const std::string& private_dir) {
  GroupSets all;
  std::set<std::string> unreadable;
  std::vector<std::pair<std::string, bool>> dirs = {{private_dir, false}};
  if (live.kind != LiveState::Kind::kMissing) dirs.emplace_back(live.resolved, true);
  for (const auto& entry : dirs) {
    const std::string& dir = entry.first;
    const bool is_live = entry.second;
    ASSIGN_OR_RETURN(std::vector<std::string> files, DatabaseFiles(fs, adapter, dir));
    for (const std::string& file : files) {
      absl::StatusOr<std::set<std::string>> groups =
          [&]() -> absl::StatusOr<std::set<std::string>> {
        ASSIGN_OR_RETURN(Db db, Db::Open(JoinPath(dir, file), Db::Mode::kReadOnly));
        RETURN_IF_ERROR(db.Exec("BEGIN"));
        ASSIGN_OR_RETURN(std::set<std::string> listed, ListGroups(db, adapter));
        (void)db.Exec("COMMIT");
        return listed;
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

absl::StatusOr<int64_t> NextGeneration(Fs& fs, const Layout& layout, const std::string& dir,
                                       int64_t live_gen) {
  int64_t next = std::max<int64_t>(live_gen, 0) + 1;
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(layout.gens_dir(dir)));
  if (!info.is_dir()) return next;
  // A crashed publisher may have left a generation that never went live: never reuse its name.
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(layout.gens_dir(dir)));
  for (const std::string& name : names) next = std::max(next, Layout::ParseGenName(name) + 1);
  return next;
}

struct DirResult {
  int64_t merged = 0;
  int64_t conflicts = 0;
  bool fast = false;
  bool full = false;
  int64_t bytes = 0;
  int64_t gen = 0;
  std::string warning;  // A step after the switch failed; the publish itself happened.
};

absl::StatusOr<DirResult> PublishDir(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                                     const std::string& dir, const LiveState& base,
                                     const GroupSets& written, const std::string& private_dir,
                                     const std::string& run_id, const PublishOptions& options) {
  DirResult result;
  ASSIGN_OR_RETURN(LiveState live, ReadLiveState(fs, layout, dir));
  ASSIGN_OR_RETURN(std::optional<GroupSets> changed,
                   ChangesSince(fs, layout, adapter, dir, base, live));
  if (!changed.has_value()) {
    result.full = true;
    ASSIGN_OR_RETURN(changed, AllGroups(fs, adapter, live, private_dir));
  }
  // Bring over what others published since the snapshot, except groups this run wrote.
  for (const auto& [file, groups] : *changed) {
    std::set<std::string> take;
    auto mine = written.find(file);
    for (const std::string& group : groups) {
      if (mine != written.end() && mine->second.count(group) > 0) {
        if (!result.full) ++result.conflicts;
        if (options.yield_conflicts && !result.full) take.insert(group);
      } else {
        take.insert(group);
      }
    }
    if (take.empty()) continue;
    std::string private_db = JoinPath(private_dir, file);
    ASSIGN_OR_RETURN(Db db, OpenForWrite(private_db));
    std::string src_schema;
    if (live.kind != LiveState::Kind::kMissing) {
      std::string live_db = JoinPath(live.resolved, file);
      ASSIGN_OR_RETURN(FileInfo info, fs.Stat(live_db));
      if (info.exists()) {
        RETURN_IF_ERROR(AttachReadOnly(db, live_db, "live"));
        src_schema = "live";
      }
    }
    RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    ASSIGN_OR_RETURN(TransferStats moved, ReplaceGroups(db, src_schema, take, adapter));
    RETURN_IF_ERROR(db.Exec("COMMIT"));
    RETURN_IF_ERROR(db.Close());
    RETURN_IF_ERROR(fs.Fsync(private_db));
    result.merged += moved.groups;
  }
  result.fast = !result.full && CountGroups(*changed) == 0;

  // The new generation: log first, then the directory, then the link.
  GenLog log;
  ASSIGN_OR_RETURN(log.gen, NextGeneration(fs, layout, dir, live.gen));
  log.parent = live.kind == LiveState::Kind::kGeneration ? live.gen
               : live.kind == LiveState::Kind::kMissing  ? 0
                                                         : -1;
  if (options.unlisted_dirs.count(dir) > 0) log.parent = -1;
  log.groups = written;
  ASSIGN_OR_RETURN(std::vector<std::string> files, DatabaseFiles(fs, adapter, private_dir));
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(JoinPath(private_dir, file)));
    log.stamps[file] = FileStamp{info.size, info.mtime_ns};
    result.bytes += info.size;
  }
  RETURN_IF_ERROR(MakeDirs(fs, layout.logs_dir(dir)));
  RETURN_IF_ERROR(WriteFileAtomic(fs, layout.log_path(dir, log.gen), SerializeGenLog(log)));
  RETURN_IF_ERROR(MakeDirs(fs, layout.gens_dir(dir)));
  std::string gen_path = layout.gen_path(dir, log.gen);
  RETURN_IF_ERROR(fs.Rename(private_dir, gen_path));
  RETURN_IF_ERROR(fs.Fsync(layout.gens_dir(dir)));

  std::string live_path = layout.live_path(dir);
  std::string link_tmp = JoinPath(layout.runs_dir(), absl::StrCat(run_id, ".", dir, ".link"));
  (void)fs.Unlink(link_tmp);
  RETURN_IF_ERROR(fs.Symlink(Layout::LinkTarget(dir, log.gen), link_tmp));
  ASSIGN_OR_RETURN(FileInfo live_info, fs.Lstat(live_path));
  if (live_info.is_dir()) {
    // A real directory (mypy ran on this cache directly): swap it out atomically.
    std::string trash = JoinPath(layout.trash_dir(), absl::StrCat(dir, ".", RandomSuffix()));
    absl::Status swapped = fs.RenameExchange(link_tmp, live_path);
    if (swapped.ok()) {
      // The new generation is live; failing to move the old directory aside is only untidy.
      absl::Status moved = fs.Rename(link_tmp, trash);
      if (!moved.ok()) result.warning = std::string(moved.message());
    } else {
      // No RENAME_EXCHANGE (e.g. NFS): a reader may briefly find no cache, which is a cold run.
      RETURN_IF_ERROR(fs.Rename(live_path, trash));
      RETURN_IF_ERROR(fs.Rename(link_tmp, live_path));
    }
  } else {
    RETURN_IF_ERROR(fs.Rename(link_tmp, live_path));
  }
  // The rename is visible; if the directory cannot be synced there is nothing to undo, but the
  // user should know the publish may not survive a power cut.
  absl::Status synced = fs.Fsync(layout.cache_dir());
  if (!synced.ok()) {
    result.warning = absl::StrCat("published, but not durably: ", synced.message());
  }
  result.gen = log.gen;
  return result;
}

}  // namespace

absl::StatusOr<WriteSets> PrepareForPublish(Fs& fs, const CheckerAdapter& adapter,
                                            const Snapshot& snapshot, WriteSets* captured) {
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
    for (const std::string& file : files) {
      std::string db = JoinPath(path, file);
      ASSIGN_OR_RETURN(std::set<std::string> written, FinishCapture(db, adapter));
      if (captured != nullptr && !written.empty()) (*captured)[dir][file] = written;
      if (!written.empty() && base.kind == LiveState::Kind::kGeneration) {
        // Drop rewrites that left a group as it was in the snapshot (a warm run rewrites the
        // plugins snapshot every time): with nothing else written there is nothing to publish,
        // and nothing to fsync. Generations are immutable, so the base is exactly what was
        // copied, unless it has been garbage-collected meanwhile (then nothing is dropped).
        std::string base_db = JoinPath(base.resolved, file);
        ASSIGN_OR_RETURN(FileInfo base_info, fs.Stat(base_db));
        if (base_info.is_file()) {
          ASSIGN_OR_RETURN(Db private_db, Db::Open(db, Db::Mode::kReadOnly));
          if (AttachReadOnly(private_db, base_db, "base").ok()) {
            absl::StatusOr<std::set<std::string>> same =
                UnchangedGroups(private_db, "base", written, adapter);
            if (same.ok()) {
              for (const std::string& group : *same) written.erase(group);
            }
          }
        }
      }
      if (!written.empty()) groups[file] = std::move(written);
    }
    if (groups.empty()) continue;
    for (const std::string& file : files) {
      std::string db = JoinPath(path, file);
      // Shareable by the group, like ccache: 0666 & ~umask.
      RETURN_IF_ERROR(fs.Chmod(db, 0666 & ~mask));
      RETURN_IF_ERROR(fs.Fsync(db));
    }
    writes[dir] = std::move(groups);
  }
  return writes;
}

absl::StatusOr<PublishReport> Publish(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                                      const Snapshot& snapshot, const WriteSets& writes,
                                      const std::string& run_id, const PublishOptions& options) {
  PublishReport report;
  if (writes.empty()) return report;
  absl::Time wait_start = absl::Now();
  ASSIGN_OR_RETURN(
      FileLock lock,
      FileLock::Acquire(fs, layout.lock_path(), options.lock_timeout,
                        [&](const std::string& holder) {
                          if (options.notice) {
                            options.notice("waiting for the publish lock held by " + holder);
                          }
                        }));
  absl::Time held_start = absl::Now();
  report.lock_wait = held_start - wait_start;
  std::vector<std::pair<std::string, int64_t>> published;
  for (const auto& [dir, groups] : writes) {
    ASSIGN_OR_RETURN(DirResult result,
                     PublishDir(fs, layout, adapter, dir, snapshot.BaseOf(dir), groups,
                                JoinPath(snapshot.private_root, dir), run_id, options));
    ++report.dirs_published;
    report.groups_written += static_cast<int64_t>(CountGroups(groups));
    report.groups_merged += result.merged;
    report.conflicts += result.conflicts;
    report.fast_paths += result.fast ? 1 : 0;
    report.full_merges += result.full ? 1 : 0;
    report.bytes += result.bytes;
    published.emplace_back(dir, result.gen);
    if (!result.warning.empty() && options.notice) options.notice(result.warning);
  }
  lock.Release();
  report.lock_held = absl::Now() - held_start;
  // Which checker version this run used, from what it wrote (never from whatever checker is
  // first on PATH): `prune --keep-version current` keeps that version. Best effort.
  for (const auto& [dir, gen] : published) {
    const GroupSets& groups = writes.at(dir);
    if (groups.empty()) continue;
    const auto& [file, written] = *groups.begin();
    absl::StatusOr<std::string> version =
        CheckerVersionOf(JoinPath(layout.gen_path(dir, gen), file), written, adapter);
    if (version.ok() && !version->empty()) {
      absl::Status recorded = WriteFileAtomic(fs, layout.checker_version_path(), *version + "\n");
      if (!recorded.ok() && options.notice) {
        options.notice("cannot record the checker version: " + std::string(recorded.message()));
      }
      report.checker_version = *version;
      break;
    }
  }
  for (const auto& [dir, gen] : published) {
    absl::Status gc =
        CollectGarbage(fs, layout, dir, gen, options.keep_generations, options.keep_logs);
    if (!gc.ok() && options.notice) options.notice("cleanup: " + std::string(gc.message()));
  }
  return report;
}

absl::Status CollectGarbage(Fs& fs, const Layout& layout, const std::string& dir, int64_t live_gen,
                            int keep, int keep_logs) {
  absl::Status first_error;
  auto note = [&first_error](const absl::Status& status) {
    if (!status.ok() && first_error.ok()) first_error = status;
  };
  absl::StatusOr<std::vector<std::string>> gens = fs.ListDir(layout.gens_dir(dir));
  if (gens.ok()) {
    for (const std::string& name : *gens) {
      int64_t gen = Layout::ParseGenName(name);
      if (gen > 0 && gen < live_gen - keep) note(RemoveAll(fs, layout.gen_path(dir, gen)));
    }
  }
  absl::StatusOr<std::vector<std::string>> logs = fs.ListDir(layout.logs_dir(dir));
  if (logs.ok()) {
    int64_t now_ns = absl::ToUnixNanos(absl::Now());
    for (const std::string& name : *logs) {
      absl::string_view stem = name;
      if (stem.find(".tmp.") != absl::string_view::npos) {
        // A log being written by a publisher that died; old enough to be nobody's.
        std::string path = JoinPath(layout.logs_dir(dir), name);
        absl::StatusOr<FileInfo> info = fs.Lstat(path);
        if (info.ok() && now_ns - info->mtime_ns > absl::ToInt64Nanoseconds(absl::Hours(1))) {
          (void)fs.Unlink(path);
        }
        continue;
      }
      if (stem.size() < 4 || stem.substr(stem.size() - 4) != ".log") continue;
      int64_t gen = Layout::ParseGenName(stem.substr(0, stem.size() - 4));
      if (gen > 0 && gen < live_gen - keep_logs) {
        absl::Status removed = fs.Unlink(JoinPath(layout.logs_dir(dir), name));
        if (StatusErrno(removed) != ENOENT) note(removed);
      }
    }
  }
  absl::StatusOr<std::vector<std::string>> trash = fs.ListDir(layout.trash_dir());
  if (trash.ok()) {
    for (const std::string& name : *trash) note(RemoveAll(fs, JoinPath(layout.trash_dir(), name)));
  }
  return first_error;
}

}  // namespace typecache
