#include "src/commands/compact.h"

#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"

namespace typecache {

absl::StatusOr<EditReport> Compact(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                   EditOptions options) {
  for (const DbRef& ref : target.dbs) RETURN_IF_ERROR(CheckReadable(ref.path));
  options.force_publish = true;
  DbEditor editor = [](const DbRef&, const std::string& copy) -> absl::StatusOr<DbChange> {
    ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenForWrite(copy));
    RETURN_IF_ERROR(db.Vacuum());
    RETURN_IF_ERROR(db.Close());
    return DbChange{};
  };
  return EditTarget(fs, adapter, target, editor, options);
}

}  // namespace typecache
