#include "src/store/local/stats.h"

#include <iterator>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/base/status_macros.h"
#include "src/os/lock.h"

namespace typecache {

namespace {

// One line per counter, in CounterId order (checked below at compile time).
constexpr Counter kCounters[] = {
    {CounterId::kRuns, "runs", "Runs", ""},
    {CounterId::kRunsPublished, "runs_published", "Runs published", ""},
    {CounterId::kRunsUnchanged, "runs_unchanged", "Runs that changed nothing", ""},
    {CounterId::kRunsNotPublished, "runs_not_published", "Runs not published (checker failed)", ""},
    {CounterId::kRunsDegraded, "runs_degraded", "Runs degraded by cache trouble", ""},
    {CounterId::kPublishFast, "publish_fast", "Publishes by rename alone", ""},
    {CounterId::kPublishMerged, "publish_merged", "Publishes that merged others' work", ""},
    {CounterId::kPublishFullMerge, "publish_full_merge", "Publishes that compared every group", ""},
    {CounterId::kAdoptedUnchanged, "adopted_unchanged", "Adoptions checked by stamps, not compared",
     ""},
    {CounterId::kGroupsWritten, "groups_written", "Module groups written (misses)", ""},
    {CounterId::kGroupsMerged, "groups_merged", "Module groups carried over from others", ""},
    {CounterId::kConflicts, "conflicts", "Conflicts resolved (later run won)", ""},
    {CounterId::kLockTimeouts, "lock_timeouts", "Lock timeouts", ""},
    {CounterId::kLockWaitMs, "lock_wait_ms", "Lock wait, total", "ms"},
    {CounterId::kLockWaitMaxMs, "lock_wait_max_ms", "Lock wait, longest", "ms"},
    {CounterId::kLockHeldMs, "lock_held_ms", "Lock held, total", "ms"},
    {CounterId::kLockHeldMaxMs, "lock_held_max_ms", "Lock held, longest", "ms"},
    {CounterId::kSnapshotMs, "snapshot_ms", "Snapshot time, total", "ms"},
    {CounterId::kPublishMs, "publish_ms", "Publish time, total", "ms"},
    {CounterId::kCheckerMs, "checker_ms", "Checker time, total", "ms"},
    {CounterId::kSnapshotBytes, "snapshot_bytes", "Bytes snapshotted", "bytes"},
    {CounterId::kSnapshotCopies, "snapshot_copies", "Snapshots copied whole (per directory)", ""},
    {CounterId::kSparesFromDonated, "spares_from_donated",
     "Snapshots from a spare of an unchanged run", ""},
    {CounterId::kSparesFromRetired, "spares_from_retired", "Snapshots from a retired generation",
     ""},
    {CounterId::kCapturesKeptArmed, "captures_kept_armed",
     "Spare databases reused with capture still installed", ""},
    {CounterId::kPublishedBytes, "published_bytes", "Bytes published", "bytes"},
    {CounterId::kRemoteHits, "remote_hits", "Remote: groups pulled (hits)", ""},
    {CounterId::kRemoteMisses, "remote_misses", "Remote: groups wanted, not found (misses)", ""},
    {CounterId::kRemoteBytesDown, "remote_bytes_down", "Remote: bytes downloaded", "bytes"},
    {CounterId::kRemoteBytesUp, "remote_bytes_up", "Remote: bytes uploaded", "bytes"},
    {CounterId::kRemoteErrors, "remote_errors", "Remote: store errors", ""},
    {CounterId::kRemoteTimeouts, "remote_timeouts", "Remote: store timeouts", ""},
    {CounterId::kRemoteGroupsPushed, "remote_groups_pushed", "Remote: groups pushed", ""},
    {CounterId::kLastRun, "last_run", "Last run", "time"},
    {CounterId::kZeroed, "zeroed", "Counters zeroed", "time"},
};

constexpr bool InIdOrder() {
  for (size_t i = 0; i < sizeof(kCounters) / sizeof(kCounters[0]); ++i) {
    if (static_cast<size_t>(kCounters[i].id) != i) return false;
  }
  return sizeof(kCounters) / sizeof(kCounters[0]) == static_cast<size_t>(CounterId::kNumCounters);
}
static_assert(InIdOrder(), "kCounters must list every CounterId once, in order");

}  // namespace

const std::vector<Counter>& KnownCounters() {
  static const std::vector<Counter>* kAll =
      new std::vector<Counter>(std::begin(kCounters), std::end(kCounters));
  return *kAll;
}

const Counter& CounterInfo(CounterId id) { return kCounters[static_cast<size_t>(id)]; }

int64_t CounterValue(const std::map<std::string, int64_t>& values, CounterId id) {
  auto it = values.find(CounterInfo(id).name);
  return it == values.end() ? 0 : it->second;
}

void StatsDelta::ApplyTo(std::map<std::string, int64_t>& values) const {
  for (const auto& [name, delta] : add_) values[name] += delta;
  for (const auto& [name, value] : max_) {
    if (value > values[name]) values[name] = value;
  }
  for (const auto& [name, value] : set_) values[name] = value;
}

namespace {

std::map<std::string, int64_t> ParseStats(absl::string_view text) {
  std::map<std::string, int64_t> values;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    int64_t value = 0;
    if (parts.size() == 2 && absl::SimpleAtoi(parts[1], &value)) {
      values[std::string(parts[0])] = value;
    }
  }
  return values;
}

std::string SerializeStats(const std::map<std::string, int64_t>& values) {
  std::string text;
  for (const auto& [name, value] : values) absl::StrAppend(&text, name, " ", value, "\n");
  return text;
}

absl::StatusOr<std::map<std::string, int64_t>> ReadStatsUnlocked(Fs& fs, const Layout& layout) {
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(layout.stats_path()));
  if (!info.exists()) return std::map<std::string, int64_t>();
  ASSIGN_OR_RETURN(std::string text, fs.ReadFile(layout.stats_path()));
  return ParseStats(text);
}

