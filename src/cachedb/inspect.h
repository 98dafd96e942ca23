// Reading a cache database group by group, in key order, one group in memory at a time.
// verify, prune, stats and merge are built on ForEachGroup.
#ifndef TYPECACHE_SRC_CACHEDB_INSPECT_H_
#define TYPECACHE_SRC_CACHEDB_INSPECT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/checker/checker_adapter.h"
#include "src/sqlite/sqlite_db.h"

namespace typecache {

struct GroupInfo {
  std::string table;  // "files" or "files2"
  std::string group;
  int64_t rows = 0;
  int64_t bytes = 0;                 // Key and data bytes.
  double newest_mtime = 0;           // Newest row mtime.
  std::optional<double> data_mtime;  // mtime of the data row.
  bool has_meta = false;
  bool has_data = false;
  std::optional<int64_t> meta_data_mtime;  // What the meta says the data row's mtime is.
  std::string version;
  std::string source_path;
  std::vector<std::string> problems;        // Malformed rows.
  std::string unknown;                      // A row in a format this typecache does not know.
  std::vector<std::string> required_kinds;  // Row kinds the meta row says the checker needs.
  std::map<std::string, int64_t> bytes_by_kind;

  // Why the group cannot be used by the checker, or empty when it is healthy or of a format
  // this typecache does not know (`unknown`: left alone).
  std::string Broken(const CheckerAdapter& adapter) const;
};

// Visits every group of every cache table in `schema` of `db`, in key order.
absl::Status ForEachGroup(Db& db, const CheckerAdapter& adapter, absl::string_view schema,
                          const std::function<absl::Status(const GroupInfo&)>& visit);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CACHEDB_INSPECT_H_
