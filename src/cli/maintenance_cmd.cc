// The maintenance commands: stats, verify, prune, merge, compact and clean. Each takes cache
// directories or database files (default: the cache directory `typecache run` would use here),
// one options struct per command; a configuration error stops them (exit 2, naming file:line).

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/cli/context.h"
#include "src/cli/json_out.h"
#include "src/commands/clean.h"
#include "src/commands/compact.h"
#include "src/commands/maintenance.h"
#include "src/commands/merge.h"
#include "src/commands/prune.h"
#include "src/commands/stats_cmd.h"
#include "src/commands/verify.h"
#include "src/store/local/layout.h"
#include "src/store/local/stats.h"

namespace typecache {
namespace {

// What every path-taking maintenance command accepts.
struct PathFlags {
  std::vector<std::string> paths;
  std::string cache_dir;
  SettingFlags settings;
  bool json = false;
};

void AddPathFlags(CLI::App* cmd, PathFlags& flags, bool lock_timeout = true) {
  cmd->add_option("PATH", flags.paths,
                  "Cache directories or database files [default: the cache directory `typecache "
                  "run` would use here]");
  AddCacheDirFlag(cmd, flags.cache_dir);
  if (lock_timeout) {
    AddSettingFlag(cmd, flags.settings, "lock_timeout", "--lock-timeout",
                   "How long to wait for the publish lock");
  }
  cmd->add_flag("--json", flags.json, "One JSON document on stdout");
}

// The paths to work on: those given, then --cache-dir; else the cache directory in use here.
std::vector<std::string> PathsOf(const Context& ctx, const PathFlags& flags) {
  std::vector<std::string> paths = flags.paths;
  if (!flags.cache_dir.empty()) paths.push_back(flags.cache_dir);
  if (paths.empty()) paths.push_back(ChooseCacheDir(ctx, "", {}).path);
  return paths;
}

// `progress`: the command's progress line; notices clear it first.
EditOptions EditOptionsOf(const Context& ctx, const Config& config, bool dry_run,
                          Progress* progress) {
  EditOptions options;
  options.lock_timeout = config.Duration("lock_timeout").value_or(absl::Seconds(120));
  options.dry_run = dry_run;
  options.progress = progress;
  std::ostream* err = &ctx.err;
  options.notice = [err, progress](const std::string& text) {
    Progress::Or(progress).Interject([&] { *err << "typecache: " << text << std::endl; });
  };
  return options;
}

// Runs `each` on every target with its configuration; stops at the first error. `each` returns
// the exit code for that target (0 or 1) or fails.
// `missing_cache_is_empty`: the cache directory `typecache run` would use (no PATH given) may
// not exist yet; it is then an empty cache (stats before the first run shows zeros).
using PerTarget = std::function<absl::StatusOr<int>(const Target& target, const Config& config)>;
int ForEachTarget(Context& ctx, const PathFlags& flags, const PerTarget& each,
                  bool missing_cache_is_empty = false) {
  int exit_code = kExitOk;
  std::vector<std::string> paths = PathsOf(ctx, flags);
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    absl::StatusOr<Target> target = ResolveTarget(ctx.fs, ctx.adapter, path);
    if (!target.ok() && absl::IsNotFound(target.status()) && missing_cache_is_empty &&
        i >= flags.paths.size()) {
      Target empty;
      empty.path = AbsolutePath(path);
      target = empty;
    }
    if (!target.ok()) return ctx.Fail(target.status());
    int failed = kExitOk;
    std::optional<Config> config = LoadConfigOrFail(
        ctx, flags.settings, target->kind == Target::Kind::kCacheDir ? target->path : "", &failed);
    if (!config.has_value()) return failed;
    absl::StatusOr<int> code = each(*target, *config);
    if (!code.ok()) return ctx.Fail(code.status());
    exit_code = std::max(exit_code, *code);
  }
  return exit_code;
}

// ---- stats

struct StatsFlags {
  PathFlags paths;
  bool zero = false;
};

class StatsSubcommand : public Subcommand {
 public:
  std::string name() const override { return "stats"; }
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("stats",
                              "Show what the cache holds and what runs recorded (like ccache -s).");
    AddPathFlags(cmd_, flags_.paths, /*lock_timeout=*/false);
    cmd_->add_flag("-z,--zero", flags_.zero, "Reset the run counters");
    return cmd_;
  }
  int Run(Context& ctx) override {
    std::vector<nlohmann::ordered_json> docs;
    Progress progress(ctx.progress);
    int code = ForEachTarget(
        ctx, flags_.paths,
        [&](const Target& target, const Config&) -> absl::StatusOr<int> {
          if (flags_.zero) {
            if (target.kind != Target::Kind::kCacheDir) {
              return absl::InvalidArgumentError(target.path + ": --zero needs a cache directory");
            }
            absl::Status zeroed = ZeroStats(ctx.fs, Layout(target.path));
            if (!zeroed.ok()) return zeroed;
            if (flags_.paths.json) {
              docs.push_back({{"path", JsonText(target.path)}, {"zeroed", true}});
            } else {
              ctx.out << "Statistics zeroed for " << target.path << "\n";
            }
            return kExitOk;
          }
          absl::StatusOr<CacheStats> stats = CollectStats(ctx.fs, ctx.adapter, target, &progress);
          if (!stats.ok()) return stats.status();
          if (flags_.paths.json) {
            docs.push_back(StatsJson(*stats));
          } else {
            PrintStats(*stats, ctx.out);
          }
          return kExitOk;
        },
        /*missing_cache_is_empty=*/!flags_.zero);
    if (code == kExitOk && flags_.paths.json) PrintJson(docs, ctx.out);
    return code;
  }

