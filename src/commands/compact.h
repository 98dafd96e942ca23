// `typecache compact`: rewrite every database of the target into a new, compact file (VACUUM of
// a private copy) and publish it the durable, atomic way. Groups are unchanged.
#ifndef TYPECACHE_SRC_COMMANDS_COMPACT_H_
#define TYPECACHE_SRC_COMMANDS_COMPACT_H_

#include "absl/status/statusor.h"
#include "src/checker/checker_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"

namespace typecache {

absl::StatusOr<EditReport> Compact(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                   EditOptions options);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_COMPACT_H_
