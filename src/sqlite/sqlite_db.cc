#include "src/sqlite/sqlite_db.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "src/base/status_macros.h"
#include "src/os/fs.h"

namespace typecache {

Stmt& Stmt::Bind(int index, absl::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::BindNoCopy(int index, absl::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  return *this;
}

Stmt& Stmt::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Stmt& Stmt::BindColumnOf(int index, const Stmt& from, int column, ValueType type) {
  switch (type) {
    case ValueType::kNull:
      sqlite3_bind_null(stmt_, index);
      break;
    case ValueType::kInteger:
      sqlite3_bind_int64(stmt_, index, from.ColumnInt(column));
      break;
    case ValueType::kReal:
      sqlite3_bind_double(stmt_, index, from.ColumnDouble(column));
      break;
    case ValueType::kText: {
      absl::string_view v = from.ColumnText(column);
      sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
      break;
    }
    case ValueType::kBlob: {
      absl::string_view v = from.ColumnBlob(column);
      sqlite3_bind_blob(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
      break;
    }
  }
  return *this;
}

Stmt& Stmt::BindTyped(int index, ValueType type, int64_t integer, double real,
                      absl::string_view bytes) {
  switch (type) {
    case ValueType::kNull:
      sqlite3_bind_null(stmt_, index);
      break;
    case ValueType::kInteger:
      sqlite3_bind_int64(stmt_, index, integer);
      break;
    case ValueType::kReal:
      sqlite3_bind_double(stmt_, index, real);
      break;
    case ValueType::kText:
      sqlite3_bind_text(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
      break;
    case ValueType::kBlob:
      sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
      break;
  }
  return *this;
}

absl::StatusOr<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_);
  return absl::InternalError(absl::StrCat(db_path_, ": ", sqlite3_errmsg(db)));
}

absl::Status Stmt::Run() {
  while (true) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

absl::Status Stmt::ForEachRow(const std::function<void()>& row) {
  while (true) {
    ASSIGN_OR_RETURN(bool more, Step());
    if (!more) return absl::OkStatus();
    row();
  }
}

absl::Status Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return absl::OkStatus();
}

ValueType Stmt::ColumnValueType(int i) const {
  switch (sqlite3_column_type(stmt_, i)) {
    case SQLITE_INTEGER:
      return ValueType::kInteger;
    case SQLITE_FLOAT:
      return ValueType::kReal;
    case SQLITE_TEXT:
      return ValueType::kText;
    case SQLITE_BLOB:
      return ValueType::kBlob;
    default:
      return ValueType::kNull;
  }
}

absl::string_view Stmt::ColumnText(int i) const {
  const unsigned char* text = sqlite3_column_text(stmt_, i);
  if (text == nullptr) return {};
  return absl::string_view(reinterpret_cast<const char*>(text),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
}

absl::StatusOr<Db> Db::Open(const std::string& path, Mode mode) {
  // URI filenames let ATTACH open a source read-only; every path typecache passes is absolute.
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  switch (mode) {
    case Mode::kReadOnly:
      flags |= SQLITE_OPEN_READONLY;
      break;
    case Mode::kReadWrite:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case Mode::kCreate:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
  }
  if (mode != Mode::kCreate) RETURN_IF_ERROR(CheckSqliteHeader(path));
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw, path);
  if (rc != SQLITE_OK) return db.Error(rc, "cannot open");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 10000);
  return db;
}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = other.db_;
    path_ = std::move(other.path_);
    other.db_ = nullptr;
  }
  return *this;
}

Db::~Db() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

absl::Status Db::Close() {
  if (db_ == nullptr) return absl::OkStatus();
  int rc = sqlite3_close(db_);
  if (rc != SQLITE_OK) return Error(rc, "cannot close");
  db_ = nullptr;
  return absl::OkStatus();
}

