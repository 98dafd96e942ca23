#include "src/store/local/snapshot.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"
#include "src/store/local/changes.h"
#include "src/store/local/local_store.h"

namespace typecache {
namespace {

constexpr int kAttempts = 5;

// Copies every database of one directory; returns NotFound when the generation vanished.
// `progress` counts the bytes of the directory's databases, file by file and, while one is
// copied, the size of its copy so far (asked only when the line is drawn).
absl::Status CopyDir(Fs& fs, const CheckerAdapter& adapter, const std::string& from,
                     const std::string& to, Snapshot& snap, Progress& progress,
                     const std::string& name_shown) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(from));
  std::sort(names.begin(), names.end());
  RETURN_IF_ERROR(fs.MakeDir(to, /*ok_if_exists=*/false));
  if (progress.enabled()) {
    int64_t total = 0;
    for (const std::string& name : names) {
      if (!adapter.IsDatabaseFile(name)) continue;
      absl::StatusOr<FileInfo> info = fs.Stat(JoinPath(from, name));
      if (info.ok() && info->exists()) total += info->size;
    }
    progress.Detail(name_shown);
    progress.SetWork(total, ProgressUnit::kBytes);
  }
  int64_t done = 0;
  for (const std::string& name : names) {
    if (!adapter.IsDatabaseFile(name)) continue;
    std::string dst = JoinPath(to, name);
    if (progress.enabled()) {
      progress.Poll([&fs, dst, done]() -> int64_t {
        absl::StatusOr<FileInfo> info = fs.Stat(dst);
        return done + (info.ok() && info->exists() ? info->size : 0);
      });
    }
    absl::StatusOr<CopyResult> made = ConsistentCopy(fs, JoinPath(from, name), dst);
    progress.Poll(nullptr);
    ASSIGN_OR_RETURN(CopyResult copied, std::move(made));
    done += copied.bytes;
    progress.Set(done);
    RETURN_IF_ERROR(InstallCapture(dst, adapter));
    snap.bytes += copied.bytes;
    snap.method = copied.method;
    ++snap.files;
  }
  return absl::OkStatus();
}

// Spares are named "g<base generation>.<tag>.<random>" (local_store.h). A donated spare is not
// fsynced (that would cost as much as the copy it saves), so it is only trusted within the boot
// that wrote it: after a power cut its pages may never have reached the disk. Its <tag> identifies
// this boot of this machine (the kernel's random boot_id). A retired generation was fsynced
// before it went live and never written since: its tag is kRetiredSpareTag, and it is trusted in
// any boot once its files still have the size and mtime its log recorded.
int64_t SpareGen(absl::string_view name) { return SpareBase(name); }

std::string BootTag() {
  static const std::string tag = [] {
    absl::StatusOr<std::string> id = RealFs().ReadFile("/proc/sys/kernel/random/boot_id");
    std::string out;
    if (id.ok()) {
      for (char c : *id) {
        if (std::isxdigit(static_cast<unsigned char>(c)) && out.size() < 16) out.push_back(c);
      }
    }
    return out.empty() ? std::string("noboot") : out;
  }();
  return tag;
}

bool SpareOfThisBoot(absl::string_view name) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '.');
  return parts.size() == 3 && parts[1] == BootTag();
}

// In a spare's <X.Y> directory: the databases that still have capture installed and nothing
// recorded ("armed"), one "<file> <size> <mtime_ns> <inode>" line each, as DonateSpare left
// them. The run that claims the spare removes the file first (it never reaches a generation) and
// skips InstallCapture for each database that is still exactly as listed.

std::string ArmedLine(const std::string& file, const FileInfo& info) {
  return absl::StrCat(file, " ", info.size, " ", info.mtime_ns, " ", info.inode, "\n");
}

// The armed databases a claimed spare's marker lists, as stamp lines. The marker stays while the
// run uses the copy (a line is trusted only while its database still has exactly those stamps);
// it is removed before the directory is published (RemoveArmedMarker) and rewritten by
// DonateSpare only when what it lists changed: no file made and removed on a warm run.
std::set<std::string> ReadArmedMarker(Fs& fs, const std::string& dir) {
  std::string marker = JoinPath(dir, kArmedMarker);
  absl::StatusOr<std::string> text = fs.ReadFile(marker);
  if (!text.ok()) return {};
  std::set<std::string> lines;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    lines.insert(absl::StrCat(line, "\n"));
  }
  return lines;
}

