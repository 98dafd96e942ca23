// The common frame of the maintenance commands (merge, prune, verify --repair, compact): what
// they operate on, and how an edit is published.
//
// A target is a cache directory (every <X.Y> directory and its databases) or one database file.
// An edit copies each database to a private file (outside any lock), lets the command change the
// copy and report which groups it changed, then publishes:
// - cache directory: through the same generation protocol as `typecache run` (publish.h), so
//   the lock is held only for the publish step and concurrent runs lose nothing; groups that a
//   run published meanwhile win over the edit (yield_conflicts).
// - single file: under a lock file beside it, re-checking that nobody replaced the file since
//   the copy (else the edit is redone), then fsync, rename over the file, fsync the directory.
// Inputs are never modified before that final rename.
#ifndef TYPECACHE_SRC_COMMANDS_MAINTENANCE_H_
#define TYPECACHE_SRC_COMMANDS_MAINTENANCE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/progress.h"
#include "src/cachedb/cache_file.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/local/publish.h"

namespace typecache {

struct DbRef {
  std::string dir;    // "3.11" (cache directory targets), "" for a single file.
  std::string file;   // "cache.db", "cache.7.db"
  std::string path;   // The live database ("" when it does not exist yet).
  std::string shown;  // How messages name it: "<cache>/3.11/cache.db" or the file's path.
};

// The generations a cache directory target's databases are in, held (GenerationReadLock, shared
// flock) from ResolveTarget on, so that none is retired into a spare and rewritten while the
// command reads it (docs/protocol.md). Shared by the copies of the Target; let go when the last
// copy is destroyed or on Release() (EditTarget lets go just before it publishes, so that its
// own collection retires what it read). Letting go collects what a publish meanwhile left
// behind because of it (CollectAfterReading).
class HeldGenerations {
 public:
  HeldGenerations(Fs& fs, std::string cache_dir) : fs_(fs), cache_dir_(std::move(cache_dir)) {}
  ~HeldGenerations() { Release(); }
  HeldGenerations(const HeldGenerations&) = delete;
  HeldGenerations& operator=(const HeldGenerations&) = delete;
  void Hold(const std::string& dir, int64_t gen, GenerationReadLock lock);
  void Release();
  bool empty() const { return locks_.empty(); }

 private:
  Fs& fs_;
  std::string cache_dir_;
  std::vector<std::pair<std::string, int64_t>> gens_;
  std::vector<GenerationReadLock> locks_;
};

struct Target {
  enum class Kind { kCacheDir, kFile };
  Kind kind = Kind::kCacheDir;
  std::string path;  // Absolute.
  std::vector<DbRef> dbs;
  // Cache directory targets: what each <X.Y> was when its databases were listed, and the
  // generations among them, held.
  std::map<std::string, LiveState> live;
  std::shared_ptr<HeldGenerations> held;
};

// Resolves a path given on the command line. A missing path, or a file that is not a regular
// file or directory, is an error naming it. `create` allows a missing target (merge --into).
absl::StatusOr<Target> ResolveTarget(Fs& fs, const CheckerAdapter& adapter, const std::string& path,
                                     bool create = false);

struct DbChange {
  std::set<std::string> groups;  // Groups written or deleted in the copy.
  bool unlisted = false;         // The copy was rebuilt; its changes cannot be listed.
  bool republish = false;        // Publish the copy even though no group changed.
  // The copy's content digest (CacheFile::ContentDigest) as the editor left it, when the editor
  // knows it (merge); otherwise it is read from the published file.
  std::optional<uint64_t> digest;
};

// Changes the private copy at `private_path` (it exists unless ref.path is empty).
using DbEditor =
    std::function<absl::StatusOr<DbChange>(const DbRef& ref, const std::string& private_path)>;

struct EditOptions {
  absl::Duration lock_timeout = absl::Seconds(120);
  bool dry_run = false;        // Edit copies, report, publish nothing.
  bool force_publish = false;  // Publish even without changed groups (compact).
  std::vector<DbRef> extra;    // Databases to create (merge into a cache lacking them).
  std::function<void(const std::string&)> notice;
  // The command's progress line (null: none). EditTarget names its own steps in it (copying a
  // database, publishing) as the step's detail; the command starts the step and counts.
  Progress* progress = nullptr;
  // Adoption of a directory typecache did not publish (PublishOptions::adopt_racy_margin): its
  // files must be this much older than the stamps taken before the copy; tests set 0.
  absl::Duration adopt_racy_margin = absl::Seconds(1);
  // Start a directory's private copy from a retired generation brought up to date from the logs
  // (O(changes)) when one is usable, instead of copying every database. Off for edits that must
  // see the live files' own bytes (verify --repair: damage in a group the logs say is unchanged
  // would not be in the spare). Never with dry_run.
  bool from_spares = true;
};

struct EditReport {
  int dbs_changed = 0;
  int64_t groups_changed = 0;
  int64_t bytes_before = 0;
  int64_t bytes_after = 0;
  int dbs_from_spares = 0;  // Databases whose private copy was a retired spare, not a copy.
  PublishReport publish;
};

absl::StatusOr<EditReport> EditTarget(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                      const DbEditor& editor, const EditOptions& options);

// CheckReadable(path) (src/cachedb/cache_file.h) checks that SQLite can read a database.

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_MAINTENANCE_H_