 private:
  CLI::App* cmd_ = nullptr;
  StatsFlags flags_;
};

// ---- verify

struct VerifyFlags {
  PathFlags paths;
  bool repair = false;
};

class VerifySubcommand : public Subcommand {
 public:
  std::string name() const override { return "verify"; }
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "verify",
        "Check integrity, schema, meta/data pairing and mtimes, orphans, leftover -wal/-journal\n"
        "files and dead runs' copies. Exit 0 clean, 1 problems found, 2 could not run.");
    AddPathFlags(cmd_, flags_.paths);
    cmd_->add_flag("--repair", flags_.repair,
                   "Remove broken groups only (never a healthy one), salvage corrupt databases, "
                   "sweep dead runs; list what was removed");
    return cmd_;
  }
  int Run(Context& ctx) override {
    std::vector<nlohmann::ordered_json> docs;
    Progress progress(ctx.progress);
    int code = ForEachTarget(
        ctx, flags_.paths, [&](const Target& target, const Config& config) -> absl::StatusOr<int> {
          EditOptions edit = EditOptionsOf(ctx, config, false, &progress);
          absl::StatusOr<VerifyReport> report =
              flags_.repair ? Repair(ctx.fs, ctx.adapter, target, edit)
                            : Verify(ctx.fs, ctx.adapter, target, &progress);
          if (!report.ok()) return report.status();
          if (flags_.paths.json) {
            docs.push_back(VerifyJson(target.path, *report));
          } else {
            PrintVerify(*report, ctx.out, false);
          }
          return report->problems.empty() ? kExitOk : kExitProblems;
        });
    if (code != kExitError && flags_.paths.json) PrintJson(docs, ctx.out);
    return code;
  }

 private:
  CLI::App* cmd_ = nullptr;
  VerifyFlags flags_;
};

// ---- prune

struct PruneFlags {
  PathFlags paths;
  std::string older_than, max_size, keep_version, missing_sources;
  bool orphans = false, dead_tables = false, dead_layouts = false, dry_run = false;
  bool list = false;
};

