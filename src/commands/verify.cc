#include "src/commands/verify.h"

#include <map>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/base/json.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"
#include "src/store/local/layout.h"
#include "src/store/local/local_store.h"
#include "src/store/local/sweep.h"

namespace typecache {
namespace {

// What the record of the live generation says about one database file of a cache directory:
// an in-place edit (outside the protocol) shows as a different content digest, or, for
// generations recorded without one, a different size or mtime.
struct Recorded {
  int64_t gen = 0;
  std::optional<FileStamp> stamp;
  std::optional<uint64_t> digest;
};

// Recorded facts per database (DbRef::shown), for the live generations of `target`.
absl::StatusOr<std::map<std::string, Recorded>> RecordedFiles(Fs& fs, const CheckerAdapter& adapter,
                                                              const Target& target) {
  std::map<std::string, Recorded> out;
  if (target.kind != Target::Kind::kCacheDir) return out;
  LocalGenerationStore store(fs, Layout(target.path), adapter);
  std::map<std::string, std::optional<GenerationRecord>> by_dir;
  for (const DbRef& ref : target.dbs) {
    if (by_dir.count(ref.dir) == 0) {
      ASSIGN_OR_RETURN(GenerationHead head, store.Head(ref.dir));
      std::optional<GenerationRecord> record;
      if (head.kind == GenerationHead::Kind::kGeneration) {
        ASSIGN_OR_RETURN(record, store.Record(ref.dir, head.gen));
      }
      by_dir[ref.dir] = record;
    }
    const std::optional<GenerationRecord>& record = by_dir[ref.dir];
    if (!record.has_value()) continue;
    Recorded r;
    r.gen = record->gen;
    auto stamp = record->stamps.find(ref.file);
    if (stamp != record->stamps.end()) r.stamp = stamp->second;
    auto digest = record->digests.find(ref.file);
    if (digest != record->digests.end()) r.digest = digest->second;
    if (r.stamp.has_value() || r.digest.has_value()) out[ref.shown] = r;
  }
  return out;
}

constexpr absl::string_view kEditedInPlace = "modified in place outside typecache: ";

// Checks one database: whole-file problems, then every group, then (for a generation of a cache
// directory) that its content is what was published. One scan of the file.
absl::Status VerifyDb(Fs& fs, const CheckerAdapter& adapter, const DbRef& ref,
                      const std::optional<Recorded>& recorded, VerifyReport& report,
                      Progress& progress) {
  ++report.databases;
  progress.Detail("integrity of " + JoinPath(ref.dir, ref.file));
  absl::StatusOr<CacheFile> db = CacheFile::OpenReadOnly(ref.path);
  std::vector<std::string> whole =
      db.ok() ? db->IntegrityProblems(adapter)
              : std::vector<std::string>{std::string(db.status().message())};
  for (const std::string& what : whole) report.problems.push_back({ref.shown, "", what, ""});
  if (!whole.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(CacheFile::Transaction read, db->BeginRead());
  uint64_t digest = 0;
  progress.Detail("groups of " + JoinPath(ref.dir, ref.file));
  absl::Status status = db->ForEachGroup(adapter, [&](const GroupInfo& g) {
    ++report.groups;
    progress.Add(g.bytes);
    digest += g.digest.exact;
    if (!g.unknown.empty()) {
      report.unknown.push_back({ref.shown, g.group, g.unknown, adapter.GroupLabel(g.group)});
    }
    std::string broken = g.Broken(adapter);
    if (!broken.empty()) {
      report.problems.push_back({ref.shown, g.group, broken, adapter.GroupLabel(g.group)});
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    report.problems.push_back({ref.shown, "", std::string(status.message()), ""});
    return absl::OkStatus();
  }
  if (!recorded.has_value()) return absl::OkStatus();
  std::string next = "; the next publish compares every group, verify --repair republishes it";
  if (recorded->digest.has_value()) {
    if (*recorded->digest != digest) {
      report.problems.push_back(
          {ref.shown, "",
           absl::StrCat(kEditedInPlace, "its rows differ from those generation ", recorded->gen,
                        " published (content digest ", absl::Hex(digest, absl::kZeroPad16),
                        ", recorded ", absl::Hex(*recorded->digest, absl::kZeroPad16), ")", next),
           ""});
    }
  } else if (recorded->stamp.has_value()) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    if (!(FileStamp{info.size, info.mtime_ns} == *recorded->stamp)) {
      report.problems.push_back(
          {ref.shown, "",
           absl::StrCat(kEditedInPlace, "its size or mtime differ from those generation ",
                        recorded->gen, " recorded (no content digest was recorded)", next),
           ""});
    }
  }
  return absl::OkStatus();
}

// Rebuilds `copy` from whatever complete, healthy groups can still be read from it.
absl::StatusOr<int64_t> Salvage(Fs& fs, const CheckerAdapter& adapter, const std::string& copy) {
  std::string rebuilt = copy + ".salvage";
  (void)fs.Unlink(rebuilt);
  ASSIGN_OR_RETURN(int64_t kept, SalvageDatabase(copy, rebuilt, adapter));
  RETURN_IF_ERROR(fs.Rename(rebuilt, copy));
  return kept;
}

// The groups of `copy` that are broken, each added to `repaired` as removed.
absl::StatusOr<std::set<std::string>> BrokenGroups(const CheckerAdapter& adapter, const DbRef& ref,
                                                   const std::string& copy,
                                                   std::vector<std::string>& repaired) {
  std::set<std::string> broken;
  ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenReadOnly(copy));
  RETURN_IF_ERROR(db.ForEachGroup(adapter, [&](const GroupInfo& g) {
    std::string why = g.Broken(adapter);
    if (!why.empty()) {
      broken.insert(g.group);
      repaired.push_back(
          absl::StrCat(ref.shown, ": removed group ", adapter.GroupLabel(g.group), " (", why, ")"));
    }
    return absl::OkStatus();
  }));
  return broken;
}

absl::Status RemoveGroups(const CheckerAdapter& adapter, const std::string& copy,
                          const std::set<std::string>& groups) {
  ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenForWrite(copy));
  {
    ASSIGN_OR_RETURN(CacheFile::Transaction txn, db.BeginWrite());
    RETURN_IF_ERROR(db.DeleteGroups(groups, adapter).status());
    RETURN_IF_ERROR(txn.Commit());
  }
  return db.Close();
}

}  // namespace

absl::StatusOr<VerifyReport> Verify(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                    Progress* progress_or_null) {
  VerifyReport report;
  ASSIGN_OR_RETURN(auto recorded, RecordedFiles(fs, adapter, target));
  Progress& progress = Progress::Or(progress_or_null);
  int64_t total = 0, done = 0;
  std::vector<int64_t> sizes;
  for (const DbRef& ref : target.dbs) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(ref.path));
    sizes.push_back(info.size);
    total += info.size;
  }
  progress.Start("verify", total, ProgressUnit::kBytes);
  for (size_t i = 0; i < target.dbs.size(); ++i) {
    const DbRef& ref = target.dbs[i];
    auto r = recorded.find(ref.shown);
    progress.Set(done);
    RETURN_IF_ERROR(VerifyDb(fs, adapter, ref,
                             r == recorded.end() ? std::nullopt : std::make_optional(r->second),
                             report, progress));
    progress.Set(done += sizes[i]);
    for (const char* suffix : {"-wal", "-journal"}) {
      ASSIGN_OR_RETURN(FileInfo side, fs.Stat(ref.path + suffix));
      if (side.exists() && side.size > 0) {
        report.problems.push_back({ref.shown, "",
                                   absl::StrCat("leftover ", BaseName(ref.path), suffix,
                                                " (a writer died or is still running)"),
                                   ""});
      }
    }
  }
  progress.Done();
  if (target.kind == Target::Kind::kCacheDir) {
    Layout layout(target.path);
    ASSIGN_OR_RETURN(LeftoverReport left,
                     ReclaimLeftovers(fs, layout, kDeadRunMinAge, /*dry_run=*/true));
    for (const std::string& id : left.runs.removed) {
      report.problems.push_back(
          {JoinPath(layout.runs_dir(), id), "",
           "leftovers of a dead run (private copy, lock or link files); verify --repair removes "
           "them",
           ""});
    }
    for (const std::string& path : left.removed) {
      bool trash = absl::StartsWith(path, layout.trash_dir() + "/");
      report.problems.push_back(
          {path, "",
           trash ? "trash a run that died did not finish deleting; verify --repair removes it"
                 : "a generation that never went live (a publish failed or died before its "
                   "switch); verify --repair removes it",
           ""});
    }
  }
  return report;
}

