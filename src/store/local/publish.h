// Publishing a run's private copy back into the shared cache (docs/protocol.md).
//
// Outside the lock: finish capture (which groups did the run write?), make each private
// database a plain rollback-journal file, fsync it.
// Under the publish lock, for each database directory the run changed:
//   1. Read the live generation C again (never trust what was true before the lock).
//   2. Others' changes since the snapshot S are the union of the logs of S+1..C. When C == S
//      that set is empty and publishing is a rename. When it cannot be known (a foreign
//      directory, a missing log, a generation modified in place), every group is compared:
//      correct but proportional to the cache size, and counted as a "full merge".
//   3. Each group others changed and this run did not is replaced in the private copy by the
//      live generation's rows; groups this run wrote stay as the run left them (later
//      publisher wins the whole group).
//   4. fsync; write log N = C+1 (atomically); rename the private directory to generation N;
//      fsync; point <cache>/<X.Y> at it with a symlink renamed over the old one; fsync.
// After the lock: the new generation's content digest is recorded beside its log (for verify),
// old generations, old logs and trash are removed.
// Where generations live is behind GenerationStore (src/store/generation_store.h); the
// functions taking a Layout use the local store (local_store.h).
#ifndef TYPECACHE_SRC_STORE_LOCAL_PUBLISH_H_
#define TYPECACHE_SRC_STORE_LOCAL_PUBLISH_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/progress.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/generation_store.h"
#include "src/store/local/genlog.h"
#include "src/store/local/layout.h"
#include "src/store/local/local_store.h"
#include "src/store/local/snapshot.h"

namespace typecache {

struct PublishOptions {
  absl::Duration lock_timeout = absl::Seconds(120);
  // Receives notices such as "waiting for lock held by ...".
  std::function<void(const std::string&)> notice;
  // Generations kept besides the live one (readers hold what they read: none needed).
  int keep_generations = kKeepGenerations;
  // Generation logs kept; a run whose snapshot is older than this falls back to a full merge.
  int keep_logs = 1000;
  // Generations leaving the kept window become spares for later runs, up to this many per
  // directory (LocalStoreOptions::keep_spares); 0: they are deleted.
  int keep_spares = kKeepSpares;
  // Adoption: a foreign directory's files must have been this much older than the stamps the
  // snapshot took for the stamps to prove it unchanged (AdoptedUnchanged); tests set 0.
  absl::Duration adopt_racy_margin = absl::Seconds(1);
  // Adoption: when the foreign directory changed between the run's copy and the lock, it is
  // copied again outside the lock (the run's writes applied to the new copy) this many times
  // before the run gives up publishing it; the O(size) comparison never runs under the lock.
  int adopt_recopies = 2;
  // Maintenance commands: when a group this publish wrote was also changed by someone who
  // published after the snapshot, keep theirs (fresh checker output beats an edit decided on
  // stale data). `typecache run` leaves this off: the later publisher wins.
  bool yield_conflicts = false;
  // Directories whose changes cannot be listed group by group (a salvaged corrupt database):
  // their log marks the change as unknown, so others compare every group.
  std::set<std::string> unlisted_dirs;
  // Optional, inside the caller's step: the groups brought over from others' generations,
  // counted against their total.
  Progress* progress = nullptr;
};

struct PublishReport {
  int dirs_published = 0;
  int64_t groups_written = 0;  // Groups this run wrote or deleted.
  int64_t groups_merged = 0;   // Groups others published since the snapshot, carried over.
  int64_t conflicts = 0;       // Groups both wrote: this run's version won.
  int fast_paths = 0;          // Directories published by rename alone.
  int full_merges = 0;         // Directories that needed a comparison of every group.
  // Foreign directories adopted as they were copied (no comparison under the lock).
  int adopted_unchanged = 0;
  // Foreign directories written between the copy and the lock, copied again outside the lock
  // (adopted_unchanged counts those then adopted), and those that kept changing: nothing of the
  // run was published for them.
  int adoption_recopies = 0;
  int adoption_given_up = 0;
  int64_t bytes = 0;            // Size of the published databases.
  std::string checker_version;  // Recorded in Layout::checker_version_path(), when known.
  absl::Duration prepare;       // Finishing capture, outside the lock.
  absl::Duration lock_wait;
  absl::Duration lock_held;
};

// What the prepare step learned about one private database file, so that the new generation's
// content digest (CacheFile::ContentDigest) follows from its parent's in O(groups written).
struct WrittenDigest {
  uint64_t base = 0;  // Exact digest of the group in the snapshot's generation (0: absent).
  uint64_t mine = 0;  // ... and in the private copy (0: absent, i.e. deleted).
};
struct PreparedFile {
  enum class Digest {
    kUnknown,      // No digest for the new generation (the base is not a generation of ours).
    kIncremental,  // From the parent's digest and `groups`: every group the checker wrote.
    kRecompute,    // Read the whole new file after publishing (maintenance commands).
    // `copy_digest` is the private copy's content digest (a maintenance command computed it while
    // editing): recorded as it is when the publish brought nothing over from others into the
    // copy; otherwise read from the new file, as kRecompute.
    kOfCopy,
  };
  Digest digest = Digest::kUnknown;
  uint64_t copy_digest = 0;
  std::map<std::string, WrittenDigest> groups;
};

// The groups the run wrote, per directory and database file, after FinishCapture; and, per
// directory and file, what the new generation's content digest needs (`prepared`; directories
// without it get no digest).
class WriteSets : public std::map<std::string, GroupSets> {
 public:
  using std::map<std::string, GroupSets>::map;
  std::map<std::string, std::map<std::string, PreparedFile>> prepared;
  // Per directory that is not published: its files the run did not write, whose capture was
  // left installed (CaptureEnd::kKeepArmedIfUnchanged); DonateSpare keeps them armed.
  std::map<std::string, std::set<std::string>> armed;
};

// Finishes capture on every private database under snapshot.private_root and fsyncs the
// directories that have something to publish. Groups the run rewrote with the rows its base
// generation holds are dropped (compared by digest: O(rows written), outside the lock). Returns
// what to publish; `captured` (optional) receives every group the checker wrote, including
// rewrites that changed nothing. `progress` (optional, inside the caller's step): the written
// groups digested, against their total.
absl::StatusOr<WriteSets> PrepareForPublish(Fs& fs, const CheckerAdapter& adapter,
                                            const Snapshot& snapshot, WriteSets* captured = nullptr,
                                            Progress* progress = nullptr);

// Publishes the prepared private copy into `store`. After the lock is released it records the
// new generations' content digests (from the parents' digests and what was written: no scan of
// the cache), the checker version, and collects garbage.
absl::StatusOr<PublishReport> Publish(GenerationStore& store, Fs& fs, const CheckerAdapter& adapter,
                                      const Snapshot& snapshot, const WriteSets& writes,
                                      const PublishOptions& options);

// The same into the shared cache directory of `layout` (LocalGenerationStore). `run_id` names
// temporary files.
absl::StatusOr<PublishReport> Publish(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                                      const Snapshot& snapshot, const WriteSets& writes,
                                      const std::string& run_id, const PublishOptions& options);

// Removes generations older than the live one minus `keep` (and their digest records), logs
// beyond `keep_logs`, and trash. Safe without the lock: nothing removed can become live again.
// Errors are returned but callers treat them as warnings.
absl::Status CollectGarbage(Fs& fs, const Layout& layout, const std::string& dir, int64_t live_gen,
                            int keep, int keep_logs, int keep_spares = 0);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_PUBLISH_H_
