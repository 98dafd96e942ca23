// Removing what crashed runs left behind in <cache>/.typecache/runs: private copies and temporary
// links whose run is dead. A run holds a flock on runs/<id>.lock for its whole life, so a copy
// whose lock can be taken belongs to a dead run. Entries younger than `min_age` are left alone
// (a run that has created its lock file but not yet locked it).
#ifndef TYPECACHE_SRC_STORE_LOCAL_SWEEP_H_
#define TYPECACHE_SRC_STORE_LOCAL_SWEEP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
absl::StatusOr<RunDir> ClaimRunDir(Fs& fs, const Layout& layout, const std::string& id);

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

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_SWEEP_H_
