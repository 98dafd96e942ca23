// The cache-database API for every layer above src/cachedb (commands, store/local): one database
// file of the checker's cache, handled in terms of the adapter's tables and groups. No SQL and no
// SQLite type appears here: src/cachedb is the only layer that writes SQL, and it does so through
// src/sqlite's wrappers (tools/layers.py checks both, transitively through headers).
//
// Contract:
// - A CacheFile is one connection to one file. OpenReadOnly never writes. OpenForWrite is for
//   typecache's private copies only: SQLite's own syncs are off, because every file typecache
//   writes stays private until its caller fsyncs and renames it.
// - Each call outside a transaction sees the file as it is at that moment; a read Transaction
//   gives one consistent view across calls. Group edits belong in a write Transaction, which
//   rolls back unless Commit() succeeds. BEGIN/COMMIT are never written by hand above src/sqlite.
// - Attached schemas are read-only; calls name them by the schema given to Attach().
// - Errors name the file. DataLoss: SQLite cannot read the file (corrupt, not a database).
//
// Cost (n = rows of the file, k = rows of the groups named in the call):
//   ListTables, Pages: O(1).  ListGroups, GroupsOfTable, ListGroupStamps: O(n) keys and mtimes,
//   no data read.  ForEachGroup, ContentDigest, IntegrityProblems: O(n) with data (one scan).
//   DigestGroups, ReplaceGroups, DeleteGroups: O(k) by index range.  Vacuum, SalvageDatabase:
//   rewrite the file.
//
// Digests: a group's digest is the sum (mod 2^64) of the XXH3-64 of each of its rows (the group's
// name, key, data and mtime, with their storage classes); `exact` covers every column, `content`
// leaves the mtimes out. A file's content digest is the sum of the exact digests of its groups,
// i.e. of all its rows, so it can be updated group by group: O(changes), never O(file). Sums
// make them independent of the order rows are read in.
#ifndef TYPECACHE_SRC_CACHEDB_CACHE_FILE_H_
#define TYPECACHE_SRC_CACHEDB_CACHE_FILE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"

namespace typecache {

class Db;
class SqlTransaction;

struct GroupHash {
  uint64_t exact = 0;    // Keys, mtimes and data, with storage classes.
  uint64_t content = 0;  // Keys and data only.
  bool operator==(const GroupHash& o) const { return exact == o.exact && content == o.content; }
};

// One group as ForEachGroup sees it.
struct GroupInfo {
  std::string table;  // The cache table holding the group.
  std::string group;
  int64_t rows = 0;
  int64_t bytes = 0;                     // Key and data bytes.
  double newest_mtime = 0;               // Newest row mtime.
  std::optional<double> data_row_mtime;  // mtime of the data row.
  bool has_meta = false;
  bool has_data = false;
  // What the meta row records of its data row's int(mtime) (RowFacts::data_stamp), and what the
  // checker calls that record, for messages.
  std::optional<int64_t> recorded_data_stamp;
  std::string recorded_data_stamp_field;
  std::string version;
  std::string source_path;
  std::vector<std::string> problems;        // Malformed rows.
  std::string unknown;                      // A row in a format this typecache does not know.
  std::vector<std::string> required_kinds;  // Row kinds the meta row says the checker needs.
  std::map<std::string, int64_t> bytes_by_kind;
  GroupHash digest;

  // Why the group cannot be used by the checker, or empty when it is healthy or of a format
  // this typecache does not know (`unknown`: left alone).
  std::string Broken(const CheckerAdapter& adapter) const;
};

// A group's name and row mtimes, without its data (merge ranks groups by these).
struct GroupStamp {
  std::string group;
  int64_t rows = 0;
  double newest_mtime = 0;
  std::optional<double> data_row_mtime;
  std::optional<GroupHash> digest;  // Only when listed with digests.
};

struct TransferStats {
  int64_t groups = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
};

struct PageStats {
  int64_t pages = 0;
  int64_t free_pages = 0;
  int64_t page_size = 0;
  int64_t bytes_in_use() const { return (pages - free_pages) * page_size; }
};

class CacheFile {
 public:
  // Rolls back unless Commit() succeeds. Must not outlive its CacheFile (Close() first is fine:
  // closing rolls back).
  class Transaction {
   public:
    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&& other) noexcept;
    ~Transaction();
    absl::Status Commit();

