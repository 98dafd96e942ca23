// `typecache verify [--repair]`: integrity, schema, meta/data pairing and mtime agreement, meta
// rows that parse (JSON formats), orphans, leftover -wal/-journal files, stray private copies of
// dead runs. --repair removes broken groups only (never a healthy one), salvages the readable
// groups of a corrupt or truncated database, republishes a database left with a -wal, and sweeps
// dead runs' copies; it lists what it removed.
// Exit codes: 0 clean, 1 problems found (after --repair: problems that remain), 2 could not run.
#ifndef TYPECACHE_SRC_COMMANDS_VERIFY_H_
#define TYPECACHE_SRC_COMMANDS_VERIFY_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/base/progress.h"
#include "src/checker/checker_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"

namespace typecache {

struct Problem {
  std::string where;  // Database file or directory.
  std::string group;  // Empty for whole-database problems.
  std::string what;
  std::string label;  // The group as users read it (CheckerAdapter::GroupLabel).
};

struct VerifyReport {
  int64_t databases = 0;
  int64_t groups = 0;
  std::vector<Problem> problems;
  // Groups in a format this typecache does not know (a newer checker's): reported, never
  // called broken, never removed by --repair.
  std::vector<Problem> unknown;
  std::vector<std::string> repaired;  // What --repair removed or rebuilt.
};

// `progress` (optional): bytes checked so far of the databases' total size.
absl::StatusOr<VerifyReport> Verify(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                    Progress* progress = nullptr);
// Repairs, then verifies again; the report's problems are what remains. Progress goes to
// options.progress.
absl::StatusOr<VerifyReport> Repair(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                    const EditOptions& options);

void PrintVerify(const VerifyReport& report, std::ostream& out, bool json);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_VERIFY_H_
