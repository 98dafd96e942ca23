#include "src/store/local/sweep.h"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"
#include "src/os/lock.h"

namespace typecache {

absl::StatusOr<RunDir> ClaimRunDir(Fs& fs, const Layout& layout, const std::string& id) {
  ASSIGN_OR_RETURN(FileLock lock,
                   FileLock::TryAcquire(fs, JoinPath(layout.runs_dir(), id + ".lock")));
  std::string path = JoinPath(layout.runs_dir(), id);
  // An idle directory left by an earlier run: taken by renaming it (only one run can). One that
  // is not empty (nothing puts anything there; never trusted) goes to the trash.
  // Slots are filled from 0 up: the first missing one ends the search (one failed rename when
  // there is none).
  for (int n = 0; n < kIdleRunDirs; ++n) {
    absl::Status claimed = fs.Rename(layout.idle_run_path(n), path);
    if (!claimed.ok() && StatusErrno(claimed) == ENOENT) break;
    if (!claimed.ok()) continue;
    absl::StatusOr<std::vector<std::string>> names = fs.ListDir(path);
    if (names.ok() && names->empty()) return RunDir{id, path, std::move(lock)};
    if (!fs.Rename(path, JoinPath(layout.trash_dir(), absl::StrCat("idle.", RandomSuffix())))
             .ok()) {
      RETURN_IF_ERROR(RemoveAll(fs, path));
    }
    break;
  }
  RETURN_IF_ERROR(fs.MakeDir(path, /*ok_if_exists=*/false));
  return RunDir{id, path, std::move(lock)};
}

bool ParkRunDir(Fs& fs, const Layout& layout, const std::string& path) {
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(path);
  if (!names.ok() || !names->empty()) return false;
  for (int n = 0; n < kIdleRunDirs; ++n) {
    std::string slot = layout.idle_run_path(n);
    absl::StatusOr<FileInfo> info = fs.Lstat(slot);
    if (!info.ok()) return false;
    if (info->exists()) continue;
    // Two runs may find the same slot free: the second rename replaces the first's (empty)
    // directory, which costs a removal but loses nothing.
    absl::Status moved = fs.Rename(path, slot);
    if (moved.ok()) return true;
    if (StatusErrno(moved) != ENOENT) return false;
    if (!MakeDirs(fs, layout.idle_runs_dir()).ok()) return false;
    return fs.Rename(path, slot).ok();
  }
  return false;
}

void RunDir::Release(Fs& fs, const Layout& layout) {
  lock.Release();
  (void)fs.Unlink(JoinPath(layout.runs_dir(), id + ".lock"));
}

std::string RunIdOf(absl::string_view entry) {
  size_t dot = entry.find('.');
  return std::string(dot == absl::string_view::npos ? entry : entry.substr(0, dot));
}

absl::StatusOr<SweepReport> SweepDeadRuns(Fs& fs, const Layout& layout, absl::Duration min_age,
                                          bool dry_run) {
  SweepReport report;
  ASSIGN_OR_RETURN(FileInfo runs_info, fs.Stat(layout.runs_dir()));
  if (!runs_info.is_dir()) return report;
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(layout.runs_dir()));
  std::map<std::string, std::vector<std::string>> by_id;
  for (const std::string& name : names) by_id[RunIdOf(name)].push_back(name);
  int64_t now_ns = absl::ToUnixNanos(absl::Now());
  for (const auto& [id, entries] : by_id) {
    bool young = false;
    for (const std::string& entry : entries) {
      ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(JoinPath(layout.runs_dir(), entry)));
      if (info.exists() && now_ns - info.mtime_ns < absl::ToInt64Nanoseconds(min_age)) young = true;
    }
    if (young) continue;
    std::string lock_path = JoinPath(layout.runs_dir(), id + ".lock");
    if (dry_run) {
      // Look without touching: taking a FileLock would create or rewrite the lock file, and the
      // dead run would then look young to the next sweep (verify, then verify --repair).
      ASSIGN_OR_RETURN(FileInfo lock_info, fs.Lstat(lock_path));
      if (lock_info.exists()) {
        ASSIGN_OR_RETURN(int fd, fs.OpenLockFile(lock_path));
        absl::StatusOr<bool> locked = fs.TryLock(fd);
        fs.CloseFd(fd);
        if (!locked.ok()) return locked.status();
        if (!*locked) {
          ++report.live;
          continue;
        }
      }
      report.removed.push_back(id);
      continue;
    }
    absl::StatusOr<FileLock> lock = FileLock::TryAcquire(fs, lock_path);
    if (!lock.ok()) {
      if (absl::IsUnavailable(lock.status())) {
        ++report.live;
        continue;
      }
      return lock.status();
    }
    report.removed.push_back(id);
    for (const std::string& entry : entries) {
      if (entry == id + ".lock") continue;
      RETURN_IF_ERROR(RemoveAll(fs, JoinPath(layout.runs_dir(), entry)));
    }
    absl::Status unlinked = fs.Unlink(lock_path);  // Removed while held: nobody else can own it.
    if (!unlinked.ok() && StatusErrno(unlinked) != ENOENT) return unlinked;
  }
  return report;
}

