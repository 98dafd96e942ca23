// What every subcommand of the command line is given (streams, file system, environment, the
// checker adapter, the flags before the subcommand, the checker command after "--"), the exit
// codes, and the Subcommand interface each subcommand implements in its own file with its own
// options struct.
#ifndef TYPECACHE_SRC_CLI_CONTEXT_H_
#define TYPECACHE_SRC_CLI_CONTEXT_H_

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/base/progress.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/config.h"
#include "src/commands/remote.h"
#include "src/commands/run.h"
#include "src/os/fs.h"

namespace typecache {

// docs/exit-codes.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitProblems = 1;       // verify: problems found
inline constexpr int kExitRemoteFailed = 1;   // remote: the store (or the cache) failed
inline constexpr int kExitError = 2;          // usage error; could not run
inline constexpr int kExitCannotStart = 127;  // run: the checker could not be started

// Flags accepted before the subcommand as well as after it: `typecache -v run -- ...`.
struct GlobalFlags {
  bool verbose = false;
  std::string cache_dir;
};

// Settings given as flags (--lock-timeout, --max-size, --publish), by key; validated as they
// are parsed (a bad value is a usage error).
struct SettingFlags {
  std::map<std::string, std::string> values;
};

struct Context {
  std::ostream& out;
  std::ostream& err;
  Fs& fs;
  EnvLookup env;
  const MypyAdapter& adapter;
  GlobalFlags global;
  std::vector<std::string> subcommand_args;  // argv after the subcommand's name, before "--"
  bool has_command = false;                  // "--" was given
  std::vector<std::string> command;          // what follows it
  // The progress line of long work (Progress(ctx.progress)): on stderr when it is a terminal,
  // unless --no-progress, TYPECACHE_PROGRESS=0 or TERM=dumb; else out is null (silent).
  ProgressOptions progress;

  // "typecache: error: <message>" on stderr; returns kExitError.
  int Fail(const absl::Status& status) const;
  int Fail(absl::string_view message) const;
  void Warn(absl::string_view message) const;
  void Note(absl::string_view message) const;
};

class Subcommand {
 public:
  virtual ~Subcommand() = default;
  virtual std::string name() const = 0;
  // Adds the subcommand and its options (bound to this object's options struct) to `app`.
  virtual CLI::App* Add(CLI::App& app) = 0;
  // "--" and a checker command may follow its options (run, config, dir).
  virtual bool TakesCheckerCommand() const { return false; }
  // Whether -v / --cache-dir given before the subcommand mean something to it.
  virtual bool UsesVerbose() const { return false; }
  virtual bool UsesCacheDir() const { return true; }
  // After a successful parse: does the work, returns the exit code.
  virtual int Run(Context& ctx) = 0;
};

// A subcommand that "--" and a checker command may follow (run, config, dir), and to which -v
// means more detail.
class CheckerCommandSubcommand : public Subcommand {
 public:
  bool TakesCheckerCommand() const override { return true; }
  bool UsesVerbose() const override { return true; }
};

std::unique_ptr<Subcommand> NewRunSubcommand();
std::unique_ptr<Subcommand> NewConfigSubcommand();
std::unique_ptr<Subcommand> NewDirSubcommand();
std::unique_ptr<Subcommand> NewCleanSubcommand();
std::unique_ptr<Subcommand> NewStatsSubcommand();
std::unique_ptr<Subcommand> NewVerifySubcommand();
std::unique_ptr<Subcommand> NewPruneSubcommand();
std::unique_ptr<Subcommand> NewMergeSubcommand();
std::unique_ptr<Subcommand> NewCompactSubcommand();
std::unique_ptr<Subcommand> NewRemoteSubcommand();

// ---- Helpers shared by the subcommands (common.cc).

// A CLI11 validator whose message is the Status message of `check` ("'x' is not a duration").
CLI::Validator StatusValidator(std::function<absl::Status(const std::string&)> check,
                               const std::string& description);
// Accepts one of `values`: "'best' is not one of newest, first, last".
CLI::Validator OneOf(std::vector<std::string> values);

// --lock-timeout, --max-size, --publish as settings flags.
void AddSettingFlag(CLI::App* cmd, SettingFlags& flags, const std::string& key,
                    const std::string& name, const std::string& help);
void AddCacheDirFlag(CLI::App* cmd, std::string& cache_dir);
// The remote lineage flags `run` and `remote` share: --remote-read-only (with `read_only_help`),
// --remote-read, --remote-write, --remote-prefix, as settings flags.
void AddRemoteLineageFlags(CLI::App* cmd, SettingFlags& flags, const std::string& read_only_help);

// typecache's own choice of cache directory: the subcommand's --cache-dir, the one given before
// the subcommand, TYPECACHE_DIR; empty when none (the checker's own choice applies).
RunOptions CacheDirOptions(const Context& ctx, const std::string& flag);

// The cache directory in use here and why (CacheDirOptions, else the checker's plan for
// `command`).
CacheDirChoice ChooseCacheDir(const Context& ctx, const std::string& flag,
                              const std::vector<std::string>& command, CommandPlan* plan = nullptr);

// Loads the settings for `cache_dir` ("" for none). Maintenance commands stop on an error
// problem: *exit_code is set and nullopt returned; warnings are printed.
std::optional<Config> LoadConfigOrFail(const Context& ctx, const SettingFlags& flags,
                                       const std::string& cache_dir, int* exit_code);

// The remote store settings of `config` (remote, remote_read_only, remote_read, remote_write,
// remote_prefix, remote_budget) and the S3 endpoint of the environment (AWS_ENDPOINT_URL_S3,
// else AWS_ENDPOINT_URL) as RemoteOptions; cache_dir is left to the caller.
RemoteOptions RemoteOptionsOf(const Context& ctx, const Config& config);
// The session of a remote command with this budget: no single request takes more than two fifths
// of it (at most 10 s), so a store that accepts connections but never answers costs 0.8 s of the
// run's default 2 s, and the first request that fails marks the store failed for the run.
void SetRemoteBudget(absl::Duration budget, RemoteOptions& options);
// mypy's row hooks (src/checker/mypy/normalize.h): what is machine-local in its rows.
RowHooks CheckerRowHooks();

// `word` quoted for a POSIX shell when it needs it (for hints that show a command line).
std::string ShellQuote(absl::string_view word);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CLI_CONTEXT_H_
