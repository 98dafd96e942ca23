#include "src/store/local/stats.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/base/status_macros.h"
#include "src/os/lock.h"

namespace typecache {

const std::vector<Counter>& KnownCounters() {
  static const std::vector<Counter>* kCounters = new std::vector<Counter>{
      {"runs", "Runs", ""},
      {"runs_published", "Runs published", ""},
      {"runs_unchanged", "Runs that changed nothing", ""},
      {"runs_not_published", "Runs not published (checker failed)", ""},
      {"runs_degraded", "Runs degraded by cache trouble", ""},
      {"runs_bypassed", "Runs passed through unchanged", ""},
      {"publish_fast", "Publishes by rename alone", ""},
      {"publish_merged", "Publishes that merged others' work", ""},
      {"publish_full_merge", "Publishes that compared every group", ""},
      {"groups_written", "Module groups written (misses)", ""},
      {"groups_merged", "Module groups carried over from others", ""},
      {"conflicts", "Conflicts resolved (later run won)", ""},
      {"lock_timeouts", "Lock timeouts", ""},
      {"lock_wait_ms", "Lock wait, total", "ms"},
      {"lock_wait_max_ms", "Lock wait, longest", "ms"},
      {"lock_held_ms", "Lock held, total", "ms"},
      {"lock_held_max_ms", "Lock held, longest", "ms"},
      {"snapshot_ms", "Snapshot time, total", "ms"},
      {"publish_ms", "Publish time, total", "ms"},
      {"checker_ms", "Checker time, total", "ms"},
      {"snapshot_bytes", "Bytes snapshotted", "bytes"},
      {"published_bytes", "Bytes published", "bytes"},
      {"last_run", "Last run", "time"},
      {"zeroed", "Counters zeroed", "time"},
  };
  return *kCounters;
}

void StatsDelta::ApplyTo(std::map<std::string, int64_t>& values) const {
  for (const auto& [name, delta] : add_) values[name] += delta;
  for (const auto& [name, value] : max_) {
    if (value > values[name]) values[name] = value;
  }
  for (const auto& [name, value] : set_) values[name] = value;
}

absl::StatusOr<std::map<std::string, int64_t>> ReadStats(Fs& fs, const Layout& layout) {
  std::map<std::string, int64_t> values;
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(layout.stats_path()));
  if (!info.exists()) return values;
  ASSIGN_OR_RETURN(std::string text, fs.ReadFile(layout.stats_path()));
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    int64_t value = 0;
    if (parts.size() == 2 && absl::SimpleAtoi(parts[1], &value)) {
      values[std::string(parts[0])] = value;
    }
  }
  return values;
}

namespace {

absl::Status WriteStats(Fs& fs, const Layout& layout,
                        const std::map<std::string, int64_t>& values) {
  std::string text;
  for (const auto& [name, value] : values) absl::StrAppend(&text, name, " ", value, "\n");
  return WriteFileAtomic(fs, layout.stats_path(), text);
}

}  // namespace

absl::Status UpdateStats(Fs& fs, const Layout& layout, const StatsDelta& delta) {
  ASSIGN_OR_RETURN(FileLock lock,
                   FileLock::Acquire(fs, layout.stats_lock_path(), absl::Seconds(5)));
  ASSIGN_OR_RETURN(auto values, ReadStats(fs, layout));
  delta.ApplyTo(values);
  return WriteStats(fs, layout, values);
}

absl::Status ZeroStats(Fs& fs, const Layout& layout) {
  ASSIGN_OR_RETURN(FileLock lock,
                   FileLock::Acquire(fs, layout.stats_lock_path(), absl::Seconds(5)));
  return WriteStats(fs, layout, {{"zeroed", absl::ToUnixSeconds(absl::Now())}});
}

}  // namespace typecache
