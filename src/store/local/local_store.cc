#include "src/store/local/local_store.h"

#include <algorithm>
#include <cerrno>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"
#include "src/os/lock.h"
#include "src/store/local/changes.h"
#include "src/store/local/genlog.h"

namespace typecache {
namespace {

// The generation directory `path`, opened (for its flock; closed, and the lock dropped, with the
// OwnedFd), or nullopt when it is gone: removed or retired by another collector.
absl::StatusOr<std::optional<OwnedFd>> OpenGenerationDir(Fs& fs, const std::string& path) {
  absl::StatusOr<int> fd = fs.OpenDirFd(path);
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status())) return std::nullopt;
    return fd.status();
  }
  return std::optional<OwnedFd>(std::in_place, fs, *fd);
}

class LocalLock : public PublishLock {
 public:
  explicit LocalLock(FileLock lock) : lock_(std::move(lock)) {}

 private:
  FileLock lock_;
};

}  // namespace

absl::StatusOr<GenerationHead> LocalGenerationStore::Head(const std::string& dir) {
  return ReadLiveState(fs_, layout_, dir);
}

absl::StatusOr<std::optional<GroupSets>> LocalGenerationStore::Fetch(const std::string& dir,
                                                                     const GenerationHead& since,
                                                                     const GenerationHead& head) {
  return ChangesSince(fs_, layout_, adapter_, dir, since, head);
}

absl::StatusOr<std::optional<GenerationRecord>> LocalGenerationStore::Record(const std::string& dir,
                                                                             int64_t gen) {
  // Its stamps: the groups it changed are checked, not kept (a prune's log names every group
  // it evicted).
  absl::StatusOr<GenLog> log = ReadLog(fs_, layout_, dir, gen, /*with_groups=*/false);
  if (!log.ok()) {
    if (absl::IsNotFound(log.status()) || absl::IsDataLoss(log.status())) return std::nullopt;
    return log.status();
  }
  GenerationRecord record;
  record.gen = log->gen;
  record.parent = log->parent;
  record.stamps = log->stamps;
  std::string path = layout_.digest_path(dir, gen);
  absl::StatusOr<std::string> text = fs_.ReadFile(path);
  if (text.ok()) {
    absl::StatusOr<GenDigests> digests = ParseGenDigests(*text, path);
    if (digests.ok() && digests->gen == gen) record.digests = digests->digests;
  }
  return record;
}

absl::StatusOr<std::unique_ptr<PublishLock>> LocalGenerationStore::Lock(
    absl::Duration timeout, const std::function<void(const std::string&)>& waiting) {
  ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(fs_, layout_.lock_path(), timeout, waiting));
  return std::unique_ptr<PublishLock>(new LocalLock(std::move(lock)));
}

absl::StatusOr<int64_t> LocalGenerationStore::NextGeneration(const std::string& dir, int64_t head) {
  int64_t next = std::max<int64_t>(head, 0) + 1;
  ASSIGN_OR_RETURN(FileInfo info, fs_.Stat(layout_.gens_dir(dir)));
  if (!info.is_dir()) return next;
  // A crashed publisher may have left a generation that never went live: never reuse its name.
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.ListDir(layout_.gens_dir(dir)));
  for (const std::string& name : names) next = std::max(next, Layout::ParseGenName(name) + 1);
  return next;
}

