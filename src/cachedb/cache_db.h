// src/cachedb's connection-level operations on one cache database, in terms of the adapter's
// tables and groups: the SQL behind cache_file.h. Layers above src/cachedb use cache_file.h
// (no SQLite type there); this header is for src/cachedb itself, its tests, the fuzzers and the
// benchmarks, and for libraries of this layer that need an open Db (tools/layers.py flags an
// include of it, or of anything that includes src/sqlite, from a higher layer).
// Cost: as in cache_file.h; every function runs inside the caller's transaction if one is open.
#ifndef TYPECACHE_SRC_CACHEDB_CACHE_DB_H_
#define TYPECACHE_SRC_CACHEDB_CACHE_DB_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/cachedb/cache_file.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"

namespace typecache {

// The groups of `groups` whose rows in `db` (main schema) are the same as in the attached schema
// `base`: same keys and data, and the same mtimes except in groups where the adapter says mtime
// does not matter (global rows). mypy rewrites some rows on every run (the plugins snapshot, metas
// of files whose mtime changed but not their hash); such a rewrite is not a change. Compares
// group digests: O(rows of `groups`) on each side.
absl::StatusOr<std::set<std::string>> UnchangedGroups(Db& db, absl::string_view base,
                                                      const std::set<std::string>& groups,
                                                      const CheckerAdapter& adapter);
// Whether two digests of `group` mean the same group for UnchangedGroups.
bool SameGroup(const CheckerAdapter& adapter, absl::string_view group, const GroupHash& a,
               const GroupHash& b);

// Every group present in the database (reads all keys: O(rows)). `table`: only that table.
absl::StatusOr<std::set<std::string>> ListGroups(
    Db& db, const CheckerAdapter& adapter, absl::string_view schema = "main",
    const std::optional<std::string>& table = std::nullopt);

// The digests of those of `groups` with rows in `schema`. O(rows of `groups`).
absl::StatusOr<std::map<std::string, GroupHash>> DigestGroups(Db& db, absl::string_view schema,
                                                              const std::set<std::string>& groups,
                                                              const CheckerAdapter& adapter);

// Hashes one group's rows, in any order: the sum of each row's XXH3-64 (with the group's name),
// what DigestGroups and ForEachGroup share, so that both give the same digest for the same rows.
class GroupHasher {
 public:
  GroupHasher();
  ~GroupHasher();
  GroupHasher(const GroupHasher&) = delete;
  GroupHasher& operator=(const GroupHasher&) = delete;
  // The storage classes of the current row's columns 0, 1, 2 (key, mtime, data): read them
  // before any other accessor, since reading a value as another class converts it.
  struct RowTypes {
    ValueType key, mtime, data;
  };
  static RowTypes Types(const Stmt& stmt);

  void Start(absl::string_view group);
  // The current row of `stmt` (columns 0, 1, 2 = key, mtime, data) of classes `types`.
  void AddRow(const Stmt& stmt, const RowTypes& types);
  // The same for a row given as values (what the row's columns hold once stored).
  struct Value {
    ValueType type = ValueType::kNull;
    int64_t integer = 0;
    double real = 0;
    absl::string_view bytes;
  };
  void AddRow(const Value& key, const Value& mtime, const Value& data);
  GroupHash Finish();

 private:
  struct State;
  State* state_;
};

// Inside the open connection `dst` (main schema), replaces each group in `groups` by the rows
// the attached schema `src_schema` holds for it (none: the group is deleted). Rows keep their
// bytes, mtime and storage classes. Tables missing from `dst` are created with the source's DDL.
// `src_schema` empty means "no source": the groups are deleted. Runs inside the caller's
// transaction. `copied` (optional) receives the digest of each group's copied rows (groups with
// none are left out), computed as the rows pass: no second read.
absl::StatusOr<TransferStats> ReplaceGroups(Db& dst, absl::string_view src_schema,
                                            const std::set<std::string>& groups,
                                            const CheckerAdapter& adapter,
                                            std::map<std::string, GroupHash>* copied = nullptr);

// ReplaceGroups with a source file: the same replacements, in the same order, with the same
// digests in `copied` (optional), but the source rows are read (and hashed) by a second thread,
// on its own read-only connection to `src_path` (one read transaction: a consistent view of
// it), while this thread deletes and inserts: reading the source and writing `dst` use two
// CPUs. `src_schema` is the same file attached to `dst` (the DDL of tables `dst` lacks).
// At most about `max_queued_bytes` of rows wait between the threads (at least one group's).
// An error on either side stops both; the thread is joined before returning, whatever happens.
constexpr size_t kPipelineQueueBytes = 2 << 20;
absl::StatusOr<TransferStats> ReplaceGroupsFrom(Db& dst, absl::string_view src_schema,
                                                const std::string& src_path,
                                                const std::set<std::string>& groups,
                                                const CheckerAdapter& adapter,
                                                std::map<std::string, GroupHash>* copied = nullptr,
                                                size_t max_queued_bytes = kPipelineQueueBytes);

// SQL conditions on the key column. FamilyCondition selects the rows of one family (nullopt:
// every row); GroupCondition the rows of groups of that family, with the parameters ?1 = lo,
// ?2 = hi, ?3 = exact of their GroupSelector. (AllFamilies: cache_file.h.)
std::string FamilyCondition(const CheckerAdapter& adapter,
                            const std::optional<std::string>& family);
std::string GroupCondition(const CheckerAdapter& adapter, const std::optional<std::string>& family);

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

// Attaches `path` read-only under `schema` (URI filename, immutable=0).
absl::Status AttachReadOnly(Db& db, const std::string& path, absl::string_view schema);

// Opens the database for writing with settings for typecache's own writes.
absl::StatusOr<Db> OpenForWrite(const std::string& path);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CACHEDB_CACHE_DB_H_