// The file is rewritten in place (below): what a concurrent reader sees is consistent only under
// the lock. A cache directory the reader cannot write (no lock file can be opened) is read as
// it is: nobody can be updating it.
absl::StatusOr<std::map<std::string, int64_t>> ReadStatsLocked(Fs& fs, const Layout& layout) {
  absl::StatusOr<FileLock> lock = FileLock::Acquire(fs, layout.stats_lock_path(), absl::Seconds(5));
  if (!lock.ok() && absl::IsDeadlineExceeded(lock.status())) return lock.status();
  return ReadStatsUnlocked(fs, layout);
}

}  // namespace

absl::StatusOr<std::map<std::string, int64_t>> ReadStats(Fs& fs, const Layout& layout) {
  return ReadStatsLocked(fs, layout);
}

namespace {

absl::Status WriteStats(Fs& fs, const Layout& layout,
                        const std::map<std::string, int64_t>& values) {
  // Counters are advisory: losing the last update in a power cut is acceptable (ccache does not
  // fsync its statistics either), an fsync on every run is not (~1-2 ms of a warm run).
  return WriteFileAtomic(fs, layout.stats_path(), SerializeStats(values), Durability::kUnsynced);
}

// Up to one page, rewritten in place: a single pwrite that a kill cannot tear.
constexpr size_t kInPlaceMax = 4096;

}  // namespace

// Under the lock, the file is rewritten in place (one pwrite of the new text over the old) when
// the new text is no shorter and fits in a page, which is every run's update (counters only
// grow): replacing it by a rename made ext4 allocate and free its blocks on every run, which
// took 0.1-2 ms on a busy disk (issue 12). A shorter text (a counter zeroed) replaces the file.
absl::Status UpdateStats(Fs& fs, const Layout& layout, const StatsDelta& delta) {
  ASSIGN_OR_RETURN(FileLock lock,
                   FileLock::Acquire(fs, layout.stats_lock_path(), absl::Seconds(5)));
  ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(layout.stats_path()));
  if (info.type == FileInfo::Type::kFile) {
    ASSIGN_OR_RETURN(int fd, fs.OpenLockFile(layout.stats_path()));
    absl::StatusOr<std::string> old_text = fs.ReadFd(fd);
    if (!old_text.ok()) {
      fs.CloseFd(fd);
      return old_text.status();
    }
    std::map<std::string, int64_t> values = ParseStats(*old_text);
    delta.ApplyTo(values);
    std::string text = SerializeStats(values);
    if (text.size() >= old_text->size() && text.size() <= kInPlaceMax) {
      absl::Status written = fs.OverwriteFd(fd, text);
      fs.CloseFd(fd);
      return written;
    }
    fs.CloseFd(fd);
    return WriteStats(fs, layout, values);
  }
  ASSIGN_OR_RETURN(auto values, ReadStatsUnlocked(fs, layout));
  delta.ApplyTo(values);
  return WriteStats(fs, layout, values);
}

absl::Status ZeroStats(Fs& fs, const Layout& layout) {
  ASSIGN_OR_RETURN(FileLock lock,
                   FileLock::Acquire(fs, layout.stats_lock_path(), absl::Seconds(5)));
  return WriteStats(fs, layout,
                    {{CounterInfo(CounterId::kZeroed).name, absl::ToUnixSeconds(absl::Now())}});
}

}  // namespace typecache