absl::Status LocalGenerationStore::SwitchLink(const std::string& dir, int64_t gen,
                                              std::string* warning) {
  std::string live_path = layout_.live_path(dir);
  std::string link_tmp =
      JoinPath(layout_.runs_dir(), absl::StrCat(options_.run_id, ".", dir, ".link"));
  (void)fs_.Unlink(link_tmp);
  RETURN_IF_ERROR(fs_.Symlink(Layout::LinkTarget(dir, gen), link_tmp));
  ASSIGN_OR_RETURN(FileInfo live_info, fs_.Lstat(live_path));
  if (!live_info.is_dir()) return fs_.Rename(link_tmp, live_path);
  // A real directory (mypy ran on this cache directly): swap it out atomically.
  std::string trash = JoinPath(layout_.trash_dir(), absl::StrCat(dir, ".", RandomSuffix()));
  absl::Status swapped = fs_.RenameExchange(link_tmp, live_path);
  if (swapped.ok()) {
    // The new generation is live; failing to move the old directory aside is only untidy.
    absl::Status moved = fs_.Rename(link_tmp, trash);
    if (!moved.ok()) *warning = std::string(moved.message());
    return absl::OkStatus();
  }
  // No RENAME_EXCHANGE (e.g. NFS): a reader may briefly find no cache, which is a cold run.
  RETURN_IF_ERROR(fs_.Rename(live_path, trash));
  return fs_.Rename(link_tmp, live_path);
}

absl::StatusOr<PublishedGeneration> LocalGenerationStore::Publish(const PublishRequest& request) {
  const std::string& dir = request.dir;
  const GenerationHead& onto = request.onto;
  PublishedGeneration result;
  // The new generation: log first, then the directory, then the link.
  GenLog log;
  ASSIGN_OR_RETURN(log.gen, NextGeneration(dir, onto.gen));
  log.parent = onto.kind == GenerationHead::Kind::kGeneration ? onto.gen
               : onto.kind == GenerationHead::Kind::kMissing  ? 0
                                                              : -1;
  if (request.unlisted) log.parent = -1;
  ASSIGN_OR_RETURN(std::vector<std::string> files,
                   DatabaseFiles(fs_, adapter_, request.private_dir));
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(FileInfo info, fs_.Stat(JoinPath(request.private_dir, file)));
    log.stamps[file] = FileStamp{info.size, info.mtime_ns};
    result.bytes += info.size;
  }
  result.files = files;
  RETURN_IF_ERROR(MakeDirs(fs_, layout_.logs_dir(dir)));
  // Streamed: the groups are neither copied into `log` nor held as one text.
  RETURN_IF_ERROR(WriteFileAtomicFrom(fs_, layout_.log_path(dir, log.gen),
                                      [&log, &request](const Fs::ContentWriter& write) {
                                        return SerializeGenLogTo(log, request.written, write);
                                      }));
  RETURN_IF_ERROR(MakeDirs(fs_, layout_.gens_dir(dir)));
  RETURN_IF_ERROR(fs_.Rename(request.private_dir, layout_.gen_path(dir, log.gen)));
  RETURN_IF_ERROR(fs_.Fsync(layout_.gens_dir(dir)));
  RETURN_IF_ERROR(SwitchLink(dir, log.gen, &result.warning));
  // The rename is visible; if the directory cannot be synced there is nothing to undo, but the
  // user should know the publish may not survive a power cut.
  absl::Status synced = fs_.Fsync(layout_.cache_dir());
  if (!synced.ok()) {
    result.warning = absl::StrCat("published, but not durably: ", synced.message());
  }
  result.gen = log.gen;
  result.resolved = layout_.gen_path(dir, log.gen);
  return result;
}

absl::Status LocalGenerationStore::RecordDigests(const std::string& dir, int64_t gen,
                                                 const std::map<std::string, uint64_t>& digests) {
  std::string path = layout_.digest_path(dir, gen);
  RETURN_IF_ERROR(MakeDirs(fs_, layout_.digests_dir(dir)));
  std::string tmp = absl::StrCat(path, ".tmp.", RandomSuffix());
  RETURN_IF_ERROR(fs_.WriteNewFile(tmp, SerializeGenDigests(GenDigests{gen, digests})));
  absl::Status renamed = fs_.Rename(tmp, path);
  if (!renamed.ok()) (void)fs_.Unlink(tmp);
  return renamed;
}

