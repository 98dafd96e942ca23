#include "src/cachedb/inspect.h"

#include <algorithm>
#include <cmath>
#include <optional>

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
  if (recorded_data_stamp.has_value() && data_row_mtime.has_value() &&
      *recorded_data_stamp != static_cast<int64_t>(std::trunc(*data_row_mtime))) {
    return absl::StrCat(
        "data row mtime ", static_cast<int64_t>(*data_row_mtime), " does not match the meta's ",
        recorded_data_stamp_field.empty() ? "record of it" : recorded_data_stamp_field, " ",
        *recorded_data_stamp);
  }
  for (const std::string& kind : required_kinds) {
    if (bytes_by_kind.count(kind) == 0) {
      return absl::StrCat("no ", kind, " row beside the meta (the checker rechecks the module)");
    }
  }
  return "";
}

absl::Status ForEachGroup(Db& db, const CheckerAdapter& adapter, absl::string_view schema,
                          const std::function<absl::Status(const GroupInfo&)>& visit,
                          GroupDetail detail) {
  std::string key = QuoteIdent(adapter.key_column());
  GroupHasher hasher;
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
      auto finish = [&]() -> absl::Status {
        if (!current.has_value()) return absl::OkStatus();
        current->digest = hasher.Finish();
        absl::Status status = visit(*current);
        current.reset();
        return status;
      };
      while (true) {
        ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        GroupHasher::RowTypes types = GroupHasher::Types(stmt);
        std::string path(stmt.ColumnBlob(0));
        std::string group = adapter.GroupOf(table, path);
        if (current.has_value() && current->group != group) RETURN_IF_ERROR(finish());
        if (!current.has_value()) {
          current.emplace();
          current->table = table;
          current->group = group;
          hasher.Start(group);
        }
        GroupInfo& g = *current;
        bool mtime_is_number =
            types.mtime == ValueType::kInteger || types.mtime == ValueType::kReal;
        hasher.AddRow(stmt, types);
        double mtime = stmt.ColumnDouble(1);
        absl::string_view data = stmt.ColumnBlob(2);
        ++g.rows;
        g.bytes += static_cast<int64_t>(path.size() + data.size());
        g.newest_mtime = std::max(g.newest_mtime, mtime);
        if (!mtime_is_number) {
          g.problems.push_back(absl::StrCat(path, ": mtime is not a number"));
        }
        if (detail == GroupDetail::kDigestOnly) continue;
        RowFacts facts = adapter.DescribeRow(path, data);
        g.bytes_by_kind[facts.kind] += static_cast<int64_t>(data.size());
        if (!facts.problem.empty()) g.problems.push_back(absl::StrCat(path, ": ", facts.problem));
        if (!facts.unknown.empty()) g.unknown = absl::StrCat(path, ": ", facts.unknown);
        if (facts.role == RowFacts::Role::kMeta) {
          g.has_meta = true;
          g.required_kinds = facts.required_kinds;
          g.recorded_data_stamp = facts.data_stamp;
          g.recorded_data_stamp_field = facts.data_stamp_field;
          if (!facts.version.empty()) g.version = facts.version;
          if (!facts.source_path.empty()) g.source_path = facts.source_path;
        } else if (facts.role == RowFacts::Role::kData) {
          g.has_data = true;
          g.data_row_mtime = mtime;
        }
      }
      RETURN_IF_ERROR(finish());
    }
  }
  return absl::OkStatus();
}

}  // namespace typecache
