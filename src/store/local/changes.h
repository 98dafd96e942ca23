// What changed in a cache directory between two generations, read from the generation logs
// (genlog.h), and the helpers that publish and snapshot share to read a generation directory.
#ifndef TYPECACHE_SRC_STORE_LOCAL_CHANGES_H_
#define TYPECACHE_SRC_STORE_LOCAL_CHANGES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/local/genlog.h"
#include "src/store/local/layout.h"

namespace typecache {

// The database files in `dir` (sorted; none when `dir` does not exist).
absl::StatusOr<std::vector<std::string>> DatabaseFiles(Fs& fs, const CheckerAdapter& adapter,
                                                       const std::string& dir);

absl::StatusOr<GenLog> ReadLog(Fs& fs, const Layout& layout, const std::string& dir, int64_t gen,
                               bool with_groups = true);

// The groups that were changed between generation `base` and the live generation `live` of
// `dir`: the union of the logs base+1..live. nullopt when that cannot be known: a log is
// missing or marks an unlisted change, the live directory is not a generation, or its files
// no longer match the stamps in its log (modified in place outside the protocol).
absl::StatusOr<std::optional<GroupSets>> ChangesSince(Fs& fs, const Layout& layout,
                                                      const CheckerAdapter& adapter,
                                                      const std::string& dir, const LiveState& base,
                                                      const LiveState& live);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_CHANGES_H_
