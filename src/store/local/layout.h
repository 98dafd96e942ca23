// Where typecache keeps things inside a shared cache directory, and how generations are named.
// docs/layout.md explains the layout to a newcomer:
//
//   <cache>/<X.Y>                    symlink -> .typecache/gens/<X.Y>/g00000042 (what mypy opens)
//   <cache>/.typecache/lock          the publish lock (flock)
//   <cache>/.typecache/gens/<X.Y>/g<N>/cache.db ...   generation N of <X.Y>, immutable once live
//   <cache>/.typecache/logs/<X.Y>/g<N>.log            groups generation N changed (genlog.h)
//   <cache>/.typecache/digests/<X.Y>/g<N>             content digests of its files (genlog.h)
//   <cache>/.typecache/runs/<id>.lock, <id>/          a run's private copy, locked while alive
//   <cache>/.typecache/spares/<X.Y>/g<N>.<tag>.<rand>/ copies of generation N kept for reuse
//                                    (<tag>: a boot id, or "retired": local_store.h)
//   <cache>/.typecache/spares/idle/<n>/               empty run directories kept for reuse
//   <cache>/.typecache/trash/                         removed after the lock is released
//   <cache>/.typecache/passthrough/                   the checker's cache for bypassing runs
//   <cache>/.typecache/stats         counters recorded by runs (stats.h)
//   <cache>/typecache.conf           per-cache configuration (config.h)
#ifndef TYPECACHE_SRC_STORE_LOCAL_LAYOUT_H_
#define TYPECACHE_SRC_STORE_LOCAL_LAYOUT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/generation_store.h"

namespace typecache {

class Layout {
 public:
  explicit Layout(std::string cache_dir) : cache_dir_(std::move(cache_dir)) {}

  const std::string& cache_dir() const { return cache_dir_; }
  std::string state_dir() const { return JoinPath(cache_dir_, ".typecache"); }
  std::string lock_path() const { return JoinPath(state_dir(), "lock"); }
  std::string stats_path() const { return JoinPath(state_dir(), "stats"); }
  // The checker version the latest published run wrote ("1.20.2"): what `prune --keep-version
  // current` keeps.
  std::string checker_version_path() const { return JoinPath(state_dir(), "checker-version"); }
  std::string stats_lock_path() const { return JoinPath(state_dir(), "stats.lock"); }
  std::string runs_dir() const { return JoinPath(state_dir(), "runs"); }
  std::string trash_dir() const { return JoinPath(state_dir(), "trash"); }
  std::string all_gens_dir() const { return JoinPath(state_dir(), "gens"); }
  std::string all_spares_dir() const { return JoinPath(state_dir(), "spares"); }
  // Where a run that bypasses the shared cache (the checker's own cache format, the checker's
  // daemon) has the checker keep its cache, so that it never writes into a generation.
  std::string passthrough_dir() const { return JoinPath(state_dir(), "passthrough"); }
  std::string config_path() const { return JoinPath(cache_dir_, "typecache.conf"); }

  // <cache>/<dir>: the path mypy opens.
  std::string live_path(absl::string_view dir) const { return JoinPath(cache_dir_, dir); }
  std::string gens_dir(absl::string_view dir) const {
    return JoinPath(JoinPath(state_dir(), "gens"), dir);
  }
  // Private copies kept for reuse (snapshot.h): spares/<X.Y>/g<N>.<random>/.
  std::string spares_dir(absl::string_view dir) const {
    return JoinPath(JoinPath(state_dir(), "spares"), dir);
  }
  // Empty run directories kept for the next run to rename into runs/<id> (sweep.h): slot `n`.
  std::string idle_runs_dir() const { return JoinPath(JoinPath(state_dir(), "spares"), "idle"); }
  std::string idle_run_path(int n) const;
  std::string logs_dir(absl::string_view dir) const {
    return JoinPath(JoinPath(state_dir(), "logs"), dir);
  }
  std::string gen_path(absl::string_view dir, int64_t gen) const;
  std::string log_path(absl::string_view dir, int64_t gen) const;
  // Content digests of generation `gen`'s files, written after it went live (genlog.h). Apart
  // from the logs: readers of logs/ (older typecache versions, tools) see only logs there.
  std::string digests_dir(absl::string_view dir) const {
    return JoinPath(JoinPath(state_dir(), "digests"), dir);
  }
  std::string digest_path(absl::string_view dir, int64_t gen) const;
  // The symlink text that makes <cache>/<dir> point at generation `gen` (relative).
  static std::string LinkTarget(absl::string_view dir, int64_t gen);
  static std::string GenName(int64_t gen);
  // Parses "g00000042" -> 42; -1 if not a generation name.
  static int64_t ParseGenName(absl::string_view name);

  // Creates the cache directory and the state directories; a cache directory that did not exist
  // also gets the files the checker writes beside its databases
  // (CheckerAdapter::FilesWrittenBeside: a cache directory tag, a .gitignore).
  absl::Status Create(Fs& fs, const CheckerAdapter& adapter) const;
  absl::Status Create(Fs& fs, const std::vector<std::pair<std::string, std::string>>& beside) const;
  // Without an adapter: no checker files (kept for callers that have none at hand).
  absl::Status Create(Fs& fs) const;

 private:
  std::string cache_dir_;
};

// What <cache>/<dir> currently is (GenerationHead: missing, generation N, or foreign).
using LiveState = GenerationHead;

// Reads <cache>/<dir>: missing, one of our generations, or a foreign directory (a real
// directory written by mypy directly, or a symlink pointing elsewhere).
absl::StatusOr<LiveState> ReadLiveState(Fs& fs, const Layout& layout, absl::string_view dir);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_LAYOUT_H_