absl::Status LocalGenerationStore::RecordCheckerVersion(const std::string& version) {
  return WriteFileAtomic(fs_, layout_.checker_version_path(), version + "\n");
}

absl::Status LocalGenerationStore::CollectGarbage(const std::string& dir, int64_t head) {
  return CollectLocalGarbage(fs_, layout_, dir, head, options_.keep_generations, options_.keep_logs,
                             options_.keep_spares);
}

absl::StatusOr<GenerationReadLock> GenerationReadLock::Acquire(Fs& fs, const std::string& path) {
  absl::StatusOr<int> fd = fs.OpenDirFd(path);
  if (!fd.ok()) {
    if (StatusErrno(fd.status()) == ENOTDIR || StatusErrno(fd.status()) == ELOOP) {
      return absl::NotFoundError(absl::StrCat(path, " is not a generation directory"));
    }
    return fd.status();
  }
  GenerationReadLock lock(fs, *fd);
  absl::StatusOr<bool> shared = fs.TryLockShared(*fd);
  if (!shared.ok()) {
    // A file system without flock on directories (some network file systems): no retirer can
    // take its exclusive lock there either (RetireGeneration fails, the generation is deleted
    // as before spares existed), so reading without the lock is as safe as it always was.
    int err = StatusErrno(shared.status());
    if (err != ENOLCK && err != EOPNOTSUPP && err != EINVAL && err != EBADF) {
      return shared.status();
    }
  } else if (!*shared) {
    return absl::NotFoundError(absl::StrCat(path, " is being retired"));
  }
  // Opened by path, locked afterwards: a retirer may have renamed it in between (it held the
  // exclusive lock then, and has released it since). Only if the path still names the directory
  // locked can no retirer move it while the lock is held.
  ASSIGN_OR_RETURN(FileInfo locked, fs.StatFd(*fd));
  ASSIGN_OR_RETURN(FileInfo now, fs.Lstat(path));
  if (!now.is_dir() || now.inode != locked.inode || now.device != locked.device) {
    return absl::NotFoundError(absl::StrCat(path, " was retired"));
  }
  return lock;
}

int64_t SpareBase(absl::string_view name) {
  size_t dot = name.find('.');
  return Layout::ParseGenName(name.substr(0, dot));
}

bool IsRetiredSpare(absl::string_view name) {
  size_t first = name.find('.');
  if (first == absl::string_view::npos) return false;
  size_t second = name.find('.', first + 1);
  return second != absl::string_view::npos &&
         name.substr(first + 1, second - first - 1) == kRetiredSpareTag &&
         name.find('.', second + 1) == absl::string_view::npos;
}

absl::StatusOr<bool> RetireGeneration(Fs& fs, const Layout& layout, const std::string& dir,
                                      int64_t gen, int keep) {
  std::string path = layout.gen_path(dir, gen);
  ASSIGN_OR_RETURN(std::optional<OwnedFd> fd, OpenGenerationDir(fs, path));
  if (!fd.has_value()) return false;  // Retired or removed by another collector.
  ASSIGN_OR_RETURN(bool exclusive, fs.TryLock(fd->get()));
  if (!exclusive) return false;  // A reader is copying it: left for the next collection.
  ASSIGN_OR_RETURN(LiveState live, ReadLiveState(fs, layout, dir));
  if (live.kind == LiveState::Kind::kGeneration && gen >= live.gen - keep) return false;
  std::string spares = layout.spares_dir(dir);
  RETURN_IF_ERROR(MakeDirs(fs, spares));
  RETURN_IF_ERROR(
      fs.Rename(path, JoinPath(spares, absl::StrCat(Layout::GenName(gen), ".", kRetiredSpareTag,
                                                    ".", RandomSuffix()))));
  return true;
}

namespace {

// Spare names of `dir`, newest base first.
std::vector<std::string> SparesNewestFirst(Fs& fs, const Layout& layout, const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(layout.spares_dir(dir));
  if (!names.ok()) return {};
  std::vector<std::string> out = *std::move(names);
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return SpareBase(a) > SpareBase(b); });
  return out;
}

}  // namespace