   private:
    friend class CacheFile;
    explicit Transaction(std::unique_ptr<SqlTransaction> txn);
    std::unique_ptr<SqlTransaction> txn_;
  };

  static absl::StatusOr<CacheFile> OpenReadOnly(const std::string& path);
  // Creates the file when missing.
  static absl::StatusOr<CacheFile> OpenForWrite(const std::string& path);

  CacheFile(CacheFile&& other) noexcept;
  CacheFile& operator=(CacheFile&& other) noexcept;
  CacheFile(const CacheFile&) = delete;
  CacheFile& operator=(const CacheFile&) = delete;
  ~CacheFile();

  const std::string& path() const { return path_; }

  absl::StatusOr<Transaction> BeginRead();
  absl::StatusOr<Transaction> BeginWrite();

  // Attaches the database `path` read-only under `schema`; Detach needs no statement open.
  absl::Status Attach(const std::string& path, absl::string_view schema);
  absl::Status Detach(absl::string_view schema);

  // Every table of `schema`, sorted (the checker's and any other).
  absl::StatusOr<std::vector<std::string>> ListTables(absl::string_view schema = "main");
  // Every group of the cache tables of `schema`.
  absl::StatusOr<std::set<std::string>> ListGroups(const CheckerAdapter& adapter,
                                                   absl::string_view schema = "main");
  // The groups with rows in `table` (main schema).
  absl::StatusOr<std::set<std::string>> GroupsOfTable(const CheckerAdapter& adapter,
                                                      absl::string_view table);
  // Every group of `schema` with its mtimes, sorted by group name; `with_digests`: and its
  // digest (then the data is read: one scan of the file, as ContentDigest).
  absl::StatusOr<std::vector<GroupStamp>> ListGroupStamps(const CheckerAdapter& adapter,
                                                          absl::string_view schema = "main",
                                                          bool with_digests = false);
  // The same, one group at a time, in the order the scans find them (not sorted; a group can
  // be visited more than once, once per run of its rows): nothing held but the group visited.
  absl::Status ForEachGroupStamp(const CheckerAdapter& adapter,
                                 const std::function<void(GroupStamp&)>& visit,
                                 absl::string_view schema = "main", bool with_digests = false);
  // Visits every group of every cache table of `schema` in key order, one group in memory at a
  // time; a visitor's error stops the scan and is returned. A group whose rows are not
  // consecutive in key order (possible only for keys without a family suffix, which mypy never
  // writes: "a", "a-b", "a.x") is visited once per run of its rows.
  absl::Status ForEachGroup(const CheckerAdapter& adapter,
                            const std::function<absl::Status(const GroupInfo&)>& visit,
                            absl::string_view schema = "main");
  // The digests of those of `groups` that have rows in `schema` (absent groups are left out).
  absl::StatusOr<std::map<std::string, GroupHash>> DigestGroups(const std::set<std::string>& groups,
                                                                const CheckerAdapter& adapter,
                                                                absl::string_view schema = "main");
  // The file's content digest: the sum of the exact digests of every group of `schema`.
  absl::StatusOr<uint64_t> ContentDigest(const CheckerAdapter& adapter,
                                         absl::string_view schema = "main");

  // Replaces each of `groups` in the main schema by the rows the attached `src_schema` holds
  // for it (none: the group is deleted). Rows keep their bytes, mtimes and storage classes;
  // tables missing from main are created with the source's DDL.
  // `copied` (optional): the digest of each group's rows as copied (DigestGroups of the result,
  // without reading it again).
  absl::StatusOr<TransferStats> ReplaceGroups(absl::string_view src_schema,
                                              const std::set<std::string>& groups,
                                              const CheckerAdapter& adapter,
                                              std::map<std::string, GroupHash>* copied = nullptr);
  // The same, with the source rows read by a second thread on its own connection to
  // `src_path`, the file attached as `src_schema` (cache_db.h ReplaceGroupsFrom): reading and
  // writing on two CPUs. Same result, same `copied`.
  absl::StatusOr<TransferStats> ReplaceGroupsFrom(absl::string_view src_schema,
                                                  const std::string& src_path,
                                                  const std::set<std::string>& groups,
                                                  const CheckerAdapter& adapter,
                                                  std::map<std::string, GroupHash>* copied);
  absl::StatusOr<TransferStats> DeleteGroups(const std::set<std::string>& groups,
                                             const CheckerAdapter& adapter);
  absl::Status DropTable(absl::string_view table);

