#include "src/testing/test_util.h"

#include <stdlib.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/base/status_macros.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"

namespace typecache {

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string templ = absl::StrCat(base != nullptr ? base : "/tmp", "/tc.XXXXXX");
  char* made = ::mkdtemp(templ.data());
  path_ = made != nullptr ? made : templ;
}

TempDir::~TempDir() { (void)RemoveAll(RealFs(), path_); }

absl::Status TempDir::WriteFiles(
    const std::vector<std::pair<std::string, std::string>>& files) const {
  for (const auto& [name, contents] : files)
    RETURN_IF_ERROR(RealFs().WriteNewFile(Sub(name), contents));
  return absl::OkStatus();
}

std::vector<std::string> SortedNames(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = RealFs().ListDir(dir);
  EXPECT_TRUE(names.ok()) << names.status();
  std::vector<std::string> out = names.ok() ? *names : std::vector<std::string>{};
  std::sort(out.begin(), out.end());
  return out;
}

std::function<std::optional<std::string>(const std::string&)> EnvOf(
    std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

void ExpectEachMapsTo(const std::function<std::string(absl::string_view)>& fn,
                      const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& [input, output] : cases) EXPECT_EQ(fn(input), output) << "input: " << input;
}

namespace {
const char* TableOf(Schema schema) { return schema == Schema::kFiles ? "files" : "files2"; }
}  // namespace

absl::Status WriteRows(const std::string& db_path, Schema schema, const std::vector<Row>& rows) {
  ASSIGN_OR_RETURN(Db db, Db::Open(db_path, Db::Mode::kCreate));
  std::string table = TableOf(schema);
  std::string type = schema == Schema::kFiles ? "TEXT" : "BLOB";
  RETURN_IF_ERROR(db.Exec(absl::StrCat(
      "CREATE TABLE IF NOT EXISTS ", table, " (path TEXT UNIQUE NOT NULL, mtime REAL, data ", type,
      "); CREATE INDEX IF NOT EXISTS path_idx ON ", table, "(path);")));
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  {
    ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(absl::StrCat("INSERT OR REPLACE INTO ", table,
                                                        "(path, mtime, data) VALUES(?, ?, ?)")));
    for (const Row& row : rows) {
      stmt.Bind(1, row.path);
      sqlite3_bind_double(stmt.raw(), 2, row.mtime);
      if (schema == Schema::kFiles) {
        sqlite3_bind_text(stmt.raw(), 3, row.data.data(), static_cast<int>(row.data.size()),
                          SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_blob(stmt.raw(), 3, row.data.data(), static_cast<int>(row.data.size()),
                          SQLITE_TRANSIENT);
      }
      RETURN_IF_ERROR(stmt.Run());
      RETURN_IF_ERROR(stmt.Reset());
    }
  }
  RETURN_IF_ERROR(db.Exec("COMMIT"));
  return db.Close();
}

absl::StatusOr<Db> OpenWalWriter(const std::string& db_path, const std::string& sql,
                                 Db::Mode mode) {
  ASSIGN_OR_RETURN(Db db, Db::Open(db_path, mode));
  RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;" + sql));
  return db;
}

absl::Status DeleteRows(const std::string& db_path, Schema schema,
                        const std::vector<std::string>& keys) {
  ASSIGN_OR_RETURN(Db db, Db::Open(db_path, Db::Mode::kReadWrite));
  {
    ASSIGN_OR_RETURN(Stmt stmt,
                     db.Prepare(absl::StrCat("DELETE FROM ", TableOf(schema), " WHERE path = ?")));
    for (const std::string& key : keys) {
      stmt.Bind(1, key);
      RETURN_IF_ERROR(stmt.Run());
      RETURN_IF_ERROR(stmt.Reset());
    }
  }
  return db.Close();
}