absl::StatusOr<bool> RemoveGeneration(Fs& fs, const Layout& layout, const std::string& dir,
                                      int64_t gen) {
  std::string path = layout.gen_path(dir, gen);
  ASSIGN_OR_RETURN(std::optional<OwnedFd> fd, OpenGenerationDir(fs, path));
  if (!fd.has_value()) return true;  // Removed or retired by another collector.
  absl::StatusOr<bool> exclusive = fs.TryLock(fd->get());
  // No flock on directories here (GenerationReadLock reads unlocked then): removed as before.
  if (exclusive.ok() && !*exclusive) return false;  // A reader holds it: left for later.
  ASSIGN_OR_RETURN(LiveState live, ReadLiveState(fs, layout, dir));
  if (live.kind == LiveState::Kind::kGeneration && gen >= live.gen) return false;
  // Out of gens/ at once (under the lock, so no reader sees it half removed), then removed.
  std::string trash = JoinPath(layout.trash_dir(),
                               absl::StrCat(dir, ".", Layout::GenName(gen), ".", RandomSuffix()));
  if (MakeDirs(fs, layout.trash_dir()).ok() && fs.Rename(path, trash).ok()) {
    RETURN_IF_ERROR(RemoveAll(fs, trash));
    return true;
  }
  RETURN_IF_ERROR(RemoveAll(fs, path));
  return true;
}

absl::Status CollectOldGenerations(Fs& fs, const Layout& layout, const std::string& dir,
                                   int64_t head, int keep, int keep_spares) {
  absl::Status first_error;
  auto note = [&first_error](const absl::Status& status) {
    if (!status.ok() && first_error.ok()) first_error = status;
  };
  absl::StatusOr<std::vector<std::string>> gens = fs.ListDir(layout.gens_dir(dir));
  if (!gens.ok()) return absl::OkStatus();
  std::vector<int64_t> old;
  for (const std::string& name : *gens) {
    int64_t gen = Layout::ParseGenName(name);
    if (gen > 0 && gen < head - keep) old.push_back(gen);
  }
  std::sort(old.rbegin(), old.rend());
  // The newest generation leaving the window becomes a spare, unless the spares kept are all
  // newer (a spare is brought up to date from the logs since its base: the newer, the less).
  int64_t retire = 0;
  if (keep_spares > 0 && !old.empty()) {
    std::vector<std::string> spares = SparesNewestFirst(fs, layout, dir);
    if (static_cast<int>(spares.size()) < keep_spares ||
        SpareBase(spares[static_cast<size_t>(keep_spares) - 1]) < old.front()) {
      retire = old.front();
    }
  }
  bool retired = false;
  bool retire_held = false;  // The generation to retire is held: it stands in for a spare.
  for (int64_t gen : old) {
    if (gen == retire) {
      absl::StatusOr<bool> done = RetireGeneration(fs, layout, dir, gen, keep);
      if (done.ok()) {
        if (*done) {
          retired = true;
        } else {
          absl::StatusOr<FileInfo> still = fs.Lstat(layout.gen_path(dir, gen));
          retire_held = still.ok() && still->is_dir();
        }
        continue;  // Retired, or held by a reader: its collection retires it.
      }
      // Cannot be retired (cannot lock or rename it): removed as before, which is no error.
    }
    // Held by a reader: left where it is; the reader collects it when it lets go.
    note(RemoveGeneration(fs, layout, dir, gen).status());
  }
  if (retired || retire_held) {
    // At most keep_spares per directory, counting a held generation waiting to be retired: the
    // oldest go to the trash (removed by the caller, or the next collection). A run may claim one
    // meanwhile (its rename or this one fails: either way it is taken once).
    size_t kept = static_cast<size_t>(keep_spares - (retired ? 0 : 1));
    std::vector<std::string> spares = SparesNewestFirst(fs, layout, dir);
    for (size_t i = kept; i < spares.size(); ++i) {
      if (!retired && SpareBase(spares[i]) >= retire) continue;
      (void)fs.Rename(JoinPath(layout.spares_dir(dir), spares[i]),
                      JoinPath(layout.trash_dir(), absl::StrCat("spare.", RandomSuffix())));
    }
  }
  return first_error;
}

