// `typecache config [get KEY | set KEY VALUE | unset KEY]` and `typecache dir`: the settings, where
// each comes from, editing typecache.conf; the cache directory in use and why.
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "src/cli/context.h"
#include "src/cli/json_out.h"

namespace typecache {
namespace {

std::string SettingNames() {
  std::vector<std::string> names = {"cache_dir"};
  for (const SettingSpec& spec : SettingSpecs()) names.emplace_back(spec.key);
  return absl::StrJoin(names, ", ");
}

const char* SeverityName(ConfigProblem::Severity s) {
  return s == ConfigProblem::Severity::kWarning ? "warning" : "error";
}

struct ConfigFlags {
  std::string cache_dir;
  SettingFlags settings;
  bool json = false;
  bool verbose = false;
  // get / set / unset
  std::string key;
  std::string value;
  bool user = false;
};

class ConfigSubcommand : public CheckerCommandSubcommand {
 public:
  std::string name() const override { return "config"; }

  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "config",
        "Show every setting, its value and where it came from (file:line, environment, flag,\n"
        "default); 'config get|set|unset KEY' reads or edits typecache.conf.\n"
        "Usage: typecache config [--cache-dir DIR] [--json] [-- mypy ARGS...]");
    AddCacheDirFlag(cmd_, flags_.cache_dir);
    AddSettingFlag(cmd_, flags_.settings, "lock_timeout", "--lock-timeout",
                   "Show the configuration as with this flag");
    AddSettingFlag(cmd_, flags_.settings, "max_size", "--max-size",
                   "Show the configuration as with this flag");
    AddSettingFlag(cmd_, flags_.settings, "publish", "--publish",
                   "Show the configuration as with this flag");
    AddSettingFlag(cmd_, flags_.settings, "remote", "--remote",
                   "Show the configuration as with this flag");
    cmd_->add_flag("--json", flags_.json, "One JSON document on stdout");
    cmd_->add_flag("-v,--verbose", flags_.verbose, "Also say how mypy's cache directory was found");
    cmd_->require_subcommand(0, 1);
    cmd_->footer(
        "After --, a checker command: the cache directory is the one `typecache run` would use\n"
        "for it. Keys: " +
        SettingNames() + " (docs: man typecache).");

    get_ = cmd_->add_subcommand("get", "Print the value of KEY in effect here");
    get_->add_option("KEY", flags_.key, "A setting, or cache_dir")->required();
    get_->fallthrough();

    set_ = cmd_->add_subcommand(
        "set", "Write KEY = VALUE into the cache directory's typecache.conf (--user: the user's)");
    set_->add_option("KEY", flags_.key, "A setting")->required();
    set_->add_option("VALUE", flags_.value, "Its value")->required();
    set_->add_flag("--user", flags_.user, "Edit the user configuration file instead");
    set_->fallthrough();

    unset_ = cmd_->add_subcommand(
        "unset", "Remove KEY from the cache directory's typecache.conf (--user: the user's)");
    unset_->add_option("KEY", flags_.key, "A setting")->required();
    unset_->add_flag("--user", flags_.user, "Edit the user configuration file instead");
    unset_->fallthrough();
    return cmd_;
  }

