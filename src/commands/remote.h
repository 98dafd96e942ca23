// `typecache remote pull|push|status|gc URL`, and the two calls `typecache run --remote` makes:
// sharing a cache across machines through a blob store (Redis, WebDAV, S3), group by group.
// Protocol, keys and guarantees: docs/remote.md.
//
// Contract
//   - pull: for each namespace (checker version, <X.Y>, platform, layout) of this cache (or
//     named by the options), catches the read lineages' logs up, fetches the objects of the
//     groups the remote changed since this machine's last pull whose digest differs from the
//     local group's, verifies each completely (sync.h VerifyObject), and publishes them into
//     the local cache with the maintenance frame (maintenance.h EditTarget: private copy, then
//     the generation protocol under the lock, held only to publish). A local run that published
//     one of those groups meanwhile keeps its version. Nothing unverified reaches the cache.
//   - push: publishes the local groups (all of the live generation, or the ones a run just
//     published) whose digest differs from the read lineages' view: uploads the objects the
//     store does not hold yet, then appends one log record to the write lineage with
//     create-if-absent (a store without it refuses to push).
//   - status: per namespace, each lineage's newest record, how many records this machine is
//     behind, and how many groups differ.
//   - gc: snapshots every lineage and deletes log records, snapshots, packs and objects no
//     longer needed and older than min_age (sync.h GcNamespace).
//   - packs (docs/remote.md "Packs"): `remote push` (the whole live generation) writes one object
//     holding the write lineage's groups at its new record, and a snapshot whose pointer names
//     it, every pack_every records; a pull that starts from a snapshot and wants >=
//     pack_min_groups groups gets it (one Get), verifies each group of it like an object, and
//     fetches what it lacks, holds in another version or holds badly one by one (one warning
//     when the pack is missing, truncated or otherwise bad).
//   - This machine's state: <cache>/.typecache/remote/<store-hash>/<namespace>.state, written
//     atomically under <cache>/.typecache/remote/<store-hash>/lock (held for one command).
//
// Never breaks a build (the run functions): a connect timeout of 200 ms, a total budget of time
// spent talking to the store per run (2 s), and the first store error or timeout marks the store
// failed for the rest of the run: one warning, the local cache keeps working, and the functions
// return a report, never an error. The explicit commands return errors (exit status 1).
//
// Counters (hits, misses, bytes down/up, errors, timeouts, ...) are returned in the report;
// AddRemoteCounters() adds them to a StatsDelta for .typecache/stats as "remote_*". The
// commands record them there themselves; `run` should add them to its own delta.
//
// Cost: pull = one Get per read lineage when up to date; otherwise one Get per new log record
// and per changed group whose digest differs, plus reading those groups locally. push = reading
// the candidate groups locally (all of them for `remote push`), one Put per new object, one
// PutIfAbsent per record.
// A crash leaves the local cache old or new (the publish protocol) and the state file old or
// new (atomic rename); an old state only makes the next pull fetch again.
#ifndef TYPECACHE_SRC_COMMANDS_REMOTE_H_
#define TYPECACHE_SRC_COMMANDS_REMOTE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/local/publish.h"
#include "src/store/local/stats.h"
#include "src/store/remote/sync.h"
#include "src/store/remote/sync_format.h"

