#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/cli/context.h"

namespace typecache {

int Context::Fail(const absl::Status& status) const { return Fail(status.message()); }

int Context::Fail(absl::string_view message) const {
  err << "typecache: error: " << message << std::endl;
  return kExitError;
}

void Context::Warn(absl::string_view message) const {
  err << "typecache: warning: " << message << std::endl;
}

void Context::Note(absl::string_view message) const {
  err << "typecache: " << message << std::endl;
}

CLI::Validator StatusValidator(std::function<absl::Status(const std::string&)> check,
                               const std::string& description) {
  return {[check = std::move(check)](std::string& value) -> std::string {
            absl::Status status = check(value);
            return status.ok() ? std::string() : std::string(status.message());
          },
          description};
}

CLI::Validator OneOf(std::vector<std::string> values) {
  return StatusValidator(
      [values = std::move(values)](const std::string& value) {
        for (const std::string& v : values) {
          if (v == value) return absl::OkStatus();
        }
        return absl::InvalidArgumentError(
            absl::StrCat("'", value, "' is not one of ", absl::StrJoin(values, ", ")));
      },
      "");
}

void AddSettingFlag(CLI::App* cmd, SettingFlags& flags, const std::string& key,
                    const std::string& name, const std::string& help) {
  const SettingSpec* spec = FindSetting(key);
  std::string env = spec != nullptr ? spec->env : "";
  cmd->add_option_function<std::string>(
         name, [&flags, key](const std::string& value) { flags.values[key] = value; },
         absl::StrCat(help, " [env ", env, "]"))
      ->type_name(key == "publish"                                  ? "auto|always|never"
                  : key == "lock_timeout" || key == "remote_budget" ? "DURATION"
                  : key == "max_size"                               ? "SIZE"
                  : key == "remote"                                 ? "URL"
                  : key == "remote_read"                            ? "LINEAGE,..."
                  : key == "remote_write"                           ? "LINEAGE"
                  : key == "remote_prefix"                          ? "PREFIX"
                                                                    : "VALUE")
      ->check(StatusValidator([key](const std::string& value) { return CheckSetting(key, value); },
                              ""));
}

void AddCacheDirFlag(CLI::App* cmd, std::string& cache_dir) {
  cmd->add_option("--cache-dir", cache_dir,
                  "The shared cache directory [env TYPECACHE_DIR; default: the one mypy would "
                  "use here: its --cache-dir, MYPY_CACHE_DIR, its configuration file, "
                  ".mypy_cache]")
      ->type_name("DIR");
}

void AddRemoteLineageFlags(CLI::App* cmd, SettingFlags& flags, const std::string& read_only_help) {
  cmd->add_flag_callback(
      "--remote-read-only", [&flags]() { flags.values["remote_read_only"] = "true"; },
      read_only_help + " [env TYPECACHE_REMOTE_READ_ONLY]");
  AddSettingFlag(cmd, flags, "remote_read", "--remote-read",
                 "Lineages pulled, a later one overriding an earlier one [default: main, then "
                 "--remote-write]");
  AddSettingFlag(cmd, flags, "remote_write", "--remote-write",
                 "The lineage pushes append to [default: main]");
  AddSettingFlag(cmd, flags, "remote_prefix", "--remote-prefix",
                 "Keys under this prefix in the store (several projects in one store)");
}

RunOptions CacheDirOptions(const Context& ctx, const std::string& flag) {
  RunOptions options;
  if (!flag.empty()) {
    options.cache_dir = flag;
    options.cache_dir_origin = "--cache-dir";
  } else if (!ctx.global.cache_dir.empty()) {
    options.cache_dir = ctx.global.cache_dir;
    options.cache_dir_origin = "--cache-dir";
  } else if (std::optional<std::string> env = ctx.env("TYPECACHE_DIR");
             env.has_value() && !env->empty()) {
    options.cache_dir = *env;
    options.cache_dir_origin = "TYPECACHE_DIR";
  }
  return options;
}

CacheDirChoice ChooseCacheDir(const Context& ctx, const std::string& flag,
                              const std::vector<std::string>& command, CommandPlan* plan) {
  RunOptions options = CacheDirOptions(ctx, flag);
  options.command = command;
  return ResolveCacheDir(ctx.adapter, options, ctx.env, plan);
}

std::optional<Config> LoadConfigOrFail(const Context& ctx, const SettingFlags& flags,
                                       const std::string& cache_dir, int* exit_code) {
  absl::StatusOr<Config> config = Config::Load(ctx.fs, flags.values, ctx.env, cache_dir);
  if (!config.ok()) {
    *exit_code = ctx.Fail(config.status());
    return std::nullopt;
  }
  if (const ConfigProblem* error = config->FirstError()) {
    *exit_code = ctx.Fail(error->ToString());
    return std::nullopt;
  }
  for (const ConfigProblem& p : config->problems()) ctx.Warn(p.ToString());
  return *std::move(config);
}

std::string ShellQuote(absl::string_view word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789-_./=:,+@%") == absl::string_view::npos) {
    return std::string(word);
  }
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace typecache
