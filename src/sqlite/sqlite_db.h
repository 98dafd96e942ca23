// A thin RAII wrapper over the SQLite C API: connections, prepared statements, transactions and
// the backup API, whose errors come back as absl::Status naming the database file. No SQL of
// typecache's lives here beyond transaction control. Only src/cachedb includes this header
// (tools/layers.py); everything above it uses src/cachedb/cache_file.h.
// Cost: each call is one SQLite call; nothing is cached beyond what SQLite caches.
#ifndef TYPECACHE_SRC_SQLITE_SQLITE_DB_H_
#define TYPECACHE_SRC_SQLITE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

// A column value's storage class, without the C API's constants.
enum class ValueType { kNull = 0, kInteger = 1, kReal = 2, kText = 3, kBlob = 4 };

class Stmt {
 public:
  Stmt(sqlite3_stmt* stmt, std::string db_path) : stmt_(stmt), db_path_(std::move(db_path)) {}
  Stmt(Stmt&& other) noexcept : stmt_(other.stmt_), db_path_(std::move(other.db_path_)) {
    other.stmt_ = nullptr;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  Stmt& Bind(int index, absl::string_view text);
  Stmt& Bind(int index, int64_t value);
  // Binds `text` without a copy: the bytes must stay valid and unchanged until this parameter is
  // bound again or the statement is finalized (a bulk insert of megabytes of rows the caller
  // holds: SQLite's own copy of each was a tenth of writing a fresh database).
  Stmt& BindNoCopy(int index, absl::string_view text);
  // Binds column `column` of the current row of `from`, of storage class `type` (read before
  // any of its values), with that class and without a copy: valid until `from` steps again.
  Stmt& BindColumnOf(int index, const Stmt& from, int column, ValueType type);
  // Binds a value of storage class `type`: `integer`, `real` or `bytes` (text or blob, not
  // copied: valid until the statement is reset or rebound), whichever the class uses.
  Stmt& BindTyped(int index, ValueType type, int64_t integer, double real, absl::string_view bytes);
  // Returns true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  absl::Status Run();  // Steps to completion.
  // Steps through every row left, calling `row` at each (the columns are that row's).
  absl::Status ForEachRow(const std::function<void()>& row);
  absl::Status Reset();

  int64_t ColumnInt(int i) const { return sqlite3_column_int64(stmt_, i); }
  double ColumnDouble(int i) const { return sqlite3_column_double(stmt_, i); }
  absl::string_view ColumnText(int i) const;
  int ColumnType(int i) const { return sqlite3_column_type(stmt_, i); }
  int ColumnBytes(int i) const { return sqlite3_column_bytes(stmt_, i); }
  // The column's bytes (text or blob), valid until the next Step or Reset.
  absl::string_view ColumnBlob(int i) const {
    const void* p = sqlite3_column_blob(stmt_, i);
    return absl::string_view(static_cast<const char*>(p),
                             static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
  }
  ValueType ColumnValueType(int i) const;
  // Column types, without the C API's constants.
  bool ColumnIsNumber(int i) const {
    int t = sqlite3_column_type(stmt_, i);
    return t == SQLITE_FLOAT || t == SQLITE_INTEGER;
  }
  sqlite3_stmt* raw() { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
  std::string db_path_;
};

class Db {
 public:
  enum class Mode { kReadOnly, kReadWrite, kCreate };

  static absl::StatusOr<Db> Open(const std::string& path, Mode mode);

  Db(Db&& other) noexcept : db_(other.db_), path_(std::move(other.path_)) { other.db_ = nullptr; }
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  absl::Status Exec(const std::string& sql);
  absl::StatusOr<Stmt> Prepare(const std::string& sql);
  // Runs a query returning one integer (0 when no row).
  absl::StatusOr<int64_t> QueryInt(const std::string& sql);
  absl::StatusOr<std::string> QueryText(const std::string& sql);
  absl::Status Close();

  // True when `table` exists in schema `schema` ("main" or an attached name).
  absl::StatusOr<bool> HasTable(absl::string_view table, absl::string_view schema = "main");

  const std::string& path() const { return path_; }
  sqlite3* raw() { return db_; }
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t Changes() const { return sqlite3_changes(db_); }
  // Status for the connection's last error: "<path>: <message>".
  absl::Status Error(int rc, absl::string_view context) const;

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// A transaction on one connection that rolls back unless Commit() succeeds: the only place
// where BEGIN, COMMIT and ROLLBACK are written. kRead takes SQLite's SHARED lock at the first
// read (a consistent view of the file until the end); kWrite is BEGIN IMMEDIATE (the write lock
// at once, so a busy file fails here rather than halfway). Statements still open when the
// transaction ends are the caller's business: SQLite allows COMMIT with pending reads.
class SqlTransaction {
 public:
  enum class Kind { kRead, kWrite };
  static absl::StatusOr<SqlTransaction> Begin(Db& db, Kind kind);
  SqlTransaction(SqlTransaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  SqlTransaction& operator=(SqlTransaction&& other) noexcept;
  SqlTransaction(const SqlTransaction&) = delete;
  SqlTransaction& operator=(const SqlTransaction&) = delete;
  ~SqlTransaction();  // Rolls back when still open; errors are ignored (nothing was committed).

  absl::Status Commit();
  absl::Status Rollback();
  bool active() const { return db_ != nullptr; }

 private:
  explicit SqlTransaction(Db* db) : db_(db) {}
  Db* db_;
};

// Copies every page of `from` (main schema, including rows still in its -wal file) into `to`
// with SQLite's online backup API, in one step. O(pages).
absl::Status BackupDatabase(Db& from, Db& to);

// Quotes an identifier for SQL ("name" with doubled quotes).
std::string QuoteIdent(absl::string_view name);
// Quotes a string literal for SQL ('text' with doubled quotes).
std::string QuoteLiteral(absl::string_view text);

// Checks the 100-byte SQLite header of `path` without opening it through SQLite, so that a
// non-database file is reported as such rather than silently treated as empty.
absl::Status CheckSqliteHeader(const std::string& path);

// The version of the SQLite library linked in ("3.40.1"), for `typecache --version`.
std::string SqliteLibraryVersion();

}  // namespace typecache

#endif  // TYPECACHE_SRC_SQLITE_SQLITE_DB_H_
