// The sync engine of typecache's remote cache (docs/remote.md): a budgeted, fail-once session
// over a BlobStore, catching a lineage's publish log up, appending a record with
// create-if-absent, verifying group objects, and garbage collection. The local side (reading
// and publishing groups) lives in src/commands/remote.cc; this layer never touches the local
// cache.
//
// Contract
//   - RemoteSession: every call first checks the budget (total time spent in store calls) and
//     the failed flag. The first error or timeout of a store call marks the session failed
//     (like ccache's remote backends): later calls return that status at once, no traffic.
//     A request never runs longer than the budget left (the store is reopened with a shorter
//     request timeout when needed), so a session overruns its budget by at most a connect.
//     A miss (nullopt) is not an error.
//   - CatchUp applies log records seq+1, seq+2, ... until a miss. An up-to-date lineage costs
//     one Get. A state never seen, or last caught up more than `fresh_age` ago, first reads the
//     newest snapshot (two more Gets), because gc may have deleted records it would need. A
//     record that fails verification stops the catch-up there (the state keeps what was
//     applied before it) and counts an error; it does not mark the store failed.
//   - AppendRecord publishes one record for the lineage: PutIfAbsent(log/<seq+1>); when another
//     writer won that seq, it catches up and retries at the next seq, recomputing the entries
//     against the newer view (so no publish is lost and the log's order is the store's publish
//     order). Requires capabilities().put_if_absent; otherwise FailedPrecondition.
//   - Packs: FetchPack checks a pack's bytes against the pointer's digest and size and decodes
//     it; VerifyGroup then checks each group of it as VerifyObject checks an object. gc keeps
//     the packs snap/latest pointers name and deletes the others older than min_age.
//   - VerifyObject checks a fetched object completely: size, header (namespace, group, file),
//     decodable rows, every key of the group, the checker's meta/data pairing and row
//     checks, the namespace facts of each meta row, and the digest. Nothing unverified is
//     returned.
// Cost: one round trip per call; GetMany/PutMany use `parallelism` connections.
// A lying store can at worst make a pull apply nothing (bad objects are dropped, bad records
// stop the catch-up) or cost misses; it cannot put an unverified row into the local cache.
#ifndef TYPECACHE_SRC_STORE_REMOTE_SYNC_H_
#define TYPECACHE_SRC_STORE_REMOTE_SYNC_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/checker/checker_adapter.h"
#include "src/store/remote/blob_store.h"
#include "src/store/remote/sync_format.h"

namespace typecache {

struct RemoteCounters {
  int64_t hits = 0;        // groups fetched, verified and applied
  int64_t misses = 0;      // groups wanted whose object was absent
  int64_t bytes_down = 0;  // bytes received (objects, records)
  int64_t bytes_up = 0;    // bytes sent
  int64_t errors = 0;      // store errors and objects/records that failed verification
  int64_t timeouts = 0;    // requests that timed out, or the budget ran out
  int64_t groups_pushed = 0;
  int64_t objects_uploaded = 0;
  int64_t records_read = 0;
  int64_t records_written = 0;
  void Add(const RemoteCounters& o);
  // Every field with its name, in the order Serialize writes them.
  static const std::vector<std::pair<const char*, int64_t RemoteCounters::*>>& Fields();
  // "hits 3\nmisses 0\n..." and back (unknown names ignored).
  std::string Serialize() const;
  static RemoteCounters Parse(absl::string_view text);
};

struct SessionOptions {
  absl::Duration budget = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Milliseconds(200);
  absl::Duration request_timeout = absl::Seconds(2);
  size_t max_object_bytes = size_t{64} << 20;
  int parallelism = 8;
  StoreOptions store;  // S3 settings etc.; the timeouts above override its own
};

class RemoteSession {
 public:
  // InvalidArgument for a bad URL (nothing is contacted yet).
  static absl::StatusOr<std::unique_ptr<RemoteSession>> Open(const std::string& url,
                                                             const SessionOptions& options);

  absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  std::vector<absl::StatusOr<std::optional<std::string>>> GetMany(
      const std::vector<std::string>& keys);
  absl::Status Put(const std::string& key, const std::string& bytes);
  std::vector<absl::Status> PutMany(const std::vector<std::pair<std::string, std::string>>& items);
  absl::StatusOr<bool> PutIfAbsent(const std::string& key, const std::string& bytes);
  absl::StatusOr<std::vector<std::string>> List(const std::string& prefix);
  absl::Status Delete(const std::string& key);

  bool failed() const { return !failure_.ok(); }
  const absl::Status& failure() const { return failure_; }
  RemoteCounters& counters() { return counters_; }
  StoreCapabilities capabilities() const { return store_->capabilities(); }
  std::string description() const { return store_->description(); }
  const SessionOptions& options() const { return options_; }
  absl::Duration spent() const { return spent_; }
  absl::Duration remaining() const { return options_.budget - spent_; }
  // Counts a verification failure (the store answered, but with bad bytes).
  void CountBadData() { ++counters_.errors; }
  // Test hook: marks the session failed as a store error would.
  void MarkFailed(absl::Status status) { Fail(std::move(status)); }

 private:
  RemoteSession(std::string url, SessionOptions options, std::unique_ptr<BlobStore> store)
      : url_(std::move(url)), options_(std::move(options)), store_(std::move(store)) {}
  // OK to go ahead (reopening with a shorter timeout if the budget is nearly spent).
  absl::Status Begin();
  void End(absl::Time start);
  void Fail(absl::Status status);
  // One store call within the budget (Begin, the call, End); its error marks the session failed
  // and the session's failure is returned. Defined in sync.cc, the only user.
  template <typename StoreCall>
  auto Call(const StoreCall& call) -> decltype(call());
  StoreOptions StoreOptionsFor(absl::Duration request_timeout) const;

