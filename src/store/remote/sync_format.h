// The objects and records of typecache's remote cache protocol (docs/remote.md), as bytes:
// group objects, publish-log records, snapshots, the latest-snapshot pointer, and this machine's
// sync state. Pure functions: no I/O.
//
// Contract
//   - Every Parse* checks what it can before returning anything: magic line, version, the
//     trailing XXH3-128 check line of text records, the namespace/lineage/seq it was asked for,
//     digests of 32 hex digits, sizes within limits. A record that fails any check is
//     DataLossError naming `what`; nothing partial is returned.
//   - A group object's digest (GroupDigest) covers the group name, every row's key, data storage
//     class and *normalised* data (RowHooks::normalize), never the row mtimes: two machines
//     that checked the same source write the same digest. The object itself carries the rows
//     exactly (mtime and data with their storage classes), zstd-compressed, after a small text
//     header (namespace, group, file, rows, uncompressed size, creation time).
//   - DecodeGroupObject never allocates more than max_bytes for the rows (the header's size is
//     checked first; zstd decompression is bounded).
// Cost: O(size) each; zstd level 3 to encode.
#ifndef TYPECACHE_SRC_STORE_REMOTE_SYNC_FORMAT_H_
#define TYPECACHE_SRC_STORE_REMOTE_SYNC_FORMAT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

// What only the checker knows about its rows; the CLI fills it with the mypy implementation
// (src/checker/mypy/normalize.h): {&NormalizeMypyRow, &MypyNamespaceFacts, &MypyLayoutOf}.
// Called from several threads at once (sync.h VerifyGroups): they must be thread-safe.
struct RowHooks {
  // The row's content without machine-local fields (for digests). DataLoss when malformed.
  std::function<absl::StatusOr<std::string>(absl::string_view key, absl::string_view data)>
      normalize;
  // {checker version, platform} recorded in a meta row ({"", ""} for other rows).
  std::function<absl::StatusOr<std::pair<std::string, std::string>>(absl::string_view key,
                                                                    absl::string_view data)>
      facts;
  // The layout name of a database file ("1file", "16shards"); "" if not a database file.
  std::function<std::string(absl::string_view db_file)> layout_of;
};

// One SQLite value with its storage class (the same classes as cachedb's SqlValue).
struct RemoteValue {
  enum class Type { kNull = 0, kInt = 1, kReal = 2, kText = 3, kBlob = 4 };
  Type type = Type::kNull;
  int64_t integer = 0;
  double real = 0;
  std::string bytes;
};

struct RemoteRow {
  std::string key;
  RemoteValue mtime;
  RemoteValue data;
};

// Which rows can be exchanged: one checker version, target Python version, platform and
// database layout. Name(): "mypy-1.0.1_py3.11_linux_1file" (characters outside [A-Za-z0-9.-]
// in a part become '-').
struct Namespace {
  std::string checker;   // "mypy"
  std::string version;   // "1.0.1"
  std::string python;    // "3.11" (the cache's <X.Y> directory)
  std::string platform;  // "linux"
  std::string layout;    // "1file", "16shards"
  std::string Name() const;
  bool operator<(const Namespace& o) const { return Name() < o.Name(); }
  bool operator==(const Namespace& o) const { return Name() == o.Name(); }
};

// The inverse of Name() for names it produced (parts are sanitised, so a version "1.18+dev"
// comes back as "1.18-dev"). InvalidArgument otherwise.
absl::StatusOr<Namespace> ParseNamespaceName(absl::string_view name);
// Same checker, version, platform, Python and layout after sanitising.
bool SameNamespace(const Namespace& a, const Namespace& b);

// Lineage names are [A-Za-z0-9._-]{1,64}; anything else becomes '-' (a branch "feat/x" is
// lineage "feat-x").
std::string SanitizeLineage(absl::string_view name);

// Where everything lives in the store, under an optional prefix.
class RemoteKeys {
 public:
  RemoteKeys(std::string prefix, std::string ns) : prefix_(std::move(prefix)), ns_(std::move(ns)) {}
  std::string Object(absl::string_view digest) const;             // <p>/<ns>/g/<digest>
  std::string ObjectsPrefix() const;                              // <p>/<ns>/g/
  std::string Log(absl::string_view lineage, int64_t seq) const;  // <p>/<ns>/lin/<l>/log/<seq>
  std::string LogPrefix(absl::string_view lineage) const;
  std::string Snap(absl::string_view lineage, int64_t seq) const;  // .../snap/<seq>
  std::string SnapLatest(absl::string_view lineage) const;         // .../snap/latest
  std::string SnapPrefix(absl::string_view lineage) const;
  std::string Pack(absl::string_view digest) const;  // <p>/<ns>/p/<digest>
  std::string PacksPrefix() const;                   // <p>/<ns>/p/
  std::string LineagesPrefix() const;                // <p>/<ns>/lin/
  std::string Marker() const;                        // <p>/namespaces/<ns>
  static std::string MarkersPrefix(absl::string_view prefix);
  // The seq of a log or snapshot key ("…/log/000000000042" -> 42), -1 if not one.
  static int64_t SeqOfKey(absl::string_view key);
  const std::string& ns() const { return ns_; }

 private:
  std::string Base() const;
  std::string prefix_;
  std::string ns_;
};

