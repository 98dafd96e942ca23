#include "src/cachedb/group_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_db.h"

namespace typecache {
namespace {

// Columns i and i + 1 of a row selected as typeof(x), x.
SqlValue ColumnValue(Stmt& stmt, int i) {
  SqlValue v;
  absl::string_view type = stmt.ColumnText(i);
  if (type == "integer") {
    v.type = SqlValue::Type::kInt;
    v.integer = stmt.ColumnInt(i + 1);
  } else if (type == "real") {
    v.type = SqlValue::Type::kReal;
    v.real = stmt.ColumnDouble(i + 1);
  } else if (type == "text") {
    v.type = SqlValue::Type::kText;
    v.bytes = std::string(stmt.ColumnBlob(i + 1));
  } else if (type == "blob") {
    v.type = SqlValue::Type::kBlob;
    v.bytes = std::string(stmt.ColumnBlob(i + 1));
  }
  return v;
}

// The SQL expression that turns parameter ?n, bound by BindValue, into a value of v's class.
std::string ValueExpr(const SqlValue& v, int n) {
  switch (v.type) {
    case SqlValue::Type::kNull:
      return "NULL";
    case SqlValue::Type::kInt:
    case SqlValue::Type::kText:
      return absl::StrCat("?", n);
    case SqlValue::Type::kReal:
      return absl::StrCat("CAST(?", n, " AS REAL)");
    case SqlValue::Type::kBlob:
      return absl::StrCat("CAST(?", n, " AS BLOB)");
  }
  return "NULL";
}

// `v` must outlive the statement's next step (its bytes are bound without a copy).
void BindValue(Stmt& stmt, int n, const SqlValue& v) {
  switch (v.type) {
    case SqlValue::Type::kInt:
      stmt.Bind(n, v.integer);
      break;
    case SqlValue::Type::kReal:
      // 17 significant digits round-trip every double exactly.
      stmt.Bind(n, absl::StrFormat("%.17g", v.real));
      break;
    case SqlValue::Type::kText:
    case SqlValue::Type::kBlob:
      stmt.BindNoCopy(n, v.bytes);
      break;
    case SqlValue::Type::kNull:
      break;
  }
}

// The columns of `table` must be exactly the key, mtime and data (in any order).
absl::Status CheckColumns(Db& db, absl::string_view schema, absl::string_view table,
                          const CheckerAdapter& adapter) {
  ASSIGN_OR_RETURN(Stmt info, db.Prepare(absl::StrCat("PRAGMA ", QuoteIdent(schema), ".table_info(",
                                                      QuoteIdent(table), ")")));
  std::vector<std::string> cols;
  while (true) {
    ASSIGN_OR_RETURN(bool row, info.Step());
    if (!row) break;
    cols.emplace_back(info.ColumnText(1));
  }
  std::sort(cols.begin(), cols.end());
  std::vector<std::string> want = {std::string(adapter.key_column()), "data", "mtime"};
  std::sort(want.begin(), want.end());
  if (cols != want) {
    return absl::FailedPreconditionError(
        absl::StrCat(db.path(), ": table ", table, " has columns other than ", adapter.key_column(),
                     ", mtime and data; its groups cannot be carried row by row"));
  }
  return absl::OkStatus();
}

std::string SelectRows(const CheckerAdapter& adapter, absl::string_view schema,
                       absl::string_view table, absl::string_view where) {
  std::string key = QuoteIdent(adapter.key_column());
  return absl::StrCat("SELECT ", key, ", typeof(mtime), mtime, typeof(data), data FROM ",
                      QuoteIdent(schema), ".", QuoteIdent(table), " WHERE ", where, " ORDER BY ",
                      key);
}

bool InTable(const GroupSelector& s, absl::string_view table) {
  return s.table.empty() || s.table == table;
}

}  // namespace

bool SqlValue::operator==(const SqlValue& o) const {
  if (type != o.type) return false;
  switch (type) {
    case Type::kInt:
      return integer == o.integer;
    case Type::kReal: {
      uint64_t a, b;  // bit patterns: -0.0 and NaNs compare as stored
      std::memcpy(&a, &real, sizeof(a));
      std::memcpy(&b, &o.real, sizeof(b));
      return a == b;
    }
    case Type::kText:
    case Type::kBlob:
      return bytes == o.bytes;
    case Type::kNull:
      return true;
  }
  return false;
}

namespace {

// The adapter's tables that `schema` holds, each checked to have the checker's columns.
absl::StatusOr<std::vector<std::string>> TablesToRead(Db& db, absl::string_view schema,
                                                      const CheckerAdapter& adapter) {
  std::vector<std::string> tables;
  for (const std::string& table : adapter.tables()) {
    ASSIGN_OR_RETURN(bool has, db.HasTable(table, schema));
    if (!has) continue;
    RETURN_IF_ERROR(CheckColumns(db, schema, table, adapter));
    tables.push_back(table);
  }
  return tables;
}

// The current row of a SelectRows statement.
CacheRow RowOf(Stmt& stmt) {
  CacheRow r;
  r.key = std::string(stmt.ColumnText(0));
  r.mtime = ColumnValue(stmt, 1);
  r.data = ColumnValue(stmt, 3);
  return r;
}

}  // namespace

absl::StatusOr<GroupRowMap> ReadGroupRows(Db& db, absl::string_view schema,
                                          const std::set<std::string>& groups,
                                          const CheckerAdapter& adapter) {
  GroupRowMap out;
  ASSIGN_OR_RETURN(std::vector<std::string> tables, TablesToRead(db, schema, adapter));
  for (const std::string& table : tables) {
    std::map<std::string, Stmt> stmts;  // per family slot
    for (const std::string& group : groups) {
      GroupSelector selector = adapter.Select(group);
      if (!InTable(selector, table)) continue;
      std::string slot = selector.family.has_value() ? "=" + *selector.family : "*";
      auto it = stmts.find(slot);
      if (it == stmts.end()) {
        ASSIGN_OR_RETURN(Stmt stmt,
                         db.Prepare(SelectRows(adapter, schema, table,
                                               GroupCondition(adapter, selector.family))));
        it = stmts.emplace(slot, std::move(stmt)).first;
      }
      Stmt& stmt = it->second;
      stmt.Bind(1, selector.lo).Bind(2, selector.hi).Bind(3, selector.exact);
      while (true) {
        ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        CacheRow r = RowOf(stmt);
        // Old-style group names select every table: key the rows by their own group then.
        std::string g = selector.table.empty() ? adapter.GroupOf(table, r.key) : group;
        out[g].push_back(std::move(r));
      }
      RETURN_IF_ERROR(stmt.Reset());
    }
  }
  for (auto& [group, rows] : out) {
    std::sort(rows.begin(), rows.end(),
              [](const CacheRow& a, const CacheRow& b) { return a.key < b.key; });
  }
  return out;
}

absl::StatusOr<GroupRowMap> ReadAllGroupRows(Db& db, absl::string_view schema,
                                             const CheckerAdapter& adapter) {
  GroupRowMap out;
  ASSIGN_OR_RETURN(std::vector<std::string> tables, TablesToRead(db, schema, adapter));
  for (const std::string& table : tables) {
    ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(SelectRows(adapter, schema, table, "1")));
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      CacheRow r = RowOf(stmt);
      out[adapter.GroupOf(table, r.key)].push_back(std::move(r));
    }
  }
  return out;
}

