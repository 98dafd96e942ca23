// LocalGenerationStore: generations kept in the shared cache directory itself (layout.h): the
// head of <X.Y> is the symlink <cache>/<X.Y> -> .typecache/gens/<X.Y>/g<N>, what each
// generation changed is its log (genlog.h), its content digests sit beside the log, and the
// publish lock is a flock on .typecache/lock.
//
// Publish, in this order (docs/protocol.md, steps 5 to 7): write log N (atomically, fsynced),
// rename the private directory to gens/<X.Y>/g<N>, fsync gens/<X.Y>, rename a symlink over
// <cache>/<X.Y> (or exchange it with a real directory), fsync the cache directory: once that
// rename is durable, everything it points to is. N is one more than the head and than any
// generation a crashed publisher left behind.
// Cost: Publish O(files) metadata calls and 4 fsyncs; Fetch one stat per file and one small read
// per generation since `since`; RecordDigests one unsynced write and rename (a lost or torn
// record only means "no digest": readers check its end marker).
#ifndef TYPECACHE_SRC_STORE_LOCAL_LOCAL_STORE_H_
#define TYPECACHE_SRC_STORE_LOCAL_LOCAL_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/generation_store.h"
#include "src/store/local/layout.h"

namespace typecache {

// How many generations are kept besides the head, and how many spares per directory. Readers
// hold the generation they read (GenerationReadLock), so no older generation needs to be kept
// for them: the previous head is retired into a spare at once when nobody holds it, and retired
// or removed by whoever collects after the last reader let go. Disk: the head, at most one more
// generation (a spare, or the generation a reader holds in its stead), and what readers hold.
inline constexpr int kKeepGenerations = 0;
inline constexpr int kKeepSpares = 1;

struct LocalStoreOptions {
  int keep_generations = kKeepGenerations;  // Kept besides the head.
  int keep_logs = 1000;          // A snapshot older than this compares every group on publish.
  std::string run_id = "store";  // Names temporary links in runs/.
  // Generations that fall out of the kept window become spares (RetireGeneration) instead of
  // being deleted, up to this many spares per directory; 0: they are deleted.
  int keep_spares = kKeepSpares;
};

class LocalGenerationStore : public GenerationStore {
 public:
  LocalGenerationStore(Fs& fs, Layout layout, const CheckerAdapter& adapter,
                       LocalStoreOptions options = {})
      : fs_(fs), layout_(std::move(layout)), adapter_(adapter), options_(std::move(options)) {}

  absl::StatusOr<GenerationHead> Head(const std::string& dir) override;
  absl::StatusOr<std::optional<GroupSets>> Fetch(const std::string& dir,
                                                 const GenerationHead& since,
                                                 const GenerationHead& head) override;
  absl::StatusOr<std::optional<GenerationRecord>> Record(const std::string& dir,
                                                         int64_t gen) override;
  absl::StatusOr<std::unique_ptr<PublishLock>> Lock(
      absl::Duration timeout, const std::function<void(const std::string&)>& waiting) override;
  absl::StatusOr<PublishedGeneration> Publish(const PublishRequest& request) override;
  absl::Status RecordDigests(const std::string& dir, int64_t gen,
                             const std::map<std::string, uint64_t>& digests) override;
  absl::Status RecordCheckerVersion(const std::string& version) override;
  absl::Status CollectGarbage(const std::string& dir, int64_t head) override;

  const Layout& layout() const { return layout_; }

 private:
  absl::StatusOr<int64_t> NextGeneration(const std::string& dir, int64_t head);
  absl::Status SwitchLink(const std::string& dir, int64_t gen, std::string* warning);