class PruneSubcommand : public Subcommand {
 public:
  std::string name() const override { return "prune"; }
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "prune", "Evict whole module groups by age, size budget, mypy version or missing source.");
    AddPathFlags(cmd_, flags_.paths);
    cmd_->add_option("--older-than", flags_.older_than, "Evict groups older than this (e.g. 30d)")
        ->check(StatusValidator(
            [](const std::string& v) { return ParseDurationSetting(v).status(); }, ""))
        ->type_name("AGE");
    cmd_->add_option("--max-size", flags_.max_size,
                     "Evict oldest groups until the cache fits (e.g. 2G)")
        ->check(StatusValidator([](const std::string& v) { return ParseSize(v).status(); }, ""))
        ->type_name("SIZE");
    cmd_->add_option("--keep-version", flags_.keep_version,
                     "Evict groups written by another mypy version: 'current' (the version the "
                     "latest typecache run used) or a version such as 1.0.1");
    cmd_->add_option("--missing-sources", flags_.missing_sources,
                     "Evict groups whose source file is missing under this root");
    cmd_->add_flag("--orphans", flags_.orphans,
                   "Evict broken groups (data without meta, meta without data, bad mtimes)");
    cmd_->add_flag("--dead-tables", flags_.dead_tables,
                   "Drop the unused 'files' table of caches upgraded from mypy <= 1.13");
    cmd_->add_flag("--dead-layouts", flags_.dead_layouts,
                   "Empty databases mypy no longer reads (cache.db beside mypy 2.x's shards)");
    cmd_->add_flag("-n,--dry-run", flags_.dry_run, "Say what would go; change nothing");
    cmd_->add_flag("-l,--list", flags_.list,
                   "List every module group evicted (also with -v), not only the summary");
    return cmd_;
  }
  bool UsesVerbose() const override { return true; }
  int Run(Context& ctx) override {
    PruneOptions base;
    if (!flags_.older_than.empty()) base.older_than = *ParseDurationSetting(flags_.older_than);
    if (!flags_.max_size.empty()) base.max_size = *ParseSize(flags_.max_size);
    if (!flags_.missing_sources.empty()) base.missing_sources_root = flags_.missing_sources;
    base.orphans = flags_.orphans;
    base.dead_tables = flags_.dead_tables;
    base.dead_layouts = flags_.dead_layouts;
    // "current" is resolved by Prune, per cache directory: the version its latest run recorded.
    if (!flags_.keep_version.empty()) base.keep_version = flags_.keep_version;
    if (!base.older_than && !base.max_size && !base.keep_version && !base.missing_sources_root &&
        !base.orphans && !base.dead_tables && !base.dead_layouts) {
      return ctx.Fail(
          "prune: say what to evict (--older-than, --max-size, --keep-version, "
          "--missing-sources, --orphans, --dead-tables, --dead-layouts)");
    }
    std::vector<nlohmann::ordered_json> docs;
    Progress progress(ctx.progress);
    int code = ForEachTarget(
        ctx, flags_.paths, [&](const Target& target, const Config& config) -> absl::StatusOr<int> {
          PruneOptions options = base;
          options.edit = EditOptionsOf(ctx, config, flags_.dry_run, &progress);
          absl::StatusOr<PruneReport> report = Prune(ctx.fs, ctx.adapter, target, options);
          if (!report.ok()) return report.status();
          if (flags_.paths.json) {
            docs.push_back(PruneJson(target.path, *report));
          } else {
            PrintPrune(*report, ctx.out, false, flags_.list || ctx.global.verbose);
          }
          return kExitOk;
        });
    if (code == kExitOk && flags_.paths.json) PrintJson(docs, ctx.out);
    return code;
  }

 private:
  CLI::App* cmd_ = nullptr;
  PruneFlags flags_;
};

// ---- compact

