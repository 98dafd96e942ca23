#include "src/commands/run.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "src/base/enum_names.h"
#include "src/base/status_macros.h"
#include "src/commands/config.h"
#include "src/commands/maintenance.h"
#include "src/commands/prune.h"
#include "src/os/lock.h"
#include "src/os/subprocess.h"
#include "src/store/local/layout.h"
#include "src/store/local/publish.h"
#include "src/store/local/snapshot.h"
#include "src/store/local/stats.h"
#include "src/store/local/sweep.h"
#include "src/store/remote/blob_store.h"

namespace typecache {
namespace {

int64_t Ms(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

std::string MakeRunId() {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  // Run ids contain no '.', so "<id>.lock" and "<id>.3.11.link" map back to their id.
  std::string safe = absl::StrReplaceAll(host, {{".", "_"}, {"/", "_"}});
  return absl::StrCat(safe.empty() ? "host" : safe, "-", ::getpid(), "-", RandomSuffix());
}

// The private directory and the run lock that keeps the sweeper away from it.
struct PrivateCache {
  std::string root;
  std::optional<RunDir> run_dir;  // Held while the run is alive (shared caches only).
  bool shared = false;            // Inside the shared cache (publishable) or a fallback temp dir.
};

absl::StatusOr<PrivateCache> MakePrivateCache(Fs& fs, const Layout& layout,
                                              const CheckerAdapter& adapter,
                                              const std::string& id) {
  PrivateCache cache;
  RETURN_IF_ERROR(layout.Create(fs, adapter));
  ASSIGN_OR_RETURN(RunDir run_dir, ClaimRunDir(fs, layout, id));
  cache.root = run_dir.path;
  cache.run_dir.emplace(std::move(run_dir));
  cache.shared = true;
  return cache;
}

absl::StatusOr<PrivateCache> MakeFallbackCache() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = JoinPath(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "typecache.XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) return ErrnoStatus(errno, "cannot create", templ);
  PrivateCache cache;
  cache.root = templ;
  return cache;
}

// typecache's own lines on stderr, prefixed "typecache:", with user-facing paths.
class Reporter {
 public:
  explicit Reporter(std::ostream& err) : err_(err) {}
  void SetCacheDir(std::string cache_dir) { cache_dir_ = std::move(cache_dir); }
  void Warn(absl::string_view text) {
    err_ << "typecache: warning: " << UserFacingPaths(cache_dir_, text) << std::endl;
  }
  void Note(absl::string_view text) {
    err_ << "typecache: " << UserFacingPaths(cache_dir_, text) << std::endl;
  }

 private:
  std::ostream& err_;
  std::string cache_dir_;
};

// Whether the checker left files in a database directory of its private cache that are not
// databases (mypy < 1.20 writing JSON files because nothing turned its SQLite cache on).
bool LeftFilesButNoDatabase(Fs& fs, const CheckerAdapter& adapter, const std::string& root) {
  absl::StatusOr<std::vector<std::string>> dirs = fs.ListDir(root);
  if (!dirs.ok()) return false;
  for (const std::string& dir : *dirs) {
    if (!adapter.IsDatabaseDir(dir)) continue;
    absl::StatusOr<std::vector<std::string>> names = fs.ListDir(JoinPath(root, dir));
    if (!names.ok()) continue;
    for (const std::string& name : *names) {
      if (name == kArmedMarker) continue;  // typecache's own, from the spare it claimed.
      absl::string_view base = name;
      for (absl::string_view suffix : {"-wal", "-shm", "-journal"}) {
        if (absl::ConsumeSuffix(&base, suffix)) break;
      }
      if (!adapter.IsDatabaseFile(base)) return true;
    }
  }
  return false;
}

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// Deletes `path` in a detached grandchild (its own session, stdio on /dev/null, lowest CPU
// priority), so the caller can exit with the checker's status at once. If anything fails, the
// trash is still removed by a later run's garbage collection.
void RemoveInBackground(Fs& fs, const std::string& path) {
  pid_t child = ::fork();
  if (child < 0) {
    (void)RemoveAll(fs, path);
    return;
  }
  if (child > 0) {
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return;
  }
  ::setsid();
  if (::fork() != 0) ::_exit(0);
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, 0);
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
  }
  if (::nice(19) == -1) {
    // Keep going at normal priority.
  }
  (void)RemoveAll(RealFs(), path);
  ::_exit(0);
}

// Prunes the oldest groups when the shared cache is over its budget. Trouble is a warning.
void EnforceMaxSize(Fs& fs, const CheckerAdapter& adapter, const Layout& layout,
                    const RunOptions& options, Reporter& report) {
  absl::StatusOr<Target> target = ResolveTarget(fs, adapter, layout.cache_dir());
  if (!target.ok()) return;
  int64_t size = 0;
  for (const DbRef& ref : target->dbs) {
    absl::StatusOr<FileInfo> info = fs.Stat(ref.path);
    if (info.ok()) size += info->size;
  }
  if (size <= options.max_size) return;
  PruneOptions prune;
  prune.max_size = options.max_size;
  prune.edit.lock_timeout = options.lock_timeout;
  prune.edit.progress = options.progress;  // A large eviction reads the whole cache.
  absl::StatusOr<PruneReport> pruned = Prune(fs, adapter, *target, prune);
  if (!pruned.ok()) {
    report.Warn(
        absl::StrCat("cannot prune the shared cache to its max_size: ", pruned.status().message()));
  } else if (options.verbose) {
    report.Note(absl::StrCat(
        "pruned ",
        Plural(static_cast<int64_t>(pruned->evicted.size()), "module group", "module groups"),
        " to fit max_size ", FormatSize(options.max_size), ": ", FormatSize(pruned->size_before),
        " -> ", FormatSize(pruned->size_after)));
  }
}

// `run --remote` (docs/remote.md): the pull before the snapshot and the push after the publish
// share one RemoteRunState (one budget, one failure). Each warning is printed once (the reports
// accumulate); on -v, one line per step.
class RemoteSync {
 public:
  RemoteSync(Fs& fs, const CheckerAdapter& adapter, const RunOptions& options, const Layout& layout,
             Reporter& report)
      : fs_(fs),
        adapter_(adapter),
        hooks_(options.remote_hooks),
        report_(report),
        verbose_(options.verbose),
        store_(RedactUrl(options.remote.url)) {
    options_ = options.remote;
    options_.cache_dir = layout.cache_dir();
    options_.lock_timeout = options.lock_timeout;
    // A cold cache pulls only the Python version the command checks for, when it says.
    if (options_.python_version.empty() && options.plan.has_value()) {
      options_.python_version = options.plan->target_version;
    }
    if (verbose_) options_.notice = [&report](const std::string& text) { report.Note(text); };
  }