  Fs& fs_;
  Layout layout_;
  const CheckerAdapter& adapter_;
  LocalStoreOptions options_;
};

// What LocalGenerationStore::CollectGarbage does: removes generations older than `head` minus
// `keep` and their digest records, logs older than `head` minus `keep_logs`, stale temporary
// files in logs/, and trash. Safe without the lock: nothing removed can become live again.
// With `keep_spares` > 0 the newest generation that falls out of the window is retired into a
// spare (RetireGeneration) when it is newer than a spare already kept, and spares beyond
// `keep_spares` go to the trash. A generation a reader holds (GenerationReadLock) is neither
// retired nor removed: the next collection does it.
absl::Status CollectLocalGarbage(Fs& fs, const Layout& layout, const std::string& dir, int64_t head,
                                 int keep, int keep_logs, int keep_spares = 0);

// The generations part of CollectLocalGarbage: generations older than `head` minus `keep` are
// retired (the newest, when newer than the spares kept) or removed, except those a reader holds.
// When the generation to retire is held, it stands in for a spare: the spares older than it
// beyond `keep_spares` - 1 go to the trash, so that the head, the spares and that generation
// never take more than two cache sizes; the reader's own collection (CollectAfterReading)
// retires it when it lets go.
absl::Status CollectOldGenerations(Fs& fs, const Layout& layout, const std::string& dir,
                                   int64_t head, int keep, int keep_spares);

// What a reader does after releasing its GenerationReadLock on generation `held` of `dir`: if
// the head has moved past it meanwhile, a publisher's collection may have left it (and older
// ones) behind because of this reader, so it collects them now (CollectOldGenerations with the
// default window). Best effort: errors are ignored.
void CollectAfterReading(Fs& fs, const Layout& layout, const std::string& dir, int64_t held);

// Removes generation `gen` of `dir` when no reader holds it (exclusive non-blocking flock, then a
// rename into trash/ and removal): true when it is gone, false when a reader holds it or it is
// the live generation (read again after the lock).
absl::StatusOr<bool> RemoveGeneration(Fs& fs, const Layout& layout, const std::string& dir,
                                      int64_t gen);

// ---- Readers and retirement (docs/protocol.md, "Retired generations become spares") ----
//
// A generation directory that leaves the kept window is not deleted but renamed into
// spares/<X.Y>/, where a later run claims it and rewrites it in place. So whoever reads a
// generation's files must make sure it is not retired under it: it holds a shared flock on the
// generation directory itself while it reads (GenerationReadLock), and retirement takes
// flock(LOCK_EX|LOCK_NB) on it and renames it only if that succeeds. The lock is on the
// directory's inode: no lock file, nothing left behind by a process that dies (the kernel drops
// its locks).

// A shared flock on a generation directory, re-checked after it is taken: the path must still be
// the directory locked (it was not retired between open and lock). Released on destruction.
class GenerationReadLock {
 public:
  // NotFound when `path` is gone or is being retired right now (the caller reads the head again);
  // other errors as they come. Where the file system has no flock on directories (ENOLCK,
  // EOPNOTSUPP, EINVAL, EBADF) the read goes ahead unlocked: retirement cannot lock there either.
  static absl::StatusOr<GenerationReadLock> Acquire(Fs& fs, const std::string& path);

  void Release() { fd_.Reset(); }

 private:
  GenerationReadLock(Fs& fs, int fd) : fd_(fs, fd) {}
  OwnedFd fd_;  // Closing the only descriptor drops the flock.
};

// Spares are named g<base>.<tag>.<random>. <tag> is the boot id for a run's donated copy
// (never fsynced: trusted only in the boot that wrote it) and kRetiredSpareTag for a retired
// generation (fsynced before it went live, never written since: trusted across boots once its
// files still match the stamps in its log).
inline constexpr char kRetiredSpareTag[] = "retired";
// The base generation of a spare's name; -1 if it is not one.
int64_t SpareBase(absl::string_view name);
// Whether the spare's name says it is a retired generation.
bool IsRetiredSpare(absl::string_view name);

// Retires generation `gen` of `dir` into spares/<dir>/g<gen>.retired.<random> when no reader
// holds it: true when renamed, false when a reader holds it (nothing changed). Never retires a
// generation within `keep` of the live one (read again here, after the exclusive lock).
absl::StatusOr<bool> RetireGeneration(Fs& fs, const Layout& layout, const std::string& dir,
                                      int64_t gen, int keep);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_LOCAL_STORE_H_
