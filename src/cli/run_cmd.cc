// `typecache run [options] -- CHECKER [ARGS...]`.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/cli/context.h"

namespace typecache {
namespace {

struct RunFlags {
  std::string cache_dir;
  SettingFlags settings;
  bool verbose = false;
};

class RunSubcommand : public CheckerCommandSubcommand {
 public:
  std::string name() const override { return "run"; }

  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "run",
        "Run the checker on a private snapshot of the shared cache and publish what it changed.\n"
        "Usage: typecache run [options] -- mypy [mypy arguments...]");
    AddCacheDirFlag(cmd_, flags_.cache_dir);
    AddSettingFlag(cmd_, flags_.settings, "lock_timeout", "--lock-timeout",
                   "How long a publish waits for the lock (e.g. 30s, 2m); then the run's "
                   "entries are dropped with a warning");
    AddSettingFlag(cmd_, flags_.settings, "publish", "--publish",
                   "When to publish: auto (mypy exited 0 or 1 without INTERNAL ERROR), always, "
                   "never");
    AddSettingFlag(cmd_, flags_.settings, "max_size", "--max-size",
                   "Size budget of the shared cache, pruned after a publish (e.g. 2G; 0: none)");
    AddSettingFlag(cmd_, flags_.settings, "remote", "--remote",
                   "Share the cache across machines through this store (redis://, http(s)://, "
                   "s3://): pull before the run, push what it published");
    AddRemoteLineageFlags(cmd_, flags_.settings, "Pull from the remote store, never push");
    AddSettingFlag(cmd_, flags_.settings, "remote_budget", "--remote-budget",
                   "Time spent talking to the remote store per run, pull and push together "
                   "[default: 2s]");
    cmd_->add_flag("-v,--verbose", flags_.verbose,
                   "Say what typecache does on stderr: the cache directory and why, how mypy was "
                   "found, snapshot and publish figures [env TYPECACHE_VERBOSE]");
    // Anything before "--" that is not an option of run is caught in Run() with a hint.
    cmd_->prefix_command();
    cmd_->footer(
        "Everything after -- is the checker command, run without a shell; mypy is found inside\n"
        "uv/poetry/pdm/hatch/pipx run, env, timeout, nice and python -m mypy, and gets\n"
        "--cache-dir=<private copy> --sqlite-cache where its own arguments start. Commands\n"
        "that hide mypy (make, tox, sh -c) are redirected through MYPY_CACHE_DIR only.\n"
        "mypy's stdout and stderr pass through unchanged; typecache's messages go to stderr,\n"
        "prefixed 'typecache:'. Cache or configuration trouble never fails the build: a warning\n"
        "is printed and the exit status is the checker's. TYPECACHE_DISABLE=1 runs the command\n"
        "unchanged (its own cache goes to <cache>/.typecache/passthrough/ when the cache is\n"
        "typecache's: never into the shared cache). With --remote (TYPECACHE_REMOTE,\n"
        "remote = URL), a store that fails or does not answer within the budget is one\n"
        "warning; the run goes on with the local cache.");
    return cmd_;
  }

  int Run(Context& ctx) override {
    std::vector<std::string> extras = cmd_->remaining();
    if (!extras.empty()) {
      if (!extras[0].empty() && extras[0][0] == '-') {
        return ctx.Fail(absl::StrCat("run: unknown option ", extras[0],
                                     " (a checker option goes after --: typecache run -- mypy ",
                                     extras[0], " ...)"));
      }
      // CLI11 stopped at the first word that is not one of run's options: the rest is the
      // checker command, and run's own options are what came before it.
      const std::vector<std::string>& words = ctx.subcommand_args;
      size_t own = words.size() >= extras.size() ? words.size() - extras.size() : 0;
      std::vector<std::string> quoted = {"typecache", "run"};
      for (size_t i = 0; i < own; ++i) quoted.push_back(ShellQuote(words[i]));
      quoted.emplace_back("--");
      for (const std::string& w : extras) quoted.push_back(ShellQuote(w));
      if (ctx.has_command) {
        quoted.emplace_back("--");
        for (const std::string& w : ctx.command) quoted.push_back(ShellQuote(w));
      }
      return ctx.Fail(
          absl::StrCat("run: put -- before the checker command: ", absl::StrJoin(quoted, " ")));
    }
    if (!ctx.has_command) {
      return ctx.Fail("run: no checker command; usage: typecache run [options] -- mypy ARGS...");
    }
    if (ctx.command.empty()) {
      return ctx.Fail(
          "run: no checker command after --; usage: typecache run [options] -- mypy "
          "ARGS...");
    }
    if (flags_.verbose || ctx.global.verbose) flags_.settings.values["verbose"] = "true";

    RunOptions options = CacheDirOptions(ctx, flags_.cache_dir);
    options.command = ctx.command;
    CommandPlan plan;
    CacheDirChoice cache_dir = ResolveCacheDir(ctx.adapter, options, ctx.env, &plan);
    options.plan = plan;
    // Configuration trouble must not break the build: one warning per problem, that setting's
    // default, every other setting kept.
    absl::StatusOr<Config> config =
        Config::Load(ctx.fs, flags_.settings.values, ctx.env, cache_dir.path);
    if (!config.ok()) return ctx.Fail(config.status());  // A flag that is not a setting: a bug.
    for (const ConfigProblem& p : config->problems()) ctx.Warn(p.ToString());
    options.publish =
        ParsePublishPolicy(config->Get("publish").value).value_or(PublishPolicy::kAuto);
    options.lock_timeout = config->Duration("lock_timeout").value_or(absl::Seconds(120));
    options.verbose = config->Bool("verbose").value_or(false);
    options.max_size = config->Size("max_size").value_or(0);
    options.disabled = config->Bool("disable").value_or(false);
    options.remote = RemoteOptionsOf(ctx, *config);
    options.remote_hooks = CheckerRowHooks();
    Progress progress(ctx.progress);
    options.progress = &progress;
    absl::StatusOr<int> code = RunCommand(ctx.fs, ctx.adapter, options, ctx.env, ctx.err);
    if (!code.ok()) {
      ctx.err << "typecache: error: " << code.status().message() << std::endl;
      return kExitCannotStart;
    }
    return *code;
  }

 private:
  CLI::App* cmd_ = nullptr;
  RunFlags flags_;
};

}  // namespace

std::unique_ptr<Subcommand> NewRunSubcommand() { return std::make_unique<RunSubcommand>(); }

}  // namespace typecache