// Replaces `groups` in the private database `db_path` by their rows in `live_db`.
absl::Status ReplaceFromLive(const CheckerAdapter& adapter, const std::string& db_path,
                             const std::string& live_db, const std::set<std::string>& groups) {
  if (groups.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(CacheFile db, CacheFile::OpenForWrite(db_path));
  RETURN_IF_ERROR(db.Attach(live_db, "live"));
  {
    ASSIGN_OR_RETURN(CacheFile::Transaction txn, db.BeginWrite());
    RETURN_IF_ERROR(db.ReplaceGroups("live", groups, adapter).status());
    RETURN_IF_ERROR(txn.Commit());
  }
  return db.Close();
}

// Tries to take a spare of `name` and bring it to the live generation. Returns true when `to`
// now holds an exact copy of the live generation with capture installed; false (and no `to`)
// when no usable spare exists.
// `for_edit` (a maintenance edit's copy, not a run's): only retired spares (a donated one has
// capture installed and belongs to runs: left where it is), and no capture installed.
absl::StatusOr<bool> ReuseSpare(GenerationStore& store, Fs& fs, const Layout& layout,
                                const CheckerAdapter& adapter, const std::string& name,
                                const LiveState& live, const std::string& to, Snapshot& snap,
                                bool for_edit = false) {
  std::string spares = layout.spares_dir(name);
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(spares));
  if (!info.is_dir()) return false;
  ASSIGN_OR_RETURN(std::vector<std::string> entries, fs.ListDir(spares));
  std::sort(entries.begin(), entries.end(),
            [](const std::string& a, const std::string& b) { return SpareGen(a) > SpareGen(b); });
  auto discard = [&](const std::string& path) -> absl::Status {
    // A rename, not a deletion: the trash is emptied after a publish, off the snapshot's path.
    if (fs.Rename(path, JoinPath(layout.trash_dir(), absl::StrCat("spare.", RandomSuffix())))
            .ok()) {
      return absl::OkStatus();
    }
    return RemoveAll(fs, path);
  };
  for (const std::string& entry : entries) {
    int64_t gen = SpareGen(entry);
    bool retired = IsRetiredSpare(entry);
    if (for_edit && !retired) continue;
    if (!retired && !SpareOfThisBoot(entry)) {
      (void)discard(JoinPath(spares, entry));
      continue;
    }
    if (gen <= 0 || gen > live.gen) continue;
    // Claim it: only one run can rename it away.
    if (!fs.Rename(JoinPath(spares, entry), to).ok()) continue;
    LiveState base;
    base.kind = LiveState::Kind::kGeneration;
    base.gen = gen;
    absl::StatusOr<std::optional<GroupSets>> changed = store.Fetch(name, base, live);
    absl::StatusOr<std::vector<std::string>> have = DatabaseFiles(fs, adapter, to);
    absl::StatusOr<std::vector<std::string>> want = DatabaseFiles(fs, adapter, live.resolved);
    bool usable = changed.ok() && changed->has_value() && have.ok() && want.ok() && *have == *want;
    if (usable && retired) {
      // Still exactly generation `gen`: every file as its log recorded it (nobody wrote it in
      // place while it was live; nothing was lost in a crash, its pages were fsynced).
      absl::StatusOr<std::optional<GenerationRecord>> record = store.Record(name, gen);
      usable = record.ok() && record->has_value() && (*record)->stamps.size() == have->size();
      for (size_t i = 0; usable && i < have->size(); ++i) {
        absl::StatusOr<FileInfo> file = fs.Stat(JoinPath(to, (*have)[i]));
        auto stamp = (*record)->stamps.find((*have)[i]);
        usable = file.ok() && stamp != (*record)->stamps.end() &&
                 stamp->second == FileStamp{file->size, file->mtime_ns};
      }
    }
    absl::Status status;
    int files_before = snap.files;
    std::set<std::string> armed = ReadArmedMarker(fs, to);
    if (usable) {
      for (const std::string& file : *want) {
        std::string db = JoinPath(to, file);
        auto groups = (*changed)->find(file);
        if (groups != (*changed)->end()) {
          status = ReplaceFromLive(adapter, db, JoinPath(live.resolved, file), groups->second);
        } else if (!armed.empty()) {
          // Untouched since it was donated with capture installed and nothing recorded.
          absl::StatusOr<FileInfo> info = fs.Lstat(db);
          if (info.ok() && armed.count(ArmedLine(file, *info)) > 0) {
            ++snap.files;
            ++snap.captures_kept_armed;
            continue;
          }
        }
        if (status.ok() && !for_edit) status = InstallCapture(db, adapter);
        if (!status.ok()) break;
        ++snap.files;
      }
    }
    if (usable && status.ok()) {
      snap.method = "spare";
      ++(retired ? snap.spares_from_retired : snap.spares_from_donated);
      return true;
    }
    // Too old (its logs are gone), or the generation was modified outside the protocol.
    snap.files = files_before;
    snap.captures_kept_armed = 0;
    RETURN_IF_ERROR(discard(to));
  }
  return false;
}

}  // namespace