absl::StatusOr<VerifyReport> Repair(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                    const EditOptions& options) {
  ASSIGN_OR_RETURN(VerifyReport before, Verify(fs, adapter, target, options.progress));
  std::vector<std::string> repaired;
  std::set<std::string> needs_edit;
  std::set<std::string> edited_in_place;
  for (const Problem& p : before.problems) {
    needs_edit.insert(p.where);
    if (absl::StartsWith(p.what, kEditedInPlace)) edited_in_place.insert(p.where);
  }
  if (target.kind == Target::Kind::kCacheDir) {
    ASSIGN_OR_RETURN(LeftoverReport swept, ReclaimLeftovers(fs, Layout(target.path), kDeadRunMinAge,
                                                            false, options.lock_timeout));
    for (const std::string& id : swept.runs.removed) {
      repaired.push_back(absl::StrCat("removed the leftovers of dead run ", id,
                                      " (private copy, lock or link files)"));
    }
    for (const std::string& path : swept.removed) repaired.push_back("removed " + path);
  }
  bool any_db = false;
  for (const DbRef& ref : target.dbs) any_db = any_db || needs_edit.count(ref.shown) > 0;
  if (any_db) {
    Progress& progress = Progress::Or(options.progress);
    progress.Start("verify --repair", static_cast<int64_t>(target.dbs.size()), ProgressUnit::kCount,
                   "databases");
    DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
      DbChange change;
      progress.Add(1);
      if (needs_edit.count(ref.shown) == 0) return change;
      progress.Detail("repairing " + JoinPath(ref.dir, ref.file));
      bool damaged = false;
      {
        absl::StatusOr<CacheFile> probe = CacheFile::OpenReadOnly(copy);
        damaged = !probe.ok() || !probe->IntegrityProblems(adapter).empty();
      }
      if (damaged) {
        ASSIGN_OR_RETURN(int64_t kept, Salvage(fs, adapter, copy));
        change.unlisted = true;
        repaired.push_back(
            absl::StrCat(ref.shown, ": rebuilt from its ", kept, " readable healthy groups"));
        return change;
      }
      ASSIGN_OR_RETURN(std::set<std::string> broken, BrokenGroups(adapter, ref, copy, repaired));
      // Edited in place: what changed since its record cannot be listed, so the new log says
      // so and every later publisher compares every group once.
      bool in_place = edited_in_place.count(ref.shown) > 0;
      change.unlisted = in_place;
      if (!broken.empty()) {
        RETURN_IF_ERROR(RemoveGroups(adapter, copy, broken));
      } else if (in_place) {
        change.republish = true;
        repaired.push_back(
            absl::StrCat(ref.shown, ": republished (its content differed from its record)"));
      } else {
        // Only a leftover -wal/-journal: the consistent copy already holds its rows;
        // republishing it leaves the old file (and its side file) behind for cleanup.
        change.republish = true;
        repaired.push_back(absl::StrCat(ref.shown, ": republished without its side file"));
      }
      change.groups.insert(broken.begin(), broken.end());
      return change;
    };
    // The copies must hold the live files' own bytes (a damaged page, rows in a leftover
    // -wal), not a spare brought up to date from the logs.
    EditOptions edit = options;
    edit.from_spares = false;
    absl::StatusOr<EditReport> edited = EditTarget(fs, adapter, target, editor, edit);
    progress.Done();
    RETURN_IF_ERROR(edited.status());
  }
  ASSIGN_OR_RETURN(Target fresh, ResolveTarget(fs, adapter, target.path));
  ASSIGN_OR_RETURN(VerifyReport after, Verify(fs, adapter, fresh, options.progress));
  after.repaired = std::move(repaired);
  return after;
}

void PrintVerify(const VerifyReport& report, std::ostream& out, bool json) {
  if (json) {
    auto problems = [](const std::vector<Problem>& list) {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const Problem& p : list) {
        out.push_back({{"where", JsonText(p.where)},
                       {"group", JsonText(p.group)},
                       {"what", JsonText(p.what)}});
      }
      return out;
    };
    nlohmann::ordered_json repaired = nlohmann::ordered_json::array();
    for (const std::string& r : report.repaired) repaired.push_back(JsonText(r));
    out << DumpJson({{"databases", report.databases},
                     {"groups", report.groups},
                     {"problems", problems(report.problems)},
                     {"unknown_format", problems(report.unknown)},
                     {"repaired", repaired}})
        << "\n";
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
