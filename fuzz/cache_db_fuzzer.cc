// libFuzzer target: arbitrary bytes as a cache database file, fed to the code that reads,
// verifies, repairs, merges and prunes. Nothing may crash; errors are fine.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "fuzz/fuzz_tmp.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/maintenance.h"
#include "src/commands/merge.h"
#include "src/commands/prune.h"
#include "src/commands/stats_cmd.h"
#include "src/commands/verify.h"
#include "src/os/fs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace typecache;
  static std::string dir = FuzzTempDir("tc-fuzz-db");
  Fs& fs = RealFs();
  MypyAdapter adapter;
  std::string db = dir + "/input.db";
  (void)RemoveAll(fs, db);
  (void)RemoveAll(fs, dir + "/merged.db");
  (void)fs.WriteNewFile(db, std::string(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<Target> target = ResolveTarget(fs, adapter, db);
  if (!target.ok()) return 0;
  (void)Verify(fs, adapter, *target);
  (void)CollectStats(fs, adapter, *target);
  PruneOptions prune;
  prune.orphans = true;
  prune.edit.dry_run = true;
  (void)Prune(fs, adapter, *target, prune);
  absl::StatusOr<Target> dest = ResolveTarget(fs, adapter, dir + "/merged.db", /*create=*/true);
  if (dest.ok()) {
    (void)Merge(fs, adapter, *dest, {*target}, MergeOptions{});
  }
  EditOptions edit;
  (void)Repair(fs, adapter, *target, edit);
  return 0;
}