namespace typecache {

struct RemoteOptions {
  std::string url;         // redis://, http(s)://, s3:// (blob_store.h)
  std::string cache_dir;   // the shared cache directory (absolute or relative)
  std::string prefix;      // keys under <prefix>/ (several projects in one store); "" = none
  bool read_only = false;  // --remote-read-only: pull, never push
  // Lineages read, in order (a later one overrides an earlier one for the same group); empty:
  // "main", then the write lineage if it is another one.
  std::vector<std::string> read_lineages;
  std::string write_lineage = "main";
  SessionOptions session;  // budget (2 s), connect timeout (200 ms), S3 settings, ...
  absl::Duration lock_timeout = absl::Seconds(120);  // local publish lock
  // Namespaces: those of the local cache and `namespaces`; when there are none (a cold
  // machine), the ones the store lists that match these filters (give at least the Python
  // version; empty = any).
  std::string checker_version;        // "1.0.1"
  std::string python_version;         // "3.11"
  std::string platform;               // "linux"
  std::vector<Namespace> namespaces;  // explicit, in addition
  // A machine whose state was last caught up longer ago than this reads the newest snapshot
  // first (gc may have removed records it would need); must be below gc's min_age minus the
  // clock skew between machines.
  int64_t fresh_age_seconds = 6 * 24 * 3600;
  int64_t snapshot_every = 100;
  // Packs (docs/remote.md "Packs"): a pull that wants at least this many groups and started
  // from a snapshot whose pointer names a pack gets the pack (one Get) instead of one Get per
  // group. A push of the whole cache (`remote push`) that appended a record also writes a pack
  // of the lineage's view and a snapshot naming it (pack_on_push).
  int64_t pack_min_groups = 16;
  bool pack_on_push = true;
  // ... but only when the lineage's pack (named by snap/latest: one more Get) is at least this
  // many records behind, or there is none: a push of one changed module costs its record and
  // object, not a new pack (a cold pull verifies the older pack's groups against the current
  // view and fetches the few that changed since one by one).
  int64_t pack_every = 10;
  // A pull into a cache with no generation in the directories it writes (a cold machine) writes
  // the verified groups straight into a new generation (src/store/local/fresh_publish.h); off:
  // the maintenance frame as for any other pull (for A/B measurements).
  bool direct_cold_publish = true;
  // Threads that verify a pack's groups (sync.h VerifyGroups); 1: on the calling thread only.
  int verify_threads = 2;
  int64_t now = 0;                                 // unix seconds; 0: the clock (tests set it)
  std::function<void(const std::string&)> notice;  // informational lines
};

struct RemoteReport {
  RemoteCounters counters;
  std::vector<std::string> namespaces;
  int64_t groups_changed_remotely = 0;  // pull: groups the remote changed since last pull
  int64_t groups_already_local = 0;     // pull: of those, local already had the same digest
  int64_t groups_applied = 0;           // pull: written into the local cache (incl. deletions)
  int64_t groups_kept_local = 0;        // pull: a local run published them meanwhile
  int64_t packs_used = 0;               // pull: packs fetched and readable
  int64_t groups_from_pack = 0;         // pull: groups taken (verified) from a pack
  int64_t packs_written = 0;            // push: packs uploaded
  int64_t direct_publishes = 0;         // pull: published as a new generation (cold machine)
  int64_t dbs_from_spares = 0;  // pull: databases brought up from a retired generation, not copied
  int64_t groups_pushed = 0;    // push: entries in records appended
  int64_t records_appended = 0;
  bool store_failed = false;
  std::string failure;                // the first store error, for the one warning
  std::vector<std::string> warnings;  // what went wrong, one line each
};

absl::StatusOr<RemoteReport> RemotePull(Fs& fs, const CheckerAdapter& adapter,
                                        const RowHooks& hooks, const RemoteOptions& options);

// `published` empty: every group of the live generation is a candidate. Otherwise only those
// groups (a run's write set); a group in it that the live generation no longer holds is
// published as a deletion when the remote view has it.
absl::StatusOr<RemoteReport> RemotePush(Fs& fs, const CheckerAdapter& adapter,
                                        const RowHooks& hooks, const RemoteOptions& options,
                                        const WriteSets& published = {});

struct RemoteLineageStatus {
  std::string lineage;
  int64_t head = 0;       // newest record seq in the store
  int64_t local_seq = 0;  // what this machine applied
  int64_t groups = 0;     // groups in its view
  int64_t snapshot = 0;   // newest snapshot seq (0: none)
};
struct RemoteNamespaceStatus {
  std::string ns;
  bool local = false;  // this cache holds rows of it
  std::vector<RemoteLineageStatus> lineages;
  int64_t objects = 0;
  int64_t groups_differing = 0;  // local groups whose digest differs from the effective view
  int64_t local_groups = 0;
};
struct RemoteStatusReport {
  std::string store;  // description, credentials redacted
  std::vector<RemoteNamespaceStatus> namespaces;
  RemoteCounters counters;  // of this command
  RemoteCounters recorded;  // remote_* counters recorded in .typecache/stats
};
absl::StatusOr<RemoteStatusReport> RemoteStatus(Fs& fs, const CheckerAdapter& adapter,
                                                const RowHooks& hooks,
                                                const RemoteOptions& options);
std::string FormatRemoteStatus(const RemoteStatusReport& report);

struct RemoteGcReport {
  std::vector<std::pair<std::string, GcReport>> namespaces;
  RemoteCounters counters;
};
// Every namespace the store lists (or options.namespaces).
absl::StatusOr<RemoteGcReport> RemoteGc(Fs& fs, const RemoteOptions& options, const GcOptions& gc);

// Adds the counters to `delta` as remote_hits, remote_misses, remote_bytes_down,
// remote_bytes_up, remote_errors, remote_timeouts, remote_groups_pushed.
void AddRemoteCounters(const RemoteCounters& counters, StatsDelta& delta);

// For `typecache run --remote URL`: one per run, shared by the two calls below so that a
// failure during the pull also skips the push and the budget covers both.
class RemoteRunState {
 public:
  RemoteRunState() = default;
  const RemoteReport& report() const { return report_; }

 private:
  friend RemoteReport RemotePullBeforeRun(Fs& fs, const CheckerAdapter& adapter,
                                          const RowHooks& hooks, const RemoteOptions& options,
                                          RemoteRunState& state);
  friend RemoteReport RemotePushAfterPublish(Fs& fs, const CheckerAdapter& adapter,
                                             const RowHooks& hooks, const RemoteOptions& options,
                                             const WriteSets& published, RemoteRunState& state);
  std::shared_ptr<RemoteSession> session_;
  bool warned_ = false;
  RemoteReport report_;
};

// Call before the run's snapshot. Never fails: problems are in the report's warnings (print the
// first as one "typecache: warning:") and the run goes on with its local cache.
RemoteReport RemotePullBeforeRun(Fs& fs, const CheckerAdapter& adapter, const RowHooks& hooks,
                                 const RemoteOptions& options, RemoteRunState& state);
// Call after a successful publish with the groups it published. Does nothing when read-only,
// when the store failed during the pull, or when `published` is empty.
RemoteReport RemotePushAfterPublish(Fs& fs, const CheckerAdapter& adapter, const RowHooks& hooks,
                                    const RemoteOptions& options, const WriteSets& published,
                                    RemoteRunState& state);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_REMOTE_H_
