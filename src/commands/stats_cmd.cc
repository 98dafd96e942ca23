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
    std::string version = g.has_meta ? (g.version.empty() ? "unrecorded" : g.version) : "";
    ++s.groups_by_layout[{version, adapter.LayoutLabel(g.group)}];
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
  std::map<std::string, std::vector<std::string>> files_by_dir;
  for (const DbRef& ref : target.dbs) files_by_dir[ref.dir].push_back(ref.file);
  stats.path = target.path;
  stats.is_cache_dir = target.kind == Target::Kind::kCacheDir;
  for (const DbRef& ref : target.dbs) {
    DbStats s;
    s.ref = ref;
    if (!ref.dir.empty()) (void)adapter.IsDeadDatabase(ref.file, files_by_dir[ref.dir], &s.dead);
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
  // Python version directory -> its databases, in the order ResolveTarget lists them (shards
  // in numeric order).
  std::map<std::string, std::vector<const DbStats*>> by_dir;
  for (const DbStats& s : stats.dbs) {
    size += s.size;
    groups += s.groups;
    rows += s.rows;
    broken += s.broken;
    by_dir[s.ref.dir].push_back(&s);
  }
  auto line = [&out](absl::string_view label, const std::string& value) {
    out << absl::StrFormat("  %-44s %s\n", label, value);
  };
  out << (stats.is_cache_dir ? "Cache directory: " : "Database: ") << stats.path << "\n";
  line("Size", FormatSize(size));
  line("Databases", absl::StrCat(stats.dbs.size()));
  line("Module groups", absl::StrCat(groups));
  line("Rows", absl::StrCat(rows));
  line("Broken groups (see typecache verify)", absl::StrCat(broken));
  for (const auto& [dir, dbs] : by_dir) {
    int64_t dir_size = 0, dir_groups = 0;
    std::map<std::pair<std::string, std::string>, int64_t> layouts;
    std::map<std::string, int64_t> kinds;
    for (const DbStats* s : dbs) {
      dir_size += s->size;
      dir_groups += s->groups;
      for (const auto& [k, v] : s->groups_by_layout) layouts[k] += v;
      for (const auto& [k, v] : s->bytes_by_kind) kinds[k] += v;
    }
    out << (dir.empty() ? std::string("Database") : absl::StrCat("Python ", dir)) << " ("
        << dbs.size() << (dbs.size() == 1 ? " database" : " databases") << ", "
        << FormatSize(dir_size) << ", " << dir_groups << " groups)\n";
    for (const auto& [key, n] : layouts) {
      const auto& [version, layout] = key;
      line(version.empty() ? absl::StrCat("rows of no module (", layout, ")")
                           : absl::StrCat("mypy ", version, ", ", layout),
           absl::StrCat(n, n == 1 ? " group" : " groups"));
    }
    for (const auto& [kind, bytes] : kinds)
      line(absl::StrCat("bytes in ", kind), FormatSize(bytes));
    for (const DbStats* s : dbs) {
      bool dead_files = false;
      for (const std::string& t : s->tables) dead_files = dead_files || t == "files";
      bool has_files2 = false;
      for (const std::string& t : s->tables) has_files2 = has_files2 || t == "files2";
      if (!s->error.empty()) {
        line(s->ref.file, "unreadable: " + s->error);
        continue;
      }
      if (dbs.size() > 1 || !stats.is_cache_dir) {
        line(s->ref.file, absl::StrFormat("%s, %d %s, %d rows", FormatSize(s->size), s->groups,
                                          s->groups == 1 ? "group" : "groups", s->rows));
      }
      if (!s->dead.empty()) {
        line(absl::StrCat("dead: ", s->ref.file), s->dead);
        line("", "remove with: typecache prune --dead-layouts");
      }
      if (dead_files && has_files2) {
        line(absl::StrCat("dead: table files in ", s->ref.file),
             "left by mypy <= 1.13; remove with: typecache prune --dead-tables");
      }
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
    out << "}, \"groups_by_layout\": [";
    f2 = true;
    for (const auto& [key, n] : s.groups_by_layout) {
      out << (f2 ? "" : ", ") << "{\"version\": " << JsonQuote(key.first)
          << ", \"layout\": " << JsonQuote(key.second) << ", \"groups\": " << n << "}";
      f2 = false;
    }
    out << "], \"dead\": " << (s.dead.empty() ? "null" : JsonQuote(s.dead));
    out << ", \"tables\": [";
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