namespace {

bool OlderThan(const FileInfo& info, absl::Duration age) {
  return absl::ToUnixNanos(absl::Now()) - info.mtime_ns >= absl::ToInt64Nanoseconds(age);
}

// Disk bytes of everything under `path` (not following symlinks), each inode once (`seen`).
// Entries that vanish meanwhile count as nothing.
absl::StatusOr<int64_t> TreeBytes(Fs& fs, const std::string& path,
                                  std::set<std::pair<uint64_t, uint64_t>>& seen) {
  absl::StatusOr<FileInfo> info = fs.Lstat(path);
  if (!info.ok()) {
    if (StatusErrno(info.status()) == ENOENT) return 0;
    return info.status();
  }
  if (!info->exists()) return 0;
  int64_t bytes = seen.insert({info->device, info->inode}).second ? info->disk_bytes : 0;
  if (!info->is_dir()) return bytes;
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(path);
  if (!names.ok()) {
    if (StatusErrno(names.status()) == ENOENT) return bytes;
    return names.status();
  }
  for (const std::string& name : *names) {
    ASSIGN_OR_RETURN(int64_t sub, TreeBytes(fs, JoinPath(path, name), seen));
    bytes += sub;
  }
  return bytes;
}

// The directory entry itself (its own blocks), not what it holds.
absl::StatusOr<int64_t> OwnBytes(Fs& fs, const std::string& path,
                                 std::set<std::pair<uint64_t, uint64_t>>& seen) {
  ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(path));
  if (!info.exists()) return 0;
  return seen.insert({info.device, info.inode}).second ? info.disk_bytes : 0;
}

absl::StatusOr<std::vector<std::string>> ListIfDir(Fs& fs, const std::string& path) {
  ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(path));
  if (!info.is_dir()) return std::vector<std::string>();
  return fs.ListDir(path);
}

// Whether some process holds the flock on `path` (a missing file: nobody). Changes nothing.
absl::StatusOr<bool> LockHeld(Fs& fs, const std::string& path) {
  ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(path));
  if (!info.exists()) return false;
  ASSIGN_OR_RETURN(int fd, fs.OpenLockFile(path));
  absl::StatusOr<bool> locked = fs.TryLock(fd);
  fs.CloseFd(fd);
  if (!locked.ok()) return locked.status();
  return !*locked;
}

