#include "src/compact.h"

#include "src/cache_db.h"
#include "src/sqlite_db.h"
#include "src/status_macros.h"

namespace typecache {

absl::StatusOr<EditReport> Compact(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                   EditOptions options) {
  for (const DbRef& ref : target.dbs) RETURN_IF_ERROR(CheckReadable(ref.path));
  options.force_publish = true;
  DbEditor editor = [](const DbRef&, const std::string& copy) -> absl::StatusOr<DbChange> {
    ASSIGN_OR_RETURN(Db db, OpenForWrite(copy));
    RETURN_IF_ERROR(db.Exec("VACUUM"));
    RETURN_IF_ERROR(db.Close());
    return DbChange{};
  };
  return EditTarget(fs, adapter, target, editor, options);
}

}  // namespace typecache
