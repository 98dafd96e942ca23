// `typecache prune`: evict whole module groups by age, by size budget, by checker version and by
// missing source files; optionally drop orphans and the dead tables of older mypy formats.
//
// --max-size: the budget covers the live databases (the sum of their sizes, what `typecache
// stats` shows as the size of the live databases); old generations, spares and typecache's own
// state are not in it. Leftovers of dead or failed runs are reclaimed first (sweep.h). Groups are
// evicted oldest first (by their newest row's mtime) across all databases of the target until
// the estimated size fits; the copies are then vacuumed, and while the real size is still over
// budget, more groups go, round after round. The result is within budget, exactly; if even empty
// databases would not fit, that is an error after evicting every group.
#ifndef TYPECACHE_SRC_COMMANDS_PRUNE_H_
#define TYPECACHE_SRC_COMMANDS_PRUNE_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/checker/checker_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"

namespace typecache {

struct PruneOptions {
  std::optional<absl::Duration> older_than;
  std::optional<int64_t> max_size;  // Bytes, for the whole target.
  // Evict groups of other checker versions. "current": the version the latest `typecache run`
  // on this cache directory recorded (never the checker first on PATH).
  std::optional<std::string> keep_version;
  std::optional<std::string> missing_sources_root;
  bool orphans = false;
  bool dead_tables = false;
  // Empty the databases the checker no longer reads (CheckerAdapter::IsDeadDatabase: mypy 1.x's
  // cache.db beside mypy 2.x's shards).
  bool dead_layouts = false;
  absl::Time now = absl::Now();
  EditOptions edit;
};

struct Eviction {
  std::string db;  // Database path.
  std::string group;
  std::string reason;
  int64_t bytes = 0;
};

struct PruneReport {
  std::vector<Eviction> evicted;
  std::vector<std::string> dropped_tables;
  int64_t size_before = 0;
  int64_t size_after = 0;
  std::optional<int64_t> budget;    // --max-size, when given.
  int64_t leftovers_reclaimed = 0;  // Disk bytes of dead or failed runs' leftovers removed.
  int rounds = 0;                   // Edits published (each one generation).
  bool dry_run = false;
};

absl::StatusOr<PruneReport> Prune(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                  const PruneOptions& options);
// One summary line (groups evicted, bytes freed, size before -> after against the budget);
// `list`: first one line per evicted group and dropped table.
void PrintPrune(const PruneReport& report, std::ostream& out, bool json, bool list = true);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_PRUNE_H_
