#include "src/commands/verify.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/json.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_db.h"
#include "src/cachedb/inspect.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/layout.h"
#include "src/store/local/sweep.h"

namespace typecache {
namespace {

// Whole-database problems; empty when SQLite reads it cleanly with the expected schema.
std::vector<std::string> DatabaseProblems(const CheckerAdapter& adapter, const std::string& path) {
  std::vector<std::string> out;
  absl::StatusOr<Db> db = Db::Open(path, Db::Mode::kReadOnly);
  if (!db.ok()) return {std::string(db.status().message())};
  absl::StatusOr<std::string> check = db->QueryText("PRAGMA integrity_check");
  if (!check.ok()) return {std::string(check.status().message())};
  if (*check != "ok") return {absl::StrCat("integrity check failed: ", *check)};
  absl::StatusOr<Stmt> tables =
      db->Prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name");
  if (!tables.ok()) return {std::string(tables.status().message())};
  std::set<std::string> known(adapter.tables().begin(), adapter.tables().end());
  while (true) {
    absl::StatusOr<bool> row = tables->Step();
    if (!row.ok() || !*row) break;
    std::string name(tables->ColumnText(0));
    if (known.count(name) == 0) {
      out.push_back(absl::StrCat("unexpected table '", name, "'"));
      continue;
    }
    absl::StatusOr<Stmt> cols =
        db->Prepare(absl::StrCat("PRAGMA table_info(", QuoteIdent(name), ")"));
    std::vector<std::string> names;
    while (cols.ok()) {
      absl::StatusOr<bool> c = cols->Step();
      if (!c.ok() || !*c) break;
      names.emplace_back(cols->ColumnText(1));
    }
    if (names != std::vector<std::string>{"path", "mtime", "data"}) {
      out.push_back(absl::StrCat("table '", name, "' has columns (", absl::StrJoin(names, ", "),
                                 "), not mypy's (path, mtime, data)"));
    }
  }
  return out;
}

absl::Status VerifyDb(const CheckerAdapter& adapter, const DbRef& ref, VerifyReport& report) {
  ++report.databases;
  std::vector<std::string> whole = DatabaseProblems(adapter, ref.path);
  for (const std::string& what : whole) report.problems.push_back({ref.shown, "", what});
  if (!whole.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(Db db, Db::Open(ref.path, Db::Mode::kReadOnly));
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  absl::Status status = ForEachGroup(db, adapter, "main", [&](const GroupInfo& g) {
    ++report.groups;
    if (!g.unknown.empty()) {
      report.unknown.push_back({ref.shown, g.group, g.unknown, adapter.GroupLabel(g.group)});
    }
    std::string broken = g.Broken(adapter);
    if (!broken.empty()) {
      report.problems.push_back({ref.shown, g.group, broken, adapter.GroupLabel(g.group)});
    }
    return absl::OkStatus();
  });
  if (!status.ok()) report.problems.push_back({ref.shown, "", std::string(status.message())});
  return absl::OkStatus();
}

// Rebuilds `copy` from whatever complete, healthy groups can still be read from it.
absl::Status Salvage(Fs& fs, const CheckerAdapter& adapter, const std::string& copy,
                     int64_t* kept) {
  std::string rebuilt = copy + ".salvage";
  (void)fs.Unlink(rebuilt);
  {
    ASSIGN_OR_RETURN(Db out, OpenForWrite(rebuilt));
    // SQLite refuses to read any page of a database shorter than its header says (truncated)
    // unless writable_schema is on; then it reads what is there. Only `old` is read.
    RETURN_IF_ERROR(out.Exec("PRAGMA writable_schema=ON; PRAGMA main.journal_mode=MEMORY"));
    RETURN_IF_ERROR(ClearWalHeader(copy));
    absl::Status attached = AttachReadOnly(out, copy, "old");
    if (attached.ok()) {
      // Every row SQLite can still read, then only the groups that are whole and healthy.
      (void)SalvageRows(out, "old", adapter);
      (void)out.Exec("DETACH DATABASE old");
      std::set<std::string> broken;
      RETURN_IF_ERROR(ForEachGroup(out, adapter, "main", [&](const GroupInfo& g) {
        if (g.Broken(adapter).empty()) {
          ++*kept;
        } else {
          broken.insert(g.group);
        }
        return absl::OkStatus();
      }));
      RETURN_IF_ERROR(out.Exec("BEGIN IMMEDIATE"));
      RETURN_IF_ERROR(ReplaceGroups(out, "", broken, adapter).status());
      RETURN_IF_ERROR(out.Exec("COMMIT"));
    }
    RETURN_IF_ERROR(out.Exec("PRAGMA journal_mode=DELETE"));
    RETURN_IF_ERROR(out.Close());
  }
  return fs.Rename(rebuilt, copy);
}

}  // namespace

absl::StatusOr<VerifyReport> Verify(Fs& fs, const CheckerAdapter& adapter, const Target& target) {
  VerifyReport report;
  for (const DbRef& ref : target.dbs) {
    RETURN_IF_ERROR(VerifyDb(adapter, ref, report));
    for (const char* suffix : {"-wal", "-journal"}) {
      ASSIGN_OR_RETURN(FileInfo side, fs.Stat(ref.path + suffix));
      if (side.exists() && side.size > 0) {
        report.problems.push_back({ref.shown, "",
                                   absl::StrCat("leftover ", BaseName(ref.path), suffix,
                                                " (a writer died or is still running)")});
      }
    }
  }
  if (target.kind == Target::Kind::kCacheDir) {
    ASSIGN_OR_RETURN(SweepReport dead,
                     SweepDeadRuns(fs, Layout(target.path), kDeadRunMinAge, /*dry_run=*/true));
    for (const std::string& id : dead.removed) {
      report.problems.push_back({JoinPath(Layout(target.path).runs_dir(), id), "",
                                 "stray private copy or stale lock of a dead run"});
    }
  }
  return report;
}

absl::StatusOr<VerifyReport> Repair(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                    const EditOptions& options) {
  ASSIGN_OR_RETURN(VerifyReport before, Verify(fs, adapter, target));
  std::vector<std::string> repaired;
  std::set<std::string> needs_edit;
  for (const Problem& p : before.problems) needs_edit.insert(p.where);
  if (target.kind == Target::Kind::kCacheDir) {
    ASSIGN_OR_RETURN(SweepReport swept,
                     SweepDeadRuns(fs, Layout(target.path), kDeadRunMinAge, false));
    for (const std::string& id : swept.removed) {
      repaired.push_back(absl::StrCat("removed the private copy of dead run ", id));
    }
  }
  bool any_db = false;
  for (const DbRef& ref : target.dbs) any_db = any_db || needs_edit.count(ref.shown) > 0;
  if (any_db) {
    DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
      DbChange change;
      if (needs_edit.count(ref.shown) == 0) return change;
      if (!DatabaseProblems(adapter, copy).empty()) {
        int64_t kept = 0;
        RETURN_IF_ERROR(Salvage(fs, adapter, copy, &kept));
        change.unlisted = true;
        repaired.push_back(
            absl::StrCat(ref.shown, ": rebuilt from its ", kept, " readable healthy groups"));
        return change;
      }
      std::set<std::string> broken;
      {
        ASSIGN_OR_RETURN(Db db, Db::Open(copy, Db::Mode::kReadOnly));
        RETURN_IF_ERROR(ForEachGroup(db, adapter, "main", [&](const GroupInfo& g) {
          std::string why = g.Broken(adapter);
          if (!why.empty()) {
            broken.insert(g.group);
            repaired.push_back(absl::StrCat(ref.shown, ": removed group ",
                                            adapter.GroupLabel(g.group), " (", why, ")"));
          }
          return absl::OkStatus();
        }));
      }
      if (!broken.empty()) {
        ASSIGN_OR_RETURN(Db db, OpenForWrite(copy));
        RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
        RETURN_IF_ERROR(ReplaceGroups(db, "", broken, adapter).status());
        RETURN_IF_ERROR(db.Exec("COMMIT"));
        RETURN_IF_ERROR(db.Close());
      } else {
        // Only a leftover -wal/-journal: the consistent copy already holds its rows;
        // republishing it leaves the old file (and its side file) behind for cleanup.
        change.republish = true;
        repaired.push_back(absl::StrCat(ref.shown, ": republished without its side file"));
      }
      change.groups.insert(broken.begin(), broken.end());
      return change;
    };
    ASSIGN_OR_RETURN(EditReport edited, EditTarget(fs, adapter, target, editor, options));
    (void)edited;
  }
  ASSIGN_OR_RETURN(Target fresh, ResolveTarget(fs, adapter, target.path));
  ASSIGN_OR_RETURN(VerifyReport after, Verify(fs, adapter, fresh));
  after.repaired = std::move(repaired);
  return after;
}

void PrintVerify(const VerifyReport& report, std::ostream& out, bool json) {
  if (json) {
    out << "{\"databases\": " << report.databases << ", \"groups\": " << report.groups
        << ", \"problems\": [";
    bool first = true;
    for (const Problem& p : report.problems) {
      out << (first ? "" : ", ") << "{\"where\": " << JsonQuote(p.where)
          << ", \"group\": " << JsonQuote(p.group) << ", \"what\": " << JsonQuote(p.what) << "}";
      first = false;
    }
    out << "], \"unknown_format\": [";
    first = true;
    for (const Problem& p : report.unknown) {
      out << (first ? "" : ", ") << "{\"where\": " << JsonQuote(p.where)
          << ", \"group\": " << JsonQuote(p.group) << ", \"what\": " << JsonQuote(p.what) << "}";
      first = false;
    }
    out << "], \"repaired\": [";
    first = true;
    for (const std::string& r : report.repaired) {
      out << (first ? "" : ", ") << JsonQuote(r);
      first = false;
    }
    out << "]}\n";
    return;
  }
  for (const std::string& r : report.repaired) out << "repaired: " << r << "\n";
  for (const Problem& p : report.problems) {
    out << p.where << (p.group.empty() ? "" : ": group " + p.label) << ": " << p.what << "\n";
  }
  for (const Problem& p : report.unknown) {
    out << "note: " << p.where << ": group " << p.label << ": " << p.what << " (left alone)\n";
  }
  out << report.databases << " databases, " << report.groups << " groups: "
      << (report.problems.empty() ? "no problems"
                                  : absl::StrCat(report.problems.size(), " problems"))
      << (report.unknown.empty() ? ""
                                 : absl::StrCat(", ", report.unknown.size(),
                                                " in a format this typecache does not "
                                                "know"))
      << "\n";
}

}  // namespace typecache
