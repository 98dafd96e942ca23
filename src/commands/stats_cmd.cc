#include "src/commands/stats_cmd.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "src/base/json.h"
#include "src/base/status_macros.h"
#include "src/cachedb/inspect.h"
#include "src/commands/config.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/layout.h"
#include "src/store/local/stats.h"

namespace typecache {
namespace {

absl::Status Inspect(const CheckerAdapter& adapter, DbStats& s) {
  ASSIGN_OR_RETURN(Db db, Db::Open(s.ref.path, Db::Mode::kReadOnly));
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  {
    ASSIGN_OR_RETURN(Stmt tables,
                     db.Prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, tables.Step());
      if (!row) break;
      s.tables.emplace_back(tables.ColumnText(0));
    }
  }
  RETURN_IF_ERROR(ForEachGroup(db, adapter, "main", [&](const GroupInfo& g) {
    ++s.groups;
    s.rows += g.rows;
    s.bytes += g.bytes;
    if (!g.Broken(adapter).empty()) ++s.broken;
    for (const auto& [kind, bytes] : g.bytes_by_kind) s.bytes_by_kind[kind] += bytes;
    if (g.has_meta) ++s.groups_by_version[g.version.empty() ? "unrecorded" : g.version];
    return absl::OkStatus();
  }));
  (void)db.Exec("COMMIT");
  return absl::OkStatus();
}

std::string FormatCounter(const std::map<std::string, int64_t>& counters, const Counter& c) {
  auto it = counters.find(c.name);
  int64_t v = it == counters.end() ? 0 : it->second;
  if (absl::string_view(c.unit) == "ms") return absl::StrFormat("%.3f s", v / 1000.0);
  if (absl::string_view(c.unit) == "bytes") return FormatSize(v);
  if (absl::string_view(c.unit) == "time") {
    if (v == 0) return "never";
    return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(v), absl::UTCTimeZone());
  }
  return absl::StrCat(v);
}

}  // namespace

absl::StatusOr<CacheStats> CollectStats(Fs& fs, const CheckerAdapter& adapter,
                                        const Target& target) {
  CacheStats stats;
  stats.path = target.path;
  stats.is_cache_dir = target.kind == Target::Kind::kCacheDir;
  for (const DbRef& ref : target.dbs) {
    DbStats s;
    s.ref = ref;
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    s.size = info.size;
    absl::Status status = Inspect(adapter, s);
    if (!status.ok()) {
      // Bad input: one line naming the file (run `typecache verify` for the details).
      return absl::Status(status.code(),
                          absl::StrCat(ref.shown, ": cannot read: ",
                                       absl::StripPrefix(status.message(), ref.path + ": ")));
    }
    stats.dbs.push_back(std::move(s));
  }
  if (stats.is_cache_dir) {
    ASSIGN_OR_RETURN(stats.counters, ReadStats(fs, Layout(target.path)));
  }
  return stats;
}

void PrintStats(const CacheStats& stats, std::ostream& out) {
  int64_t size = 0, groups = 0, rows = 0, broken = 0;
  std::map<std::string, int64_t> versions, kinds;
  std::set<std::string> pythons;
  for (const DbStats& s : stats.dbs) {
    size += s.size;
    groups += s.groups;
    rows += s.rows;
    broken += s.broken;
    for (const auto& [k, v] : s.groups_by_version) versions[k] += v;
    for (const auto& [k, v] : s.bytes_by_kind) kinds[k] += v;
    if (!s.ref.dir.empty()) pythons.insert(s.ref.dir);
  }
  auto line = [&out](absl::string_view label, const std::string& value) {
    out << absl::StrFormat("  %-40s %s\n", label, value);
  };
  out << (stats.is_cache_dir ? "Cache directory: " : "Database: ") << stats.path << "\n";
  line("Size", FormatSize(size));
  line("Databases", absl::StrCat(stats.dbs.size()));
  line("Module groups", absl::StrCat(groups));
  line("Rows", absl::StrCat(rows));
  line("Broken groups (see typecache verify)", absl::StrCat(broken));
  if (!pythons.empty()) line("Python versions", absl::StrJoin(pythons, ", "));
  std::vector<std::string> version_text;
  for (const auto& [v, n] : versions) version_text.push_back(absl::StrCat(v, " (", n, ")"));
  if (!version_text.empty()) line("mypy versions (groups)", absl::StrJoin(version_text, ", "));
  for (const auto& [kind, bytes] : kinds)
    line(absl::StrCat("  bytes in ", kind), FormatSize(bytes));
  if (stats.dbs.size() > 1 || !stats.is_cache_dir) {
    for (const DbStats& s : stats.dbs) {
      std::string name = s.ref.dir.empty() ? s.ref.file : JoinPath(s.ref.dir, s.ref.file);
      line(absl::StrCat("  ", name),
           s.error.empty()
               ? absl::StrFormat("%s, %d groups, %d rows", FormatSize(s.size), s.groups, s.rows)
               : absl::StrCat("unreadable: ", s.error));
    }
  } else {
    for (const DbStats& s : stats.dbs) {
      if (!s.error.empty()) line(JoinPath(s.ref.dir, s.ref.file), "unreadable: " + s.error);
    }
  }
  if (stats.is_cache_dir) {
    out << "Runs (recorded by typecache run; reset with --zero):\n";
    for (const Counter& c : KnownCounters()) line(c.label, FormatCounter(stats.counters, c));
  }
}

void PrintStatsJson(const CacheStats& stats, std::ostream& out) {
  out << "{\"path\": " << JsonQuote(stats.path)
      << ", \"kind\": " << (stats.is_cache_dir ? "\"cache_dir\"" : "\"file\"")
      << ", \"databases\": [";
  bool first = true;
  for (const DbStats& s : stats.dbs) {
    out << (first ? "" : ", ") << "{\"dir\": " << JsonQuote(s.ref.dir)
        << ", \"file\": " << JsonQuote(s.ref.file) << ", \"size\": " << s.size
        << ", \"groups\": " << s.groups << ", \"rows\": " << s.rows << ", \"bytes\": " << s.bytes
        << ", \"broken_groups\": " << s.broken;
    out << ", \"bytes_by_kind\": {";
    bool f2 = true;
    for (const auto& [k, v] : s.bytes_by_kind) {
      out << (f2 ? "" : ", ") << JsonQuote(k) << ": " << v;
      f2 = false;
    }
    out << "}, \"groups_by_version\": {";
    f2 = true;
    for (const auto& [k, v] : s.groups_by_version) {
      out << (f2 ? "" : ", ") << JsonQuote(k) << ": " << v;
      f2 = false;
    }
    out << "}, \"tables\": [";
    f2 = true;
    for (const std::string& t : s.tables) {
      out << (f2 ? "" : ", ") << JsonQuote(t);
      f2 = false;
    }
    out << "], \"error\": " << (s.error.empty() ? "null" : JsonQuote(s.error)) << "}";
    first = false;
  }
  out << "], \"counters\": {";
  first = true;
  for (const Counter& c : KnownCounters()) {
    auto it = stats.counters.find(c.name);
    out << (first ? "" : ", ") << JsonQuote(c.name) << ": "
        << (it == stats.counters.end() ? 0 : it->second);
    first = false;
  }
  out << "}}\n";
}

}  // namespace typecache
