#include "src/commands/stats_cmd.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "src/base/json.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"
#include "src/commands/config.h"
#include "src/store/local/layout.h"
#include "src/store/local/stats.h"

namespace typecache {
namespace {

absl::Status Inspect(const CheckerAdapter& adapter, DbStats& s, Progress& progress) {
  ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenReadOnly(s.ref.path));
  ASSIGN_OR_RETURN(CacheFile::Transaction read, db.BeginRead());
  ASSIGN_OR_RETURN(s.tables, db.ListTables());
  return db.ForEachGroup(adapter, [&](const GroupInfo& g) {
    ++s.groups;
    progress.Add(g.bytes);
    s.rows += g.rows;
    s.bytes += g.bytes;
    if (!g.Broken(adapter).empty()) ++s.broken;
    for (const auto& [kind, bytes] : g.bytes_by_kind) s.bytes_by_kind[kind] += bytes;
    if (g.has_meta) ++s.groups_by_version[g.version.empty() ? "unrecorded" : g.version];
    std::string version = g.has_meta ? (g.version.empty() ? "unrecorded" : g.version) : "";
    ++s.groups_by_layout[{version, adapter.LayoutLabel(g.group)}];
    return absl::OkStatus();
  });
}

std::string FormatCounter(const std::map<std::string, int64_t>& counters, const Counter& c) {
  int64_t v = CounterValue(counters, c.id);
  if (absl::string_view(c.unit) == "ms")
    return absl::StrFormat("%.3f s", static_cast<double>(v) / 1000.0);
  if (absl::string_view(c.unit) == "bytes") return FormatSize(v);
  if (absl::string_view(c.unit) == "time") {
    if (v == 0) return "never";
    return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(v), absl::UTCTimeZone());
  }
  return absl::StrCat(v);
}

}  // namespace

int64_t CacheStats::size() const {
  int64_t size = 0;
  for (const DbStats& s : dbs) size += s.size;
  return size;
}

absl::StatusOr<CacheStats> CollectStats(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                        Progress* progress_or_null) {
  CacheStats stats;
  Progress& progress = Progress::Or(progress_or_null);
  int64_t total = 0, done = 0;
  for (const DbRef& ref : target.dbs) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    total += info.size;
  }
  progress.Start("stats", total, ProgressUnit::kBytes);
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
    progress.Detail(JoinPath(ref.dir, ref.file));
    absl::Status status = Inspect(adapter, s, progress);
    progress.Set(done += info.size);
    if (!status.ok()) {
      // Bad input: one line naming the file (run `typecache verify` for the details).
      return absl::Status(status.code(),
                          absl::StrCat(ref.shown, ": cannot read: ",
                                       absl::StripPrefix(status.message(), ref.path + ": ")));
    }
    s.dead_tables = adapter.DeadTables(s.tables);
    stats.dbs.push_back(std::move(s));
  }
  progress.Done();
  if (stats.is_cache_dir) {
    ASSIGN_OR_RETURN(stats.counters, ReadStats(fs, Layout(target.path)));
    ASSIGN_OR_RETURN(stats.disk, MeasureDiskUsage(fs, Layout(target.path), adapter));
  } else {
    for (const char* suffix : {"", "-wal", "-journal"}) {
      ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(target.path + suffix));
      stats.disk.live += info.disk_bytes;
    }
  }
  return stats;
}

nlohmann::ordered_json DiskUsageJson(const DiskUsage& d) {
  return {{"total", d.total()},
          {"live", d.live},
          {"old_generations", d.old_generations},
          {"spares", d.spares},
          {"running", d.running},
          {"leftovers", d.leftovers},
          {"passthrough", d.passthrough},
          {"state", d.state}};
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
  line("Size of the live databases (prune's budget)", FormatSize(size));
  if (stats.is_cache_dir) {
    const DiskUsage& d = stats.disk;
    line("Disk use (what du counts)", FormatSize(d.total()));
    line("  live generations", FormatSize(d.live));
    line("  old generations awaiting removal", FormatSize(d.old_generations));
    line("  spares kept for the next run", FormatSize(d.spares));
    line("  runs in progress", FormatSize(d.running));
    line("  leftovers of dead or failed runs",
         d.leftovers > 0 ? absl::StrCat(FormatSize(d.leftovers),
                                        " (removed by the next run or verify --repair)")
                         : FormatSize(d.leftovers));
    line("  caches of runs that bypass the shared one", FormatSize(d.passthrough));
    line("  typecache's own state and other files", FormatSize(d.state));
  }
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
      for (const auto& [table, why] : s->dead_tables) {
        line(absl::StrCat("dead: table ", table, " in ", s->ref.file),
             absl::StrCat(why, "; remove with: typecache prune --dead-tables"));
      }
    }
  }
  if (stats.is_cache_dir) {
    out << "Runs (recorded by typecache run; reset with --zero):\n";
    for (const Counter& c : KnownCounters()) line(c.label, FormatCounter(stats.counters, c));
  }
}

void PrintStatsJson(const CacheStats& stats, std::ostream& out) {
  auto counts = [](const std::map<std::string, int64_t>& m) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const auto& [k, v] : m) o[JsonText(k)] = v;
    return o;
  };
  auto texts = [](const std::vector<std::string>& v) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const std::string& t : v) a.push_back(JsonText(t));
    return a;
  };
  auto text_or_null = [](const std::string& t) {
    return t.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(JsonText(t));
  };
  nlohmann::ordered_json dbs = nlohmann::ordered_json::array();
  for (const DbStats& s : stats.dbs) {
    nlohmann::ordered_json layouts = nlohmann::ordered_json::array();
    for (const auto& [key, n] : s.groups_by_layout) {
      layouts.push_back(
          {{"version", JsonText(key.first)}, {"layout", JsonText(key.second)}, {"groups", n}});
    }
    nlohmann::ordered_json dead_tables = nlohmann::ordered_json::object();
    for (const auto& [table, why] : s.dead_tables) dead_tables[JsonText(table)] = JsonText(why);
    dbs.push_back({{"dir", JsonText(s.ref.dir)},
                   {"file", JsonText(s.ref.file)},
                   {"size", s.size},
                   {"groups", s.groups},
                   {"rows", s.rows},
                   {"bytes", s.bytes},
                   {"broken_groups", s.broken},
                   {"bytes_by_kind", counts(s.bytes_by_kind)},
                   {"groups_by_version", counts(s.groups_by_version)},
                   {"groups_by_layout", layouts},
                   {"dead", text_or_null(s.dead)},
                   {"tables", texts(s.tables)},
                   {"dead_tables", dead_tables},
                   {"error", text_or_null(s.error)}});
  }
  nlohmann::ordered_json counters = nlohmann::ordered_json::object();
  for (const Counter& c : KnownCounters()) counters[c.name] = CounterValue(stats.counters, c.id);
  out << DumpJson({{"path", JsonText(stats.path)},
                   {"kind", stats.is_cache_dir ? "cache_dir" : "file"},
                   {"size", stats.size()},
                   {"disk", DiskUsageJson(stats.disk)},
                   {"databases", dbs},
                   {"counters", counters}})
      << "\n";
}

}  // namespace typecache
