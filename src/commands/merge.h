// `typecache merge --into DEST SRC...`: combine caches from different machines or runs.
//
// Group-atomic: every group in the result comes whole from one input. Three steps per database
// (merge_plan.h has the rules): check that the inputs can mix (table formats, shard layouts,
// checker versions unless allow_mixed); plan, from each input's listing of groups (keys and
// mtimes, no data) and the digests of the groups several inputs hold, which input each group
// comes from (a conflict is a group whose holders differ in content); apply, input by input,
// copying the chosen groups into a private copy of DEST that is then published.
// Cost: one scan of keys and mtimes per input, the rows of groups held more than once (digests)
// and of the groups copied; memory O(groups listed), a 40-byte record and the name's bytes each
// (merge_plan.h's ListedGroups), never rows.
#ifndef TYPECACHE_SRC_COMMANDS_MERGE_H_
#define TYPECACHE_SRC_COMMANDS_MERGE_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/checker/checker_adapter.h"
#include "src/commands/maintenance.h"
#include "src/commands/merge_plan.h"
#include "src/os/fs.h"

namespace typecache {

struct MergeOptions {
  Prefer prefer = Prefer::kNewest;
  bool allow_mixed = false;
  EditOptions edit;  // edit.progress: the progress line (listing, then copying groups).
};

struct MergeReport {
  std::vector<std::string> inputs;    // DEST first, then the sources.
  std::vector<int64_t> groups_taken;  // Per input: groups in the result that came from it.
  int64_t conflicts = 0;              // Groups held by several inputs whose contents differ.
  int64_t bytes = 0;                  // Size of the result.
  EditReport edit;
};

absl::StatusOr<MergeReport> Merge(Fs& fs, const CheckerAdapter& adapter, const Target& dest,
                                  const std::vector<Target>& sources, const MergeOptions& options);
void PrintMerge(const MergeReport& report, std::ostream& out, bool json);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_MERGE_H_
