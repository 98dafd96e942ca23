#include "src/commands/merge.h"

#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "src/base/json.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_db.h"
#include "src/cachedb/inspect.h"
#include "src/commands/config.h"
#include "src/sqlite/sqlite_db.h"

namespace typecache {
namespace {

constexpr size_t kBatch = 8;                 // SQLite attaches at most 10 databases by default.
constexpr size_t kMaxListedGroups = 200000;  // Beyond this the change is logged as unlisted.

struct Input {
  size_t index;  // Position in MergeReport::inputs.
  std::string path;
};

// A sorted stream of (key, mtime) from one schema's table.
class Cursor {
 public:
  // The rows of one family of `table`: the rows of a group are then consecutive.
  static absl::StatusOr<Cursor> Open(Db& db, const std::string& schema, const std::string& table,
                                     const std::string& family, const CheckerAdapter& adapter,
                                     size_t input) {
    ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(absl::StrCat(
                                    "SELECT ", QuoteIdent(adapter.key_column()), ", mtime FROM ",
                                    QuoteIdent(schema), ".", QuoteIdent(table), " WHERE ",
                                    FamilyCondition(adapter, family), " ORDER BY 1")));
    Cursor c(std::move(stmt), schema, table, input);
    RETURN_IF_ERROR(c.Advance(adapter));
    return c;
  }
  bool done() const { return done_; }
  const std::string& group() const { return group_; }
  const std::string& schema() const { return schema_; }
  size_t input() const { return input_; }

  // Consumes the current group; returns the mtime that ranks it (its data row's, else newest).
  absl::StatusOr<double> TakeGroup(const CheckerAdapter& adapter) {
    std::string group = group_;
    std::optional<double> data;
    double newest = 0;
    while (!done_ && group_ == group) {
      double mtime = stmt_.ColumnDouble(1);
      newest = std::max(newest, mtime);
      if (adapter.RoleOf(key_) == RowFacts::Role::kData) data = mtime;
      RETURN_IF_ERROR(Advance(adapter));
    }
    return data.value_or(newest);
  }