absl::Status Db::Error(int rc, absl::string_view context) const {
  const char* msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  std::string text = absl::StrCat(path_, ": ", context, ": ", msg);
  int primary = rc & 0xff;
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    return absl::DataLossError(text);
  }
  if (primary == SQLITE_FULL) return absl::ResourceExhaustedError(text);
  if (primary == SQLITE_READONLY || primary == SQLITE_PERM || primary == SQLITE_CANTOPEN) {
    return absl::PermissionDeniedError(text);
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return absl::UnavailableError(text);
  return absl::InternalError(text);
}

absl::Status Db::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return Error(rc, "cannot execute SQL");
  return absl::OkStatus();
}

absl::StatusOr<Stmt> Db::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "cannot prepare SQL");
  return Stmt(stmt, path_);
}

absl::StatusOr<int64_t> Db::QueryInt(const std::string& sql) {
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(sql));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.ColumnInt(0) : 0;
}

absl::StatusOr<std::string> Db::QueryText(const std::string& sql) {
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(sql));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? std::string(stmt.ColumnText(0)) : std::string();
}

absl::StatusOr<bool> Db::HasTable(absl::string_view table, absl::string_view schema) {
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(absl::StrCat("SELECT 1 FROM ", QuoteIdent(schema),
                                        ".sqlite_master WHERE type='table' AND name=?")));
  stmt.Bind(1, table);
  return stmt.Step();
}

absl::StatusOr<SqlTransaction> SqlTransaction::Begin(Db& db, Kind kind) {
  RETURN_IF_ERROR(db.Exec(kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN"));
  return SqlTransaction(&db);
}

SqlTransaction& SqlTransaction::operator=(SqlTransaction&& other) noexcept {
  if (this != &other) {
    (void)Rollback();
    db_ = other.db_;
    other.db_ = nullptr;
  }
  return *this;
}

SqlTransaction::~SqlTransaction() { (void)Rollback(); }

absl::Status SqlTransaction::Commit() {
  if (db_ == nullptr) return absl::FailedPreconditionError("transaction already ended");
  absl::Status status = db_->Exec("COMMIT");
  if (!status.ok()) {
    (void)Rollback();
    return status;
  }
  db_ = nullptr;
  return absl::OkStatus();
}

absl::Status SqlTransaction::Rollback() {
  if (db_ == nullptr) return absl::OkStatus();
  Db* db = db_;
  db_ = nullptr;
  // After a failed statement SQLite may have rolled back already; then there is nothing to do.
  // Closing the connection rolled back already.
  if (db->raw() == nullptr || sqlite3_get_autocommit(db->raw()) != 0) return absl::OkStatus();
  return db->Exec("ROLLBACK");
}

absl::Status BackupDatabase(Db& from, Db& to) {
  sqlite3_backup* backup = sqlite3_backup_init(to.raw(), "main", from.raw(), "main");
  if (backup == nullptr) return to.Error(sqlite3_errcode(to.raw()), "cannot back up");
  int rc = sqlite3_backup_step(backup, -1);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return from.Error(rc, "cannot copy (backup)");
  return absl::OkStatus();
}

std::string QuoteIdent(absl::string_view name) {
  return absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
}

std::string QuoteLiteral(absl::string_view text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "''"}}), "'");
}

absl::Status CheckSqliteHeader(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  char header[100];
  ssize_t n = ::read(fd, header, sizeof(header));
  int err = errno;
  // Closing this descriptor is safe: SQLite has not opened the file in this call path yet, and
  // callers never run this while holding a connection to the same file.
  ::close(fd);
  if (n < 0) return ErrnoStatus(err, "cannot read", path);
  if (n == 0) return absl::OkStatus();  // An empty file is a valid, empty database.
  if (n < static_cast<ssize_t>(sizeof(header)) ||
      std::memcmp(header, "SQLite format 3\0", 16) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": not an SQLite database"));
  }
  return absl::OkStatus();
}

std::string SqliteLibraryVersion() { return sqlite3_libversion(); }

}  // namespace typecache