absl::StatusOr<std::vector<CacheRow>> SampleMetaRows(Db& db, absl::string_view schema,
                                                     absl::string_view table,
                                                     const std::optional<std::string>& family,
                                                     int limit, const CheckerAdapter& adapter) {
  std::vector<CacheRow> out;
  ASSIGN_OR_RETURN(bool has, db.HasTable(table, schema));
  if (!has) return out;
  std::string key = QuoteIdent(adapter.key_column());
  // Meta rows are a fraction of the rows: scan at most 8x `limit` keys.
  ASSIGN_OR_RETURN(
      Stmt stmt,
      db.Prepare(absl::StrCat("SELECT ", key, ", typeof(mtime), mtime, typeof(data), data FROM ",
                              QuoteIdent(schema), ".", QuoteIdent(table), " WHERE ",
                              FamilyCondition(adapter, family), " LIMIT ", int64_t{limit} * 8)));
  while (static_cast<int>(out.size()) < limit) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    absl::string_view k = stmt.ColumnText(0);
    if (adapter.RoleOf(k) != RowFacts::Role::kMeta) continue;
    CacheRow r;
    r.key = std::string(k);
    r.mtime = ColumnValue(stmt, 1);
    r.data = ColumnValue(stmt, 3);
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

GroupHasher::Value HashedValue(const SqlValue& v) {
  GroupHasher::Value out;
  out.type = static_cast<ValueType>(static_cast<int>(v.type));
  out.integer = v.integer;
  out.real = v.real;
  out.bytes = v.bytes;
  return out;
}

}  // namespace

