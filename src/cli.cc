#include "src/cli.h"

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "src/config.h"
#include "src/fault_fs.h"
#include "src/mypy_adapter.h"
#include "src/run.h"
#include "src/status_macros.h"

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

void AddSettingFlags(CLI::App* cmd, Common& common) {
  cmd->add_option_function<std::string>(
      "--lock-timeout", [&common](const std::string& v) { common.flags["lock_timeout"] = v; },
      "How long to wait for the publish lock (e.g. 30s, 2m) [env TYPECACHE_LOCK_TIMEOUT]");
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

int Main(int argc, char** argv, std::ostream& out, std::ostream& err) {
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }

  Fs* fs = nullptr;
  absl::StatusOr<Fs*> process_fs = ProcessFs();
  if (!process_fs.ok()) {
    err << "typecache: error: " << process_fs.status().message() << std::endl;
    return kExitError;
  }
  fs = *process_fs;

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
    if (!config.ok()) return fail(config.status());
    absl::StatusOr<PublishPolicy> policy = ParsePublishPolicy(config->Get("publish").value);
    if (!policy.ok()) return fail(policy.status());
    options.publish = *policy;
    options.lock_timeout = *config->Duration("lock_timeout");
    options.verbose = *config->Bool("verbose");
    absl::StatusOr<int> code = RunCommand(*fs, adapter, options, RealEnv, err);
    if (!code.ok()) {
      err << "typecache: error: " << code.status().message() << std::endl;
      return kExitCannotStart;
    }
    return *code;
  }

  if (config_cmd->parsed()) {
    RunOptions options;
    options.cache_dir = CacheDirOrEnv(common);
    std::string cache_dir = ResolveCacheDir(adapter, options, RealEnv);
    absl::StatusOr<Config> config = Config::Load(*fs, common.flags, RealEnv, cache_dir);
    if (!config.ok()) return fail(config.status());
    if (common.json) {
      out << "{\"cache_dir\": \"" << cache_dir << "\", \"settings\": {";
      bool first = true;
      for (const auto& [key, setting] : config->values()) {
        out << (first ? "" : ", ") << "\"" << key << "\": {\"value\": \"" << setting.value
            << "\", \"origin\": \"" << setting.origin << "\"}";
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
