#include "src/commands/compact.h"

#include "src/base/progress.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"

namespace typecache {

absl::StatusOr<EditReport> Compact(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                   EditOptions options) {
  for (const DbRef& ref : target.dbs) RETURN_IF_ERROR(CheckReadable(ref.path));
  options.force_publish = true;
  // Progress in bytes of the databases done: each is copied, then rewritten by one VACUUM.
  Progress& progress = Progress::Or(options.progress);
  int64_t total = 0;
  for (const DbRef& ref : target.dbs) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    total += info.size;
  }
  progress.Start("compact", total, ProgressUnit::kBytes);
  DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
    progress.Detail("rewriting " + JoinPath(ref.dir, ref.file));
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(copy));
    ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenForWrite(copy));
    RETURN_IF_ERROR(db.Vacuum());
    RETURN_IF_ERROR(db.Close());
    progress.Add(info.size);
    return DbChange{};
  };
  absl::StatusOr<EditReport> report = EditTarget(fs, adapter, target, editor, options);
  progress.Done();
  return report;
}

}  // namespace typecache
