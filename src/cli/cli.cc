#include "src/cli/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "src/base/json.h"
#include "src/base/status_macros.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/compact.h"
#include "src/commands/config.h"
#include "src/commands/maintenance.h"
#include "src/commands/merge.h"
#include "src/commands/prune.h"
#include "src/commands/run.h"
#include "src/commands/stats_cmd.h"
#include "src/commands/verify.h"
#include "src/store/local/layout.h"
#include "src/store/local/stats.h"

namespace typecache {
namespace {

constexpr char kVersion[] = "0.1.0";
constexpr int kExitError = 2;
constexpr int kExitCannotStart = 127;

std::optional<std::string> RealEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// Options every subcommand shares.
struct Common {
  std::string cache_dir;
  std::map<std::string, std::string> flags;  // Settings given as flags, by key.
  bool verbose = false;
  bool json = false;
};

void AddLockTimeout(CLI::App* cmd, Common& common) {
  cmd->add_option_function<std::string>(
      "--lock-timeout", [&common](const std::string& v) { common.flags["lock_timeout"] = v; },
      "How long to wait for the publish lock (e.g. 30s, 2m) [env TYPECACHE_LOCK_TIMEOUT]");
}

void AddSettingFlags(CLI::App* cmd, Common& common) {
  AddLockTimeout(cmd, common);
  cmd->add_option_function<std::string>(
      "--max-size", [&common](const std::string& v) { common.flags["max_size"] = v; },
      "Size budget per database directory, pruned after publish (e.g. 2G; 0 = unlimited) "
      "[env TYPECACHE_MAX_SIZE]");
}

void AddCacheDir(CLI::App* cmd, Common& common) {
  cmd->add_option("--cache-dir", common.cache_dir,
                  "Shared cache directory [env TYPECACHE_DIR; default: the checker's, "
                  "e.g. mypy's --cache-dir, MYPY_CACHE_DIR, .mypy_cache]");
}

std::string CacheDirOrEnv(const Common& common) {
  if (!common.cache_dir.empty()) return common.cache_dir;
  return RealEnv("TYPECACHE_DIR").value_or("");
}

}  // namespace

int Main(int argc, char** argv, std::ostream& out, std::ostream& err, Fs& process_fs) {
  MypyAdapter adapter;
  CLI::App app{
      "typecache: concurrent mypy runs share one SQLite cache and nothing is lost.\n"
      "Each run gets a private snapshot of the shared cache; what it changed is merged back\n"
      "and published atomically. See docs/ for the on-disk layout and the protocol.",
      "typecache"};
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: run returns the checker's status (127: checker not found; 2: usage error).\n"
      "Other commands: 0 ok, 1 problems found, 2 could not run. Details: docs/exit-codes.md");
  Common common;

  // run
  CLI::App* run = app.add_subcommand(
      "run",
      "Run a checker on a private snapshot of the shared cache and publish what it changed.\n"
      "Usage: typecache run [options] -- mypy [mypy args...]");
  AddCacheDir(run, common);
  AddSettingFlags(run, common);
  run->add_option_function<std::string>(
      "--publish", [&common](const std::string& v) { common.flags["publish"] = v; },
      "When to publish: auto (mypy exit 0/1, no INTERNAL ERROR), always, never "
      "[env TYPECACHE_PUBLISH]");
  run->add_flag("-v,--verbose", common.verbose,
                "Report snapshot and publish figures on stderr [env TYPECACHE_VERBOSE]");
  std::vector<std::string> run_command;
  run->add_option("command", run_command, "The checker command (after --)")->expected(-1);
  run->footer(
      "Everything after -- is the checker command, run without a shell. Its stdout and stderr\n"
      "pass through unchanged; typecache's own messages go to stderr, prefixed 'typecache:'.\n"
      "Cache trouble (snapshot, lock or publish failing) never fails the build: a warning is\n"
      "printed and the exit status is the checker's.");

  // config
  CLI::App* config_cmd =
      app.add_subcommand("config", "Show every setting, its value and where the value came from.");
  AddCacheDir(config_cmd, common);
  AddSettingFlags(config_cmd, common);
  config_cmd->add_flag("--json", common.json, "Machine-readable output");

