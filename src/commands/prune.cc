#include "src/commands/prune.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/base/json.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_db.h"
#include "src/cachedb/inspect.h"
#include "src/commands/config.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/layout.h"

namespace typecache {
namespace {

struct Candidate {
  double newest = 0;
  int64_t bytes = 0;
  std::string db;
  std::string group;
  int64_t cost = 0;  // Estimated bytes on disk.
};

// Groups per database chosen for size: oldest first until `excess` estimated bytes are freed.
absl::StatusOr<std::map<std::string, std::set<std::string>>> ChooseForSize(
    const CheckerAdapter& adapter, const Target& target, int64_t excess,
    const std::map<std::string, std::set<std::string>>& already) {
  std::vector<Candidate> all;
  for (const DbRef& ref : target.dbs) {
    ASSIGN_OR_RETURN(Db db, Db::Open(ref.path, Db::Mode::kReadOnly));
    RETURN_IF_ERROR(db.Exec("BEGIN"));
    auto skip = already.find(ref.path);
    size_t first = all.size();
    int64_t bytes = 0;
    RETURN_IF_ERROR(ForEachGroup(db, adapter, "main", [&](const GroupInfo& g) {
      bytes += g.bytes;
      if (skip != already.end() && skip->second.count(g.group) > 0) return absl::OkStatus();
      all.push_back({g.newest_mtime, g.bytes, ref.path, g.group});
      return absl::OkStatus();
    }));
    // Rows cost more on disk than their bytes (b-tree and overflow pages, index entries): a
    // group's share of the pages in use, at least 1.2x its bytes.
    ASSIGN_OR_RETURN(int64_t pages, db.QueryInt("PRAGMA page_count"));
    ASSIGN_OR_RETURN(int64_t free_pages, db.QueryInt("PRAGMA freelist_count"));
    ASSIGN_OR_RETURN(int64_t page_size, db.QueryInt("PRAGMA page_size"));
    double scale = bytes > 0 ? static_cast<double>((pages - free_pages) * page_size) / bytes : 0;
    scale = std::max(scale, 1.2);
    for (size_t i = first; i < all.size(); ++i) {
      all[i].cost = static_cast<int64_t>(static_cast<double>(all[i].bytes) * scale) + 64;
    }
  }
  std::sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    return a.newest != b.newest ? a.newest < b.newest : a.group < b.group;
  });
  std::map<std::string, std::set<std::string>> chosen;
  int64_t freed = 0;
  for (const Candidate& c : all) {
    if (freed >= excess) break;
    freed += c.cost;
    chosen[c.db].insert(c.group);
  }
  return chosen;
}

// Whether --missing-sources ROOT judges a group whose meta records `source`: a relative path
// is relative to ROOT; an absolute one only counts when it lies under ROOT, so that stubs and
// libraries outside the project (typeshed, site-packages) are never evicted for it.
bool SourceUnderRoot(const std::string& source, const std::string& root) {
  if (source.empty()) return false;
  if (source.front() != '/') return true;
  std::string base = AbsolutePath(root);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return absl::StartsWith(source, base + "/");
}

// The version `typecache run` recorded for the cache directory of `target`.
absl::StatusOr<std::string> RecordedCheckerVersion(Fs& fs, const Target& target) {
  auto none = [&]() {
    return absl::FailedPreconditionError(
        absl::StrCat(target.path,
                     ": --keep-version current: no typecache run has recorded a mypy version for "
                     "this cache yet; name the version to keep (e.g. --keep-version 1.20.2)"));
  };
  if (target.kind != Target::Kind::kCacheDir) return none();
  std::string path = Layout(target.path).checker_version_path();
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(path));
  if (!info.exists()) return none();
  ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path));
  std::string version(absl::StripAsciiWhitespace(text));
  if (version.empty()) return none();
  return version;
}

}  // namespace

