// Reading a cache database group by group, in key order, one group in memory at a time, on an
// open connection (CacheFile::ForEachGroup is the same for layers above src/cachedb). verify,
// prune, stats and merge are built on it. Cost: one scan of every cache table, data included.
#ifndef TYPECACHE_SRC_CACHEDB_INSPECT_H_
#define TYPECACHE_SRC_CACHEDB_INSPECT_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/cachedb/cache_file.h"
#include "src/checker/checker_adapter.h"

namespace typecache {

class Db;

// What ForEachGroup fills in: everything, or only group, table, rows, bytes, newest_mtime,
// mtime problems and digest (no row is decoded by the adapter: a digest of a big cache then
// costs one scan and hashing, not a meta parse per group).
enum class GroupDetail { kFull, kDigestOnly };

// Visits every group of every cache table in `schema` of `db`, in key order.
absl::Status ForEachGroup(Db& db, const CheckerAdapter& adapter, absl::string_view schema,
                          const std::function<absl::Status(const GroupInfo&)>& visit,
                          GroupDetail detail = GroupDetail::kFull);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CACHEDB_INSPECT_H_