  void Pull() {
    absl::Time start = absl::Now();
    const RemoteReport& r = RemotePullBeforeRun(fs_, adapter_, hooks_, options_, state_);
    PrintWarnings(r);
    if (verbose_ && !r.store_failed) {
      report_.Note(absl::StrFormat(
          "remote: pulled from %s: %s applied, %d changed remotely, %d already here, %d kept "
          "local; %d hits, %d misses, %s down, in %.0f ms",
          store_, Plural(r.groups_applied, "module group", "module groups"),
          r.groups_changed_remotely, r.groups_already_local, r.groups_kept_local, r.counters.hits,
          r.counters.misses, FormatSize(r.counters.bytes_down),
          absl::ToDoubleMilliseconds(absl::Now() - start)));
    }
  }

  void Push(const WriteSets& published) {
    if (options_.read_only) {
      if (verbose_) report_.Note(absl::StrCat("remote: read-only: not pushing to ", store_));
      return;
    }
    absl::Time start = absl::Now();
    int64_t bytes_before = state_.report().counters.bytes_up;
    int64_t pushed_before = state_.report().groups_pushed;
    const RemoteReport& r =
        RemotePushAfterPublish(fs_, adapter_, hooks_, options_, published, state_);
    PrintWarnings(r);
    if (verbose_ && !r.store_failed) {
      report_.Note(
          absl::StrFormat("remote: pushed to %s: %s, %s up, in %.0f ms", store_,
                          Plural(r.groups_pushed - pushed_before, "module group", "module groups"),
                          FormatSize(r.counters.bytes_up - bytes_before),
                          absl::ToDoubleMilliseconds(absl::Now() - start)));
    }
  }

  void AddCounters(StatsDelta& stats) const { AddRemoteCounters(state_.report().counters, stats); }

 private:
  // The warnings of `r` not printed yet: the report accumulates over the pull and the push (and
  // puts its one "store unavailable" line first).
  void PrintWarnings(const RemoteReport& r) {
    std::map<std::string, int> seen = printed_;
    for (const std::string& w : r.warnings) {
      if (seen[w] > 0) {
        --seen[w];
        continue;
      }
      ++printed_[w];
      report_.Warn(w);
    }
  }

