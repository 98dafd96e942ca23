// Taking a run's private snapshot of the shared cache.
//
// For every database directory <cache>/<X.Y>, the databases of the live generation are copied
// into <private>/<X.Y>/ (consistently, see ConsistentCopy) and write capture is installed in
// each copy. The snapshot remembers which generation each directory was at, which is what the
// publish step compares against. No lock is taken: live generations are immutable, and a
// generation that disappears under the copy (garbage-collected) is retried from the new one.
// Runs that publish nothing leave their copy as a spare that a later run reuses.
#ifndef TYPECACHE_SRC_STORE_LOCAL_SNAPSHOT_H_
#define TYPECACHE_SRC_STORE_LOCAL_SNAPSHOT_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/progress.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/generation_store.h"
#include "src/store/local/genlog.h"
#include "src/store/local/layout.h"

namespace typecache {

// What a foreign directory's files were just before the snapshot copied them (adoption: see
// AdoptedUnchanged). Keyed by file name, with the "-wal" and "-journal" files beside each
// database (absent ones recorded as missing).
struct AdoptedStamps {
  int64_t taken_ns = 0;  // When they were read (wall clock).
  std::map<std::string, FileInfo> files;
};

struct SnapshotDir {
  std::string name;       // "3.11"
  LiveState base;         // What <cache>/<name> was when copied.
  AdoptedStamps adopted;  // For a foreign base: its files as they were copied.
  // The private copy's files just after capture was installed: a file still the same at the end
  // of the run was not written by the checker (CaptureUntouched), so its capture is neither read
  // nor removed, and it can go back to the spares still armed.
  AdoptedStamps armed;
};

struct Snapshot {
  std::string private_root;  // The checker's cache directory for this run.
  std::vector<SnapshotDir> dirs;
  int64_t bytes = 0;
  int files = 0;
  std::string method;  // How the last file was copied ("reflink", "copy_file_range", ...).
  // How each directory was brought in: a spare a run donated, a retired generation, a copy.
  int spares_from_donated = 0;
  int spares_from_retired = 0;
  int captures_kept_armed = 0;  // Databases of a spare used without InstallCapture.
  int copies = 0;
  absl::Duration took;

  // The base state of `name`; kMissing when the directory was not in the snapshot.
  LiveState BaseOf(absl::string_view name) const;
  // The directory `name` of the snapshot, or nullptr.
  const SnapshotDir* Find(absl::string_view name) const;
};

// Copies the shared cache under `layout` into `private_root` (which must exist and be empty).
// A spare (below) is used instead of a copy when one exists: it is brought up to the live
// generation by replacing the groups the logs say changed since its base (O(changes), not
// O(cache size)); otherwise the databases are copied.
// Generations come from `store`; spares and trash are kept under `layout` (this machine's
// cache directory). `progress` (optional, inside the caller's step): a directory that is copied
// counts the bytes of its databases (the size of each copy so far, while it is made).
absl::StatusOr<Snapshot> TakeSnapshot(GenerationStore& store, Fs& fs, const Layout& layout,
                                      const CheckerAdapter& adapter,
                                      const std::string& private_root,
                                      Progress* progress = nullptr);
// The same with the shared cache directory of `layout` as the store (LocalGenerationStore).
absl::StatusOr<Snapshot> TakeSnapshot(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                                      const std::string& private_root,
                                      Progress* progress = nullptr);

// A maintenance edit's private copy of the directory `name` from a retired spare instead of a
// copy of every database: the spare is claimed (renamed to `to`, which must not exist) and
// brought to `live` (a generation the caller holds) by replacing the groups the logs say changed
// since its base, as a run's snapshot does, but without capture. True when `to` now holds every
// database of `live` with exactly its rows; false (and no `to`) when no retired spare is usable
// (none, too old for the logs, or written in place while it was live). O(changes).
absl::StatusOr<bool> CopyFromRetiredSpare(GenerationStore& store, Fs& fs, const Layout& layout,
                                          const CheckerAdapter& adapter, const std::string& name,
                                          const LiveState& live, const std::string& to);

// Keeps a run's private copy of `name`, which it did not publish, as a spare for a later run:
// the groups it `captured` are restored from its base generation (so the spare is exactly that
// generation), and it is renamed into .typecache/spares/<name>/g<base>.<boot>.<random>; it is
// trusted only within the same boot of the same machine (it is not fsynced). At most `keep`
// spares are kept per directory. A warm run that changes nothing then costs no copy and no
// deletion of a copy. Spares are claimed by renaming them away, so only one run gets each.
// Adoption of a directory typecache never published (or one written behind its back): the copy
// is made outside the lock like any snapshot; the stamps taken before it (inode, size, mtime,
// ctime of each database and of its -wal and -journal) are compared under the publish lock. The
// directory is unchanged since it was copied when every stamp is the same and every file's
// timestamps were already at least `racy_margin` older than the stamps (a write in the same
// clock tick as the stamp would not show in them, as in git's "racy" index entries); then the
// private copy holds every row the directory holds and publishing needs no comparison of groups.
absl::StatusOr<AdoptedStamps> StampForeign(Fs& fs, const CheckerAdapter& adapter,
                                           const std::string& dir);
absl::StatusOr<bool> AdoptedUnchanged(Fs& fs, const CheckerAdapter& adapter,
                                      const AdoptedStamps& adopted, const std::string& dir,
                                      absl::Duration racy_margin);

// True when `file` of the private directory `dir` (and its -wal/-journal) has exactly the stamps
// `armed` recorded, and was last written at least `racy_margin` before they were taken (so that a
// later write in the same clock tick cannot hide behind an equal mtime).
bool CaptureUntouched(Fs& fs, const AdoptedStamps& armed, const std::string& dir,
                      const std::string& file, absl::Duration racy_margin);

// The name of that list in a spare's (and a claimed spare's) <X.Y> directory.
inline constexpr char kArmedMarker[] = ".typecache-armed";
// Removes the list of armed databases a claimed spare brought into the private directory `dir`
// (<private>/<X.Y>): it must not go into a generation. Missing is no error.
absl::Status RemoveArmedMarker(Fs& fs, const std::string& dir);

absl::Status DonateSpare(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                         const Snapshot& snapshot, const std::string& name,
                         const GroupSets& captured, int keep = 1,
                         const std::set<std::string>& still_armed = {});

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_SNAPSHOT_H_