// Generation directories of gens/ that are not live and never were: newer than the live
// generation of their <X.Y>, or of a <X.Y> without a live link. Paths, oldest first per dir.
absl::StatusOr<std::vector<std::string>> NeverLiveGenerations(Fs& fs, const Layout& layout,
                                                              absl::Duration min_age) {
  std::vector<std::string> out;
  ASSIGN_OR_RETURN(std::vector<std::string> dirs, ListIfDir(fs, layout.all_gens_dir()));
  std::sort(dirs.begin(), dirs.end());
  for (const std::string& dir : dirs) {
    absl::StatusOr<LiveState> live = ReadLiveState(fs, layout, dir);
    if (!live.ok() || live->kind == LiveState::Kind::kForeign) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListIfDir(fs, layout.gens_dir(dir)));
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      int64_t gen = Layout::ParseGenName(name);
      if (gen <= 0) continue;
      if (live->kind == LiveState::Kind::kGeneration && gen <= live->gen) continue;
      std::string path = layout.gen_path(dir, gen);
      ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(path));
      if (info.exists() && OlderThan(info, min_age)) out.push_back(path);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<LeftoverReport> ReclaimLeftovers(Fs& fs, const Layout& layout,
                                                absl::Duration min_age, bool dry_run,
                                                std::optional<absl::Duration> lock_wait) {
  LeftoverReport report;
  ASSIGN_OR_RETURN(FileInfo state, fs.Lstat(layout.state_dir()));
  if (!state.is_dir()) return report;  // Not in typecache's layout: nothing of ours to reclaim.
  ASSIGN_OR_RETURN(report.runs, SweepDeadRuns(fs, layout, min_age, dry_run));
  std::set<std::pair<uint64_t, uint64_t>> seen;
  auto reclaim = [&](const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t bytes, TreeBytes(fs, path, seen));
    report.bytes += bytes;
    report.removed.push_back(path);
    return dry_run ? absl::OkStatus() : RemoveAll(fs, path);
  };
  // Trash a background remover did not finish (it died, or the machine went down).
  ASSIGN_OR_RETURN(std::vector<std::string> trash, ListIfDir(fs, layout.trash_dir()));
  for (const std::string& name : trash) {
    std::string path = JoinPath(layout.trash_dir(), name);
    ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(path));
    if (info.exists() && OlderThan(info, min_age)) RETURN_IF_ERROR(reclaim(path));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> never_live, NeverLiveGenerations(fs, layout, min_age));
  if (never_live.empty()) return report;
  if (dry_run) {
    // A lock file that cannot be opened (a read-only cache) cannot tell: say nothing of them.
    absl::StatusOr<bool> held = LockHeld(fs, layout.lock_path());
    if (!held.ok() || *held) {
      report.lock_busy = true;
      return report;
    }
    for (const std::string& path : never_live) RETURN_IF_ERROR(reclaim(path));
    return report;
  }
  absl::StatusOr<FileLock> lock = lock_wait.has_value()
                                      ? FileLock::Acquire(fs, layout.lock_path(), *lock_wait)
                                      : FileLock::TryAcquire(fs, layout.lock_path());
  if (!lock.ok()) {
    if (!absl::IsUnavailable(lock.status()) && !absl::IsDeadlineExceeded(lock.status())) {
      return lock.status();
    }
    report.lock_busy = true;
    return report;
  }
  // Under the lock, nobody is between renaming a generation in and switching to it: read again.
  ASSIGN_OR_RETURN(never_live, NeverLiveGenerations(fs, layout, min_age));
  for (const std::string& path : never_live) RETURN_IF_ERROR(reclaim(path));
  return report;
}

