#include "src/store/local/local_store.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"
#include "src/os/lock.h"
#include "src/store/local/changes.h"
#include "src/store/local/genlog.h"

namespace typecache {
namespace {

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
  absl::StatusOr<GenLog> log = ReadLog(fs_, layout_, dir, gen);
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
  log.groups = request.written;
  ASSIGN_OR_RETURN(std::vector<std::string> files,
                   DatabaseFiles(fs_, adapter_, request.private_dir));
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(FileInfo info, fs_.Stat(JoinPath(request.private_dir, file)));
    log.stamps[file] = FileStamp{info.size, info.mtime_ns};
    result.bytes += info.size;
  }
  result.files = files;
  RETURN_IF_ERROR(MakeDirs(fs_, layout_.logs_dir(dir)));
  RETURN_IF_ERROR(WriteFileAtomic(fs_, layout_.log_path(dir, log.gen), SerializeGenLog(log)));
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
  return CollectLocalGarbage(fs_, layout_, dir, head, options_.keep_generations,
                             options_.keep_logs);
}

absl::Status CollectLocalGarbage(Fs& fs, const Layout& layout, const std::string& dir, int64_t head,
                                 int keep, int keep_logs) {
  absl::Status first_error;
  auto note = [&first_error](const absl::Status& status) {
    if (!status.ok() && first_error.ok()) first_error = status;
  };
  absl::StatusOr<std::vector<std::string>> gens = fs.ListDir(layout.gens_dir(dir));
  if (gens.ok()) {
    for (const std::string& name : *gens) {
      int64_t gen = Layout::ParseGenName(name);
      if (gen > 0 && gen < head - keep) note(RemoveAll(fs, layout.gen_path(dir, gen)));
    }
  }
  absl::StatusOr<std::vector<std::string>> logs = fs.ListDir(layout.logs_dir(dir));
  if (logs.ok()) {
    int64_t now_ns = absl::ToUnixNanos(absl::Now());
    for (const std::string& name : *logs) {
      absl::string_view stem = name;
      std::string path = JoinPath(layout.logs_dir(dir), name);
      if (stem.find(".tmp.") != absl::string_view::npos) {
        // A log or digest record being written by a publisher that died; old enough to be
        // nobody's.
        absl::StatusOr<FileInfo> info = fs.Lstat(path);
        if (info.ok() && now_ns - info->mtime_ns > absl::ToInt64Nanoseconds(absl::Hours(1))) {
          (void)fs.Unlink(path);
        }
        continue;
      }
      // Logs go after keep_logs generations; digest records with their generation.
      int64_t limit = 0;
      absl::string_view gen_name;
      if (stem.size() > 4 && stem.substr(stem.size() - 4) == ".log") {
        gen_name = stem.substr(0, stem.size() - 4);
        limit = head - keep_logs;
      } else if (stem.size() > 7 && stem.substr(stem.size() - 7) == ".digest") {
        gen_name = stem.substr(0, stem.size() - 7);
        limit = head - keep;
      } else {
        continue;
      }
      int64_t gen = Layout::ParseGenName(gen_name);
      if (gen > 0 && gen < limit) {
        absl::Status removed = fs.Unlink(path);
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