  Fs& fs_;
  const CheckerAdapter& adapter_;
  const RowHooks& hooks_;
  Reporter& report_;
  bool verbose_;
  std::string store_;
  RemoteOptions options_;
  RemoteRunState state_;
  std::map<std::string, int> printed_;
};

// A command that bypasses the shared cache runs as given, except where the checker would keep
// its own cache: inside a cache directory in typecache's layout, <dir>/<X.Y> is a link to a
// live generation, which must never be written. There the checker's cache goes to
// .typecache/passthrough/ instead (kept: the next such run is warm). A cache directory that is
// not typecache's (no .typecache/) is left to the checker.
absl::StatusOr<int> RunPassThrough(Fs& fs, const CheckerAdapter& adapter, const RunOptions& options,
                                   const CommandPlan& plan, Reporter& report) {
  ChildSpec spec{options.command, {}, "", 1, 2};
  if (!plan.cache_dir.empty()) {
    Layout layout(plan.cache_dir);
    absl::StatusOr<FileInfo> state = fs.Lstat(layout.state_dir());
    if (state.ok() && state->is_dir()) {
      absl::StatusOr<Invocation> inv = adapter.Redirect(options.command, layout.passthrough_dir());
      if (inv.ok()) {
        spec.argv = inv->argv;
        spec.set_env = inv->set_env;
        if (options.verbose) {
          report.Note(absl::StrCat("except that the checker's own cache goes to ",
                                   layout.passthrough_dir(),
                                   ", never into a generation of the shared cache"));
        }
      }
    }
  }
  ASSIGN_OR_RETURN(ChildResult child, RunChild(spec));
  return child.exit_code;
}

}  // namespace

namespace {

constexpr EnumName<PublishPolicy> kPublishPolicies[] = {{PublishPolicy::kAuto, "auto"},
                                                        {PublishPolicy::kAlways, "always"},
                                                        {PublishPolicy::kNever, "never"}};

}  // namespace

absl::StatusOr<PublishPolicy> ParsePublishPolicy(absl::string_view text) {
  return ParseName(text, kPublishPolicies, "publish policy");
}

const char* PublishPolicyName(PublishPolicy policy) { return NameOf(policy, kPublishPolicies); }

CacheDirChoice ResolveCacheDir(const CheckerAdapter& adapter, const RunOptions& options,
                               const EnvLookup& env, CommandPlan* plan) {
  CommandPlan local;
  CommandPlan& p = plan != nullptr ? *plan : local;
  p = options.plan.has_value() ? *options.plan
                               : adapter.Plan(options.command, env, AbsolutePath("."));
  if (!options.cache_dir.empty()) {
    return {AbsolutePath(options.cache_dir),
            options.cache_dir_origin.empty() ? "--cache-dir" : options.cache_dir_origin};
  }
  std::string origin = p.cache_dir_origin;
  if (origin == "default") {
    origin = absl::StrCat(adapter.name(), "'s default, ", adapter.DefaultCacheDir());
  } else if (origin == "--cache-dir flag") {
    origin = absl::StrCat(adapter.name(), "'s --cache-dir");
  }
  return {p.cache_dir, origin};
}

std::string UserFacingPaths(const std::string& cache_dir, absl::string_view text) {
  if (cache_dir.empty()) return std::string(text);
  Layout layout(cache_dir);
  std::string out(text);
  // <state>/gens/<X.Y>/g<N>  ->  <cache>/<X.Y>
  std::string gens = JoinPath(layout.state_dir(), "gens") + "/";
  for (size_t at = out.find(gens); at != std::string::npos; at = out.find(gens, at)) {
    size_t dir_end = out.find('/', at + gens.size());
    if (dir_end == std::string::npos) break;
    size_t gen_end = out.find_first_of("/: ,;)'\"", dir_end + 1);
    if (gen_end == std::string::npos) gen_end = out.size();
    if (Layout::ParseGenName(absl::string_view(out).substr(dir_end + 1, gen_end - dir_end - 1)) <
        0) {
      at = dir_end;
      continue;
    }
    std::string dir = out.substr(at + gens.size(), dir_end - at - gens.size());
    std::string replacement = layout.live_path(dir);
    out.replace(at, gen_end - at, replacement);
    at += replacement.size();
  }
  // <state>/runs/<id>  ->  <cache> (this run's private copy)
  std::string runs = layout.runs_dir() + "/";
  for (size_t at = out.find(runs); at != std::string::npos; at = out.find(runs, at)) {
    size_t id_end = out.find_first_of("/: ,;)'\"", at + runs.size());
    if (id_end == std::string::npos) id_end = out.size();
    std::string replacement = absl::StrCat(cache_dir, " (private copy)");
    out.replace(at, id_end - at, replacement);
    at += replacement.size();
  }
  return out;
}

