#include "src/cachedb/cache_db.h"

#include <algorithm>
#include <deque>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "src/base/status_macros.h"
#include "xxhash.h"

namespace typecache {
namespace {

constexpr char kChangesTable[] = "typecache_changes";

std::string TriggerName(absl::string_view table, absl::string_view kind) {
  return absl::StrCat("typecache_", table, "_", kind);
}

std::string UriEscape(absl::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<bool> HasTrigger(Db& db, const std::string& name) {
  ASSIGN_OR_RETURN(Stmt stmt,
                   db.Prepare("SELECT 1 FROM sqlite_master WHERE type='trigger' AND name=?"));
  stmt.Bind(1, name);
  return stmt.Step();
}

absl::StatusOr<std::vector<std::string>> Columns(Db& db, absl::string_view schema,
                                                 absl::string_view table) {
  ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(absl::StrCat("PRAGMA ", QuoteIdent(schema), ".table_info(",
                                                      QuoteIdent(table), ")")));
  std::vector<std::string> cols;
  RETURN_IF_ERROR(stmt.ForEachRow([&] { cols.push_back(QuoteIdent(stmt.ColumnText(1))); }));
  return cols;
}

absl::Status CopySchemaOf(Db& dst, absl::string_view src_schema, absl::string_view table) {
  ASSIGN_OR_RETURN(Stmt stmt, dst.Prepare(absl::StrCat(
                                  "SELECT sql FROM ", QuoteIdent(src_schema),
                                  ".sqlite_master WHERE tbl_name=? AND sql IS NOT NULL AND "
                                  "type IN ('table','index') ORDER BY type='index', name")));
  stmt.Bind(1, table);
  std::vector<std::string> ddl;
  RETURN_IF_ERROR(stmt.ForEachRow([&] { ddl.emplace_back(stmt.ColumnText(0)); }));
  for (std::string sql : ddl) {
    // Index names are per database, not per table: two of a checker's tables may name their
    // indexes alike (mypy's tables of 1.0 and of 1.14+ both do), and in a database holding both
    // (after an upgrade) only the first exists, because the checker creates it IF NOT EXISTS.
    // Do the same.
    for (absl::string_view create : {"CREATE INDEX ", "CREATE UNIQUE INDEX "}) {
      if (absl::StartsWith(sql, create) && !absl::StrContains(sql, "IF NOT EXISTS")) {
        sql.insert(create.size(), "IF NOT EXISTS ");
      }
    }
    RETURN_IF_ERROR(dst.Exec(sql));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Db> OpenForWrite(const std::string& path) {
  ASSIGN_OR_RETURN(Db db, Db::Open(path, Db::Mode::kCreate));
  // typecache never writes a live file: every file it writes is private until renamed, and it
  // is fsynced explicitly before that rename. So SQLite's own syncs are unnecessary.
  RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=OFF"));
  return db;
}

absl::Status AttachReadOnly(Db& db, const std::string& path, absl::string_view schema) {
  RETURN_IF_ERROR(CheckSqliteHeader(path));
  return db.Exec(absl::StrCat("ATTACH DATABASE ",
                              QuoteLiteral(absl::StrCat("file:", UriEscape(path), "?mode=ro")),
                              " AS ", QuoteIdent(schema)));
}

absl::StatusOr<CopyResult> ConsistentCopy(Fs& fs, const std::string& src, const std::string& dst) {
  CopyResult result;
  ASSIGN_OR_RETURN(FileInfo wal, fs.Stat(src + "-wal"));
  if (wal.exists() && wal.size > 0) {
    // Committed rows may live in the WAL: only SQLite can produce a consistent copy.
    ASSIGN_OR_RETURN(Db from, Db::Open(src, Db::Mode::kReadOnly));
    ASSIGN_OR_RETURN(Db to, Db::Open(dst, Db::Mode::kCreate));
    RETURN_IF_ERROR(BackupDatabase(from, to));
    RETURN_IF_ERROR(to.Exec("PRAGMA journal_mode=DELETE"));
    ASSIGN_OR_RETURN(int64_t pages, to.QueryInt("PRAGMA page_count"));
    ASSIGN_OR_RETURN(int64_t page_size, to.QueryInt("PRAGMA page_size"));
    result.method = "backup";
    result.bytes = pages * page_size;
    return result;
  }
  // A hot journal means a writer died mid-transaction: a read-write connection rolls it back
  // (what any SQLite reader does); otherwise read-only.
  ASSIGN_OR_RETURN(FileInfo journal, fs.Stat(src + "-journal"));
  ASSIGN_OR_RETURN(Db db,
                   Db::Open(src, journal.exists() && journal.size > 0 ? Db::Mode::kReadWrite
                                                                      : Db::Mode::kReadOnly));
  // The read transaction holds SQLite's SHARED lock, so no direct writer can commit while the
  // bytes are copied. (CopyFile closes its own descriptor of `src` at the end, which drops this
  // process's POSIX locks on the file; by then the copy is complete.)
  {
    ASSIGN_OR_RETURN(SqlTransaction read, SqlTransaction::Begin(db, SqlTransaction::Kind::kRead));
    absl::Status readable = db.QueryInt("SELECT count(*) FROM sqlite_master").status();
    if (!readable.ok() && !absl::IsDataLoss(readable)) return readable;
    // A corrupt database cannot be read consistently at all; its bytes are copied as they are
    // (verify --repair salvages from such a copy).
    ASSIGN_OR_RETURN(CopyMethod method, fs.CopyFile(src, dst));
    result.method = CopyMethodName(method);
    (void)read.Commit();
  }
  RETURN_IF_ERROR(db.Close());
  ASSIGN_OR_RETURN(FileInfo copied, fs.Stat(dst));
  result.bytes = copied.size;
  return result;
}

absl::Status InstallCapture(const std::string& db_path, const CheckerAdapter& adapter) {
  ASSIGN_OR_RETURN(Db db, OpenForWrite(db_path));
  std::string key = QuoteIdent(adapter.key_column());
  ASSIGN_OR_RETURN(SqlTransaction txn, SqlTransaction::Begin(db, SqlTransaction::Kind::kWrite));
  RETURN_IF_ERROR(
      db.Exec(absl::StrCat("CREATE TABLE IF NOT EXISTS ", kChangesTable,
                           "(key TEXT PRIMARY KEY) WITHOUT ROWID; DELETE FROM ", kChangesTable)));
  for (const std::string& table : adapter.tables()) {
    ASSIGN_OR_RETURN(bool has, db.HasTable(table));
    if (!has) continue;
    std::string t = QuoteIdent(table);
    // Each change is recorded as "<table>:<key>", so that its group is of the right table.
    auto record = [&](absl::string_view row) {
      return absl::StrCat("INSERT OR IGNORE INTO ", kChangesTable, " VALUES(",
                          QuoteLiteral(absl::StrCat(table, ":")), " || ", row, ".", key, ");");
    };
    RETURN_IF_ERROR(
        db.Exec(absl::StrCat("CREATE TRIGGER IF NOT EXISTS ", QuoteIdent(TriggerName(table, "ins")),
                             " AFTER INSERT ON ", t, " BEGIN ", record("new"), " END")));
    RETURN_IF_ERROR(
        db.Exec(absl::StrCat("CREATE TRIGGER IF NOT EXISTS ", QuoteIdent(TriggerName(table, "del")),
                             " AFTER DELETE ON ", t, " BEGIN ", record("old"), " END")));
    RETURN_IF_ERROR(db.Exec(absl::StrCat("CREATE TRIGGER IF NOT EXISTS ",
                                         QuoteIdent(TriggerName(table, "upd")), " AFTER UPDATE ON ",
                                         t, " BEGIN ", record("old"), record("new"), " END")));
  }
  RETURN_IF_ERROR(txn.Commit());
  return db.Close();
}

absl::StatusOr<std::set<std::string>> FinishCapture(const std::string& db_path,
                                                    const CheckerAdapter& adapter, CaptureEnd end) {
  ASSIGN_OR_RETURN(Db db, OpenForWrite(db_path));
  std::set<std::string> groups;
  ASSIGN_OR_RETURN(bool has_changes, db.HasTable(kChangesTable));
  if (has_changes) {
    ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(absl::StrCat("SELECT key FROM ", kChangesTable)));
    RETURN_IF_ERROR(stmt.ForEachRow([&] {
      absl::string_view entry = stmt.ColumnText(0);
      size_t colon = entry.find(':');
      // An entry without a table (left by an older typecache) selects every table.
      groups.insert(colon == absl::string_view::npos
                        ? adapter.GroupOf("", entry).substr(1)
                        : adapter.GroupOf(entry.substr(0, colon), entry.substr(colon + 1)));
    }));
  }
  std::string drops;
  for (const std::string& table : adapter.tables()) {
    ASSIGN_OR_RETURN(bool has, db.HasTable(table));
    if (!has) continue;
    ASSIGN_OR_RETURN(bool tracked, HasTrigger(db, TriggerName(table, "ins")));
    if (!tracked) {
      // Created during the run: every row in it was written by the run.
      ASSIGN_OR_RETURN(
          Stmt stmt, db.Prepare(absl::StrCat("SELECT ", QuoteIdent(adapter.key_column()), " FROM ",
                                             QuoteIdent(table))));
      RETURN_IF_ERROR(
          stmt.ForEachRow([&] { groups.insert(adapter.GroupOf(table, stmt.ColumnText(0))); }));
    }
    for (const char* kind : {"ins", "del", "upd"}) {
      absl::StrAppend(&drops, "DROP TRIGGER IF EXISTS ", QuoteIdent(TriggerName(table, kind)), ";");
    }
  }
  absl::StrAppend(&drops, "DROP TABLE IF EXISTS ", kChangesTable, ";");
  if (end == CaptureEnd::kKeepArmedIfUnchanged && groups.empty()) {
    // Nothing written (and still a rollback-journal file): leave it armed, write nothing.
    ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode"));
    if (mode == "delete") {
      RETURN_IF_ERROR(db.Close());
      return groups;
    }
  }
  {
    ASSIGN_OR_RETURN(SqlTransaction txn, SqlTransaction::Begin(db, SqlTransaction::Kind::kWrite));
    RETURN_IF_ERROR(db.Exec(drops));
    RETURN_IF_ERROR(txn.Commit());
  }
  RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=DELETE"));
  RETURN_IF_ERROR(db.Close());
  return groups;
}

std::vector<std::string> AllFamilies(const CheckerAdapter& adapter) {
  std::vector<std::string> all = adapter.families();
  all.emplace_back();
  return all;
}

std::string FamilyCondition(const CheckerAdapter& adapter,
                            const std::optional<std::string>& family) {
  std::string key = QuoteIdent(adapter.key_column());
  if (!family.has_value()) return "1";
  if (!family->empty()) {
    return absl::StrCat("(", key, " GLOB ", QuoteLiteral(absl::StrCat("*.", *family)), ")");
  }
  std::vector<std::string> none;
  for (const std::string& f : adapter.families()) {
    none.push_back(absl::StrCat("NOT (", key, " GLOB ", QuoteLiteral(absl::StrCat("*.", f)), ")"));
  }
  return none.empty() ? "1" : absl::StrCat("(", absl::StrJoin(none, " AND "), ")");
}

std::string GroupCondition(const CheckerAdapter& adapter,
                           const std::optional<std::string>& family) {
  std::string key = QuoteIdent(adapter.key_column());
  return absl::StrCat("((", key, " >= ?1 AND ", key, " < ?2) OR ", key, " = ?3) AND ",
                      FamilyCondition(adapter, family));
}

namespace {

// Whether the rows of `selector` can be in `table`.
bool InTable(const GroupSelector& selector, absl::string_view table) {
  return selector.table.empty() || selector.table == table;
}

// One prepared statement per selector family, built on first use by `make`.
class StmtPerFamily {
 public:
  explicit StmtPerFamily(
      std::function<absl::StatusOr<Stmt>(const std::optional<std::string>&)> make)
      : make_(std::move(make)) {}
  // The statement for `selector`, with the key range bound.
  absl::StatusOr<Stmt*> For(const GroupSelector& selector) {
    std::string slot = selector.family.has_value() ? "=" + *selector.family : "*";
    auto it = stmts_.find(slot);
    if (it == stmts_.end()) {
      ASSIGN_OR_RETURN(Stmt stmt, make_(selector.family));
      it = stmts_.emplace(slot, std::move(stmt)).first;
    }
    it->second.Bind(1, selector.lo).Bind(2, selector.hi).Bind(3, selector.exact);
    return &it->second;
  }

 private:
  std::function<absl::StatusOr<Stmt>(const std::optional<std::string>&)> make_;
  std::map<std::string, Stmt> stmts_;
};

}  // namespace

struct GroupHasher::State {
  XXH3_state_t* row = XXH3_createState();
  std::string group;
  uint64_t exact = 0;
  uint64_t content = 0;
  ~State() { XXH3_freeState(row); }
};

GroupHasher::GroupHasher() : state_(new State) {}
GroupHasher::~GroupHasher() { delete state_; }

namespace {

// One value with its storage class: a tag byte, then 8 bytes (integer, real bits) or an 8-byte
// length and the bytes (text, blob).
void HashValue(XXH3_state_t* state, const GroupHasher::Value& v) {
  auto tag = static_cast<unsigned char>(v.type);
  XXH3_64bits_update(state, &tag, 1);
  switch (v.type) {
    case ValueType::kNull:
      return;
    case ValueType::kInteger:
      XXH3_64bits_update(state, &v.integer, sizeof(v.integer));
      return;
    case ValueType::kReal:
      XXH3_64bits_update(state, &v.real, sizeof(v.real));
      return;
    case ValueType::kText:
    case ValueType::kBlob: {
      uint64_t size = v.bytes.size();
      XXH3_64bits_update(state, &size, sizeof(size));
      XXH3_64bits_update(state, v.bytes.data(), v.bytes.size());
      return;
    }
  }
}

GroupHasher::Value ColumnValue(const Stmt& stmt, int column, ValueType type) {
  GroupHasher::Value v;
  v.type = type;
  switch (type) {
    case ValueType::kNull:
      break;
    case ValueType::kInteger:
      v.integer = stmt.ColumnInt(column);
      break;
    case ValueType::kReal:
      v.real = stmt.ColumnDouble(column);
      break;
    case ValueType::kText:
    case ValueType::kBlob:
      v.bytes = stmt.ColumnBlob(column);
      break;
  }
  return v;
}

void HashBytes(XXH3_state_t* state, absl::string_view bytes) {
  uint64_t size = bytes.size();
  XXH3_64bits_update(state, &size, sizeof(size));
  XXH3_64bits_update(state, bytes.data(), bytes.size());
}

}  // namespace

void GroupHasher::Start(absl::string_view group) {
  state_->group = std::string(group);
  state_->exact = 0;
  state_->content = 0;
}

GroupHasher::RowTypes GroupHasher::Types(const Stmt& stmt) {
  return RowTypes{stmt.ColumnValueType(0), stmt.ColumnValueType(1), stmt.ColumnValueType(2)};
}

void GroupHasher::AddRow(const Stmt& stmt, const RowTypes& types) {
  AddRow(ColumnValue(stmt, 0, types.key), ColumnValue(stmt, 1, types.mtime),
         ColumnValue(stmt, 2, types.data));
}

void GroupHasher::AddRow(const Value& key, const Value& mtime, const Value& data) {
  // Each row is hashed on its own (with its group's name) and the hashes are summed, so a
  // group's digest does not depend on the order its rows are read in, and a digest of a group
  // read in several runs of rows is the sum of theirs. The mtime goes last, so that the content
  // digest is the same hash stopped before it.
  XXH3_state_t* h = state_->row;
  XXH3_64bits_reset(h);
  HashBytes(h, state_->group);
  HashValue(h, key);
  HashValue(h, data);
  state_->content += XXH3_64bits_digest(h);
  HashValue(h, mtime);
  state_->exact += XXH3_64bits_digest(h);
}

GroupHash GroupHasher::Finish() { return GroupHash{state_->exact, state_->content}; }

bool SameGroup(const CheckerAdapter& adapter, absl::string_view group, const GroupHash& a,
               const GroupHash& b) {
  return adapter.NeedsMetaAndData(group) ? a.exact == b.exact : a.content == b.content;
}

absl::StatusOr<std::map<std::string, GroupHash>> DigestGroups(Db& db, absl::string_view schema,
                                                              const std::set<std::string>& groups,
                                                              const CheckerAdapter& adapter) {
  std::map<std::string, GroupHash> out;
  if (groups.empty()) return out;
  std::string key = QuoteIdent(adapter.key_column());
  std::vector<std::pair<std::string, std::unique_ptr<StmtPerFamily>>> tables;
  for (const std::string& table : adapter.tables()) {
    ASSIGN_OR_RETURN(bool has, db.HasTable(table, schema));
    if (!has) continue;
    std::string from = absl::StrCat(QuoteIdent(schema), ".", QuoteIdent(table));
    tables.emplace_back(
        table, std::make_unique<StmtPerFamily>([&db, key, from,
                                                &adapter](const std::optional<std::string>& f) {
          return db.Prepare(absl::StrCat("SELECT ", key, ", mtime, data FROM ", from, " WHERE ",
                                         GroupCondition(adapter, f), " ORDER BY ", key));
        }));
  }
  GroupHasher hasher;
  for (const std::string& group : groups) {
    GroupSelector selector = adapter.Select(group);
    hasher.Start(group);
    int64_t rows = 0;
    for (auto& [table, stmts] : tables) {
      if (!InTable(selector, table)) continue;
      ASSIGN_OR_RETURN(Stmt * stmt, stmts->For(selector));
      while (true) {
        ASSIGN_OR_RETURN(bool row, stmt->Step());
        if (!row) break;
        hasher.AddRow(*stmt, GroupHasher::Types(*stmt));
        ++rows;
      }
      RETURN_IF_ERROR(stmt->Reset());
    }
    if (rows > 0) out[group] = hasher.Finish();
  }
  return out;
}

absl::StatusOr<std::set<std::string>> UnchangedGroups(Db& db, absl::string_view base,
                                                      const std::set<std::string>& groups,
                                                      const CheckerAdapter& adapter) {
  ASSIGN_OR_RETURN(auto mine, DigestGroups(db, "main", groups, adapter));
  ASSIGN_OR_RETURN(auto theirs, DigestGroups(db, base, groups, adapter));
  std::set<std::string> same;
  for (const std::string& group : groups) {
    auto m = mine.find(group);
    auto t = theirs.find(group);
    bool absent = m == mine.end() && t == theirs.end();  // On both sides.
    if (absent ||
        (m != mine.end() && t != theirs.end() && SameGroup(adapter, group, m->second, t->second))) {
      same.insert(group);
    }
  }
  return same;
}

absl::StatusOr<std::set<std::string>> ListGroups(Db& db, const CheckerAdapter& adapter,
                                                 absl::string_view schema,
                                                 const std::optional<std::string>& only) {
  std::set<std::string> groups;
  for (const std::string& table : adapter.tables()) {
    if (only.has_value() && *only != table) continue;
    ASSIGN_OR_RETURN(bool has, db.HasTable(table, schema));
    if (!has) continue;
    ASSIGN_OR_RETURN(Stmt stmt,
                     db.Prepare(absl::StrCat("SELECT ", QuoteIdent(adapter.key_column()), " FROM ",
                                             QuoteIdent(schema), ".", QuoteIdent(table))));
    RETURN_IF_ERROR(
        stmt.ForEachRow([&] { groups.insert(adapter.GroupOf(table, stmt.ColumnText(0))); }));
  }
  return groups;
}

namespace {

// Inserts every row `select` gives (its columns 0..num_cols-1, key, mtime and data first) with
// `insert` (parameters 1..num_cols), each value with its storage class, hashing each row into
// `hasher` (started on `group`). Returns the rows copied; resets both statements.
absl::StatusOr<int64_t> CopyRows(Stmt& select, Stmt& insert, int num_cols, absl::string_view group,
                                 GroupHasher& hasher) {
  hasher.Start(group);
  int64_t rows = 0;
  std::vector<ValueType> types;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    // Every storage class before any value is read (reading one as another class converts it).
    types.clear();
    for (int c = 0; c < num_cols; ++c) types.push_back(select.ColumnValueType(c));
    hasher.AddRow(select, GroupHasher::RowTypes{types[0], types[1], types[2]});
    // The values stay valid until `select` steps again: bound without a copy.
    for (int c = 0; c < num_cols; ++c) insert.BindColumnOf(c + 1, select, c, types[c]);
    RETURN_IF_ERROR(insert.Run());
    RETURN_IF_ERROR(insert.Reset());
    ++rows;
  }
  RETURN_IF_ERROR(select.Reset());
  return rows;
}

}  // namespace

absl::StatusOr<TransferStats> ReplaceGroups(Db& dst, absl::string_view src_schema,
                                            const std::set<std::string>& groups,
                                            const CheckerAdapter& adapter,
                                            std::map<std::string, GroupHash>* copied) {
  TransferStats stats;
  if (groups.empty()) return stats;
  for (const std::string& table : adapter.tables()) {
    ASSIGN_OR_RETURN(bool dst_has, dst.HasTable(table));
    bool src_has = false;
    if (!src_schema.empty()) {
      ASSIGN_OR_RETURN(src_has, dst.HasTable(table, src_schema));
    }
    if (!dst_has && !src_has) continue;
    if (!dst_has) {
      RETURN_IF_ERROR(CopySchemaOf(dst, src_schema, table));
    }
    std::string t = QuoteIdent(table);
    StmtPerFamily del([&](const std::optional<std::string>& family) {
      return dst.Prepare(
          absl::StrCat("DELETE FROM main.", t, " WHERE ", GroupCondition(adapter, family)));
    });
    std::string col_list;
    int num_cols = 0;
    if (src_has) {
      ASSIGN_OR_RETURN(std::vector<std::string> cols, Columns(dst, "main", table));
      if (copied != nullptr) {
        // Key, mtime and data first: the columns GroupHasher reads (0, 1, 2).
        std::vector<std::string> first = {QuoteIdent(adapter.key_column()), QuoteIdent("mtime"),
                                          QuoteIdent("data")};
        for (const std::string& c : cols) {
          if (std::find(first.begin(), first.end(), c) == first.end()) first.push_back(c);
        }
        cols = std::move(first);
      }
      col_list = absl::StrJoin(cols, ", ");
      num_cols = static_cast<int>(cols.size());
    }
    StmtPerFamily ins([&](const std::optional<std::string>& family) {
      return dst.Prepare(absl::StrCat("INSERT INTO main.", t, "(", col_list, ") SELECT ", col_list,
                                      " FROM ", QuoteIdent(src_schema), ".", t, " WHERE ",
                                      GroupCondition(adapter, family)));
    });
    // With `copied`: the rows pass through here, each hashed as it is inserted (one read).
    StmtPerFamily sel([&](const std::optional<std::string>& family) {
      return dst.Prepare(absl::StrCat("SELECT ", col_list, " FROM ", QuoteIdent(src_schema), ".", t,
                                      " WHERE ", GroupCondition(adapter, family)));
    });
    std::optional<Stmt> insert_row;
    if (src_has && copied != nullptr) {
      std::vector<std::string> params(num_cols, "?");
      ASSIGN_OR_RETURN(Stmt prepared,
                       dst.Prepare(absl::StrCat("INSERT INTO main.", t, "(", col_list, ") VALUES(",
                                                absl::StrJoin(params, ", "), ")")));
      insert_row.emplace(std::move(prepared));
    }
    GroupHasher hasher;
    for (const std::string& group : groups) {
      GroupSelector selector = adapter.Select(group);
      if (!InTable(selector, table)) continue;
      ASSIGN_OR_RETURN(Stmt * d, del.For(selector));
      RETURN_IF_ERROR(d->Run());
      RETURN_IF_ERROR(d->Reset());
      if (src_has && copied != nullptr) {
        ASSIGN_OR_RETURN(Stmt * s, sel.For(selector));
        ASSIGN_OR_RETURN(int64_t rows, CopyRows(*s, *insert_row, num_cols, group, hasher));
        if (rows > 0) {
          GroupHash h = hasher.Finish();
          GroupHash& sum = (*copied)[group];
          sum.exact += h.exact;
          sum.content += h.content;
        }
        stats.rows += rows;
      } else if (src_has) {
        ASSIGN_OR_RETURN(Stmt * i, ins.For(selector));
        RETURN_IF_ERROR(i->Run());
        RETURN_IF_ERROR(i->Reset());
        stats.rows += dst.Changes();
      }
    }
  }
  stats.groups = static_cast<int64_t>(groups.size());
  return stats;
}

namespace {

// ---- ReplaceGroupsFrom: the source rows, from the reader to the writer in batches ----

// One column value of a row; text and blob bytes live in the batch's `bytes`.
struct Cell {
  ValueType type = ValueType::kNull;
  int64_t integer = 0;
  double real = 0;
  size_t offset = 0;
  size_t size = 0;
};

// The source rows of one group in one table, in the order ReplaceGroups copies them.
struct GroupPart {
  size_t table = 0;  // Index into the tables copied.
  const std::string* group = nullptr;
  int64_t rows = 0;
  size_t first_cell = 0;  // Its rows' cells: rows x columns from there, row by row.
  GroupHash digest;
};

// Consecutive parts. Handed over whole: one wake-up of the other thread per batch, not per
// group (a merge of 8 caches copies 25k groups).
struct PartBatch {
  std::vector<GroupPart> parts;
  std::vector<Cell> cells;
  std::string bytes;
  size_t Weight() const { return bytes.size() + cells.size() * sizeof(Cell); }
  void Clear() {  // Keeps the capacity: batches are recycled, not reallocated.
    parts.clear();
    cells.clear();
    bytes.clear();
  }
};

// A batch goes to the writer once it holds this much.
constexpr size_t kBatchBytes = 256 << 10;

// A bounded queue of batches, one producer and one consumer. The producer ends it with Finish
// (its status: OK or why it stopped); the consumer may Cancel it (it gave up), which makes
// Push return false so that the producer stops. Spent batches come back through Recycle, so
// that their buffers are reused (fresh ones would be page-faulted in again, batch by batch).
class BatchQueue {
 public:
  explicit BatchQueue(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Waits for room (an empty queue always has room, so a batch of any size goes through).
  bool Push(PartBatch batch) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](BatchQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
          return q->cancelled_ || q->batches_.empty() || q->bytes_ < q->max_bytes_;
        },
        this));
    if (cancelled_) return false;
    bytes_ += batch.Weight();
    batches_.push_back(std::move(batch));
    return true;
  }
  void Finish(absl::Status status) {
    absl::MutexLock lock(&mu_);
    finished_ = true;
    status_ = std::move(status);
  }
  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  // The next batch, or nullopt once the producer finished and every batch was taken (then
  // status() says how it finished).
  std::optional<PartBatch> Pop() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](BatchQueue* q)
             ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) { return q->finished_ || !q->batches_.empty(); },
        this));
    if (batches_.empty()) return std::nullopt;
    PartBatch batch = std::move(batches_.front());
    batches_.pop_front();
    bytes_ -= batch.Weight();
    return batch;
  }
  void Recycle(PartBatch batch) {
    batch.Clear();
    absl::MutexLock lock(&mu_);
    spare_.push_back(std::move(batch));
  }
  // An empty batch, recycled when one is spare.
  PartBatch Spare() {
    absl::MutexLock lock(&mu_);
    if (spare_.empty()) return PartBatch();
    PartBatch batch = std::move(spare_.back());
    spare_.pop_back();
    return batch;
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  const size_t max_bytes_;
  absl::Mutex mu_;
  std::deque<PartBatch> batches_ ABSL_GUARDED_BY(mu_);
  std::vector<PartBatch> spare_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// What both threads know of one table copied.
struct CopiedTable {
  std::string name;
  std::string col_list;  // Key, mtime and data first (the columns GroupHasher reads).
  int num_cols = 0;
};

// The reader: every part of `groups` in `tables` of the file `src_path`, in ReplaceGroups'
// order (table by table, groups in order, each group's rows hashed as they are read), in
// batches of about `batch_bytes`.
absl::Status ReadParts(const std::string& src_path, const std::vector<CopiedTable>& tables,
                       const std::set<std::string>& groups, const CheckerAdapter& adapter,
                       size_t batch_bytes, BatchQueue& queue) {
  ASSIGN_OR_RETURN(Db src, Db::Open(src_path, Db::Mode::kReadOnly));
  ASSIGN_OR_RETURN(SqlTransaction read, SqlTransaction::Begin(src, SqlTransaction::Kind::kRead));
  GroupHasher hasher;
  std::vector<ValueType> types;
  PartBatch batch = queue.Spare();
  for (size_t t = 0; t < tables.size(); ++t) {
    const CopiedTable& table = tables[t];
    StmtPerFamily sel([&](const std::optional<std::string>& family) {
      return src.Prepare(absl::StrCat("SELECT ", table.col_list, " FROM main.",
                                      QuoteIdent(table.name), " WHERE ",
                                      GroupCondition(adapter, family)));
    });
    for (const std::string& group : groups) {
      GroupSelector selector = adapter.Select(group);
      if (!InTable(selector, table.name)) continue;
      ASSIGN_OR_RETURN(Stmt * stmt, sel.For(selector));
      GroupPart part;
      part.table = t;
      part.group = &group;
      part.first_cell = batch.cells.size();
      hasher.Start(group);
      while (true) {
        ASSIGN_OR_RETURN(bool row, stmt->Step());
        if (!row) break;
        // Every storage class before any value is read (reading one as another class
        // converts it).
        types.clear();
        for (int c = 0; c < table.num_cols; ++c) types.push_back(stmt->ColumnValueType(c));
        hasher.AddRow(*stmt, GroupHasher::RowTypes{types[0], types[1], types[2]});
        for (int c = 0; c < table.num_cols; ++c) {
          Cell cell;
          cell.type = types[c];
          switch (types[c]) {
            case ValueType::kNull:
              break;
            case ValueType::kInteger:
              cell.integer = stmt->ColumnInt(c);
              break;
            case ValueType::kReal:
              cell.real = stmt->ColumnDouble(c);
              break;
            case ValueType::kText:
            case ValueType::kBlob: {
              absl::string_view v = stmt->ColumnBlob(c);
              cell.offset = batch.bytes.size();
              cell.size = v.size();
              batch.bytes.append(v.data(), v.size());
              break;
            }
          }
          batch.cells.push_back(cell);
        }
        ++part.rows;
      }
      RETURN_IF_ERROR(stmt->Reset());
      if (part.rows > 0) part.digest = hasher.Finish();
      batch.parts.push_back(part);
      if (batch.Weight() >= batch_bytes) {
        if (!queue.Push(std::move(batch))) return absl::CancelledError("the writer stopped");
        batch = queue.Spare();
      }
    }
  }
  if (!batch.parts.empty() && !queue.Push(std::move(batch))) {
    return absl::CancelledError("the writer stopped");
  }
  return read.Commit();
}

}  // namespace