  int Run(Context& ctx) override {
    CommandPlan plan;
    CacheDirChoice dir = ChooseCacheDir(ctx, flags_.cache_dir, ctx.command, &plan);
    if (set_->parsed() || unset_->parsed()) return Edit(ctx, dir);
    absl::StatusOr<Config> config = Config::Load(ctx.fs, flags_.settings.values, ctx.env, dir.path);
    if (!config.ok()) return ctx.Fail(config.status());
    if (get_->parsed()) return Get(ctx, dir, *config);
    if (flags_.verbose || ctx.global.verbose) {
      for (const std::string& note : plan.notes) ctx.Note(note);
    }
    std::string user_file = UserConfigPath(ctx.env);
    std::string cache_file = JoinPath(dir.path, "typecache.conf");
    auto exists = [&](const std::string& path) {
      absl::StatusOr<FileInfo> info = ctx.fs.Stat(path);
      return !path.empty() && info.ok() && info->exists();
    };
    if (flags_.json) {
      nlohmann::ordered_json doc;
      doc["cache_dir"] = JsonText(dir.path);
      doc["cache_dir_origin"] = JsonText(dir.origin);
      nlohmann::ordered_json settings = nlohmann::ordered_json::object();
      for (const auto& [key, setting] : config->values()) {
        settings[key] = {{"value", JsonText(ShownValue(key, setting.value))},
                         {"origin", JsonText(setting.origin)}};
      }
      doc["settings"] = settings;
      doc["config_files"] = {
          {"user", {{"path", JsonText(user_file)}, {"exists", exists(user_file)}}},
          {"cache", {{"path", JsonText(cache_file)}, {"exists", exists(cache_file)}}}};
      nlohmann::ordered_json problems = nlohmann::ordered_json::array();
      for (const ConfigProblem& p : config->problems()) {
        problems.push_back({{"severity", SeverityName(p.severity)},
                            {"where", JsonText(p.where)},
                            {"message", JsonText(p.message)}});
      }
      doc["problems"] = problems;
      PrintJson(doc, ctx.out);
    } else {
      ctx.out << "cache_dir = " << dir.path << "    (" << dir.origin << ")\n";
      for (const auto& [key, setting] : config->values()) {
        ctx.out << key << " = " << ShownValue(key, setting.value) << "    (" << setting.origin
                << ")\n";
      }
      ctx.out << "user config file: " << (user_file.empty() ? "(none: no HOME)" : user_file)
              << (exists(user_file) ? "" : " (not present)") << "\n";
      ctx.out << "cache config file: " << cache_file << (exists(cache_file) ? "" : " (not present)")
              << "\n";
      ctx.out.flush();
    }
    // Show everything, then say what is wrong: an error is the exit status.
    int code = kExitOk;
    for (const ConfigProblem& p : config->problems()) {
      if (p.severity == ConfigProblem::Severity::kError) {
        code = ctx.Fail(p.ToString());
      } else {
        ctx.Warn(p.ToString());
      }
    }
    return code;
  }

 private:
  int Get(Context& ctx, const CacheDirChoice& dir, const Config& config) const {
    if (flags_.key == "cache_dir") {
      ctx.out << dir.path << "\n";
      return kExitOk;
    }
    if (FindSetting(flags_.key) == nullptr) {
      return ctx.Fail(absl::StrCat("config get: unknown setting '", flags_.key,
                                   "'; settings: ", SettingNames()));
    }
    if (const ConfigProblem* error = config.FirstError()) return ctx.Fail(error->ToString());
    ctx.out << ShownValue(flags_.key, config.Get(flags_.key).value) << "\n";
    return kExitOk;
  }