absl::StatusOr<int> RunCommand(Fs& fs, const CheckerAdapter& adapter, const RunOptions& options,
                               const EnvLookup& env, std::ostream& err) {
  Reporter report(err);
  if (options.command.empty()) return absl::InvalidArgumentError("no command given after --");
  CommandPlan plan;
  CacheDirChoice cache_dir = ResolveCacheDir(adapter, options, env, &plan);
  if (options.disabled) {
    // typecache steps aside (like CCACHE_DISABLE), but like every pass-through run it never
    // lets the checker write into a generation of a cache in typecache's layout.
    if (options.verbose) report.Note("disabled (TYPECACHE_DISABLE): running the command unchanged");
    return RunPassThrough(fs, adapter, options, plan, report);
  }
  if (options.verbose) {
    for (const std::string& note : plan.notes) report.Note(note);
  }
  if (plan.bypass) {
    if (plan.warn) {
      report.Warn(absl::StrCat(plan.why, "; running the command unchanged"));
    } else if (options.verbose) {
      report.Note(absl::StrCat(plan.why, ": running the command unchanged"));
    }
    return RunPassThrough(fs, adapter, options, plan, report);
  }
  report.SetCacheDir(cache_dir.path);
  if (options.verbose)
    report.Note(absl::StrCat("cache: ", cache_dir.path, " (", cache_dir.origin, ")"));

  Layout layout(cache_dir.path);
  StatsDelta stats;
  stats.Add("runs", 1);
  stats.Set("last_run", absl::ToUnixSeconds(absl::Now()));
  std::string run_id = MakeRunId();
  bool degraded = false;

  // 1. A private cache directory inside the shared one (same file system: renames are atomic).
  absl::StatusOr<PrivateCache> priv = MakePrivateCache(fs, layout, adapter, run_id);
  if (!priv.ok()) {
    report.Warn(absl::StrCat("cannot use the shared cache ", layout.cache_dir(), ": ",
                             priv.status().message(), "; running with a private cold cache"));
    degraded = true;
    priv = MakeFallbackCache();
    if (!priv.ok()) {
      report.Warn(absl::StrCat(priv.status().message(), "; running the command unchanged"));
      ASSIGN_OR_RETURN(ChildResult child, RunChild({options.command, {}, "", 1, 2}));
      return child.exit_code;
    }
  }
  if (priv->shared) {
    // Dead or failed runs' leftovers: runs/, trash/, never-live generations (only if the publish
    // lock is free right now). Listings only, no database is read.
    absl::StatusOr<LeftoverReport> swept = ReclaimLeftovers(fs, layout);
    if (!swept.ok()) {
      report.Warn(absl::StrCat("cannot sweep old private copies: ", swept.status().message()));
    } else if (options.verbose && (!swept->runs.removed.empty() || !swept->removed.empty())) {
      report.Note(absl::StrCat("removed the leftovers of ", swept->runs.removed.size(),
                               " dead runs and ", swept->removed.size(),
                               " failed publishes or unfinished deletions (",
                               FormatSize(swept->bytes), ")"));
    }
  }
  // The remote store, for runs on the shared cache only: what other machines published goes
  // into the shared cache before the snapshot, so the checker sees it.
  std::optional<RemoteSync> remote;
  const RowHooks& hooks = options.remote_hooks;
  if (priv->shared && !options.remote.url.empty()) {
    if (hooks.normalize && hooks.facts && hooks.layout_of) {
      remote.emplace(fs, adapter, options, layout, report);
      remote->Pull();
    } else {
      report.Warn(absl::StrCat("not using the remote store: ", adapter.name(),
                               "'s rows cannot be compared across machines"));
    }
  }

  // 2. Snapshot.
  Snapshot snapshot;
  snapshot.private_root = priv->root;
  if (priv->shared) {
    Progress& progress = Progress::Or(options.progress);
    progress.Start("run: snapshot of the shared cache", 0);
    absl::StatusOr<Snapshot> taken = TakeSnapshot(fs, layout, adapter, priv->root, &progress);
    progress.Done();
    if (taken.ok()) {
      snapshot = *std::move(taken);
      stats.Add("snapshot_ms", Ms(snapshot.took));
      stats.Add("snapshot_bytes", snapshot.bytes);
      stats.Add(CounterId::kSnapshotCopies, snapshot.copies);
      stats.Add(CounterId::kSparesFromDonated, snapshot.spares_from_donated);
      stats.Add(CounterId::kSparesFromRetired, snapshot.spares_from_retired);
      stats.Add(CounterId::kCapturesKeptArmed, snapshot.captures_kept_armed);
      if (options.verbose && snapshot.files == 0) {
        report.Note("snapshot: the shared cache is empty (this run starts cold)");
      } else if (options.verbose) {
        report.Note(absl::StrFormat(
            "snapshot: %s, %s, in %.0f ms%s", Plural(snapshot.files, "database", "databases"),
            FormatSize(snapshot.bytes), absl::ToDoubleMilliseconds(snapshot.took),
            snapshot.method.empty() ? "" : absl::StrCat(" (", snapshot.method, ")")));
      }
    } else {
      report.Warn(absl::StrCat("cannot snapshot the shared cache: ", taken.status().message(),
                               "; running with a cold cache"));
      degraded = true;
      absl::Status cleared = RemoveAll(fs, priv->root);
      if (cleared.ok()) cleared = fs.MakeDir(priv->root, false);
      if (!cleared.ok()) {
        report.Warn(std::string(cleared.message()));
        priv->shared = false;
      }
    }
  }

  // 3. The checker, unmodified, on the private copy.
  absl::StatusOr<Invocation> inv = adapter.Redirect(options.command, priv->root);
  if (!inv.ok()) return inv.status();
  if (options.verbose) {
    for (const std::string& note : inv->notes) report.Note(note);
  }
  ChildSpec spec{inv->argv, inv->set_env, std::string(adapter.crash_marker()), 1, 2};
  absl::Time checker_start = absl::Now();
  absl::StatusOr<ChildResult> child = RunChild(spec);
  stats.Add("checker_ms", Ms(absl::Now() - checker_start));
  auto cleanup = [&]() {
    // Unlinking a large private copy is slow (1.4 s for 1 GB on ext4, measured): it is moved to
    // the trash (a rename) and deleted by a detached process, off the user's critical path.
    std::string trash = JoinPath(layout.trash_dir(), run_id);
    absl::StatusOr<std::vector<std::string>> left = fs.ListDir(priv->root);
    bool empty = left.ok() && left->empty();  // Its copy became a generation or a spare.
    bool moved = !empty && priv->shared && fs.Rename(priv->root, trash).ok();
    // An empty run directory is kept for the next run (renamed, not removed: see ParkRunDir).
    bool parked = empty && priv->run_dir.has_value() && ParkRunDir(fs, layout, priv->root);
    if (!moved && !parked) {
      absl::Status removed = RemoveAll(fs, priv->root);
      if (!removed.ok()) {
        report.Warn(absl::StrCat("cannot remove ", priv->root, ": ", removed.message()));
      }
    }
    if (priv->run_dir.has_value()) priv->run_dir->Release(fs, layout);
    if (priv->shared) {
      if (degraded) stats.Add("runs_degraded", 1);
      if (remote.has_value()) remote->AddCounters(stats);
      absl::Status recorded = UpdateStats(fs, layout, stats);
      if (!recorded.ok()) {
        report.Warn(absl::StrCat("cannot record statistics: ", recorded.message()));
      }
    }
    if (moved) RemoveInBackground(fs, trash);
  };
  if (!child.ok()) {
    cleanup();
    return child.status();
  }
  if (plan.environment_only && !plan.no_database_warning.empty() &&
      LeftFilesButNoDatabase(fs, adapter, priv->root)) {
    report.Warn(plan.no_database_warning);
  }

  // 4. Publish, when the run deserves it.
  bool spare_ok = false;  // The private copy is consistent and may be kept as a spare.
  WriteSets spare_writes, spare_captured;
  bool publishable = false;
  switch (options.publish) {
    case PublishPolicy::kAuto:
      publishable = adapter.RunIsPublishable(child->exit_code, child->marker_seen);
      break;
    case PublishPolicy::kAlways:
      publishable = child->term_signal == 0;
      break;
    case PublishPolicy::kNever:
      publishable = false;
      break;
  }
  if (!publishable) {
    stats.Add("runs_not_published", 1);
    if (options.verbose || options.publish == PublishPolicy::kAuto) {
      if (options.publish == PublishPolicy::kNever) {
        report.Note("not publishing (publish policy: never)");
      } else {
        report.Note(absl::StrCat(adapter.name(), " exited with status ", child->exit_code,
                                 child->marker_seen ? " and reported an internal error" : "",
                                 "; the shared cache is left unchanged"));
      }
    }
  } else if (priv->shared) {
    absl::Time publish_start = absl::Now();
    Progress& progress = Progress::Or(options.progress);
    progress.Start("run: publishing to the shared cache", 0);
    WriteSets captured;
    absl::StatusOr<WriteSets> writes =
        PrepareForPublish(fs, adapter, snapshot, &captured, &progress);
    if (writes.ok()) {
      spare_ok = true;
      spare_writes = *writes;
      spare_captured = captured;
    }
    PublishOptions publish_options;
    publish_options.lock_timeout = options.lock_timeout;
    publish_options.progress = &progress;
    publish_options.notice = [&](const std::string& text) {
      progress.Interject([&] { report.Note(text); });
    };
    absl::StatusOr<PublishReport> published =
        writes.ok() ? Publish(fs, layout, adapter, snapshot, *writes, run_id, publish_options)
                    : absl::StatusOr<PublishReport>(writes.status());
    progress.Done();
    if (!published.ok()) {
      degraded = true;
      if (absl::IsDeadlineExceeded(published.status())) stats.Add("lock_timeouts", 1);
      report.Warn(absl::StrCat("cannot publish to the shared cache: ", published.status().message(),
                               "; this run's cache entries are discarded"));
    } else {
      const PublishReport& r = *published;
      stats.Add("publish_ms", Ms(absl::Now() - publish_start));
      if (r.dirs_published == 0) {
        stats.Add("runs_unchanged", 1);
      } else {
        stats.Add("runs_published", 1);
        stats.Add(r.fast_paths == r.dirs_published ? "publish_fast" : "publish_merged", 1);
        stats.Add("publish_full_merge", r.full_merges);
        stats.Add(CounterId::kAdoptedUnchanged, r.adopted_unchanged);
        stats.Add("groups_written", r.groups_written);
        stats.Add("groups_merged", r.groups_merged);
        stats.Add("conflicts", r.conflicts);
        stats.Add("lock_wait_ms", Ms(r.lock_wait));
        stats.Max("lock_wait_max_ms", Ms(r.lock_wait));
        stats.Add("lock_held_ms", Ms(r.lock_held));
        stats.Max("lock_held_max_ms", Ms(r.lock_held));
        stats.Add("published_bytes", r.bytes);
      }
      if (options.verbose && r.dirs_published == 0) {
        report.Note("nothing to publish: the run changed no module");
      } else if (options.verbose) {
        report.Note(absl::StrFormat(
            "published %s: %s written by this run, %d merged from others, %s%s; lock wait %.1f ms, "
            "held %.1f ms",
            FormatSize(r.bytes), Plural(r.groups_written, "module group", "module groups"),
            r.groups_merged, Plural(r.conflicts, "conflict", "conflicts"),
            r.full_merges > 0
                ? absl::StrCat(", ", Plural(r.full_merges, "full comparison", "full comparisons"))
                : "",
            absl::ToDoubleMilliseconds(r.lock_wait), absl::ToDoubleMilliseconds(r.lock_held)));
      }
      // Push before pruning: a group max_size evicts here must not become a remote deletion.
      if (remote.has_value() && r.dirs_published > 0) remote->Push(*writes);
      if (options.max_size > 0 && r.dirs_published > 0)
        EnforceMaxSize(fs, adapter, layout, options, report);
    }
  }
  if (spare_ok) {
    // Directories this run did not publish: keep the copy for the next run (no copy, no delete).
    for (const SnapshotDir& dir : snapshot.dirs) {
      if (spare_writes.count(dir.name) > 0) continue;
      absl::Status kept =
          DonateSpare(fs, layout, adapter, snapshot, dir.name, spare_captured[dir.name],
                      /*keep=*/1, spare_writes.armed[dir.name]);
      if (!kept.ok() && options.verbose) {
        report.Note(absl::StrCat("not keeping a spare copy: ", kept.message()));
      }
    }
  }
  cleanup();
  return child->exit_code;
}

}  // namespace typecache