  // Maintenance commands: each takes cache directories or database files (default: the cache
  // directory `run` would use here).
  std::vector<std::string> paths;
  bool dry_run = false, repair = false, zero = false, allow_mixed = false;
  std::string prefer = "newest", into;
  std::string older_than, max_size_flag, keep_version, missing_sources;
  bool orphans = false, dead_tables = false, dead_layouts = false;
  auto add_paths = [&](CLI::App* cmd) {
    cmd->add_option("paths", paths,
                    "Cache directories or database files [default: $TYPECACHE_DIR, else "
                    "$MYPY_CACHE_DIR, else .mypy_cache]");
    AddCacheDir(cmd, common);
    AddLockTimeout(cmd, common);
    cmd->add_flag("--json", common.json, "Machine-readable output on stdout");
  };
  CLI::App* stats_cmd = app.add_subcommand(
      "stats", "Show what the cache holds and what runs recorded (like ccache -s).");
  add_paths(stats_cmd);
  stats_cmd->add_flag("-z,--zero", zero, "Reset the run counters");
  CLI::App* verify_cmd = app.add_subcommand(
      "verify",
      "Check integrity, schema, meta/data pairing and mtimes, orphans, leftover -wal/-journal\n"
      "files and dead runs' copies. Exit 0 clean, 1 problems found, 2 could not run.");
  add_paths(verify_cmd);
  verify_cmd->add_flag("--repair", repair,
                       "Remove broken groups only (never a healthy one), salvage corrupt "
                       "databases, sweep dead runs; list what was removed");
  CLI::App* prune_cmd = app.add_subcommand(
      "prune", "Evict whole module groups by age, size budget, mypy version or missing source.");
  add_paths(prune_cmd);
  prune_cmd->add_option("--older-than", older_than, "Evict groups older than this (e.g. 30d)");
  prune_cmd->add_option("--max-size", max_size_flag,
                        "Evict oldest groups until the cache fits (e.g. 2G)");
  prune_cmd->add_option("--keep-version", keep_version,
                        "Evict groups written by another mypy version: 'current' (the version the "
                        "latest typecache run used) or a version such as 1.0.1");
  prune_cmd->add_option("--missing-sources", missing_sources,
                        "Evict groups whose source file is missing under this root");
  prune_cmd->add_flag("--orphans", orphans,
                      "Evict broken groups (data without meta, meta without data, bad mtimes)");
  prune_cmd->add_flag("--dead-tables", dead_tables,
                      "Drop the unused 'files' table of caches upgraded from mypy <= 1.13");
  prune_cmd->add_flag("--dead-layouts", dead_layouts,
                      "Empty databases mypy no longer reads (cache.db beside mypy 2.x's shards)");
  prune_cmd->add_flag("-n,--dry-run", dry_run, "List what would go; change nothing");
  CLI::App* merge_cmd =
      app.add_subcommand("merge",
                         "Combine caches (e.g. from sharded CI jobs) into DEST, group by group.\n"
                         "Usage: typecache merge --into DEST SRC...");
  merge_cmd->add_option("--into", into, "Destination cache directory or database file")->required();
  merge_cmd->add_option("sources", paths, "Source cache directories or database files")->required();
  merge_cmd
      ->add_option("--prefer", prefer,
                   "Which copy of a module wins: newest (data row mtime), first, last")
      ->check(CLI::IsMember({"newest", "first", "last"}));
  merge_cmd->add_flag("--allow-mixed", allow_mixed, "Merge caches of different mypy versions");
  merge_cmd->add_flag("--json", common.json, "Machine-readable output on stdout");
  AddLockTimeout(merge_cmd, common);
  CLI::App* compact_cmd = app.add_subcommand(
      "compact", "Rewrite each database into a new compact file and publish it atomically.");
  add_paths(compact_cmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }

  Fs* fs = &process_fs;

  auto fail = [&err](const absl::Status& status) {
    err << "typecache: error: " << status.message() << std::endl;
    return kExitError;
  };