  int Edit(Context& ctx, const CacheDirChoice& dir) {
    const char* verb = set_->parsed() ? "set" : "unset";
    if (flags_.key == "cache_dir") {
      return ctx.Fail(absl::StrCat("config ", verb,
                                   ": cache_dir is chosen before any typecache.conf is read: use "
                                   "--cache-dir, TYPECACHE_DIR, or mypy's own cache_dir"));
    }
    if (FindSetting(flags_.key) == nullptr) {
      return ctx.Fail(absl::StrCat("config ", verb, ": unknown setting '", flags_.key,
                                   "'; settings: ", SettingNames()));
    }
    std::string file = flags_.user ? UserConfigPath(ctx.env) : JoinPath(dir.path, "typecache.conf");
    if (file.empty()) {
      return ctx.Fail(absl::StrCat("config ", verb,
                                   " --user: no user configuration file (HOME, XDG_CONFIG_HOME "
                                   "and TYPECACHE_CONFIG are unset)"));
    }
    if (set_->parsed()) {
      absl::Status valid = CheckSetting(flags_.key, flags_.value);
      if (!valid.ok()) {
        return ctx.Fail(absl::StrCat("config set: ", flags_.key, ": ", valid.message()));
      }
      absl::StatusOr<int> line = SetInConfigFile(ctx.fs, file, flags_.key, flags_.value);
      if (!line.ok()) return ctx.Fail(line.status());
      ctx.out << flags_.key << " = " << ShownValue(flags_.key, flags_.value) << "    (" << file
              << ":" << *line << ")\n";
    } else {
      absl::StatusOr<int> removed = UnsetInConfigFile(ctx.fs, file, flags_.key);
      if (!removed.ok()) return ctx.Fail(removed.status());
      if (*removed == 0) {
        ctx.out << flags_.key << " was not set in " << file << "\n";
      } else {
        ctx.out << "removed " << flags_.key << " from " << file << "\n";
      }
    }
    // What is in effect now: a stronger layer may still decide.
    absl::StatusOr<Config> config = Config::Load(ctx.fs, {}, ctx.env, dir.path);
    if (config.ok()) {
      const SettingValue& now = config->Get(flags_.key);
      bool ours = absl::StartsWith(now.origin, file + ":");
      if (set_->parsed() && !ours) {
        ctx.Note(absl::StrCat("note: ", now.origin, " overrides it here: ", flags_.key, " = ",
                              ShownValue(flags_.key, now.value)));
      } else if (unset_->parsed()) {
        ctx.Note(absl::StrCat(flags_.key, " is now ", ShownValue(flags_.key, now.value), " (",
                              now.origin, ")"));
      }
    }
    return kExitOk;
  }

  CLI::App* cmd_ = nullptr;
  CLI::App* get_ = nullptr;
  CLI::App* set_ = nullptr;
  CLI::App* unset_ = nullptr;
  ConfigFlags flags_;
};

struct DirFlags {
  std::string cache_dir;
  bool json = false;
  bool verbose = false;
};

class DirSubcommand : public CheckerCommandSubcommand {
 public:
  std::string name() const override { return "dir"; }

  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "dir",
        "Print the cache directory in use here (stdout) and why (stderr), like 'uv cache dir'.\n"
        "Usage: typecache dir [--cache-dir DIR] [--json] [-- mypy ARGS...]");
    AddCacheDirFlag(cmd_, flags_.cache_dir);
    cmd_->add_flag("--json", flags_.json, "{\"cache_dir\": ..., \"origin\": ...} on stdout");
    cmd_->add_flag("-v,--verbose", flags_.verbose,
                   "Also say how mypy and its configuration were found");
    cmd_->footer("After --, a checker command: the directory `typecache run` would use for it.");
    return cmd_;
  }

  int Run(Context& ctx) override {
    CommandPlan plan;
    CacheDirChoice dir = ChooseCacheDir(ctx, flags_.cache_dir, ctx.command, &plan);
    if (flags_.json) {
      PrintJson(nlohmann::ordered_json{{"cache_dir", JsonText(dir.path)},
                                       {"origin", JsonText(dir.origin)}},
                ctx.out);
      return kExitOk;
    }
    ctx.out << dir.path << std::endl;
    if (flags_.verbose || ctx.global.verbose) {
      for (const std::string& note : plan.notes) ctx.Note(note);
    }
    ctx.Note(absl::StrCat("chosen by ", dir.origin));
    return kExitOk;
  }

 private:
  CLI::App* cmd_ = nullptr;
  DirFlags flags_;
};

}  // namespace

std::unique_ptr<Subcommand> NewConfigSubcommand() { return std::make_unique<ConfigSubcommand>(); }
std::unique_ptr<Subcommand> NewDirSubcommand() { return std::make_unique<DirSubcommand>(); }

}  // namespace typecache
