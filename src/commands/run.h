// `typecache run [options] -- CHECKER [ARGS...]`: run the checker on a private snapshot of the
// shared cache and publish what it changed.
//
// Cache trouble never fails the user's build: when the cache directory, the snapshot, the lock
// or the publish fails, the checker still runs (on a fresh private cache if need be), a
// "typecache: warning:" line says what went wrong, and the exit status is the checker's.
//
// With a remote store (RunOptions::remote.url, docs/remote.md), a run on the shared cache first
// pulls what other machines published (before its snapshot, so the checker sees it) and, after a
// publish that changed something, pushes the groups it published. Both are bounded by the
// remote budget, never change the exit status, and a failed store is one warning.
#ifndef TYPECACHE_SRC_COMMANDS_RUN_H_
#define TYPECACHE_SRC_COMMANDS_RUN_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/progress.h"
#include "src/checker/checker_adapter.h"
#include "src/commands/remote.h"
#include "src/os/fs.h"
#include "src/store/remote/sync_format.h"

namespace typecache {

enum class PublishPolicy {
  kAuto,    // Publish when the checker succeeded (adapter's rule: mypy exit 0 or 1, no crash).
  kAlways,  // Publish whatever the checker left, unless it was killed by a signal.
  kNever,   // Never publish (read-only use of the shared cache).
};
absl::StatusOr<PublishPolicy> ParsePublishPolicy(absl::string_view text);
const char* PublishPolicyName(PublishPolicy policy);

struct RunOptions {
  // typecache's own --cache-dir / TYPECACHE_DIR, and which of them it was ("--cache-dir",
  // "TYPECACHE_DIR"); empty: the directory the checker itself would use (CheckerAdapter::Plan).
  std::string cache_dir;
  std::string cache_dir_origin;
  // TYPECACHE_DISABLE / `disable`: run the command unchanged (a note on -v).
  bool disabled = false;
  absl::Duration lock_timeout = absl::Seconds(120);
  PublishPolicy publish = PublishPolicy::kAuto;
  bool verbose = false;
  // Size budget of the shared cache in bytes (0: none). After a publish that leaves the cache
  // over budget, the oldest module groups are pruned (like ccache's automatic cleanup).
  int64_t max_size = 0;
  std::vector<std::string> command;
  // The checker's plan for `command`, when the caller already asked for it (it reads the
  // checker's configuration files, and may ask the checker for its version).
  std::optional<CommandPlan> plan;
  // `--remote URL` / TYPECACHE_REMOTE / `remote`: the remote store and how to use it (url empty:
  // none). cache_dir and lock_timeout are filled in by RunCommand; notice is set on verbose.
  RemoteOptions remote;
  // What only the checker knows about its rows (the CLI passes src/checker/mypy/normalize.h's).
  RowHooks remote_hooks;
  // The progress line of the steps before and after the checker (the snapshot of the shared
  // cache, the publish): a first snapshot of a large plain cache takes seconds. Null: none.
  Progress* progress = nullptr;
};

// Runs the command and returns its exit status. Returns an error only when the command could not
// be started at all (nothing ran).
absl::StatusOr<int> RunCommand(Fs& fs, const CheckerAdapter& adapter, const RunOptions& options,
                               const EnvLookup& env, std::ostream& err);

// The shared cache directory `typecache run` uses for `options` in the working directory, made
// absolute, and why ("--cache-dir", "TYPECACHE_DIR", "mypy.ini:3 [mypy] cache_dir", "mypy's
// default"); `plan` (optional) receives the checker's plan for the command.
struct CacheDirChoice {
  std::string path;
  std::string origin;
};
CacheDirChoice ResolveCacheDir(const CheckerAdapter& adapter, const RunOptions& options,
                               const EnvLookup& env, CommandPlan* plan = nullptr);

// A message made readable: paths inside typecache's state directory of `cache_dir` are named as
// users know them (".typecache/gens/3.11/g00000003/cache.db" -> "<cache>/3.11/cache.db").
std::string UserFacingPaths(const std::string& cache_dir, absl::string_view text);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_RUN_H_
