// Reading and writing one group's rows exactly as they are stored: key, mtime and data with
// their SQLite storage classes (INTEGER/REAL/TEXT/BLOB/NULL), so that a group carried to another
// machine (store/remote) is written back byte for byte and class for class.
//
// Contract: ReadGroupRows / ReadAllGroupRows only read (any schema, e.g. an attached live
// generation); WriteGroupRows replaces each named group in the main schema of an open
// connection inside the caller's transaction, creating the table when missing (key TEXT UNIQUE
// NOT NULL, mtime REAL, data of the rows' class; the checker adds its own index when it opens the
// file). Rows are returned sorted by key. Columns other than key, mtime and data are not
// carried: a table that has others is refused (FailedPrecondition) rather than half-copied.
// Cost: one indexed range scan per group; ReadAllGroupRows one scan of each table.
// Failure: SQLite errors name the file; nothing is written outside the caller's transaction, so
// a crash leaves the private copy for the publish protocol to discard.
#ifndef TYPECACHE_SRC_CACHEDB_GROUP_ROWS_H_
#define TYPECACHE_SRC_CACHEDB_GROUP_ROWS_H_

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
#include "src/cachedb/cache_file.h"
#include "src/checker/checker_adapter.h"

namespace typecache {

class Db;  // src/sqlite/sqlite_db.h, for src/cachedb itself: layers above use GroupFile.

// One SQLite value with its storage class.
struct SqlValue {
  enum class Type { kNull = 0, kInt = 1, kReal = 2, kText = 3, kBlob = 4 };
  Type type = Type::kNull;
  int64_t integer = 0;  // kInt
  double real = 0;      // kReal
  std::string bytes;    // kText, kBlob
  bool operator==(const SqlValue& o) const;
};

struct CacheRow {
  std::string key;
  SqlValue mtime;
  SqlValue data;
};

// group -> its rows, sorted by key.
using GroupRowMap = std::map<std::string, std::vector<CacheRow>>;

// The rows of each group of `groups` in `schema` (a group with no rows is absent from the map).
absl::StatusOr<GroupRowMap> ReadGroupRows(Db& db, absl::string_view schema,
                                          const std::set<std::string>& groups,
                                          const CheckerAdapter& adapter);

// Every group of `schema` with its rows. O(rows).
absl::StatusOr<GroupRowMap> ReadAllGroupRows(Db& db, absl::string_view schema,
                                             const CheckerAdapter& adapter);

// Up to `limit` rows of `table` in `schema` whose key the adapter calls a meta row, with the
// given family (nullopt: any). For guessing which checker version wrote a database.
absl::StatusOr<std::vector<CacheRow>> SampleMetaRows(Db& db, absl::string_view schema,
                                                     absl::string_view table,
                                                     const std::optional<std::string>& family,
                                                     int limit, const CheckerAdapter& adapter);

// Replaces each group of `groups` in the main schema by its rows (an empty vector deletes the
// group). Every row's key must belong to its group (InvalidArgument otherwise, nothing written
// by this call; the caller rolls back its transaction).
// `wrote_more`, when set, is called after about every kWroteMoreBytes of row data inserted:
// SQLite may have spilled pages to the file by then (its page cache is bounded), so a caller
// can start their writeback early (os/writeback.h) and the fsync that follows waits less.
inline constexpr size_t kWroteMoreBytes = 1 << 20;
absl::Status WriteGroupRows(Db& db, const GroupRowMap& groups, const CheckerAdapter& adapter,
                            const std::function<void()>& wrote_more = {});

// The exact and content digests (cache_file.h GroupHash) `rows` of `group` get once
// WriteGroupRows has stored them in a new table, computed from the values: no read back. Valid
// only when every row is StoredAsGiven (otherwise SQLite's column affinity may change a value's
// class when it is stored, and with it the digest).
GroupHash DigestOfRows(absl::string_view group, const std::vector<CacheRow>& rows);
// The key is text, the mtime a finite real or null, the data text, blob or null: the classes the
// table WriteGroupRows creates stores unchanged.
bool StoredAsGiven(const CacheRow& row);

// A database file opened read-only for the functions above (callers above cachedb never touch
// SQLite themselves).
class GroupFile {
 public:
  static absl::StatusOr<GroupFile> OpenReadOnly(const std::string& path);
  GroupFile(GroupFile&& other) noexcept;
  GroupFile& operator=(GroupFile&& other) noexcept;
  ~GroupFile();
  absl::StatusOr<GroupRowMap> Read(const std::set<std::string>& groups,
                                   const CheckerAdapter& adapter);
  absl::StatusOr<GroupRowMap> ReadAll(const CheckerAdapter& adapter);
  absl::StatusOr<std::vector<CacheRow>> SampleMetas(absl::string_view table,
                                                    const std::optional<std::string>& family,
                                                    int limit, const CheckerAdapter& adapter);

 private:
  explicit GroupFile(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

// Opens (creating it if missing) the private database `path`, replaces `groups` in one
// transaction (WriteGroupRows), commits and closes it. On error nothing is committed.
// `wrote_more` as for WriteGroupRows, and once more after the commit (the last pages).
absl::Status WriteGroupsToFile(const std::string& path, const GroupRowMap& groups,
                               const CheckerAdapter& adapter,
                               const std::function<void()>& wrote_more = {});

}  // namespace typecache

#endif  // TYPECACHE_SRC_CACHEDB_GROUP_ROWS_H_