absl::StatusOr<bool> CopyFromRetiredSpare(GenerationStore& store, Fs& fs, const Layout& layout,
                                          const CheckerAdapter& adapter, const std::string& name,
                                          const LiveState& live, const std::string& to) {
  if (live.kind != LiveState::Kind::kGeneration) return false;
  Snapshot unused;
  return ReuseSpare(store, fs, layout, adapter, name, live, to, unused, /*for_edit=*/true);
}

absl::Status DonateSpare(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                         const Snapshot& snapshot, const std::string& name,
                         const GroupSets& captured, int keep,
                         const std::set<std::string>& still_armed) {
  LiveState base = snapshot.BaseOf(name);
  if (base.kind != LiveState::Kind::kGeneration) return absl::OkStatus();
  std::string dir = JoinPath(snapshot.private_root, name);
  if (!captured.empty()) {
    // The base is read while it is held: it cannot be retired and rewritten meanwhile.
    absl::StatusOr<GenerationReadLock> held = GenerationReadLock::Acquire(fs, base.resolved);
    if (absl::IsNotFound(held.status())) return absl::OkStatus();  // Gone: not worth keeping.
    RETURN_IF_ERROR(held.status());
    // Undo what the run wrote, so the spare is exactly its base generation again.
    for (const auto& [file, groups] : captured) {
      RETURN_IF_ERROR(
          ReplaceFromLive(adapter, JoinPath(dir, file), JoinPath(base.resolved, file), groups));
    }
  }
  std::string marker;
  for (const std::string& file : still_armed) {
    if (captured.count(file) > 0) continue;
    absl::StatusOr<FileInfo> info = fs.Lstat(JoinPath(dir, file));
    if (info.ok() && info->exists()) absl::StrAppend(&marker, ArmedLine(file, *info));
  }
  // Unsynced like the spare itself (trusted within this boot only). The list the spare came with
  // stays when it is still exact (a warm run); otherwise it goes first, so that a kill in between
  // leaves no list (capture is installed again) rather than a wrong one.
  std::string marker_path = JoinPath(dir, kArmedMarker);
  absl::StatusOr<std::string> kept = fs.ReadFile(marker_path);
  if (!kept.ok() || *kept != marker) {
    if (kept.ok()) RETURN_IF_ERROR(fs.Unlink(marker_path));
    if (!marker.empty()) (void)fs.WriteNewFile(marker_path, marker, Durability::kUnsynced);
  }
  // A publish while the base was held left it behind: collect it now the spare is in place.
  struct Collect {
    Fs& fs;
    const Layout& layout;
    const std::string& name;
    int64_t gen;
    ~Collect() { CollectAfterReading(fs, layout, name, gen); }
  } collect{fs, layout, name, base.gen};
  std::string spares = layout.spares_dir(name);
  RETURN_IF_ERROR(MakeDirs(fs, spares));
  ASSIGN_OR_RETURN(std::vector<std::string> existing, fs.ListDir(spares));
  std::sort(existing.begin(), existing.end(),
            [](const std::string& a, const std::string& b) { return SpareGen(a) > SpareGen(b); });
  // Keep the newest few; the others go to the trash (deleted after the run).
  for (size_t i = static_cast<size_t>(std::max(keep - 1, 0)); i < existing.size(); ++i) {
    (void)fs.Rename(JoinPath(spares, existing[i]),
                    JoinPath(layout.trash_dir(), absl::StrCat("spare.", RandomSuffix())));
  }
  return fs.Rename(dir, JoinPath(spares, absl::StrCat(Layout::GenName(base.gen), ".", BootTag(),
                                                      ".", RandomSuffix())));
}