  if (run->parsed()) {
    RunOptions options;
    options.cache_dir = CacheDirOrEnv(common);
    options.command = run_command;
    if (options.command.empty()) {
      return fail(absl::InvalidArgumentError(
          "run: no checker command given (usage: typecache run [options] -- mypy ...)"));
    }
    std::string cache_dir = ResolveCacheDir(adapter, options, RealEnv);
    if (common.verbose) common.flags["verbose"] = "true";
    absl::StatusOr<Config> config = Config::Load(*fs, common.flags, RealEnv, cache_dir);
    if (!config.ok()) {
      // A broken configuration file or variable must not break the build: warn, and use the
      // defaults with the command line's flags (a bad flag is still a usage error).
      err << "typecache: warning: " << config.status().message() << "; using defaults" << std::endl;
      config = Config::Load(
          RealFs(), common.flags, [](const std::string&) { return std::optional<std::string>(); },
          "");
      if (!config.ok()) return fail(config.status());
    }
    absl::StatusOr<PublishPolicy> policy = ParsePublishPolicy(config->Get("publish").value);
    if (!policy.ok()) return fail(policy.status());
    options.publish = *policy;
    options.lock_timeout = *config->Duration("lock_timeout");
    options.verbose = *config->Bool("verbose");
    options.max_size = *config->Size("max_size");
    absl::StatusOr<int> code = RunCommand(*fs, adapter, options, RealEnv, err);
    if (!code.ok()) {
      err << "typecache: error: " << code.status().message() << std::endl;
      return kExitCannotStart;
    }
    return *code;
  }

  // Shared by the maintenance commands.
  auto default_paths = [&]() {
    if (!common.cache_dir.empty()) paths.push_back(common.cache_dir);
    if (paths.empty()) {
      RunOptions options;
      options.cache_dir = CacheDirOrEnv(common);
      paths.push_back(ResolveCacheDir(adapter, options, RealEnv));
    }
  };
  auto load_config = [&](const std::string& dir) {
    return Config::Load(*fs, common.flags, RealEnv, dir);
  };
  auto edit_options = [&](const Config& config) {
    EditOptions options;
    options.lock_timeout = *config.Duration("lock_timeout");
    options.dry_run = dry_run;
    options.notice = [&err](const std::string& text) { err << "typecache: " << text << std::endl; };
    return options;
  };

  if (stats_cmd->parsed() || verify_cmd->parsed() || prune_cmd->parsed() || compact_cmd->parsed()) {
    default_paths();
    int exit_code = 0;
    for (const std::string& path : paths) {
      absl::StatusOr<Target> target = ResolveTarget(*fs, adapter, path);
      if (!target.ok()) return fail(target.status());
      absl::StatusOr<Config> config =
          load_config(target->kind == Target::Kind::kCacheDir ? target->path : "");
      if (!config.ok()) return fail(config.status());
      if (stats_cmd->parsed()) {
        if (zero) {
          if (target->kind != Target::Kind::kCacheDir) {
            return fail(absl::InvalidArgumentError(path + ": --zero needs a cache directory"));
          }
          absl::Status zeroed = ZeroStats(*fs, Layout(target->path));
          if (!zeroed.ok()) return fail(zeroed);
          if (!common.json) out << "Statistics zeroed for " << target->path << "\n";
          continue;
        }
        absl::StatusOr<CacheStats> stats = CollectStats(*fs, adapter, *target);
        if (!stats.ok()) return fail(stats.status());
        if (common.json) {
          PrintStatsJson(*stats, out);
        } else {
          PrintStats(*stats, out);
        }
      } else if (verify_cmd->parsed()) {
        absl::StatusOr<VerifyReport> report =
            repair ? Repair(*fs, adapter, *target, edit_options(*config))
                   : Verify(*fs, adapter, *target);
        if (!report.ok()) return fail(report.status());
        PrintVerify(*report, out, common.json);
        if (!report->problems.empty()) exit_code = 1;
      } else if (prune_cmd->parsed()) {
        PruneOptions options;
        options.edit = edit_options(*config);
        options.orphans = orphans;
        options.dead_tables = dead_tables;
        options.dead_layouts = dead_layouts;
        if (!older_than.empty()) {
          absl::StatusOr<absl::Duration> d = ParseDurationSetting(older_than);
          if (!d.ok())
            return fail(
                absl::InvalidArgumentError("--older-than: " + std::string(d.status().message())));
          options.older_than = *d;
        }
        if (!max_size_flag.empty()) {
          absl::StatusOr<int64_t> size = ParseSize(max_size_flag);
          if (!size.ok())
            return fail(
                absl::InvalidArgumentError("--max-size: " + std::string(size.status().message())));
          options.max_size = *size;
        }
        if (!keep_version.empty()) options.keep_version = keep_version;
        if (!missing_sources.empty()) options.missing_sources_root = missing_sources;
        if (!options.older_than && !options.max_size && !options.keep_version &&
            !options.missing_sources_root && !orphans && !dead_tables && !dead_layouts) {
          return fail(absl::InvalidArgumentError(
              "prune: say what to evict (--older-than, --max-size, --keep-version, "
              "--missing-sources, --orphans, --dead-tables, --dead-layouts)"));
        }
        absl::StatusOr<PruneReport> report = Prune(*fs, adapter, *target, options);
        if (!report.ok()) return fail(report.status());
        PrintPrune(*report, out, common.json);
      } else {
        absl::StatusOr<EditReport> report = Compact(*fs, adapter, *target, edit_options(*config));
        if (!report.ok()) return fail(report.status());
        out << "compacted " << target->path << ": " << FormatSize(report->bytes_before) << " -> "
            << FormatSize(report->bytes_after) << "\n";
      }
    }
    return exit_code;
  }