GroupHash DigestOfRows(absl::string_view group, const std::vector<CacheRow>& rows) {
  GroupHasher hasher;
  hasher.Start(group);
  for (const CacheRow& row : rows) {
    GroupHasher::Value key;
    key.type = ValueType::kText;
    key.bytes = row.key;
    hasher.AddRow(key, HashedValue(row.mtime), HashedValue(row.data));
  }
  return hasher.Finish();
}

bool StoredAsGiven(const CacheRow& row) {
  using T = SqlValue::Type;
  // A real is bound as text ("%.17g"), which gives back every finite double exactly.
  return ((row.mtime.type == T::kReal && std::isfinite(row.mtime.real)) ||
          row.mtime.type == T::kNull) &&
         (row.data.type == T::kText || row.data.type == T::kBlob || row.data.type == T::kNull);
}

absl::Status WriteGroupRows(Db& db, const GroupRowMap& groups, const CheckerAdapter& adapter,
                            const std::function<void()>& wrote_more) {
  size_t since_hook = 0;
  // Validate everything first: nothing is written unless every row belongs to its group.
  for (const auto& [group, rows] : groups) {
    GroupSelector selector = adapter.Select(group);
    if (selector.table.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(db.path(), ": group ", group, " names no table; cannot write it"));
    }
    for (const CacheRow& row : rows) {
      if (adapter.GroupOf(selector.table, row.key) != group) {
        return absl::InvalidArgumentError(
            absl::StrCat(db.path(), ": row ", row.key, " does not belong to group ", group));
      }
    }
  }
  std::string key = QuoteIdent(adapter.key_column());
  // Per table: whether this call created it (then it is empty: no group to delete first).
  std::map<std::string, bool> created;
  // Statements are prepared once per call, not once per group.
  std::map<std::string, Stmt> deletes;  // per table and family
  std::map<std::string, Stmt> inserts;  // per table, mtime class and data class
  for (const auto& [group, rows] : groups) {
    GroupSelector selector = adapter.Select(group);
    const std::string& table = selector.table;
    std::string t = QuoteIdent(table);
    if (!created.count(table)) {
      ASSIGN_OR_RETURN(bool has, db.HasTable(table));
      if (!has) {
        // Class of the data column from the first row (TEXT for the old table, BLOB after).
        std::string data_type = "BLOB";
        for (const CacheRow& row : rows) {
          if (row.data.type == SqlValue::Type::kText) data_type = "TEXT";
          break;
        }
        RETURN_IF_ERROR(
            db.Exec(absl::StrCat("CREATE TABLE main.", t, " (", key,
                                 " TEXT UNIQUE NOT NULL, mtime REAL, data ", data_type, ")")));
      } else {
        RETURN_IF_ERROR(CheckColumns(db, "main", table, adapter));
      }
      created[table] = !has;
    }
    if (!created[table]) {
      std::string slot = absl::StrCat(table, selector.family.has_value() ? "=" : "*",
                                      selector.family.value_or(""));
      auto d = deletes.find(slot);
      if (d == deletes.end()) {
        ASSIGN_OR_RETURN(Stmt del,
                         db.Prepare(absl::StrCat("DELETE FROM main.", t, " WHERE ",
                                                 GroupCondition(adapter, selector.family))));
        d = deletes.emplace(slot, std::move(del)).first;
      }
      d->second.Bind(1, selector.lo).Bind(2, selector.hi).Bind(3, selector.exact);
      RETURN_IF_ERROR(d->second.Run());
      RETURN_IF_ERROR(d->second.Reset());
    }
    if (rows.empty()) continue;
    for (const CacheRow& row : rows) {
      std::string slot = absl::StrCat(table, "|", static_cast<int>(row.mtime.type), ":",
                                      static_cast<int>(row.data.type));
      auto it = inserts.find(slot);
      if (it == inserts.end()) {
        ASSIGN_OR_RETURN(Stmt ins,
                         db.Prepare(absl::StrCat(
                             "INSERT INTO main.", t, " (", key, ", mtime, data) VALUES (?1, ",
                             ValueExpr(row.mtime, 2), ", ", ValueExpr(row.data, 3), ")")));
        it = inserts.emplace(slot, std::move(ins)).first;
      }
      Stmt& ins = it->second;
      // The rows outlive the statements (finalized when this returns): no copies.
      ins.BindNoCopy(1, row.key);
      BindValue(ins, 2, row.mtime);
      BindValue(ins, 3, row.data);
      RETURN_IF_ERROR(ins.Run());
      RETURN_IF_ERROR(ins.Reset());
      since_hook += row.key.size() + row.data.bytes.size();
      if (wrote_more && since_hook >= kWroteMoreBytes) {
        wrote_more();
        since_hook = 0;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<GroupFile> GroupFile::OpenReadOnly(const std::string& path) {
  RETURN_IF_ERROR(CheckSqliteHeader(path));
  ASSIGN_OR_RETURN(Db db, Db::Open(path, Db::Mode::kReadOnly));
  return GroupFile(std::make_unique<Db>(std::move(db)));
}

GroupFile::GroupFile(std::unique_ptr<Db> db) : db_(std::move(db)) {}
GroupFile::GroupFile(GroupFile&& other) noexcept = default;
GroupFile& GroupFile::operator=(GroupFile&& other) noexcept = default;
GroupFile::~GroupFile() = default;

absl::StatusOr<GroupRowMap> GroupFile::Read(const std::set<std::string>& groups,
                                            const CheckerAdapter& adapter) {
  return ReadGroupRows(*db_, "main", groups, adapter);
}

absl::StatusOr<GroupRowMap> GroupFile::ReadAll(const CheckerAdapter& adapter) {
  return ReadAllGroupRows(*db_, "main", adapter);
}

absl::StatusOr<std::vector<CacheRow>> GroupFile::SampleMetas(
    absl::string_view table, const std::optional<std::string>& family, int limit,
    const CheckerAdapter& adapter) {
  return SampleMetaRows(*db_, "main", table, family, limit, adapter);
}

absl::Status WriteGroupsToFile(const std::string& path, const GroupRowMap& groups,
                               const CheckerAdapter& adapter,
                               const std::function<void()>& wrote_more) {
  ASSIGN_OR_RETURN(Db db, OpenForWrite(path));
  {
    // Rolls back unless committed: on error nothing of this call is written.
    ASSIGN_OR_RETURN(SqlTransaction txn, SqlTransaction::Begin(db, SqlTransaction::Kind::kWrite));
    RETURN_IF_ERROR(WriteGroupRows(db, groups, adapter, wrote_more));
    RETURN_IF_ERROR(txn.Commit());
  }
  RETURN_IF_ERROR(db.Close());
  if (wrote_more) wrote_more();
  return absl::OkStatus();
}

}  // namespace typecache