absl::Status RemoveArmedMarker(Fs& fs, const std::string& dir) {
  absl::Status removed = fs.Unlink(JoinPath(dir, kArmedMarker));
  return StatusErrno(removed) == ENOENT ? absl::OkStatus() : removed;
}

const SnapshotDir* Snapshot::Find(absl::string_view name) const {
  for (const SnapshotDir& dir : dirs) {
    if (dir.name == name) return &dir;
  }
  return nullptr;
}

absl::StatusOr<AdoptedStamps> StampForeign(Fs& fs, const CheckerAdapter& adapter,
                                           const std::string& dir) {
  AdoptedStamps stamps;
  stamps.taken_ns = absl::ToUnixNanos(absl::Now());
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(dir));
  if (!info.is_dir()) return stamps;
  // One listing says which -wal and -journal files exist: only those are stat'ed (a warm run's
  // 16 shards had 32 lstat calls of absent files, twice). One created after the listing counts
  // as created after the stamps, which every comparison with them then sees.
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(dir));
  std::sort(names.begin(), names.end());
  for (const std::string& file : names) {
    if (!adapter.IsDatabaseFile(file)) continue;
    for (const char* suffix : {"", "-wal", "-journal"}) {
      std::string name = absl::StrCat(file, suffix);
      if (*suffix != '\0' && !std::binary_search(names.begin(), names.end(), name)) {
        stamps.files[name] = FileInfo{};  // Absent.
        continue;
      }
      ASSIGN_OR_RETURN(stamps.files[name], fs.Lstat(JoinPath(dir, name)));
    }
  }
  return stamps;
}

absl::StatusOr<bool> AdoptedUnchanged(Fs& fs, const CheckerAdapter& adapter,
                                      const AdoptedStamps& adopted, const std::string& dir,
                                      absl::Duration racy_margin) {
  if (adopted.files.empty()) return false;
  ASSIGN_OR_RETURN(AdoptedStamps now, StampForeign(fs, adapter, dir));
  if (now.files.size() != adopted.files.size()) return false;
  int64_t margin = absl::ToInt64Nanoseconds(racy_margin);
  for (const auto& [name, was] : adopted.files) {
    auto it = now.files.find(name);
    if (it == now.files.end()) return false;
    const FileInfo& is = it->second;
    if (is.type != was.type) return false;
    if (!was.exists()) continue;
    // A -wal or -journal beside the database: SQLite truncates an empty -wal whenever it opens
    // the database (our own copy does), which changes its ctime and nothing else; a writer
    // changes its size or mtime. So its ctime is not compared (the database's is).
    bool side = absl::EndsWith(name, "-wal") || absl::EndsWith(name, "-journal");
    if (is.inode != was.inode || is.device != was.device || is.size != was.size ||
        is.mtime_ns != was.mtime_ns || (!side && is.ctime_ns != was.ctime_ns)) {
      return false;
    }
    // Racy: written too close to the stamp for the stamp to tell a later write apart.
    if (std::max(was.mtime_ns, side ? was.mtime_ns : was.ctime_ns) > adopted.taken_ns - margin) {
      return false;
    }
  }
  return true;
}