class CompactSubcommand : public Subcommand {
 public:
  std::string name() const override { return "compact"; }
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "compact", "Rewrite each database into a new compact file and publish it atomically.");
    AddPathFlags(cmd_, flags_);
    return cmd_;
  }
  int Run(Context& ctx) override {
    std::vector<nlohmann::ordered_json> docs;
    Progress progress(ctx.progress);
    int code = ForEachTarget(
        ctx, flags_, [&](const Target& target, const Config& config) -> absl::StatusOr<int> {
          EditOptions edit = EditOptionsOf(ctx, config, false, &progress);
          absl::StatusOr<EditReport> report = Compact(ctx.fs, ctx.adapter, target, edit);
          if (!report.ok()) return report.status();
          if (flags_.json) {
            docs.push_back(CompactJson(target.path, *report));
          } else {
            ctx.out << "compacted " << target.path << ": " << FormatSize(report->bytes_before)
                    << " -> " << FormatSize(report->bytes_after) << "\n";
          }
          return kExitOk;
        });
    if (code == kExitOk && flags_.json) PrintJson(docs, ctx.out);
    return code;
  }

 private:
  CLI::App* cmd_ = nullptr;
  PathFlags flags_;
};

// ---- merge

struct MergeFlags {
  std::string into;
  std::vector<std::string> sources;
  std::string prefer = "newest";
  bool allow_mixed = false;
  bool json = false;
  SettingFlags settings;
};

class MergeSubcommand : public Subcommand {
 public:
  std::string name() const override { return "merge"; }
  bool UsesCacheDir() const override { return false; }
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("merge",
                              "Combine caches (e.g. from sharded CI jobs) into DEST, group by "
                              "group.\nUsage: typecache merge --into DEST SRC...");
    cmd_->add_option("--into", flags_.into, "Destination cache directory or database file")
        ->required();
    cmd_->add_option("SRC", flags_.sources, "Source cache directories or database files")
        ->required();
    cmd_->add_option("--prefer", flags_.prefer,
                     "Which copy of a module wins: newest (data row mtime), first, last")
        ->type_name("newest|first|last")
        ->check(OneOf({"newest", "first", "last"}));
    cmd_->add_flag("--allow-mixed", flags_.allow_mixed, "Merge caches of different mypy versions");
    cmd_->add_flag("--json", flags_.json, "One JSON document on stdout");
    AddSettingFlag(cmd_, flags_.settings, "lock_timeout", "--lock-timeout",
                   "How long to wait for the publish lock");
    return cmd_;
  }
  int Run(Context& ctx) override {
    absl::StatusOr<Target> dest = ResolveTarget(ctx.fs, ctx.adapter, flags_.into, /*create=*/true);
    if (!dest.ok()) return ctx.Fail(dest.status());
    std::vector<Target> sources;
    for (const std::string& path : flags_.sources) {
      absl::StatusOr<Target> source = ResolveTarget(ctx.fs, ctx.adapter, path);
      if (!source.ok()) return ctx.Fail(source.status());
      if (source->path == dest->path) {
        return ctx.Fail(absl::StrCat(path, ": a source cannot be the destination"));
      }
      sources.push_back(*std::move(source));
    }
    int failed = kExitOk;
    std::optional<Config> config = LoadConfigOrFail(
        ctx, flags_.settings, dest->kind == Target::Kind::kCacheDir ? dest->path : "", &failed);
    if (!config.has_value()) return failed;
    MergeOptions options;
    options.prefer = *ParsePrefer(flags_.prefer);
    options.allow_mixed = flags_.allow_mixed;
    Progress progress(ctx.progress);
    options.edit = EditOptionsOf(ctx, *config, false, &progress);
    absl::StatusOr<MergeReport> report = Merge(ctx.fs, ctx.adapter, *dest, sources, options);
    if (!report.ok()) return ctx.Fail(report.status());
    if (flags_.json) {
      PrintJson(MergeJson(*report), ctx.out);
    } else {
      PrintMerge(*report, ctx.out, false);
    }
    return kExitOk;
  }

 private:
  CLI::App* cmd_ = nullptr;
  MergeFlags flags_;
};

// ---- clean

