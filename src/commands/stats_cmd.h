// `typecache stats`: what the directory holds on disk, by bucket, adding up to what `du` counts
// (live generations, old generations, spares, runs in progress, leftovers of dead or failed
// runs, pass-through caches, typecache's own state); what each database holds (size, groups, rows,
// bytes by kind, groups per checker version and layout, dead layouts with the command that removes
// them), per Python version directory with shards in numeric order, and what runs recorded
// (stats.h), as one screen like `ccache -s` or as JSON.
#ifndef TYPECACHE_SRC_COMMANDS_STATS_CMD_H_
#define TYPECACHE_SRC_COMMANDS_STATS_CMD_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/base/progress.h"
#include "src/checker/checker_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"
#include "src/store/local/sweep.h"

namespace typecache {

struct DbStats {
  DbRef ref;
  int64_t size = 0;
  int64_t groups = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  int64_t broken = 0;
  std::map<std::string, int64_t> bytes_by_kind;
  std::map<std::string, int64_t> groups_by_version;  // Checker version -> groups.
  // (checker version, layout) -> groups: ("2.3.1", "<table>, fixed format") -> 52. Groups
  // without a meta row (global rows) count under version "".
  std::map<std::pair<std::string, std::string>, int64_t> groups_by_layout;
  std::vector<std::string> tables;
  // Tables the checker no longer reads beside the others, with why (CheckerAdapter::DeadTables).
  std::map<std::string, std::string> dead_tables;
  std::string dead;   // Why the checker no longer reads this database, or empty.
  std::string error;  // The database could not be read.
};

struct CacheStats {
  std::string path;
  bool is_cache_dir = false;
  std::vector<DbStats> dbs;
  std::map<std::string, int64_t> counters;  // Recorded by runs (cache directories only).
  // What the directory holds on disk, by bucket (cache directories; a file: its own blocks and
  // those of a -wal/-journal beside it, as live).
  DiskUsage disk;
  int64_t size() const;  // The live databases' bytes: what `prune --max-size` budgets.
};

// `progress` (optional): bytes read so far of the databases' total size.
absl::StatusOr<CacheStats> CollectStats(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                        Progress* progress = nullptr);
void PrintStats(const CacheStats& stats, std::ostream& out);
// {"total", "live", "old_generations", "spares", "running", "leftovers", "passthrough", "state"}.
nlohmann::ordered_json DiskUsageJson(const DiskUsage& disk);
void PrintStatsJson(const CacheStats& stats, std::ostream& out);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_STATS_CMD_H_