struct GroupObject {
  std::string ns;
  std::string group;
  std::string file;  // database file inside <X.Y> ("cache.db", "cache.7.db")
  int64_t created = 0;
  std::vector<RemoteRow> rows;  // sorted by key
};

absl::StatusOr<std::string> EncodeGroupObject(const GroupObject& object);
absl::StatusOr<GroupObject> DecodeGroupObject(absl::string_view bytes, size_t max_bytes,
                                              absl::string_view what);
// 32 hex digits. Rows may come in any order (they are sorted by key first).
absl::StatusOr<std::string> GroupDigest(absl::string_view group, std::vector<RemoteRow> rows,
                                        const RowHooks& hooks);
// The same digest from rows already sorted by key and their normalised data (normalized[i] is
// hooks.normalize of rows[i] for text/blob data; ignored for other storage classes), so that a
// caller that already normalised every row does not parse it again.
std::string GroupDigestOfNormalized(absl::string_view group, const std::vector<RemoteRow>& rows,
                                    const std::vector<std::string>& normalized);

// A packed snapshot (docs/remote.md "Packs"): every group of a lineage's view at log position
// `seq` that its writer held, in one zstd frame, for machines starting cold. Stored at
// RemoteKeys::Pack(XXH3-128 of the encoded bytes); each group carries the digest its writer
// computed, and a reader verifies every group it uses like a group object (sync.h VerifyGroup).
struct PackedGroup {
  std::string digest;  // the group's digest as its writer computed it (a claim, verified)
  GroupObject object;  // ns and created are the pack's
};
struct PackObject {
  std::string ns;
  std::string lineage;
  int64_t seq = 0;
  int64_t created = 0;
  std::vector<PackedGroup> groups;  // sorted by group
};
// Where a lineage's newest pack is, recorded in its snap/latest pointer.
struct PackRef {
  int64_t seq = 0;     // the log position the pack holds
  std::string digest;  // XXH3-128 of the pack's bytes: its key
  int64_t bytes = 0;
};
absl::StatusOr<std::string> EncodePack(const PackObject& pack, int level = 6);
// Checks the header (magic, sizes within max_bytes before decompressing) and the encoding;
// nothing partial is returned. The caller checks the digest of `bytes` against the PackRef.
absl::StatusOr<PackObject> DecodePack(absl::string_view bytes, size_t max_bytes,
                                      absl::string_view what);
// The header's creation time (for gc), without decompressing.
absl::StatusOr<int64_t> PackCreated(absl::string_view bytes, absl::string_view what);
bool IsDigest(absl::string_view s);

// What a lineage holds for one group.
struct ViewEntry {
  std::string file;
  std::string digest;
  int64_t bytes = 0;  // compressed object size, for planning and reports
  bool operator==(const ViewEntry& o) const { return file == o.file && digest == o.digest; }
  bool operator!=(const ViewEntry& o) const { return !(*this == o); }
};
using View = std::map<std::string, ViewEntry>;  // group -> entry

struct LogEntry {
  std::string group;
  bool deleted = false;
  ViewEntry entry;  // when not deleted
};

struct LogRecord {
  std::string ns;
  std::string lineage;
  int64_t seq = 0;
  int64_t time = 0;    // unix seconds, the writer's clock
  std::string writer;  // "host pid", informational
  std::vector<LogEntry> entries;
};

struct SnapshotRecord {
  std::string ns;
  std::string lineage;
  int64_t seq = 0;  // the view after log records 1..seq
  int64_t time = 0;
  View view;
};

std::string SerializeLogRecord(const LogRecord& record);
// Checks magic, check line, and that ns/lineage/seq are the expected ones.
absl::StatusOr<LogRecord> ParseLogRecord(absl::string_view text, absl::string_view ns,
                                         absl::string_view lineage, int64_t seq);
void ApplyRecord(const LogRecord& record, View& view);

std::string SerializeSnapshot(const SnapshotRecord& snap);
absl::StatusOr<SnapshotRecord> ParseSnapshot(absl::string_view text, absl::string_view ns,
                                             absl::string_view lineage, int64_t seq);
std::string SerializeLatest(int64_t seq, const PackRef* pack = nullptr);
absl::StatusOr<int64_t> ParseLatest(absl::string_view text);
// The pointer's pack line ("pack <seq> <digest> <bytes>"), nullopt when it has none (readers
// before packs ignore the line). DataLoss as ParseLatest.
absl::StatusOr<std::optional<PackRef>> ParseLatestPack(absl::string_view text);

// This machine's state for one store and namespace.
struct LineageState {
  int64_t seq = 0;      // last log record applied to `view`
  int64_t checked = 0;  // unix seconds of the last catch-up that reached the end of the log
  View view;
};
struct SyncState {
  std::map<std::string, LineageState> lineages;
  std::set<std::string> pending;  // groups a pull wanted but could not get; retried next pull
  bool marked = false;            // the namespace marker was written
};
std::string SerializeSyncState(const SyncState& state);
absl::StatusOr<SyncState> ParseSyncState(absl::string_view text, absl::string_view what);

// The lineages' views combined: a later lineage in `order` overrides an earlier one.
View EffectiveView(const SyncState& state, const std::vector<std::string>& order);

// Percent-escaping of bytes outside '!'..'~' and '%', for names in text records.
std::string EscapeName(absl::string_view name);
absl::StatusOr<std::string> UnescapeName(absl::string_view text);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_SYNC_FORMAT_H_