  std::string url_;
  SessionOptions options_;
  std::unique_ptr<BlobStore> store_;
  absl::Duration current_timeout_;
  absl::Duration spent_ = absl::ZeroDuration();
  absl::Status failure_;
  RemoteCounters counters_;
};

bool IsTimeout(const absl::Status& status);

struct CatchUpResult {
  std::set<std::string> changed;  // groups whose entry differs from before
  int64_t records = 0;
  bool from_snapshot = false;
  bool complete = false;  // reached the end of the log
  // The pack the snapshot pointer named, when this catch-up started from the snapshot.
  std::optional<PackRef> pack;
};

// Brings `state` up to the lineage's newest record. Errors: the session's failure (store
// error, timeout); verification failures stop early but return OK with complete = false.
absl::StatusOr<CatchUpResult> CatchUp(RemoteSession& session, const RemoteKeys& keys,
                                      const std::string& lineage, LineageState& state, int64_t now,
                                      int64_t fresh_age_seconds, int64_t max_records = 100000);

// FailedPrecondition when the session's store cannot create an object only if absent (two
// machines appending at once could overwrite each other's record): nothing may be pushed.
absl::Status CheckCanAppend(RemoteSession& session);

// Appends one record to `lineage`, whose state must be caught up (it is re-caught-up on a lost
// race). `entries_for(view)` returns the entries to publish given the lineage's current view
// (empty: nothing to publish, returns 0). Returns the seq written. Writes snapshot N (and the
// latest pointer, still naming the lineage's pack: one more Get) when seq N is a multiple of
// `snapshot_every`.
absl::StatusOr<int64_t> AppendRecord(
    RemoteSession& session, const RemoteKeys& keys, const std::string& lineage, LineageState& state,
    int64_t now, const std::string& writer,
    const std::function<std::vector<LogEntry>(const View&)>& entries_for,
    int64_t snapshot_every = 100, int max_attempts = 32);

// Writes snapshot `seq` of `view` and points snap/latest at it (and at `pack`, when given).
absl::Status WriteSnapshot(RemoteSession& session, const RemoteKeys& keys,
                           const std::string& lineage, int64_t seq, int64_t now, const View& view,
                           const PackRef* pack = nullptr);

// Fetches the pack `ref` names and checks it: its bytes' digest and size against the ref, the
// header (namespace, lineage), the encoding. nullopt when the store has no such object; a
// DataLoss/OutOfRange error for bad bytes (the session is not marked failed by those).
absl::StatusOr<std::optional<PackObject>> FetchPack(RemoteSession& session, const RemoteKeys& keys,
                                                    const std::string& lineage, const PackRef& ref);

// Verifies decoded rows for (group, entry) of namespace `ns`: everything VerifyObject checks
// after decoding (object.ns, group, file, rows, the checker's checks, the digest). Each meta is
// parsed by the checker's row check, the namespace facts and the normaliser once each; the
// digest reuses the normalised rows.
absl::Status VerifyGroup(const GroupObject& object, const Namespace& ns, absl::string_view group,
                         const ViewEntry& entry, const CheckerAdapter& adapter,
                         const RowHooks& hooks);

// VerifyGroup of many groups (a pack's), on up to `threads` threads: the checks only read their
// group and the hooks and the adapter's row checks are thread-safe, and on a cold pull this is
// a tenth of the work, on a machine whose other cores are idle meanwhile. One status per item,
// in order, each what VerifyGroup returns for it; the caller counts and reports them in order,
// as before.
struct GroupToVerify {
  const GroupObject* object;
  absl::string_view group;
  const ViewEntry* entry;
};
std::vector<absl::Status> VerifyGroups(const std::vector<GroupToVerify>& items,
                                       const Namespace& ns, const CheckerAdapter& adapter,
                                       const RowHooks& hooks, int threads);

// Verifies a fetched object for (group, entry) of namespace `ns` and returns its rows.
absl::StatusOr<GroupObject> VerifyObject(absl::string_view bytes, const Namespace& ns,
                                         absl::string_view group, const ViewEntry& entry,
                                         const CheckerAdapter& adapter, const RowHooks& hooks,
                                         size_t max_bytes);

struct GcOptions {
  int64_t now = 0;
  // Log records, snapshots and objects younger than this are never deleted (covers clock skew
  // and pushers between uploading an object and appending its record).
  int64_t min_age_seconds = 7 * 24 * 3600;
  // Snapshots kept besides those younger than min_age.
  int keep_snapshots = 2;
  bool dry_run = false;
};

struct GcReport {
  std::vector<std::string> lineages;
  int64_t snapshot_seq = 0;  // of the last lineage
  int64_t records_deleted = 0;
  int64_t snapshots_deleted = 0;
  int64_t objects_deleted = 0;
  int64_t objects_kept = 0;
  int64_t packs_deleted = 0;
  int64_t packs_kept = 0;
  int64_t pack_bytes_deleted = 0;  // their sizes (kept: a named pack's size from its pointer)
  int64_t pack_bytes_kept = 0;
};

// Garbage-collects one namespace: for every lineage, writes a snapshot of its current view and
// deletes log records up to it that are older than min_age; then deletes objects referenced by
// no lineage's view nor by any record kept, when older than min_age.
absl::StatusOr<GcReport> GcNamespace(RemoteSession& session, const RemoteKeys& keys,
                                     const GcOptions& options);

// The lineages that have records or snapshots in the namespace (from List).
absl::StatusOr<std::vector<std::string>> ListLineages(RemoteSession& session,
                                                      const RemoteKeys& keys);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_SYNC_H_