absl::StatusOr<TransferStats> ReplaceGroupsFrom(Db& dst, absl::string_view src_schema,
                                                const std::string& src_path,
                                                const std::set<std::string>& groups,
                                                const CheckerAdapter& adapter,
                                                std::map<std::string, GroupHash>* copied,
                                                size_t max_queued_bytes) {
  TransferStats stats;
  if (groups.empty()) return stats;
  // The writer's side of each table, set up before the reader starts (as ReplaceGroups does
  // table by table): tables missing from `dst` created, statements prepared.
  struct WriterTable {
    std::string name;
    bool src_has = false;
    size_t copied_index = 0;  // Into `tables`, when src_has.
    std::unique_ptr<StmtPerFamily> del;
    std::optional<Stmt> insert;
  };
  std::vector<WriterTable> writers;
  std::vector<CopiedTable> tables;
  for (const std::string& table : adapter.tables()) {
    ASSIGN_OR_RETURN(bool dst_has, dst.HasTable(table));
    ASSIGN_OR_RETURN(bool src_has, dst.HasTable(table, src_schema));
    if (!dst_has && !src_has) continue;
    if (!dst_has) {
      RETURN_IF_ERROR(CopySchemaOf(dst, src_schema, table));
    }
    WriterTable w;
    w.name = table;
    w.src_has = src_has;
    std::string t = QuoteIdent(table);
    w.del = std::make_unique<StmtPerFamily>(
        [&dst, t, &adapter](const std::optional<std::string>& family) {
          return dst.Prepare(
              absl::StrCat("DELETE FROM main.", t, " WHERE ", GroupCondition(adapter, family)));
        });
    if (src_has) {
      ASSIGN_OR_RETURN(std::vector<std::string> cols, Columns(dst, "main", table));
      std::vector<std::string> first = {QuoteIdent(adapter.key_column()), QuoteIdent("mtime"),
                                        QuoteIdent("data")};
      for (const std::string& c : cols) {
        if (std::find(first.begin(), first.end(), c) == first.end()) first.push_back(c);
      }
      CopiedTable copied_table;
      copied_table.name = table;
      copied_table.col_list = absl::StrJoin(first, ", ");
      copied_table.num_cols = static_cast<int>(first.size());
      std::vector<std::string> params(first.size(), "?");
      ASSIGN_OR_RETURN(Stmt insert,
                       dst.Prepare(absl::StrCat("INSERT INTO main.", t, "(", copied_table.col_list,
                                                ") VALUES(", absl::StrJoin(params, ", "), ")")));
      w.insert.emplace(std::move(insert));
      w.copied_index = tables.size();
      tables.push_back(std::move(copied_table));
    }
    writers.push_back(std::move(w));
  }

  BatchQueue queue(max_queued_bytes);
  const size_t batch_bytes = std::min(kBatchBytes, std::max<size_t>(max_queued_bytes / 4, 1));
  // Joined on every way out of this function: a writer's error cancels the queue first, so
  // that a reader waiting for room stops.
  struct Reader {
    BatchQueue& queue;
    std::thread thread;
    ~Reader() {
      queue.Cancel();
      if (thread.joinable()) thread.join();
    }
  } reader{queue, std::thread([&] {
             queue.Finish(ReadParts(src_path, tables, groups, adapter, batch_bytes, queue));
           })};
  auto reader_failed = [&queue](absl::string_view what) {
    absl::Status status = queue.status();
    return status.ok() ? absl::InternalError(absl::StrCat("copy of groups: ", what)) : status;
  };

  std::optional<PartBatch> batch;
  size_t next_part = 0;  // In `batch`.
  for (WriterTable& w : writers) {
    for (const std::string& group : groups) {
      GroupSelector selector = adapter.Select(group);
      if (!InTable(selector, w.name)) continue;
      ASSIGN_OR_RETURN(Stmt * d, w.del->For(selector));
      RETURN_IF_ERROR(d->Run());
      RETURN_IF_ERROR(d->Reset());
      if (!w.src_has) continue;
      if (!batch.has_value() || next_part == batch->parts.size()) {
        if (batch.has_value()) queue.Recycle(std::move(*batch));
        batch = queue.Pop();
        next_part = 0;
        if (!batch.has_value()) return reader_failed("the reader ended early");
      }
      const GroupPart& part = batch->parts[next_part++];
      if (part.table != w.copied_index || part.group != &group) {
        return absl::InternalError("copy of groups: the reader's parts are out of order");
      }
      const int num_cols = tables[w.copied_index].num_cols;
      Stmt& insert = *w.insert;
      absl::string_view bytes = batch->bytes;
      for (int64_t r = 0; r < part.rows; ++r) {
        for (int c = 0; c < num_cols; ++c) {
          const Cell& cell = batch->cells[part.first_cell + static_cast<size_t>(r * num_cols + c)];
          insert.BindTyped(c + 1, cell.type, cell.integer, cell.real,
                           bytes.substr(cell.offset, cell.size));
        }
        RETURN_IF_ERROR(insert.Run());
        RETURN_IF_ERROR(insert.Reset());
      }
      if (part.rows > 0 && copied != nullptr) {
        GroupHash& sum = (*copied)[group];
        sum.exact += part.digest.exact;
        sum.content += part.digest.content;
      }
      stats.rows += part.rows;
    }
  }
  if ((batch.has_value() && next_part < batch->parts.size()) || queue.Pop().has_value()) {
    return absl::InternalError("copy of groups: parts left over");
  }
  RETURN_IF_ERROR(queue.status());
  stats.groups = static_cast<int64_t>(groups.size());
  return stats;
}