struct CleanFlags {
  std::vector<std::string> paths;
  std::string cache_dir;
  SettingFlags settings;
  bool dry_run = false;
  bool json = false;
  bool verbose = false;
};

class CleanSubcommand : public Subcommand {
 public:
  std::string name() const override { return "clean"; }
  bool UsesVerbose() const override { return true; }
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "clean",
        "Remove everything typecache and mypy keep in the cache directory (like ccache -C):\n"
        "databases, generations, spare and dead runs' copies. typecache.conf, the counters and\n"
        "live runs' copies stay. Under the publish lock.");
    cmd_->add_option("DIR", flags_.paths,
                     "Cache directories [default: the one `typecache run` would use here]");
    AddCacheDirFlag(cmd_, flags_.cache_dir);
    AddSettingFlag(cmd_, flags_.settings, "lock_timeout", "--lock-timeout",
                   "How long to wait for the publish lock");
    cmd_->add_flag("-n,--dry-run", flags_.dry_run, "List what would go; change nothing");
    cmd_->add_flag("--json", flags_.json, "One JSON document on stdout");
    cmd_->add_flag("-v,--verbose", flags_.verbose, "List every path removed");
    return cmd_;
  }
  int Run(Context& ctx) override {
    std::vector<std::string> dirs = flags_.paths;
    if (!flags_.cache_dir.empty()) dirs.push_back(flags_.cache_dir);
    if (dirs.empty()) dirs.push_back(ChooseCacheDir(ctx, "", {}).path);
    std::vector<nlohmann::ordered_json> docs;
    for (const std::string& dir : dirs) {
      std::string path = AbsolutePath(dir);
      int failed = kExitOk;
      std::optional<Config> config = LoadConfigOrFail(ctx, flags_.settings, path, &failed);
      if (!config.has_value()) return failed;
      CleanOptions options;
      options.dry_run = flags_.dry_run;
      options.lock_timeout = config->Duration("lock_timeout").value_or(absl::Seconds(120));
      options.notice = [&ctx](const std::string& text) { ctx.Note(text); };
      absl::StatusOr<CleanReport> report = Clean(ctx.fs, ctx.adapter, path, options);
      if (!report.ok()) return ctx.Fail(report.status());
      if (flags_.json) {
        docs.push_back(CleanJson(*report));
        continue;
      }
      if (!report->exists) {
        ctx.out << "nothing to clean: " << path << " does not exist\n";
        continue;
      }
      if (flags_.dry_run || flags_.verbose || ctx.global.verbose) {
        for (const std::string& removed : report->removed) {
          ctx.out << (flags_.dry_run ? "would remove " : "removed ") << removed << "\n";
        }
      }
      ctx.out << (flags_.dry_run ? "would clean " : "cleaned ") << path << ": "
              << report->removed.size() << (report->removed.size() == 1 ? " entry, " : " entries, ")
              << FormatSize(report->bytes)
              << (report->live_runs > 0
                      ? absl::StrCat("; kept the copies of ", report->live_runs, " running run(s)")
                      : "")
              << "\n";
    }
    if (flags_.json) PrintJson(docs, ctx.out);
    return kExitOk;
  }

 private:
  CLI::App* cmd_ = nullptr;
  CleanFlags flags_;
};

}  // namespace

std::unique_ptr<Subcommand> NewStatsSubcommand() { return std::make_unique<StatsSubcommand>(); }
std::unique_ptr<Subcommand> NewVerifySubcommand() { return std::make_unique<VerifySubcommand>(); }
std::unique_ptr<Subcommand> NewPruneSubcommand() { return std::make_unique<PruneSubcommand>(); }
std::unique_ptr<Subcommand> NewMergeSubcommand() { return std::make_unique<MergeSubcommand>(); }
std::unique_ptr<Subcommand> NewCompactSubcommand() { return std::make_unique<CompactSubcommand>(); }
std::unique_ptr<Subcommand> NewCleanSubcommand() { return std::make_unique<CleanSubcommand>(); }

}  // namespace typecache
