#include "src/cli/cli.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/cli/context.h"
#include "src/cli/usage.h"
#include "src/cli/version.h"

namespace typecache {
namespace {

std::optional<std::string> RealEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

constexpr char kDescription[] =
    "typecache: concurrent mypy runs share one SQLite cache and nothing is lost.\n"
    "Each run gets a private snapshot of the shared cache; mypy runs on it unmodified, and what\n"
    "it changed is merged back and published with an atomic rename.\n\n"
    "  typecache run -- mypy -p app        wrap the checker (everything after -- runs as is)\n"
    "  typecache stats                     what the cache holds and what runs did\n"
    "  typecache run --remote URL -- mypy  also share it across machines (Redis, WebDAV, S3)\n";

constexpr char kFooter[] =
    "Run 'typecache COMMAND --help' for a command's options; 'man typecache' is the manual.\n\n"
    "Exit codes: run returns the checker's own status (128+N if it was killed by signal N,\n"
    "127 if it could not be started, 2 for a typecache usage error: nothing ran); cache and\n"
    "configuration trouble are warnings, never a failure. verify: 0 clean, 1 problems found,\n"
    "2 could not run. remote: 0 done, 1 the store (or the local cache) failed, 2 could not\n"
    "run. The other commands: 0 done, 2 could not run (bad input, a configuration error\n"
    "naming file:line, lock timeout, usage error).\n\n"
    "Environment: TYPECACHE_DIR (the shared cache), TYPECACHE_LOCK_TIMEOUT, TYPECACHE_PUBLISH,\n"
    "TYPECACHE_MAX_SIZE, TYPECACHE_VERBOSE, TYPECACHE_DISABLE=1 (run the checker unchanged),\n"
    "TYPECACHE_REMOTE (a store shared across machines), TYPECACHE_REMOTE_*, TYPECACHE_CONFIG\n"
    "(the user configuration file), TYPECACHE_PROGRESS=0 (no progress line on a terminal;\n"
    "also --no-progress). Settings files: <cache>/typecache.conf,\n"
    "~/.config/typecache/typecache.conf ('typecache config' shows them all).";

std::vector<std::unique_ptr<Subcommand>> AllSubcommands() {
  std::vector<std::unique_ptr<Subcommand>> subs;
  subs.push_back(NewRunSubcommand());
  subs.push_back(NewConfigSubcommand());
  subs.push_back(NewDirSubcommand());
  subs.push_back(NewCleanSubcommand());
  subs.push_back(NewStatsSubcommand());
  subs.push_back(NewVerifySubcommand());
  subs.push_back(NewPruneSubcommand());
  subs.push_back(NewMergeSubcommand());
  subs.push_back(NewCompactSubcommand());
  subs.push_back(NewRemoteSubcommand());
  return subs;
}

// Progress lines on stderr only when it is a terminal and nobody turned them off.
// TYPECACHE_PROGRESS_AFTER_MS: how long a step runs before its line shows (default 1000; tests).
ProgressOptions ProgressFor(const Context& ctx, bool err_is_terminal, bool no_progress) {
  ProgressOptions options;
  std::optional<std::string> setting = ctx.env("TYPECACHE_PROGRESS");
  std::optional<std::string> term = ctx.env("TERM");
  if (!err_is_terminal || no_progress || (setting.has_value() && *setting == "0") ||
      (term.has_value() && *term == "dumb")) {
    return options;
  }
  options.out = &ctx.err;
  int after_ms = 0;
  std::optional<std::string> after = ctx.env("TYPECACHE_PROGRESS_AFTER_MS");
  if (after.has_value() && absl::SimpleAtoi(*after, &after_ms) && after_ms >= 0) {
    options.after = absl::Milliseconds(after_ms);
  }
  return options;
}

// The first option in `args` that neither `cmd` (and its subcommands) nor `top` know; "".
std::string UnknownOption(CLI::App& cmd, CLI::App& top, const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-') continue;
    std::string name = a.substr(0, a.find('='));
    bool known =
        cmd.get_option_no_throw(name) != nullptr || top.get_option_no_throw(name) != nullptr;
    for (CLI::App* sub : cmd.get_subcommands({})) {
      known = known || sub->get_option_no_throw(name) != nullptr;
    }
    if (!known) return a;
  }
  return "";
}

}  // namespace