absl::StatusOr<int64_t> SalvageRows(Db& out, absl::string_view old_schema,
                                    const CheckerAdapter& adapter) {
  // The rows are walked in rowid order through the table's b-tree ("the next rowid after r"),
  // so the cost is O(rows), whatever rowids a damaged or hostile file claims. Where the walk
  // hits an unreadable page, rowids are probed one by one past it, at most this many in a row.
  constexpr int64_t kMissesBeforeGivingUp = 4096;
  int64_t copied = 0;
  std::string o = QuoteIdent(old_schema);
  for (const std::string& table : adapter.tables()) {
    absl::StatusOr<bool> has = out.HasTable(table, old_schema);
    if (!has.ok() || !*has) continue;
    RETURN_IF_ERROR(CopySchemaOf(out, old_schema, table));
    std::string t = QuoteIdent(table);
    ASSIGN_OR_RETURN(Stmt next,
                     out.Prepare(absl::StrCat("SELECT rowid FROM ", o, ".", t,
                                              " WHERE rowid > ? ORDER BY rowid LIMIT 1")));
    ASSIGN_OR_RETURN(
        Stmt copy, out.Prepare(absl::StrCat("INSERT OR REPLACE INTO main.", t, " SELECT * FROM ", o,
                                            ".", t, " WHERE rowid = ?")));
    int64_t rowid = std::numeric_limits<int64_t>::min();
    int64_t misses = 0;
    while (misses < kMissesBeforeGivingUp) {
      next.Bind(1, rowid);
      absl::StatusOr<bool> found = next.Step();
      int64_t candidate = found.ok() && *found ? next.ColumnInt(0) : 0;
      (void)next.Reset();
      if (found.ok() && !*found) break;  // Past the last readable row.
      // A damaged b-tree may fail, or answer a rowid that is not past the last one.
      if (!found.ok() || candidate <= rowid) {
        // The b-tree walk hit a damaged page: probe the next rowid directly.
        if (rowid == std::numeric_limits<int64_t>::max()) break;
        rowid = rowid == std::numeric_limits<int64_t>::min() ? 1 : rowid + 1;
        ++misses;
        candidate = rowid;
      } else {
        rowid = candidate;
      }
      copy.Bind(1, candidate);
      absl::Status ran = copy.Run();
      (void)copy.Reset();
      if (ran.ok() && out.Changes() > 0) {
        ++copied;
        misses = 0;
      }
      if (rowid == std::numeric_limits<int64_t>::max()) break;
    }
  }
  return copied;
}

