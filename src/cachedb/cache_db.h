// Operations on one cache database file, in terms of the adapter's tables and groups:
// consistent copies, write capture with triggers, and group-atomic transfer of rows.
//
// Capture: InstallCapture() adds a `typecache_changes` table and AFTER INSERT/UPDATE/DELETE
// triggers on each cache table of a private copy, so every key the checker writes or deletes is
// recorded at the moment it is written: the cost is proportional to the writes, not to the
// cache size. FinishCapture() reads that record, adds every key of tables the checker created
// itself (they had no triggers), removes the triggers and the record table, and leaves the file
// a plain rollback-journal database.
#ifndef TYPECACHE_SRC_CACHEDB_CACHE_DB_H_
#define TYPECACHE_SRC_CACHEDB_CACHE_DB_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"

namespace typecache {

struct CopyResult {
  std::string method;  // "reflink", "copy_file_range", "read/write" or "backup"
  int64_t bytes = 0;
};

// Copies the database `src` to the new file `dst` so that the copy is a consistent database
// even while another process writes `src` directly: the raw copy (reflink / copy_file_range)
// runs inside an SQLite read transaction; when a `-wal` file holds committed rows the SQLite
// backup API is used instead, and the copy is switched to rollback-journal mode.
absl::StatusOr<CopyResult> ConsistentCopy(Fs& fs, const std::string& src, const std::string& dst);

absl::Status InstallCapture(const std::string& db_path, const CheckerAdapter& adapter);

// Returns the groups written or deleted since InstallCapture (all groups when the database or a
// table was created after it), and cleans the capture machinery out of the file.
absl::StatusOr<std::set<std::string>> FinishCapture(const std::string& db_path,
                                                    const CheckerAdapter& adapter);

// The groups of `groups` whose rows in `db` (main schema) are the same as in the attached schema
// `base`: same keys and data, and the same mtimes except in groups where the adapter says mtime
// does not matter (global rows). mypy rewrites some rows on every run (the plugins snapshot, metas
// of files whose mtime changed but not their hash); such a rewrite is not a change. O(rows of
// `groups`).
absl::StatusOr<std::set<std::string>> UnchangedGroups(Db& db, absl::string_view base,
                                                      const std::set<std::string>& groups,
                                                      const CheckerAdapter& adapter);

// Every group present in the database (reads all keys: O(rows)).
absl::StatusOr<std::set<std::string>> ListGroups(Db& db, const CheckerAdapter& adapter,
                                                 absl::string_view schema = "main");

struct TransferStats {
  int64_t groups = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
};

// Inside the open connection `dst` (main schema), replaces each group in `groups` by the rows
// the attached schema `src_schema` holds for it (none: the group is deleted). Rows keep their
// bytes, mtime and storage classes. Tables missing from `dst` are created with the source's DDL.
// `src_schema` empty means "no source": the groups are deleted. Runs inside the caller's
// transaction.
absl::StatusOr<TransferStats> ReplaceGroups(Db& dst, absl::string_view src_schema,
                                            const std::set<std::string>& groups,
                                            const CheckerAdapter& adapter);

// SQL conditions on the key column. FamilyCondition selects the rows of one family (nullopt:
// every row); GroupCondition the rows of groups of that family, with the parameters ?1 = lo,
// ?2 = hi, ?3 = exact of their GroupSelector. AllFamilies: the adapter's families and "" (other).
std::string FamilyCondition(const CheckerAdapter& adapter,
                            const std::optional<std::string>& family);
std::string GroupCondition(const CheckerAdapter& adapter, const std::optional<std::string>& family);
std::vector<std::string> AllFamilies(const CheckerAdapter& adapter);

// Copies into `out` (main schema) every row of the cache tables of the damaged database attached
// as `old` that SQLite can still read: rows are probed one by one by rowid, each copy its own
// transaction, so an unreadable page loses only the rows on it (a scan in key order would stop
// at the first one). Rows keep their bytes, mtime and storage classes. Returns the rows copied.
// O(rowid range) lookups; the caller then drops the groups left incomplete.
absl::StatusOr<int64_t> SalvageRows(Db& out, absl::string_view old_schema,
                                    const CheckerAdapter& adapter);

// Rewrites the header of the private copy `path` of a damaged WAL-mode database (mypy >= 1.20
// sets journal_mode=WAL) to say rollback journal (header bytes 18 and 19 = 1), so SQLite reads
// its pages without a -wal or -shm file. Only for copies that nothing else opens.
absl::Status ClearWalHeader(const std::string& path);

// The checker version recorded by the meta rows of the first of `groups` (in `db_path`) that
// records one, or "" when none does. Reads at most `max_groups` groups: O(their rows).
absl::StatusOr<std::string> CheckerVersionOf(const std::string& db_path,
                                             const std::set<std::string>& groups,
                                             const CheckerAdapter& adapter, int max_groups = 8);

// Attaches `path` read-only under `schema` (URI filename, immutable=0).
absl::Status AttachReadOnly(Db& db, const std::string& path, absl::string_view schema);

// Opens the database for writing with settings for typecache's own writes.
absl::StatusOr<Db> OpenForWrite(const std::string& path);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CACHEDB_CACHE_DB_H_
