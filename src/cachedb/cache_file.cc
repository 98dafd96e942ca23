#include "src/cachedb/cache_file.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_db.h"
#include "src/cachedb/inspect.h"
#include "src/sqlite/sqlite_db.h"

namespace typecache {

CacheFile::Transaction::Transaction(std::unique_ptr<SqlTransaction> txn) : txn_(std::move(txn)) {}
CacheFile::Transaction::Transaction(Transaction&& other) noexcept = default;
CacheFile::Transaction& CacheFile::Transaction::operator=(Transaction&& other) noexcept = default;
CacheFile::Transaction::~Transaction() = default;

absl::Status CacheFile::Transaction::Commit() {
  if (txn_ == nullptr) return absl::FailedPreconditionError("transaction already ended");
  return txn_->Commit();
}

CacheFile::CacheFile(std::unique_ptr<Db> db, std::string path)
    : db_(std::move(db)), path_(std::move(path)) {}
CacheFile::CacheFile(CacheFile&& other) noexcept = default;
CacheFile& CacheFile::operator=(CacheFile&& other) noexcept = default;
CacheFile::~CacheFile() = default;

absl::StatusOr<CacheFile> CacheFile::OpenReadOnly(const std::string& path) {
  ASSIGN_OR_RETURN(Db db, Db::Open(path, Db::Mode::kReadOnly));
  return CacheFile(std::make_unique<Db>(std::move(db)), path);
}

absl::StatusOr<CacheFile> CacheFile::OpenForWrite(const std::string& path) {
  ASSIGN_OR_RETURN(Db db, typecache::OpenForWrite(path));
  return CacheFile(std::make_unique<Db>(std::move(db)), path);
}

absl::StatusOr<CacheFile::Transaction> CacheFile::BeginRead() {
  ASSIGN_OR_RETURN(SqlTransaction txn, SqlTransaction::Begin(*db_, SqlTransaction::Kind::kRead));
  return Transaction(std::make_unique<SqlTransaction>(std::move(txn)));
}

absl::StatusOr<CacheFile::Transaction> CacheFile::BeginWrite() {
  ASSIGN_OR_RETURN(SqlTransaction txn, SqlTransaction::Begin(*db_, SqlTransaction::Kind::kWrite));
  return Transaction(std::make_unique<SqlTransaction>(std::move(txn)));
}

absl::Status CacheFile::Attach(const std::string& path, absl::string_view schema) {
  return AttachReadOnly(*db_, path, schema);
}

absl::Status CacheFile::Detach(absl::string_view schema) {
  return db_->Exec(absl::StrCat("DETACH DATABASE ", QuoteIdent(schema)));
}

absl::StatusOr<std::vector<std::string>> CacheFile::ListTables(absl::string_view schema) {
  ASSIGN_OR_RETURN(Stmt stmt, db_->Prepare(absl::StrCat("SELECT name FROM ", QuoteIdent(schema),
                                                        ".sqlite_master WHERE type='table' "
                                                        "ORDER BY name")));
  std::vector<std::string> tables;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    tables.emplace_back(stmt.ColumnText(0));
  }
  return tables;
}

absl::StatusOr<std::set<std::string>> CacheFile::ListGroups(const CheckerAdapter& adapter,
                                                            absl::string_view schema) {
  return typecache::ListGroups(*db_, adapter, schema);
}

absl::StatusOr<std::set<std::string>> CacheFile::GroupsOfTable(const CheckerAdapter& adapter,
                                                               absl::string_view table) {
  return typecache::ListGroups(*db_, adapter, "main", std::string(table));
}