bool CaptureUntouched(Fs& fs, const AdoptedStamps& armed, const std::string& dir,
                      const std::string& file, absl::Duration racy_margin) {
  int64_t margin = absl::ToInt64Nanoseconds(racy_margin);
  for (const char* suffix : {"", "-wal", "-journal"}) {
    std::string name = absl::StrCat(file, suffix);
    auto was = armed.files.find(name);
    if (was == armed.files.end()) return false;
    absl::StatusOr<FileInfo> is = fs.Lstat(JoinPath(dir, name));
    if (!is.ok() || is->type != was->second.type) return false;
    if (!is->exists()) continue;
    if (is->inode != was->second.inode || is->size != was->second.size ||
        is->mtime_ns != was->second.mtime_ns || is->ctime_ns != was->second.ctime_ns ||
        std::max(is->mtime_ns, is->ctime_ns) > armed.taken_ns - margin) {
      return false;
    }
  }
  return true;
}

LiveState Snapshot::BaseOf(absl::string_view name) const {
  for (const SnapshotDir& dir : dirs) {
    if (dir.name == name) return dir.base;
  }
  return LiveState{};
}

absl::StatusOr<Snapshot> TakeSnapshot(GenerationStore& store, Fs& fs, const Layout& layout,
                                      const CheckerAdapter& adapter,
                                      const std::string& private_root, Progress* progress) {
  absl::Time start = absl::Now();
  Snapshot snap;
  snap.private_root = private_root;
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(layout.cache_dir()));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!adapter.IsDatabaseDir(name)) continue;
    std::string to = JoinPath(private_root, name);
    absl::Status status;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      ASSIGN_OR_RETURN(LiveState live, store.Head(name));
      if (live.kind == LiveState::Kind::kMissing) {
        status = absl::OkStatus();
        break;
      }
      // The live generation is held (shared) while it is read, so that it cannot be retired into
      // a spare and rewritten under the copy; retired or removed before it was held: the head
      // moved on, read it again.
      std::optional<GenerationReadLock> held;
      // What the directory's files were just before the copy (adoption, checked by publish).
      AdoptedStamps adopted;
      auto stamp = [&]() {
        absl::StatusOr<AdoptedStamps> stamped = StampForeign(fs, adapter, live.resolved);
        if (stamped.ok()) adopted = *std::move(stamped);
      };
      if (live.kind == LiveState::Kind::kGeneration) {
        absl::StatusOr<GenerationReadLock> lock = GenerationReadLock::Acquire(fs, live.resolved);
        if (!lock.ok()) {
          status = lock.status();
          if (absl::IsNotFound(status)) continue;
          break;
        }
        held.emplace(*std::move(lock));
        stamp();
        ASSIGN_OR_RETURN(bool reused, ReuseSpare(store, fs, layout, adapter, name, live, to, snap));
        if (reused) {
          held.reset();
          CollectAfterReading(fs, layout, name, live.gen);
          snap.dirs.push_back({name, live, std::move(adopted), AdoptedStamps{}});
          status = absl::OkStatus();
          break;
        }
      }
      if (live.kind == LiveState::Kind::kForeign) stamp();
      status = CopyDir(fs, adapter, live.resolved, to, snap, Progress::Or(progress), name);
      if (held.has_value()) {
        // Let go, and collect what a publish may have left behind because of this copy.
        held.reset();
        CollectAfterReading(fs, layout, name, live.gen);
      }
      if (status.ok()) {
        ++snap.copies;
        snap.dirs.push_back({name, live, std::move(adopted), AdoptedStamps{}});
        break;
      }
      // The generation was garbage-collected under us: start over from the live one.
      RETURN_IF_ERROR(RemoveAll(fs, to));
      if (!absl::IsNotFound(status)) break;
    }
    if (!status.ok()) return status;
  }
  // What each private file is now, capture installed: CaptureUntouched at the end of the run.
  for (SnapshotDir& dir : snap.dirs) {
    absl::StatusOr<AdoptedStamps> armed =
        StampForeign(fs, adapter, JoinPath(private_root, dir.name));
    if (armed.ok()) dir.armed = *std::move(armed);
  }
  snap.took = absl::Now() - start;
  return snap;
}

absl::StatusOr<Snapshot> TakeSnapshot(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                                      const std::string& private_root, Progress* progress) {
  LocalGenerationStore store(fs, layout, adapter);
  return TakeSnapshot(store, fs, layout, adapter, private_root, progress);
}

}  // namespace typecache
