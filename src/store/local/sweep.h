// Removing what crashed runs left behind in <cache>/.typecache/runs: private copies and temporary
// links whose run is dead. A run holds a flock on runs/<id>.lock for its whole life, so a copy
// whose lock can be taken belongs to a dead run. Entries younger than `min_age` are left alone
// (a run that has created its lock file but not yet locked it).
#ifndef TYPECACHE_SRC_STORE_LOCAL_SWEEP_H_
#define TYPECACHE_SRC_STORE_LOCAL_SWEEP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/os/lock.h"
#include "src/store/local/layout.h"

namespace typecache {

// A run's private directory runs/<id>/ and the lock on runs/<id>.lock that marks it alive. The
// lock is taken before the directory exists, so the sweeper never sees a live run's directory
// unlocked. Release(): unlock, then remove the lock file (the directory is the caller's).
struct RunDir {
  std::string id;
  std::string path;
  FileLock lock;
  void Release(Fs& fs, const Layout& layout);
};
// The directory is an idle one renamed into place when there is one (ParkRunDir), else made.
absl::StatusOr<RunDir> ClaimRunDir(Fs& fs, const Layout& layout, const std::string& id);

// How many empty run directories are kept for reuse (about as many as runs at once).
inline constexpr int kIdleRunDirs = 4;
// Keeps the empty run directory `path` for a later run (spares/idle/<n>): a rename into a free
// slot. Creating a directory and removing it again cost 0.1-1 ms and more per run on a busy ext4
// (its block is allocated and freed; measured: mkdir 67 us, rmdir 0.96 ms median, under load)
// where two renames cost ~10 us. Returns false (and leaves `path`) when every slot is taken or
// `path` is not empty; the caller removes it then. Idle directories are reclaimable at any time
// like everything in spares/; a run that finds one not empty discards it.
bool ParkRunDir(Fs& fs, const Layout& layout, const std::string& path);

struct SweepReport {
  std::vector<std::string> removed;  // Run ids whose leftovers were removed.
  int live = 0;                      // Runs found alive.
};

// How old a dead run's leftovers must be before they are removed (docs/layout.md): `run`,
// `verify` and `verify --repair` all use this one figure.
inline constexpr absl::Duration kDeadRunMinAge = absl::Seconds(60);

absl::StatusOr<SweepReport> SweepDeadRuns(Fs& fs, const Layout& layout,
                                          absl::Duration min_age = kDeadRunMinAge,
                                          bool dry_run = false);

// The id of a run entry name: "<id>", "<id>.lock", "<id>.3.11.link" -> "<id>".
std::string RunIdOf(absl::string_view entry);

// What dead or failed runs left beyond their entries in runs/, and the runs/ sweep itself.
struct LeftoverReport {
  SweepReport runs;                  // Dead runs' private copies, lock and link files (runs/).
  std::vector<std::string> removed;  // Other paths removed (or, dry run, that would be).
  int64_t bytes = 0;                 // Disk bytes those held (what `du` counted).
  bool lock_busy = false;            // Never-live generations left alone: a publisher is busy.
};

// Reclaims the leftovers of runs that died or failed, each older than `min_age`: their entries
// in runs/ (SweepDeadRuns), trash/ entries nobody finished deleting, and generation directories
// that never went live (a publish that failed or died between renaming its directory into
// gens/<X.Y>/ and switching the link: newer than the live generation, or any generation of a
// directory without a live link). A publisher holds the publish lock between those two steps, so
// never-live generations are removed only under it: `lock_wait` empty takes it only if it is free
// right now (`run` never waits), else waits up to that long. Cost: listing runs/, trash/ and
// gens/<X.Y>/ and reading the live links; never a database. `dry_run`: report, change nothing.
absl::StatusOr<LeftoverReport> ReclaimLeftovers(Fs& fs, const Layout& layout,
                                                absl::Duration min_age = kDeadRunMinAge,
                                                bool dry_run = false,
                                                std::optional<absl::Duration> lock_wait = {});

// What a cache directory holds on disk, in buckets that add up to what `du` counts for it
// (allocated blocks, each inode once, symlinks not followed). docs/layout.md lists what goes
// where.
struct DiskUsage {
  int64_t live = 0;             // The live generations (what <X.Y> points at, or a real <X.Y>).
  int64_t old_generations = 0;  // Older generations, kept for readers and awaiting removal.
  int64_t spares = 0;           // spares/: unpublished copies kept for the next run.
  int64_t running = 0;          // Private copies and files of runs alive now.
  int64_t leftovers = 0;        // Dead or failed runs: copies, links, trash, never-live gens.
  int64_t passthrough = 0;      // passthrough/: the caches of runs that bypass the shared one.
  int64_t state = 0;  // typecache's own state (logs, digests, counters, locks, directories)
                      // and the other files beside the databases.
  int64_t total() const {
    return live + old_generations + spares + running + leftovers + passthrough + state;
  }
};

// Walks the cache directory (every file once: O(files), no database opened). A missing
// directory holds nothing.
absl::StatusOr<DiskUsage> MeasureDiskUsage(Fs& fs, const Layout& layout,
                                           const CheckerAdapter& adapter);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_SWEEP_H_
