// Counters that `typecache run` records in <cache>/.typecache/stats and `typecache stats`
// shows. A text file of "name value" lines, updated by a locked read-modify-write under its
// own lock (stats.lock, never the publish lock): rewritten in place by one pwrite when it grows
// (every run's update), replaced atomically when it shrinks; read under the same lock. Statistics
// are not essential: callers log a failure to record them and carry on.
#ifndef TYPECACHE_SRC_STORE_LOCAL_STATS_H_
#define TYPECACHE_SRC_STORE_LOCAL_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/os/fs.h"
#include "src/store/local/layout.h"

namespace typecache {

// The counters runs record, in the order `typecache stats` shows them. Their names are the
// file's keys; names this version does not know (written by another version, or by a command
// that records its own, such as the remote counters) are read, kept and written back as they
// are, so files stay readable both ways between versions.
enum class CounterId {
  kRuns,
  kRunsPublished,
  kRunsUnchanged,
  kRunsNotPublished,
  kRunsDegraded,
  kPublishFast,
  kPublishMerged,
  kPublishFullMerge,
  kAdoptedUnchanged,
  kGroupsWritten,
  kGroupsMerged,
  kConflicts,
  kLockTimeouts,
  kLockWaitMs,
  kLockWaitMaxMs,
  kLockHeldMs,
  kLockHeldMaxMs,
  kSnapshotMs,
  kPublishMs,
  kCheckerMs,
  kSnapshotBytes,
  kSnapshotCopies,
  kSparesFromDonated,
  kSparesFromRetired,
  kCapturesKeptArmed,
  kPublishedBytes,
  kRemoteHits,
  kRemoteMisses,
  kRemoteBytesDown,
  kRemoteBytesUp,
  kRemoteErrors,
  kRemoteTimeouts,
  kRemoteGroupsPushed,
  kLastRun,
  kZeroed,
  kNumCounters,  // Not a counter.
};

struct Counter {
  CounterId id;
  const char* name;   // In the file and in --json.
  const char* label;  // In `typecache stats`.
  const char* unit;   // "", "ms", "bytes", "time"
};
// Every counter, in CounterId order.
const std::vector<Counter>& KnownCounters();
const Counter& CounterInfo(CounterId id);

class StatsDelta {
 public:
  void Add(CounterId id, int64_t delta) { Add(CounterInfo(id).name, delta); }
  void Max(CounterId id, int64_t value) { Max(CounterInfo(id).name, value); }
  void Set(CounterId id, int64_t value) { Set(CounterInfo(id).name, value); }
  // By name: for counters this version does not define (and for callers not yet using ids).
  void Add(const std::string& name, int64_t delta) { add_[name] += delta; }
  void Max(const std::string& name, int64_t value) {
    auto [it, inserted] = max_.emplace(name, value);
    if (!inserted && value > it->second) it->second = value;
  }
  void Set(const std::string& name, int64_t value) { set_[name] = value; }
  void ApplyTo(std::map<std::string, int64_t>& values) const;

 private:
  std::map<std::string, int64_t> add_, max_, set_;
};

// A counter's value in what ReadStats returned (0 when absent).
int64_t CounterValue(const std::map<std::string, int64_t>& values, CounterId id);

absl::StatusOr<std::map<std::string, int64_t>> ReadStats(Fs& fs, const Layout& layout);
absl::Status UpdateStats(Fs& fs, const Layout& layout, const StatsDelta& delta);
absl::Status ZeroStats(Fs& fs, const Layout& layout);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_STATS_H_