void CollectAfterReading(Fs& fs, const Layout& layout, const std::string& dir, int64_t held) {
  absl::StatusOr<LiveState> live = ReadLiveState(fs, layout, dir);
  if (!live.ok() || live->kind != LiveState::Kind::kGeneration || live->gen <= held) return;
  (void)CollectOldGenerations(fs, layout, dir, live->gen, kKeepGenerations, kKeepSpares);
  // Spares trimmed into the trash by that collection.
  absl::StatusOr<std::vector<std::string>> trash = fs.ListDir(layout.trash_dir());
  if (!trash.ok()) return;
  for (const std::string& name : *trash) {
    if (absl::StartsWith(name, "spare.")) (void)RemoveAll(fs, JoinPath(layout.trash_dir(), name));
  }
}

absl::Status CollectLocalGarbage(Fs& fs, const Layout& layout, const std::string& dir, int64_t head,
                                 int keep, int keep_logs, int keep_spares) {
  absl::Status first_error;
  auto note = [&first_error](const absl::Status& status) {
    if (!status.ok() && first_error.ok()) first_error = status;
  };
  note(CollectOldGenerations(fs, layout, dir, head, keep, keep_spares));
  absl::StatusOr<std::vector<std::string>> logs = fs.ListDir(layout.logs_dir(dir));
  if (logs.ok()) {
    int64_t now_ns = absl::ToUnixNanos(absl::Now());
    for (const std::string& name : *logs) {
      absl::string_view stem = name;
      std::string path = JoinPath(layout.logs_dir(dir), name);
      if (stem.find(".tmp.") != absl::string_view::npos) {
        // A log being written by a publisher that died; old enough to be nobody's.
        absl::StatusOr<FileInfo> info = fs.Lstat(path);
        if (info.ok() && now_ns - info->mtime_ns > absl::ToInt64Nanoseconds(absl::Hours(1))) {
          (void)fs.Unlink(path);
        }
        continue;
      }
      if (stem.size() < 4 || stem.substr(stem.size() - 4) != ".log") continue;
      int64_t gen = Layout::ParseGenName(stem.substr(0, stem.size() - 4));
      if (gen > 0 && gen < head - keep_logs) {
        absl::Status removed = fs.Unlink(path);
        if (StatusErrno(removed) != ENOENT) note(removed);
      }
    }
  }
  // Digest records go with their generation, and unfinished ones of dead publishers.
  absl::StatusOr<std::vector<std::string>> digests = fs.ListDir(layout.digests_dir(dir));
  if (digests.ok()) {
    for (const std::string& name : *digests) {
      bool unfinished = name.find(".tmp.") != std::string::npos;
      int64_t gen = Layout::ParseGenName(unfinished ? name.substr(0, name.find('.')) : name);
      // The parent's is kept a little longer: its child's digest is computed from it after the
      // publish lock, when another publish may already have come.
      if ((gen > 0 && gen < head - std::max(keep, 1)) || (unfinished && gen < head)) {
        absl::Status removed = fs.Unlink(JoinPath(layout.digests_dir(dir), name));
        if (StatusErrno(removed) != ENOENT) note(removed);
      }
    }
  }
  absl::StatusOr<std::vector<std::string>> trash = fs.ListDir(layout.trash_dir());
  if (trash.ok()) {
    for (const std::string& name : *trash) note(RemoveAll(fs, JoinPath(layout.trash_dir(), name)));
  }
  return first_error;
}

}  // namespace typecache