 private:
  Cursor(Stmt stmt, std::string schema, std::string table, size_t input)
      : stmt_(std::move(stmt)),
        schema_(std::move(schema)),
        table_(std::move(table)),
        input_(input) {}
  absl::Status Advance(const CheckerAdapter& adapter) {
    ASSIGN_OR_RETURN(bool row, stmt_.Step());
    if (!row) {
      done_ = true;
      return absl::OkStatus();
    }
    key_ = std::string(stmt_.ColumnText(0));
    group_ = adapter.GroupOf(table_, key_);
    return absl::OkStatus();
  }
  Stmt stmt_;
  std::string schema_;
  std::string table_;
  size_t input_;
  bool done_ = false;
  std::string key_;
  std::string group_;
};

// The table format of a database: "files2" when present (mypy >= 1.14), else "files", else "".
absl::StatusOr<std::string> FormatOf(const std::string& path) {
  ASSIGN_OR_RETURN(Db db, Db::Open(path, Db::Mode::kReadOnly));
  ASSIGN_OR_RETURN(bool files2, db.HasTable("files2"));
  if (files2) return std::string("files2");
  ASSIGN_OR_RETURN(bool files, db.HasTable("files"));
  return std::string(files ? "files" : "");
}

// Checker versions recorded in the first groups of a database (a sample, not a full scan).
absl::StatusOr<std::set<std::string>> VersionsOf(const CheckerAdapter& adapter,
                                                 const std::string& path) {
  std::set<std::string> versions;
  ASSIGN_OR_RETURN(Db db, Db::Open(path, Db::Mode::kReadOnly));
  int seen = 0;
  absl::Status status = ForEachGroup(db, adapter, "main", [&](const GroupInfo& g) {
    if (!g.version.empty()) versions.insert(g.version);
    return ++seen >= 200 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  if (!status.ok() && !absl::IsCancelled(status)) return status;
  return versions;
}

bool Better(Prefer prefer, double candidate, double best) {
  switch (prefer) {
    case Prefer::kNewest:
      return candidate > best;
    case Prefer::kFirst:
      return false;
    case Prefer::kLast:
      return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<Prefer> ParsePrefer(absl::string_view text) {
  if (text == "newest") return Prefer::kNewest;
  if (text == "first") return Prefer::kFirst;
  if (text == "last") return Prefer::kLast;
  return absl::InvalidArgumentError(
      absl::StrCat("--prefer '", text, "' is not one of newest, first, last"));
}

absl::StatusOr<MergeReport> Merge(Fs& fs, const CheckerAdapter& adapter, const Target& dest,
                                  const std::vector<Target>& sources, const MergeOptions& options,
                                  std::ostream& progress) {
  MergeReport report;
  report.inputs.push_back(dest.path);
  for (const Target& s : sources) report.inputs.push_back(s.path);
  report.groups_taken.assign(report.inputs.size(), 0);

  // Which inputs hold each database, keyed by (directory, file).
  std::map<std::pair<std::string, std::string>, std::vector<Input>> by_db;
  std::map<std::string, std::set<std::string>> layouts;  // "<input>|<dir>" -> files
  for (size_t i = 0; i < sources.size(); ++i) {
    const Target& s = sources[i];
    if (s.kind != dest.kind && !(dest.kind == Target::Kind::kFile && dest.dbs.empty())) {
      return absl::InvalidArgumentError(absl::StrCat(
          s.path, ": cannot merge a ",
          s.kind == Target::Kind::kFile ? "database file" : "cache directory", " into a ",
          dest.kind == Target::Kind::kFile ? "database file" : "cache directory"));
    }
    for (const DbRef& ref : s.dbs) {
      RETURN_IF_ERROR(CheckReadable(ref.path));
      std::string file = dest.kind == Target::Kind::kFile ? BaseName(dest.path) : ref.file;
      by_db[{ref.dir, file}].push_back({i + 1, ref.path});
      layouts[absl::StrCat(i + 1, "|", ref.dir)].insert(ref.file);
    }
  }
  for (const DbRef& ref : dest.dbs) {
    if (ref.path.empty()) continue;  // A new destination file: nothing to read yet.
    RETURN_IF_ERROR(CheckReadable(ref.path));
    layouts[absl::StrCat(0, "|", ref.dir)].insert(ref.file);
  }
  // Refuse what cannot mix: shard layouts, table formats, checker versions.
  if (dest.kind == Target::Kind::kCacheDir) {
    std::map<std::string, std::pair<std::string, std::set<std::string>>> first_layout;
    for (const auto& [key, files] : layouts) {
      std::string input = key.substr(0, key.find('|'));
      std::string dir = key.substr(key.find('|') + 1);
      auto [it, inserted] = first_layout.emplace(dir, std::make_pair(input, files));
      if (!inserted && it->second.second != files) {
        return absl::FailedPreconditionError(absl::StrCat(
            report.inputs[std::stoul(input)], ": ", dir, " has ", files.size(),
            " database files but ", report.inputs[std::stoul(it->second.first)], " has ",
            it->second.second.size(), " (different shard counts cannot be merged)"));
      }
    }
  }
  std::string format, format_from;
  std::set<std::string> versions;
  std::string version_from;
  auto check_db = [&](const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(std::string f, FormatOf(path));
    if (!f.empty()) {
      if (format.empty()) {
        format = f;
        format_from = path;
      } else if (f != format) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": table format ", f, " cannot be merged with ", format, " of ",
                         format_from, " (different mypy cache formats)"));
      }
    }
    ASSIGN_OR_RETURN(std::set<std::string> v, VersionsOf(adapter, path));
    versions.insert(v.begin(), v.end());
    if (versions.size() > 1 && !options.allow_mixed) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": mypy versions ", absl::StrJoin(versions, ", "),
                       " would be mixed (use --allow-mixed to merge anyway)"));
    }
    return absl::OkStatus();
  };
  for (const DbRef& ref : dest.dbs) {
    if (!ref.path.empty()) RETURN_IF_ERROR(check_db(ref.path));
  }
  for (const auto& [key, inputs] : by_db) {
    for (const Input& in : inputs) RETURN_IF_ERROR(check_db(in.path));
  }

  EditOptions edit = options.edit;
  std::set<std::pair<std::string, std::string>> in_dest;
  for (const DbRef& ref : dest.dbs) in_dest.insert({ref.dir, ref.file});
  for (const auto& [key, inputs] : by_db) {
    if (in_dest.count(key) == 0) {
      edit.extra.push_back(
          {key.first, key.second, "", JoinPath(JoinPath(dest.path, key.first), key.second)});
    }
  }
  if (dest.kind == Target::Kind::kFile && dest.dbs.empty() && !edit.extra.empty()) {
    edit.extra.resize(1);  // A new database file: one database, whatever the sources' names.
  }
  Target dest_target = dest;
  if (dest.kind == Target::Kind::kFile && dest.dbs.empty()) {
    dest_target.dbs.push_back({"", BaseName(dest.path), "", dest.path});
    edit.extra.clear();
  }

  absl::Time last_progress = absl::InfinitePast();
  int64_t processed = 0;
  int64_t kept_in_main = 0;
  DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
    DbChange change;
    std::string key_file = dest.kind == Target::Kind::kFile ? BaseName(dest.path) : ref.file;
    auto found = by_db.find({ref.dir, key_file});
    if (found == by_db.end()) return change;
    std::vector<Input> inputs = found->second;
    // A database DEST does not have yet starts as a copy of the first input that has it (a
    // reflink or in-kernel copy): its groups need no row-by-row work. Its changes are then not
    // listed group by group, which only makes later publishers compare every group once.
    size_t main_input = 0;
    if (ref.path.empty()) {
      RETURN_IF_ERROR(ConsistentCopy(fs, inputs.front().path, copy).status());
      main_input = inputs.front().index;
      inputs.erase(inputs.begin());
      change.unlisted = true;
    }
    ASSIGN_OR_RETURN(Db db, OpenForWrite(copy));
    RETURN_IF_ERROR(db.Exec("PRAGMA temp_store=FILE"));
    // Across batches: which input each taken group came from, and which groups had several
    // holders, so that a group counts once however many batches saw it.
    RETURN_IF_ERROR(
        db.Exec("CREATE TEMP TABLE taken(grp TEXT PRIMARY KEY, input INTEGER, conflict INTEGER)"));
    for (size_t start = 0; start == 0 || start < inputs.size(); start += kBatch) {
      size_t end = std::min(inputs.size(), start + kBatch);
      for (size_t i = start; i < end; ++i) {
        RETURN_IF_ERROR(AttachReadOnly(db, inputs[i].path, absl::StrCat("s", i)));
      }
      kept_in_main = 0;
      RETURN_IF_ERROR(
          db.Exec("BEGIN IMMEDIATE; DROP TABLE IF EXISTS temp.plan;"
                  "CREATE TEMP TABLE plan(grp TEXT PRIMARY KEY, src TEXT, input INTEGER)"));
      {
        for (const std::string& table : adapter.tables()) {
          for (const std::string& family : AllFamilies(adapter)) {
            std::vector<Cursor> cursors;
            ASSIGN_OR_RETURN(bool main_has, db.HasTable(table));
            if (main_has) {
              ASSIGN_OR_RETURN(Cursor c, Cursor::Open(db, "main", table, family, adapter, 0));
              cursors.push_back(std::move(c));
            }
            for (size_t i = start; i < end; ++i) {
              std::string schema = absl::StrCat("s", i);
              ASSIGN_OR_RETURN(bool has, db.HasTable(table, schema));
              if (!has) continue;
              ASSIGN_OR_RETURN(Cursor c,
                               Cursor::Open(db, schema, table, family, adapter, inputs[i].index));
              cursors.push_back(std::move(c));
            }
            ASSIGN_OR_RETURN(Stmt plan,
                             db.Prepare("INSERT OR REPLACE INTO temp.plan VALUES(?, ?, ?)"));
            ASSIGN_OR_RETURN(Stmt conflict,
                             db.Prepare("INSERT INTO temp.taken VALUES(?, NULL, 1) "
                                        "ON CONFLICT(grp) DO UPDATE SET conflict = 1"));
            while (true) {
              // Cursors stream keys in key order, so groups come in the order of their key
              // ranges, which is not always the order of their names: "tool-cli.meta.json" <
              // "tool.meta.json" but "tool" < "tool-cli".
              const std::string* next = nullptr;
              for (Cursor& c : cursors) {
                if (!c.done() &&
                    (next == nullptr || adapter.Select(c.group()).lo < adapter.Select(*next).lo)) {
                  next = &c.group();
                }
              }
              if (next == nullptr) break;
              std::string group = *next;
              int holders = 0;
              Cursor* best = nullptr;
              double best_mtime = 0;
              for (Cursor& c : cursors) {
                if (c.done() || c.group() != group) continue;
                ++holders;
                ASSIGN_OR_RETURN(double mtime, c.TakeGroup(adapter));
                if (best == nullptr || Better(options.prefer, mtime, best_mtime)) {
                  best = &c;
                  best_mtime = mtime;
                }
              }
              if (holders > 1) {
                conflict.Bind(1, group);
                RETURN_IF_ERROR(conflict.Run());
                RETURN_IF_ERROR(conflict.Reset());
              }
              if (best->schema() == "main") ++kept_in_main;
              if (best->schema() != "main") {
                plan.Bind(1, group)
                    .Bind(2, best->schema())
                    .Bind(3, static_cast<int64_t>(best->input()));
                RETURN_IF_ERROR(plan.Run());
                RETURN_IF_ERROR(plan.Reset());
              }
              ++processed;
              if (options.progress && absl::Now() - last_progress > absl::Milliseconds(200)) {
                last_progress = absl::Now();
                progress << "\rtypecache: merging " << JoinPath(ref.dir, ref.file) << ": "
                         << processed << " groups" << std::flush;
              }
            }
          }
        }
        // Apply the plan source by source, a bounded chunk of groups at a time.
        ASSIGN_OR_RETURN(Stmt rows,
                         db.Prepare("SELECT grp, src, input FROM temp.plan ORDER BY src"));
        std::set<std::string> chunk;
        std::string chunk_src;
        auto flush = [&]() -> absl::Status {
          if (chunk.empty()) return absl::OkStatus();
          RETURN_IF_ERROR(ReplaceGroups(db, chunk_src, chunk, adapter).status());
          if (!change.unlisted) {
            change.groups.insert(chunk.begin(), chunk.end());
            if (change.groups.size() > kMaxListedGroups) {
              change.unlisted = true;
              change.groups.clear();
            }
          }
          chunk.clear();
          return absl::OkStatus();
        };
        while (true) {
          ASSIGN_OR_RETURN(bool row, rows.Step());
          if (!row) break;
          std::string src(rows.ColumnText(1));
          if (src != chunk_src) {
            RETURN_IF_ERROR(flush());
            chunk_src = src;
          }
          chunk.insert(std::string(rows.ColumnText(0)));
          if (chunk.size() >= 1000) RETURN_IF_ERROR(flush());
        }
        RETURN_IF_ERROR(flush());
        RETURN_IF_ERROR(
            db.Exec("INSERT INTO temp.taken SELECT grp, input, NULL FROM temp.plan WHERE true "
                    "ON CONFLICT(grp) DO UPDATE SET input = excluded.input"));
      }  // Statements are finalized before the commit and the detach.
      RETURN_IF_ERROR(db.Exec("COMMIT"));
      for (size_t i = start; i < end; ++i) {
        RETURN_IF_ERROR(db.Exec(absl::StrCat("DETACH DATABASE s", i)));
      }
    }
    // The groups of the result: those kept in main by the last batch, and those it took.
    ASSIGN_OR_RETURN(int64_t total, db.QueryInt("SELECT count(*) FROM temp.plan"));
    total += kept_in_main;
    {
      ASSIGN_OR_RETURN(Stmt counts, db.Prepare("SELECT input, count(*) FROM temp.taken WHERE "
                                               "input IS NOT NULL GROUP BY input"));
      while (true) {
        ASSIGN_OR_RETURN(bool row, counts.Step());
        if (!row) break;
        report.groups_taken[static_cast<size_t>(counts.ColumnInt(0))] += counts.ColumnInt(1);
        total -= counts.ColumnInt(1);
      }
    }
    report.groups_taken[main_input] += total;
    ASSIGN_OR_RETURN(int64_t conflicts,
                     db.QueryInt("SELECT count(*) FROM temp.taken WHERE conflict"));
    report.conflicts += conflicts;
    RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=DELETE"));
    RETURN_IF_ERROR(db.Close());
    return change;
  };
  ASSIGN_OR_RETURN(report.edit, EditTarget(fs, adapter, dest_target, editor, edit));
  if (options.progress && processed > 0) progress << "\n";
  ASSIGN_OR_RETURN(Target result, ResolveTarget(fs, adapter, dest.path, /*create=*/true));
  for (const DbRef& ref : result.dbs) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    report.bytes += info.size;
  }
  return report;
}

void PrintMerge(const MergeReport& report, std::ostream& out, bool json) {
  if (json) {
    out << "{\"inputs\": [";
    for (size_t i = 0; i < report.inputs.size(); ++i) {
      out << (i ? ", " : "") << "{\"path\": " << JsonQuote(report.inputs[i])
          << ", \"role\": " << (i == 0 ? "\"destination\"" : "\"source\"")
          << ", \"groups_taken\": " << report.groups_taken[i] << "}";
    }
    out << "], \"conflicts\": " << report.conflicts << ", \"bytes\": " << report.bytes
        << ", \"groups_changed\": " << report.edit.groups_changed << "}\n";
    return;
  }
  for (size_t i = 0; i < report.inputs.size(); ++i) {
    out << (i == 0 ? "kept in " : "taken from ") << report.inputs[i] << ": "
        << report.groups_taken[i] << " groups\n";
  }
  out << "conflicts resolved: " << report.conflicts << "; result " << FormatSize(report.bytes)
      << "\n";
}

}  // namespace typecache
