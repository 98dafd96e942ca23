#include "src/cachedb/inspect.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_db.h"

namespace typecache {

std::string GroupInfo::Broken(const CheckerAdapter& adapter) const {
  if (!unknown.empty()) return "";
  if (!problems.empty()) return problems.front();
  if (!adapter.NeedsMetaAndData(group)) return "";
  if (has_meta && !has_data) return "meta row without data row";
  if (has_data && !has_meta) return "data row without meta row (orphan)";
  if (meta_data_mtime.has_value() && data_mtime.has_value() &&
      *meta_data_mtime != static_cast<int64_t>(std::trunc(*data_mtime))) {
    return absl::StrCat("data row mtime ", static_cast<int64_t>(*data_mtime),
                        " does not match the meta's data_mtime ", *meta_data_mtime);
  }
  for (const std::string& kind : required_kinds) {
    if (bytes_by_kind.count(kind) == 0) {
      return absl::StrCat("no ", kind, " row beside the meta (the checker rechecks the module)");
    }
  }
  return "";
}

absl::Status ForEachGroup(Db& db, const CheckerAdapter& adapter, absl::string_view schema,
                          const std::function<absl::Status(const GroupInfo&)>& visit) {
  std::string key = QuoteIdent(adapter.key_column());
  // One pass per table and family: rows of one group are then consecutive in key order.
  for (const std::string& table : adapter.tables()) {
    ASSIGN_OR_RETURN(bool has, db.HasTable(table, schema));
    if (!has) continue;
    for (const std::string& family : AllFamilies(adapter)) {
      ASSIGN_OR_RETURN(
          Stmt stmt, db.Prepare(absl::StrCat("SELECT ", key, ", mtime, data FROM ",
                                             QuoteIdent(schema), ".", QuoteIdent(table), " WHERE ",
                                             FamilyCondition(adapter, family), " ORDER BY ", key)));
      std::optional<GroupInfo> current;
      while (true) {
        ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        std::string path(stmt.ColumnText(0));
        std::string group = adapter.GroupOf(table, path);
        if (current.has_value() && current->group != group) {
          RETURN_IF_ERROR(visit(*current));
          current.reset();
        }
        if (!current.has_value()) {
          current.emplace();
          current->table = table;
          current->group = group;
        }
        GroupInfo& g = *current;
        double mtime = stmt.ColumnDouble(1);
        absl::string_view data = stmt.ColumnBlob(2);
        ++g.rows;
        g.bytes += static_cast<int64_t>(path.size() + data.size());
        g.newest_mtime = std::max(g.newest_mtime, mtime);
        if (!stmt.ColumnIsNumber(1)) {
          g.problems.push_back(absl::StrCat(path, ": mtime is not a number"));
        }
        RowFacts facts = adapter.DescribeRow(path, data);
        g.bytes_by_kind[facts.kind] += static_cast<int64_t>(data.size());
        if (!facts.problem.empty()) g.problems.push_back(absl::StrCat(path, ": ", facts.problem));
        if (!facts.unknown.empty()) g.unknown = absl::StrCat(path, ": ", facts.unknown);
        if (facts.role == RowFacts::Role::kMeta) {
          g.has_meta = true;
          g.required_kinds = facts.required_kinds;
          g.meta_data_mtime = facts.data_mtime;
          if (!facts.version.empty()) g.version = facts.version;
          if (!facts.source_path.empty()) g.source_path = facts.source_path;
        } else if (facts.role == RowFacts::Role::kData) {
          g.has_data = true;
          g.data_mtime = mtime;
        }
      }
      if (current.has_value()) RETURN_IF_ERROR(visit(*current));
    }
  }
  return absl::OkStatus();
}

}  // namespace typecache