absl::StatusOr<PruneReport> Prune(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                  const PruneOptions& given) {
  PruneOptions options = given;
  if (options.keep_version == "current") {
    ASSIGN_OR_RETURN(options.keep_version, RecordedCheckerVersion(fs, target));
  }
  PruneReport report;
  report.dry_run = options.edit.dry_run;
  for (const DbRef& ref : target.dbs) {
    RETURN_IF_ERROR(CheckReadable(ref.path));
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    report.size_before += info.size;
  }
  std::map<std::string, std::set<std::string>> for_size;
  std::map<std::string, std::vector<std::string>> files_by_dir;
  for (const DbRef& ref : target.dbs) files_by_dir[ref.dir].push_back(ref.file);
  Target current = target;
  for (int round = 0; round < 4; ++round) {
    std::vector<Eviction> evicted;
    std::vector<std::string> dropped;
    if (options.max_size.has_value()) {
      int64_t size = 0;
      for (const DbRef& ref : current.dbs) {
        ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
        size += info.size;
      }
      if (size > *options.max_size) {
        ASSIGN_OR_RETURN(for_size, ChooseForSize(adapter, current, size - *options.max_size, {}));
      } else {
        for_size.clear();
      }
    }
    double cutoff =
        options.older_than.has_value()
            ? absl::ToDoubleSeconds(options.now - absl::UnixEpoch() - *options.older_than)
            : -1;
    DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
      DbChange change;
      std::set<std::string> evict;
      bool drop_files = false;
      {
        ASSIGN_OR_RETURN(Db db, Db::Open(copy, Db::Mode::kReadOnly));
        ASSIGN_OR_RETURN(bool has_files, db.HasTable("files"));
        ASSIGN_OR_RETURN(bool has_files2, db.HasTable("files2"));
        drop_files = options.dead_tables && has_files && has_files2;
        auto sized = for_size.find(ref.path);
        std::string dead_why;
        bool dead = options.dead_layouts && !ref.dir.empty() &&
                    adapter.IsDeadDatabase(ref.file, files_by_dir[ref.dir], &dead_why);
        RETURN_IF_ERROR(ForEachGroup(db, adapter, "main", [&](const GroupInfo& g) {
          std::string reason;
          if (drop_files && g.table == "files") return absl::OkStatus();  // Whole table goes.
          if (dead) reason = absl::StrCat("dead layout: ", dead_why);
          if (reason.empty() && cutoff >= 0 && g.newest_mtime < cutoff) {
            reason = "older than the age limit";
          }
          if (reason.empty() && options.keep_version.has_value() && !g.version.empty() &&
              g.version != *options.keep_version) {
            reason = absl::StrCat("written by mypy ", g.version);
          }
          if (reason.empty() && options.missing_sources_root.has_value() &&
              SourceUnderRoot(g.source_path, *options.missing_sources_root)) {
            std::string source = JoinPath(*options.missing_sources_root, g.source_path);
            absl::StatusOr<FileInfo> info = fs.Stat(source);
            if (info.ok() && !info->exists()) reason = "source file missing";
          }
          if (reason.empty() && options.orphans) {
            std::string broken = g.Broken(adapter);
            if (!broken.empty()) reason = broken;
          }
          if (reason.empty() && sized != for_size.end() && sized->second.count(g.group) > 0) {
            reason = "over the size budget (oldest first)";
          }
          if (!reason.empty()) {
            evict.insert(g.group);
            evicted.push_back({ref.shown, g.group, reason, g.bytes});
          }
          return absl::OkStatus();
        }));
      }
      if (evict.empty() && !drop_files) return change;
      ASSIGN_OR_RETURN(Db db, OpenForWrite(copy));
      RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
      RETURN_IF_ERROR(ReplaceGroups(db, "", evict, adapter).status());
      if (drop_files) {
        ASSIGN_OR_RETURN(std::set<std::string> dead,
                         [&]() -> absl::StatusOr<std::set<std::string>> {
                           std::set<std::string> groups;
                           ASSIGN_OR_RETURN(Stmt stmt, db.Prepare("SELECT path FROM files"));
                           while (true) {
                             ASSIGN_OR_RETURN(bool row, stmt.Step());
                             if (!row) break;
                             groups.insert(adapter.GroupOf("files", stmt.ColumnText(0)));
                           }
                           return groups;
                         }());
        change.groups.insert(dead.begin(), dead.end());
        RETURN_IF_ERROR(db.Exec("DROP TABLE files"));
        dropped.push_back(absl::StrCat(ref.path, ": table files (mypy <= 1.13, unused)"));
      }
      RETURN_IF_ERROR(db.Exec("COMMIT"));
      RETURN_IF_ERROR(db.Exec("VACUUM"));  // Give the space back: the file must shrink.
      RETURN_IF_ERROR(db.Close());
      change.groups.insert(evict.begin(), evict.end());
      return change;
    };
    ASSIGN_OR_RETURN(EditReport edited, EditTarget(fs, adapter, current, editor, options.edit));
    report.evicted.insert(report.evicted.end(), evicted.begin(), evicted.end());
    report.dropped_tables.insert(report.dropped_tables.end(), dropped.begin(), dropped.end());
    if (options.edit.dry_run) {
      report.size_after = edited.bytes_after;
      return report;
    }
    ASSIGN_OR_RETURN(current, ResolveTarget(fs, adapter, target.path));
    report.size_after = 0;
    for (const DbRef& ref : current.dbs) {
      ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
      report.size_after += info.size;
    }
    if (!options.max_size.has_value() || report.size_after <= *options.max_size) break;
  }
  return report;
}

void PrintPrune(const PruneReport& report, std::ostream& out, bool json) {
  if (json) {
    out << "{\"dry_run\": " << (report.dry_run ? "true" : "false")
        << ", \"size_before\": " << report.size_before << ", \"size_after\": " << report.size_after
        << ", \"evicted\": [";
    bool first = true;
    for (const Eviction& e : report.evicted) {
      out << (first ? "" : ", ") << "{\"db\": " << JsonQuote(e.db)
          << ", \"group\": " << JsonQuote(e.group) << ", \"reason\": " << JsonQuote(e.reason)
          << ", \"bytes\": " << e.bytes << "}";
      first = false;
    }
    out << "], \"dropped_tables\": [";
    first = true;
    for (const std::string& t : report.dropped_tables) {
      out << (first ? "" : ", ") << JsonQuote(t);
      first = false;
    }
    out << "]}\n";
    return;
  }
  const char* verb = report.dry_run ? "would evict" : "evicted";
  for (const Eviction& e : report.evicted) {
    out << verb << " " << e.group << " from " << e.db << ": " << e.reason << "\n";
  }
  for (const std::string& t : report.dropped_tables) {
    out << (report.dry_run ? "would drop " : "dropped ") << t << "\n";
  }
  out << (report.dry_run ? "would evict " : "evicted ") << report.evicted.size()
      << " module groups; size " << FormatSize(report.size_before) << " -> "
      << FormatSize(report.size_after) << (report.dry_run ? " (estimated)" : "") << "\n";
}

}  // namespace typecache