absl::Status ClearWalHeader(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  char version[2] = {0, 0};
  if (!f.seekg(18) || !f.read(version, 2)) return absl::OkStatus();  // No header to fix.
  if (version[0] != 2 && version[1] != 2) return absl::OkStatus();
  const char legacy[2] = {1, 1};
  if (!f.seekp(18) || !f.write(legacy, 2) || !f.flush()) {
    return absl::DataLossError(absl::StrCat(path, ": cannot rewrite the database header"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CheckerVersionOf(const std::string& db_path,
                                             const std::set<std::string>& groups,
                                             const CheckerAdapter& adapter, int max_groups) {
  ASSIGN_OR_RETURN(Db db, Db::Open(db_path, Db::Mode::kReadOnly));
  int tried = 0;
  for (const std::string& group : groups) {
    if (!adapter.NeedsMetaAndData(group)) continue;
    if (++tried > max_groups) break;
    GroupSelector selector = adapter.Select(group);
    for (const std::string& table : adapter.tables()) {
      if (!selector.table.empty() && selector.table != table) continue;
      ASSIGN_OR_RETURN(bool has, db.HasTable(table));
      if (!has) continue;
      std::string key = QuoteIdent(adapter.key_column());
      ASSIGN_OR_RETURN(
          Stmt rows, db.Prepare(absl::StrCat("SELECT ", key, ", data FROM ", QuoteIdent(table),
                                             " WHERE ", GroupCondition(adapter, selector.family))));
      rows.Bind(1, selector.lo).Bind(2, selector.hi).Bind(3, selector.exact);
      while (true) {
        ASSIGN_OR_RETURN(bool row, rows.Step());
        if (!row) break;
        std::string k(rows.ColumnText(0));
        if (adapter.RoleOf(k) != RowFacts::Role::kMeta) continue;
        RowFacts facts = adapter.DescribeRow(k, rows.ColumnBlob(1));
        if (!facts.version.empty()) return facts.version;
      }
    }
  }
  return std::string();
}

}  // namespace typecache