  absl::StatusOr<PageStats> Pages();
  // Whole-file problems: SQLite's integrity check, tables the checker does not use, cache tables
  // without the checker's columns (key, mtime, data). Empty when healthy. O(file).
  std::vector<std::string> IntegrityProblems(const CheckerAdapter& adapter);
  // Rewrites the file compactly (gives free pages back). Not inside a transaction.
  absl::Status Vacuum();
  // Switches the file to a plain rollback journal (journal_mode=DELETE).
  absl::Status UseRollbackJournal();
  // For bulk edits of a private copy that is thrown away on any error (merge): no rollback
  // journal (journal_mode=OFF: a failed transaction leaves the copy unusable, and it is never a
  // live file), so pages are written once. UseRollbackJournal before publishing restores it.
  absl::Status UseForBulkEdit();
  absl::Status Close();

 private:
  CacheFile(std::unique_ptr<Db> db, std::string path);
  std::unique_ptr<Db> db_;
  std::string path_;
};

// The adapter's row families and "" (the other rows): every family a group can be of.
std::vector<std::string> AllFamilies(const CheckerAdapter& adapter);

struct CopyResult {
  std::string method;  // "reflink", "copy_file_range", "read/write" or "backup"
  int64_t bytes = 0;
};

// Copies the database `src` to the new file `dst` so that the copy is a consistent database
// even while another process writes `src` directly: the raw copy (reflink / copy_file_range)
// runs inside an SQLite read transaction; when a `-wal` file holds committed rows the SQLite
// backup API is used instead, and the copy is switched to rollback-journal mode.
absl::StatusOr<CopyResult> ConsistentCopy(Fs& fs, const std::string& src, const std::string& dst);

// Capture: InstallCapture() adds a `typecache_changes` table and AFTER INSERT/UPDATE/DELETE
// triggers on each cache table of a private copy, so every key the checker writes or deletes is
// recorded at the moment it is written: the cost is proportional to the writes, not to the
// cache size. FinishCapture() returns the groups written or deleted since (every group of a
// database or table created after it), removes the triggers and the record table, and leaves
// the file a plain rollback-journal database.
// InstallCapture on a database where capture is already installed (an armed spare, below) only
// empties the record (the rows a spare's update wrote are not the run's).
// With CaptureEnd::kKeepArmedIfUnchanged, FinishCapture leaves a database the run did not write
// as it is, capture still installed (no write at all), so that a spare made of it needs no
// InstallCapture next time; such a file must be finished with kDisarm before it is published.
enum class CaptureEnd { kDisarm, kKeepArmedIfUnchanged };
absl::Status InstallCapture(const std::string& db_path, const CheckerAdapter& adapter);
absl::StatusOr<std::set<std::string>> FinishCapture(const std::string& db_path,
                                                    const CheckerAdapter& adapter,
                                                    CaptureEnd end = CaptureEnd::kDisarm);

// Opens a database read-only and checks that SQLite can read its schema; the error names the
// file and the reason ("not an SQLite database", "database disk image is malformed").
absl::Status CheckReadable(const std::string& path);

// Rebuilds the damaged database `damaged` (a private copy) into the new file `out` from every
// row SQLite can still read, keeping only the groups that are then whole and healthy
// (GroupInfo::Broken). Returns the groups kept. O(rowid range) lookups.
absl::StatusOr<int64_t> SalvageDatabase(const std::string& damaged, const std::string& out,
                                        const CheckerAdapter& adapter);

// The checker version recorded by the meta rows of the first of `groups` (in `db_path`) that
// records one, or "" when none does. Reads at most `max_groups` groups: O(their rows).
absl::StatusOr<std::string> CheckerVersionOf(const std::string& db_path,
                                             const std::set<std::string>& groups,
                                             const CheckerAdapter& adapter, int max_groups = 8);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CACHEDB_CACHE_FILE_H_