absl::StatusOr<DiskUsage> MeasureDiskUsage(Fs& fs, const Layout& layout,
                                           const CheckerAdapter& adapter) {
  DiskUsage u;
  std::set<std::pair<uint64_t, uint64_t>> seen;
  const std::string& root = layout.cache_dir();
  ASSIGN_OR_RETURN(FileInfo top, fs.Lstat(root));
  if (!top.is_dir()) return u;
  ASSIGN_OR_RETURN(u.state, OwnBytes(fs, root, seen));
  auto add = [&](int64_t& bucket, absl::StatusOr<int64_t> bytes) -> absl::Status {
    if (!bytes.ok()) return bytes.status();
    bucket += *bytes;
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(root));
  for (const std::string& name : names) {
    std::string path = JoinPath(root, name);
    if (name == ".typecache") continue;
    ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(path));
    // A real <X.Y> directory is live data the checker wrote directly; the link is ours.
    bool live = adapter.IsDatabaseDir(name) && info.is_dir();
    RETURN_IF_ERROR(add(live ? u.live : u.state, TreeBytes(fs, path, seen)));
  }
  ASSIGN_OR_RETURN(FileInfo state, fs.Lstat(layout.state_dir()));
  if (!state.is_dir()) return u;
  RETURN_IF_ERROR(add(u.state, OwnBytes(fs, layout.state_dir(), seen)));
  ASSIGN_OR_RETURN(std::vector<std::string> entries, fs.ListDir(layout.state_dir()));
  for (const std::string& name : entries) {
    std::string path = JoinPath(layout.state_dir(), name);
    if (path == layout.all_gens_dir()) {
      RETURN_IF_ERROR(add(u.state, OwnBytes(fs, path, seen)));
      ASSIGN_OR_RETURN(std::vector<std::string> dirs, ListIfDir(fs, path));
      for (const std::string& dir : dirs) {
        RETURN_IF_ERROR(add(u.state, OwnBytes(fs, layout.gens_dir(dir), seen)));
        absl::StatusOr<LiveState> live = ReadLiveState(fs, layout, dir);
        ASSIGN_OR_RETURN(std::vector<std::string> gens, ListIfDir(fs, layout.gens_dir(dir)));
        for (const std::string& g : gens) {
          int64_t gen = Layout::ParseGenName(g);
          int64_t* bucket = &u.leftovers;  // Not a generation name, or never live.
          if (gen > 0 && live.ok() && live->kind == LiveState::Kind::kGeneration) {
            if (gen == live->gen) bucket = &u.live;
            if (gen < live->gen) bucket = &u.old_generations;
          } else if (gen > 0 && live.ok() && live->kind == LiveState::Kind::kForeign) {
            bucket = &u.old_generations;  // Replaced by a directory written directly.
          }
          RETURN_IF_ERROR(add(*bucket, TreeBytes(fs, JoinPath(layout.gens_dir(dir), g), seen)));
        }
      }
    } else if (path == layout.runs_dir()) {
      RETURN_IF_ERROR(add(u.state, OwnBytes(fs, path, seen)));
      ASSIGN_OR_RETURN(std::vector<std::string> runs, ListIfDir(fs, path));
      std::map<std::string, bool> alive;
      for (const std::string& entry : runs) {
        std::string id = RunIdOf(entry);
        if (alive.count(id) == 0) {
          absl::StatusOr<bool> held = LockHeld(fs, JoinPath(path, id + ".lock"));
          alive[id] = held.ok() && *held;
        }
        RETURN_IF_ERROR(
            add(alive[id] ? u.running : u.leftovers, TreeBytes(fs, JoinPath(path, entry), seen)));
      }
    } else if (path == layout.trash_dir()) {
      RETURN_IF_ERROR(add(u.state, OwnBytes(fs, path, seen)));
      ASSIGN_OR_RETURN(std::vector<std::string> trash, ListIfDir(fs, path));
      for (const std::string& entry : trash) {
        RETURN_IF_ERROR(add(u.leftovers, TreeBytes(fs, JoinPath(path, entry), seen)));
      }
    } else if (path == layout.all_spares_dir()) {
      RETURN_IF_ERROR(add(u.spares, TreeBytes(fs, path, seen)));
    } else if (path == layout.passthrough_dir()) {
      RETURN_IF_ERROR(add(u.passthrough, TreeBytes(fs, path, seen)));
    } else {
      RETURN_IF_ERROR(add(u.state, TreeBytes(fs, path, seen)));
    }
  }
  return u;
}

}  // namespace typecache
