// `typecache merge --into DEST SRC...`: combine caches from different machines or runs.
//
// Group-atomic: every group in the result comes whole from one input. Where several inputs hold
// a group, --prefer decides: newest (default: the input whose data row is newest), first or last
// (in command-line order; DEST's existing content counts as the first input). Inputs that cannot
// mix are refused: different table formats (files vs files2), different mypy versions unless
// allow_mixed, different shard layouts. Memory stays flat in the number of rows: inputs are
// read as sorted streams and merged k ways; the plan is kept in an on-disk temporary table.
#ifndef TYPECACHE_SRC_COMMANDS_MERGE_H_
#define TYPECACHE_SRC_COMMANDS_MERGE_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/checker/checker_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"

namespace typecache {

enum class Prefer { kNewest, kFirst, kLast };
absl::StatusOr<Prefer> ParsePrefer(absl::string_view text);

struct MergeOptions {
  Prefer prefer = Prefer::kNewest;
  bool allow_mixed = false;
  bool progress = false;  // Progress line on stderr.
  EditOptions edit;
};

struct MergeReport {
  std::vector<std::string> inputs;    // DEST first, then the sources.
  std::vector<int64_t> groups_taken;  // Per input: groups in the result that came from it.
  int64_t conflicts = 0;              // Groups held by more than one input.
  int64_t bytes = 0;                  // Size of the result.
  EditReport edit;
};

absl::StatusOr<MergeReport> Merge(Fs& fs, const CheckerAdapter& adapter, const Target& dest,
                                  const std::vector<Target>& sources, const MergeOptions& options,
                                  std::ostream& progress);
void PrintMerge(const MergeReport& report, std::ostream& out, bool json);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_MERGE_H_