int Main(int argc, char** argv, std::ostream& out, std::ostream& err, Fs& fs,
         bool err_is_terminal) {
  std::vector<std::string> args(argv, argv + argc);
  MypyAdapter adapter;
  Context ctx{out, err, fs, RealEnv, adapter};

  CLI::App app{kDescription, "typecache"};
  app.footer(kFooter);
  app.get_formatter()->column_width(34);
  app.add_flag("-v,--verbose", ctx.global.verbose, "Same as the command's -v");
  app.add_option("--cache-dir", ctx.global.cache_dir, "Same as the command's --cache-dir")
      ->type_name("DIR");
  app.add_flag("--version", "Print the version and the libraries built in");
  std::vector<std::unique_ptr<Subcommand>> subs = AllSubcommands();
  bool no_progress = false;
  const char* no_progress_help = "No progress line on stderr (shown only on a terminal)";
  app.add_flag("--no-progress", no_progress, no_progress_help);
  std::vector<std::string> names, takes_command;
  for (const std::unique_ptr<Subcommand>& sub : subs) {
    names.push_back(sub->name());
    if (sub->TakesCheckerCommand()) takes_command.push_back(sub->name());
  }

  ArgvShape shape = ShapeOf(args, takes_command);
  // `run` starts with every checker run (issue 12: a warm run's own work): only its options are
  // built then, not every command's (~0.2 ms). A word after them is the checker command (run's
  // "put -- before the checker command" hint), never taken for another command's name.
  bool only_run =
      std::find(takes_command.begin(), takes_command.end(), shape.name) != takes_command.end();
  for (const std::unique_ptr<Subcommand>& sub : subs) {
    if (only_run && sub->name() != shape.name) continue;
    sub->Add(app)->add_flag("--no-progress", no_progress, no_progress_help);
  }
  if (shape.subcommand < 0) {
    if (shape.version) {
      out << VersionText();
      return kExitOk;
    }
    if (shape.help) {
      out << app.help();
      return kExitOk;
    }
    // An option typecache does not know, before any command: that is the error to report.
    for (size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
      const std::string& a = args[i];
      if (a.size() < 2 || a[0] != '-') continue;
      if (app.get_option_no_throw(a.substr(0, a.find('='))) == nullptr) {
        return ctx.Fail(absl::StrCat("unknown option ", a, " (typecache --help)"));
      }
    }
    return ctx.Fail(absl::StrCat("no command given; commands: ", absl::StrJoin(names, ", "),
                                 " (typecache --help)"));
  }
  if (shape.name == "help") {
    size_t next = static_cast<size_t>(shape.subcommand) + 1;
    if (next >= args.size()) {
      out << app.help();
      return kExitOk;
    }
    for (const std::unique_ptr<Subcommand>& sub : subs) {
      if (sub->name() == args[next]) {
        out << app.get_subcommand(sub->name())->help("typecache");
        return kExitOk;
      }
    }
    return ctx.Fail(UnknownCommandMessage(args[next], names));
  }
  Subcommand* chosen = nullptr;
  for (const std::unique_ptr<Subcommand>& sub : subs) {
    if (sub->name() == shape.name) chosen = sub.get();
  }
  if (chosen == nullptr) return ctx.Fail(UnknownCommandMessage(shape.name, names));

  std::vector<std::string> parsed = args;
  ctx.subcommand_args.assign(
      args.begin() + shape.subcommand + 1,
      shape.double_dash >= 0 ? args.begin() + shape.double_dash : args.end());
  if (shape.double_dash >= 0) {
    ctx.has_command = true;
    ctx.command.assign(args.begin() + shape.double_dash + 1, args.end());
    parsed.resize(static_cast<size_t>(shape.double_dash));
  }
  std::vector<char*> parsed_argv;
  parsed_argv.reserve(parsed.size());
  for (std::string& a : parsed) parsed_argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(parsed_argv.size()), parsed_argv.data());
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // An error before the subcommand's name is the top level's.
    bool top_level = app.get_subcommand(chosen->name())->count() == 0;
    if (const auto* extras = dynamic_cast<const CLI::ExtrasError*>(&e)) {
      std::string what = extras->what();
      std::string first =
          what.substr(what.find(": ") == std::string::npos ? 0 : what.find(": ") + 2);
      first = first.substr(0, first.find(' '));
      for (int i = 1; i < shape.subcommand; ++i) {
        if (args[static_cast<size_t>(i)] == first) top_level = true;
      }
    }
    // CLI11 checks required arguments before unknown ones: `merge --bogus` would say "--into is
    // required". An option neither the command nor its subcommands know is the real mistake.
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
      std::string unknown =
          UnknownOption(*app.get_subcommand(chosen->name()), app, ctx.subcommand_args);
      if (!unknown.empty()) {
        return ctx.Fail(absl::StrCat(chosen->name(), ": unknown option ", unknown));
      }
    }
    return ctx.Fail(UsageMessage(e, top_level ? "" : chosen->name()));
  }
  if (app.count("--version") > 0) {
    out << VersionText();
    return kExitOk;
  }
  if (ctx.global.verbose && !chosen->UsesVerbose()) {
    return ctx.Fail(absl::StrCat("-v does not apply to ", chosen->name()));
  }
  if (!ctx.global.cache_dir.empty() && !chosen->UsesCacheDir()) {
    return ctx.Fail(absl::StrCat("--cache-dir does not apply to ", chosen->name()));
  }
  ctx.progress = ProgressFor(ctx, err_is_terminal, no_progress);
  return chosen->Run(ctx);
}

}  // namespace typecache