absl::Status CacheFile::ForEachGroupStamp(const CheckerAdapter& adapter,
                                          const std::function<void(GroupStamp&)>& visit,
                                          absl::string_view schema, bool with_digests) {
  std::optional<GroupStamp> current;
  std::string key = QuoteIdent(adapter.key_column());
  GroupHasher hasher;
  auto finish = [&]() {
    if (!current.has_value()) return;
    if (with_digests) current->digest = hasher.Finish();
    visit(*current);
    current.reset();
  };
  for (const std::string& table : adapter.tables()) {
    ASSIGN_OR_RETURN(bool has, db_->HasTable(table, schema));
    if (!has) continue;
    // One pass per family: the rows of a group are then consecutive in key order.
    for (const std::string& family : AllFamilies(adapter)) {
      ASSIGN_OR_RETURN(
          Stmt stmt,
          db_->Prepare(absl::StrCat("SELECT ", key, ", mtime", with_digests ? ", data" : "",
                                    " FROM ", QuoteIdent(schema), ".", QuoteIdent(table), " WHERE ",
                                    FamilyCondition(adapter, family), " ORDER BY ", key)));
      while (true) {
        ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        GroupHasher::RowTypes types;
        if (with_digests) types = GroupHasher::Types(stmt);
        absl::string_view k = stmt.ColumnBlob(0);
        std::string group = adapter.GroupOf(table, k);
        if (!current.has_value() || current->group != group) {
          finish();
          current.emplace();
          current->group = std::move(group);
          if (with_digests) hasher.Start(current->group);
        }
        GroupStamp& g = *current;
        if (with_digests) hasher.AddRow(stmt, types);
        double mtime = stmt.ColumnDouble(1);
        ++g.rows;
        g.newest_mtime = std::max(g.newest_mtime, mtime);
        if (adapter.RoleOf(k) == RowFacts::Role::kData) g.data_row_mtime = mtime;
      }
    }
  }
  finish();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GroupStamp>> CacheFile::ListGroupStamps(const CheckerAdapter& adapter,
                                                                   absl::string_view schema,
                                                                   bool with_digests) {
  std::vector<GroupStamp> out;
  RETURN_IF_ERROR(ForEachGroupStamp(
      adapter, [&out](GroupStamp& g) { out.push_back(std::move(g)); }, schema, with_digests));
  std::sort(out.begin(), out.end(),
            [](const GroupStamp& a, const GroupStamp& b) { return a.group < b.group; });
  return out;
}

absl::Status CacheFile::ForEachGroup(const CheckerAdapter& adapter,
                                     const std::function<absl::Status(const GroupInfo&)>& visit,
                                     absl::string_view schema) {
  return typecache::ForEachGroup(*db_, adapter, schema, visit);
}

absl::StatusOr<std::map<std::string, GroupHash>> CacheFile::DigestGroups(
    const std::set<std::string>& groups, const CheckerAdapter& adapter, absl::string_view schema) {
  return typecache::DigestGroups(*db_, schema, groups, adapter);
}

absl::StatusOr<uint64_t> CacheFile::ContentDigest(const CheckerAdapter& adapter,
                                                  absl::string_view schema) {
  uint64_t sum = 0;
  RETURN_IF_ERROR(typecache::ForEachGroup(
      *db_, adapter, schema,
      [&](const GroupInfo& g) {
        sum += g.digest.exact;
        return absl::OkStatus();
      },
      GroupDetail::kDigestOnly));
  return sum;
}

absl::StatusOr<TransferStats> CacheFile::ReplaceGroups(absl::string_view src_schema,
                                                       const std::set<std::string>& groups,
                                                       const CheckerAdapter& adapter,
                                                       std::map<std::string, GroupHash>* copied) {
  return typecache::ReplaceGroups(*db_, src_schema, groups, adapter, copied);
}

absl::StatusOr<TransferStats> CacheFile::ReplaceGroupsFrom(
    absl::string_view src_schema, const std::string& src_path, const std::set<std::string>& groups,
    const CheckerAdapter& adapter, std::map<std::string, GroupHash>* copied) {
  return typecache::ReplaceGroupsFrom(*db_, src_schema, src_path, groups, adapter, copied);
}

absl::StatusOr<TransferStats> CacheFile::DeleteGroups(const std::set<std::string>& groups,
                                                      const CheckerAdapter& adapter) {
  return typecache::ReplaceGroups(*db_, "", groups, adapter);
}

absl::Status CacheFile::DropTable(absl::string_view table) {
  return db_->Exec(absl::StrCat("DROP TABLE ", QuoteIdent(table)));
}

absl::StatusOr<PageStats> CacheFile::Pages() {
  PageStats stats;
  ASSIGN_OR_RETURN(stats.pages, db_->QueryInt("PRAGMA page_count"));
  ASSIGN_OR_RETURN(stats.free_pages, db_->QueryInt("PRAGMA freelist_count"));
  ASSIGN_OR_RETURN(stats.page_size, db_->QueryInt("PRAGMA page_size"));
  return stats;
}

std::vector<std::string> CacheFile::IntegrityProblems(const CheckerAdapter& adapter) {
  absl::StatusOr<std::string> check = db_->QueryText("PRAGMA integrity_check");
  if (!check.ok()) return {std::string(check.status().message())};
  if (*check != "ok") return {absl::StrCat("integrity check failed: ", *check)};
  absl::StatusOr<std::vector<std::string>> tables = ListTables();
  if (!tables.ok()) return {std::string(tables.status().message())};
  std::set<std::string> known(adapter.tables().begin(), adapter.tables().end());
  std::vector<std::string> expected = {std::string(adapter.key_column()), "mtime", "data"};
  std::vector<std::string> out;
  for (const std::string& name : *tables) {
    if (known.count(name) == 0) {
      out.push_back(absl::StrCat("unexpected table '", name, "'"));
      continue;
    }
    absl::StatusOr<Stmt> cols =
        db_->Prepare(absl::StrCat("PRAGMA table_info(", QuoteIdent(name), ")"));
    std::vector<std::string> names;
    while (cols.ok()) {
      absl::StatusOr<bool> c = cols->Step();
      if (!c.ok() || !*c) break;
      names.emplace_back(cols->ColumnText(1));
    }
    if (names != expected) {
      out.push_back(absl::StrCat("table '", name, "' has columns (", absl::StrJoin(names, ", "),
                                 "), not ", adapter.name(), "'s (", absl::StrJoin(expected, ", "),
                                 ")"));
    }
  }
  return out;
}

absl::Status CacheFile::Vacuum() { return db_->Exec("VACUUM"); }

absl::Status CacheFile::UseRollbackJournal() { return db_->Exec("PRAGMA journal_mode=DELETE"); }

absl::Status CacheFile::UseForBulkEdit() { return db_->Exec("PRAGMA journal_mode=OFF"); }

absl::Status CacheFile::Close() { return db_->Close(); }

absl::Status CheckReadable(const std::string& path) {
  ASSIGN_OR_RETURN(Db db, Db::Open(path, Db::Mode::kReadOnly));
  absl::StatusOr<int64_t> n = db.QueryInt("SELECT count(*) FROM sqlite_master");
  if (!n.ok()) return n.status();
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SalvageDatabase(const std::string& damaged, const std::string& out_path,
                                        const CheckerAdapter& adapter) {
  int64_t kept = 0;
  ASSIGN_OR_RETURN(Db out, OpenForWrite(out_path));
  // SQLite refuses to read any page of a database shorter than its header says (truncated)
  // unless writable_schema is on; then it reads what is there. Only `old` is read.
  RETURN_IF_ERROR(out.Exec("PRAGMA writable_schema=ON; PRAGMA main.journal_mode=MEMORY"));
  RETURN_IF_ERROR(ClearWalHeader(damaged));
  absl::Status attached = AttachReadOnly(out, damaged, "old");
  if (attached.ok()) {
    // Every row SQLite can still read, then only the groups that are whole and healthy.
    (void)SalvageRows(out, "old", adapter);
    (void)out.Exec("DETACH DATABASE old");
    std::set<std::string> broken;
    RETURN_IF_ERROR(typecache::ForEachGroup(out, adapter, "main", [&](const GroupInfo& g) {
      if (g.Broken(adapter).empty()) {
        ++kept;
      } else {
        broken.insert(g.group);
      }
      return absl::OkStatus();
    }));
    ASSIGN_OR_RETURN(SqlTransaction txn, SqlTransaction::Begin(out, SqlTransaction::Kind::kWrite));
    RETURN_IF_ERROR(ReplaceGroups(out, "", broken, adapter).status());
    RETURN_IF_ERROR(txn.Commit());
  }
  RETURN_IF_ERROR(out.Exec("PRAGMA journal_mode=DELETE"));
  RETURN_IF_ERROR(out.Close());
  return kept;
}

}  // namespace typecache
