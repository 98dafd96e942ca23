#include "src/store/local/sweep.h"

#include <cerrno>
#include <map>

#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"
#include "src/os/lock.h"

namespace typecache {

absl::StatusOr<RunDir> ClaimRunDir(Fs& fs, const Layout& layout, const std::string& id) {
  ASSIGN_OR_RETURN(FileLock lock,
                   FileLock::TryAcquire(fs, JoinPath(layout.runs_dir(), id + ".lock")));
  std::string path = JoinPath(layout.runs_dir(), id);
  RETURN_IF_ERROR(fs.MakeDir(path, /*ok_if_exists=*/false));
  return RunDir{id, path, std::move(lock)};
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

}  // namespace typecache