absl::StatusOr<Rows> ReadRows(const std::string& db_path, Schema schema) {
  Rows rows;
  ASSIGN_OR_RETURN(Db db, Db::Open(db_path, Db::Mode::kReadOnly));
  ASSIGN_OR_RETURN(bool has, db.HasTable(TableOf(schema)));
  if (!has) return rows;
  ASSIGN_OR_RETURN(
      Stmt stmt,
      db.Prepare(absl::StrCat("SELECT path, mtime, typeof(data), data FROM ", TableOf(schema))));
  RETURN_IF_ERROR(stmt.ForEachRow([&] {
    const void* blob = sqlite3_column_blob(stmt.raw(), 3);
    std::string data(static_cast<const char*>(blob),
                     static_cast<size_t>(sqlite3_column_bytes(stmt.raw(), 3)));
    rows[std::string(stmt.ColumnText(0))] =
        absl::StrCat(stmt.ColumnDouble(1), "|", stmt.ColumnText(2), "|", data);
  }));
  return rows;
}

namespace {
Rows ExpectedOk(absl::StatusOr<Rows> rows) {
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *std::move(rows) : Rows{};
}
}  // namespace

Rows RowsOf(const std::string& db_path, Schema schema) {
  return ExpectedOk(ReadRows(db_path, schema));
}

Rows ExactRowsOf(const std::string& db_path, const std::string& table) {
  return ExpectedOk(ExactRows(db_path, table));
}

absl::StatusOr<std::string> IntegrityCheck(const std::string& db_path) {
  ASSIGN_OR_RETURN(Db db, Db::Open(db_path, Db::Mode::kReadOnly));
  return db.QueryText("PRAGMA integrity_check");
}

std::vector<Row> Modules(int from, int to, const std::string& tag, double mtime) {
  std::vector<Row> rows;
  for (int i = from; i < to; ++i) {
    for (Row& row : ModuleRows(absl::StrCat("pkg/m", i), tag, mtime)) rows.push_back(row);
  }
  return rows;
}

std::vector<Row> ModuleRows(const std::string& module, const std::string& tag, double mtime) {
  return {
      {absl::StrCat(module, ".meta.json"), mtime,
       absl::StrCat("{\"data_mtime\": ", static_cast<int64_t>(mtime), ", \"tag\": \"", tag, "\"}")},
      {absl::StrCat(module, ".data.json"), mtime, absl::StrCat("{\"tree\": \"", tag, "\"}")},
  };
}

std::vector<Row> ModuleRowsWithMeta(const std::string& module, const std::string& tag, double mtime,
                                    const std::string& extra_members) {
  return {
      {absl::StrCat(module, ".meta.json"), mtime,
       absl::StrCat("{\"data_mtime\": ", static_cast<int64_t>(mtime), ", \"tag\": \"", tag, "\", ",
                    extra_members, "}")},
      {absl::StrCat(module, ".data.json"), mtime, absl::StrCat("{\"tree\": \"", tag, "\"}")},
  };
}

absl::StatusOr<Rows> ExactRows(const std::string& db_path, const std::string& table) {
  Rows rows;
  ASSIGN_OR_RETURN(Db db, Db::Open(db_path, Db::Mode::kReadOnly));
  ASSIGN_OR_RETURN(bool has, db.HasTable(table));
  if (!has) return rows;
  ASSIGN_OR_RETURN(Stmt stmt,
                   db.Prepare(absl::StrCat("SELECT path, mtime, typeof(mtime), typeof(data), "
                                           "hex(data) FROM ",
                                           QuoteIdent(table))));
  RETURN_IF_ERROR(stmt.ForEachRow([&] {
    int type = stmt.ColumnType(1);
    std::string mtime = type == SQLITE_FLOAT || type == SQLITE_INTEGER
                            ? absl::StrFormat("%.17g", stmt.ColumnDouble(1))
                            : std::string(stmt.ColumnText(1));
    rows[std::string(stmt.ColumnText(0))] = absl::StrCat(
        mtime, "|", stmt.ColumnText(2), "|", stmt.ColumnText(3), "|", stmt.ColumnText(4));
  }));
  return rows;
}

std::string ModuleOf(const std::string& key) {
  size_t slash = key.rfind('/');
  size_t dot = key.find('.', slash == std::string::npos ? 0 : slash + 1);
  return dot == std::string::npos ? key : key.substr(0, dot);
}

std::string ModuleOfGroup(const std::string& group) {
  return ModuleOf(group.substr(group.find(':') + 1));
}

}  // namespace typecache
