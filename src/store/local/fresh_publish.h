// Publishing a generation built from rows in memory into <X.Y> directories that have none yet
// (a cold `typecache remote pull`): no private copy of a live database, no read back of what was
// written. The groups are written straight into new database files in a private run directory,
// each group's digest comes from its rows (DigestOfRows), and the directory is published with
// the ordinary protocol (publish.h: log, rename into gens/, switch the link), so that a crash at
// any step leaves the old cache (none) or the new generation, whole (docs/protocol.md).
//
// If someone published the directory between the caller's check and the lock, the publish
// protocol merges (the groups others published win: yield_conflicts), as a maintenance edit.
// Cost: one SQLite write per file, O(rows) hashing in memory, the publish protocol's renames and
// fsyncs.
#ifndef TYPECACHE_SRC_STORE_LOCAL_FRESH_PUBLISH_H_
#define TYPECACHE_SRC_STORE_LOCAL_FRESH_PUBLISH_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "src/cachedb/group_rows.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/local/layout.h"
#include "src/store/local/publish.h"

namespace typecache {

// dir ("3.11") -> database file ("cache.db") -> groups and their rows (sorted by key).
using FreshGeneration = std::map<std::string, std::map<std::string, GroupRowMap>>;

// Publishes `dirs` into the cache of `layout` (created if missing). The caller has checked that
// each dir has no live generation; `options.yield_conflicts` is set here. A file holding a row
// that SQLite may not store as given (StoredAsGiven) gets its content digest read back instead.
absl::StatusOr<PublishReport> PublishFreshGeneration(Fs& fs, const Layout& layout,
                                                     const CheckerAdapter& adapter,
                                                     const FreshGeneration& dirs,
                                                     PublishOptions options);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_FRESH_PUBLISH_H_