  if (merge_cmd->parsed()) {
    absl::StatusOr<Target> dest = ResolveTarget(*fs, adapter, into, /*create=*/true);
    if (!dest.ok()) return fail(dest.status());
    std::vector<Target> sources;
    for (const std::string& path : paths) {
      absl::StatusOr<Target> source = ResolveTarget(*fs, adapter, path);
      if (!source.ok()) return fail(source.status());
      if (source->path == dest->path) {
        return fail(absl::InvalidArgumentError(path + ": a source cannot be the destination"));
      }
      sources.push_back(*std::move(source));
    }
    absl::StatusOr<Config> config = load_config("");
    if (!config.ok()) return fail(config.status());
    MergeOptions options;
    options.prefer = *ParsePrefer(prefer);
    options.allow_mixed = allow_mixed;
    options.progress = ::isatty(2) != 0;
    options.edit = edit_options(*config);
    absl::StatusOr<MergeReport> report = Merge(*fs, adapter, *dest, sources, options, err);
    if (!report.ok()) return fail(report.status());
    PrintMerge(*report, out, common.json);
    return 0;
  }

  if (config_cmd->parsed()) {
    RunOptions options;
    options.cache_dir = CacheDirOrEnv(common);
    std::string cache_dir = ResolveCacheDir(adapter, options, RealEnv);
    absl::StatusOr<Config> config = Config::Load(*fs, common.flags, RealEnv, cache_dir);
    if (!config.ok()) return fail(config.status());
    if (common.json) {
      out << "{\"cache_dir\": " << JsonQuote(cache_dir) << ", \"settings\": {";
      bool first = true;
      for (const auto& [key, setting] : config->values()) {
        out << (first ? "" : ", ") << JsonQuote(key) << ": {\"value\": " << JsonQuote(setting.value)
            << ", \"origin\": " << JsonQuote(setting.origin) << "}";
        first = false;
      }
      out << "}}" << std::endl;
    } else {
      out << "cache_dir = " << cache_dir << "\n";
      for (const auto& [key, setting] : config->values()) {
        out << key << " = " << setting.value << "    (" << setting.origin << ")\n";
      }
      out << "user config file: " << UserConfigPath(RealEnv) << "\n";
      out << "cache config file: " << JoinPath(cache_dir, "typecache.conf") << std::endl;
    }
    return 0;
  }
  return kExitError;
}

}  // namespace typecache
