#include "src/commands/clean.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"
#include "src/os/lock.h"
#include "src/store/local/layout.h"
#include "src/store/local/sweep.h"

namespace typecache {
namespace {

// Bytes under `path` (files and symlinks themselves; links are not followed).
int64_t SizeOf(Fs& fs, const std::string& path) {
  absl::StatusOr<FileInfo> info = fs.Lstat(path);
  if (!info.ok() || !info->exists()) return 0;
  if (!info->is_dir()) return info->size;
  int64_t total = 0;
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(path);
  if (!names.ok()) return 0;
  for (const std::string& name : *names) total += SizeOf(fs, JoinPath(path, name));
  return total;
}

// What a clean removes: the paths, in removal order (what the checker opens first).
struct CleanPlan {
  std::vector<std::string> paths;
  std::map<std::string, std::vector<std::string>> runs;  // Run id -> its entries in runs/.
  std::vector<std::string> kept;
};

absl::StatusOr<CleanPlan> PlanClean(Fs& fs, const CheckerAdapter& adapter, const Layout& layout) {
  CleanPlan plan;
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(layout.cache_dir()));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (adapter.IsDatabaseDir(name)) {
      plan.paths.push_back(layout.live_path(name));
    } else if (name != ".typecache") {
      plan.kept.push_back(name);
    }
  }
  for (const char* sub : {"gens", "logs", "digests", "spares", "passthrough", "trash"}) {
    std::string path = JoinPath(layout.state_dir(), sub);
    ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(path));
    if (info.exists()) plan.paths.push_back(path);
  }
  ASSIGN_OR_RETURN(FileInfo runs, fs.Lstat(layout.runs_dir()));
  if (runs.is_dir()) {
    ASSIGN_OR_RETURN(std::vector<std::string> entries, fs.ListDir(layout.runs_dir()));
    for (const std::string& entry : entries) plan.runs[RunIdOf(entry)].push_back(entry);
  }
  return plan;
}

}  // namespace

absl::StatusOr<CleanReport> Clean(Fs& fs, const CheckerAdapter& adapter,
                                  const std::string& cache_dir, const CleanOptions& options) {
  CleanReport report;
  report.cache_dir = cache_dir;
  report.dry_run = options.dry_run;
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(cache_dir));
  if (!info.exists()) {
    report.exists = false;
    return report;
  }
  if (!info.is_dir()) {
    return absl::FailedPreconditionError(absl::StrCat(cache_dir, ": not a directory"));
  }
  Layout layout(cache_dir);
  std::optional<FileLock> lock;
  if (!options.dry_run) {
    ASSIGN_OR_RETURN(FileInfo state, fs.Lstat(layout.state_dir()));
    if (state.is_dir()) {
      absl::StatusOr<FileLock> acquired = FileLock::Acquire(
          fs, layout.lock_path(), options.lock_timeout, [&](const std::string& h) {
            if (options.notice) options.notice("waiting for the publish lock held by " + h);
          });
      if (!acquired.ok()) {
        return absl::Status(acquired.status().code(),
                            absl::StrCat(layout.lock_path(), ": ", acquired.status().message()));
      }
      lock.emplace(*std::move(acquired));
    }
  }
  ASSIGN_OR_RETURN(CleanPlan plan, PlanClean(fs, adapter, layout));
  report.kept = plan.kept;
  for (const std::string& path : plan.paths) {
    report.bytes += SizeOf(fs, path);
    report.removed.push_back(path);
    if (!options.dry_run) RETURN_IF_ERROR(RemoveAll(fs, path));
  }
  for (const auto& [id, entries] : plan.runs) {
    std::string lock_path = JoinPath(layout.runs_dir(), id + ".lock");
    absl::StatusOr<FileInfo> lock_info = fs.Lstat(lock_path);
    bool alive = false;
    std::optional<FileLock> run_lock;
    if (lock_info.ok() && lock_info->exists()) {
      if (options.dry_run) {
        ASSIGN_OR_RETURN(int fd, fs.OpenLockFile(lock_path));
        absl::StatusOr<bool> locked = fs.TryLock(fd);
        fs.CloseFd(fd);
        RETURN_IF_ERROR(locked.status());
        alive = !*locked;
      } else {
        absl::StatusOr<FileLock> taken = FileLock::TryAcquire(fs, lock_path);
        if (!taken.ok() && !absl::IsUnavailable(taken.status())) return taken.status();
        alive = !taken.ok();
        if (taken.ok()) run_lock.emplace(*std::move(taken));
      }
    }
    if (alive) {
      ++report.live_runs;
      continue;
    }
    for (const std::string& entry : entries) {
      if (entry == id + ".lock") continue;
      std::string path = JoinPath(layout.runs_dir(), entry);
      report.bytes += SizeOf(fs, path);
      report.removed.push_back(path);
      if (!options.dry_run) RETURN_IF_ERROR(RemoveAll(fs, path));
    }
    if (!options.dry_run && run_lock.has_value()) (void)fs.Unlink(lock_path);
  }
  return report;
}

}  // namespace typecache
