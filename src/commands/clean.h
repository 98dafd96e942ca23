// `typecache clean`: empty a cache directory of everything typecache and the checker keep there
// (like `ccache -C` or `uv cache clean`): the live databases (<cache>/<X.Y>, typecache's links or
// the checker's own directories), every generation, generation log, spare copy and trash, and
// dead runs' private copies. Kept: typecache.conf, the run counters (`typecache stats --zero`
// resets them), the recorded checker version, the lock files, live runs' private copies (their
// runs publish afterwards as into an empty cache), and any file that is neither typecache's nor
// the checker's.
//
// The removal happens under the publish lock, so no publish is half-visible; a dry run only
// lists what would go.
#ifndef TYPECACHE_SRC_COMMANDS_CLEAN_H_
#define TYPECACHE_SRC_COMMANDS_CLEAN_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"

namespace typecache {

struct CleanOptions {
  absl::Duration lock_timeout = absl::Seconds(120);
  bool dry_run = false;
  std::function<void(const std::string&)> notice;  // "waiting for the publish lock held by ..."
};

struct CleanReport {
  std::string cache_dir;
  bool exists = true;  // False: there was no cache directory to clean.
  bool dry_run = false;
  std::vector<std::string> removed;  // Paths removed (or that would be), as users know them.
  int64_t bytes = 0;                 // Their size.
  int live_runs = 0;                 // Runs alive during the clean, whose copies were kept.
  std::vector<std::string> kept;     // Entries of the cache directory left alone.
};

absl::StatusOr<CleanReport> Clean(Fs& fs, const CheckerAdapter& adapter,
                                  const std::string& cache_dir, const CleanOptions& options);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_CLEAN_H_
