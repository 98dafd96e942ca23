#include "src/commands/config.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/base/status_macros.h"
#include "src/store/remote/blob_store.h"

namespace typecache {

const std::vector<SettingSpec>& SettingSpecs() {
  static const std::vector<SettingSpec>* kSpecs = new std::vector<SettingSpec>{
      {"lock_timeout", "TYPECACHE_LOCK_TIMEOUT", "120s",
       "how long to wait for the publish lock before giving up publishing (the run still "
       "succeeds)"},
      {"publish", "TYPECACHE_PUBLISH", "auto",
       "when to publish: auto (checker exit 0 or 1, no internal error), always, never"},
      {"max_size", "TYPECACHE_MAX_SIZE", "0",
       "size budget of each database directory; after a publish that exceeds it, the oldest "
       "module groups are pruned (0: unlimited)"},
      {"verbose", "TYPECACHE_VERBOSE", "false", "print what typecache does on stderr"},
      {"disable", "TYPECACHE_DISABLE", "false",
       "run the checker unchanged, without the shared cache (like CCACHE_DISABLE)"},
      {"remote", "TYPECACHE_REMOTE", "",
       "run: share the cache across machines through this store (redis://, http(s)://, s3://): "
       "pull before the run, push what it published (empty: off)"},
      {"remote_read_only", "TYPECACHE_REMOTE_READ_ONLY", "false",
       "run: pull from the remote store, never push"},
      {"remote_read", "TYPECACHE_REMOTE_READ", "",
       "lineages pulled, comma-separated, a later one overriding an earlier one (empty: main, "
       "then remote_write)"},
      {"remote_write", "TYPECACHE_REMOTE_WRITE", "main", "the lineage pushes append to"},
      {"remote_prefix", "TYPECACHE_REMOTE_PREFIX", "",
       "keys under this prefix in the store (several projects in one store)"},
      {"remote_budget", "TYPECACHE_REMOTE_BUDGET", "2s",
       "run: total time spent talking to the remote store per run, pull and push together"},
  };
  return *kSpecs;
}

std::string UserConfigPath(const EnvLookup& env) {
  if (auto path = env("TYPECACHE_CONFIG"); path.has_value() && !path->empty()) return *path;
  if (auto xdg = env("XDG_CONFIG_HOME"); xdg.has_value() && !xdg->empty()) {
    return JoinPath(*xdg, "typecache/typecache.conf");
  }
  if (auto home = env("HOME"); home.has_value() && !home->empty()) {
    return JoinPath(*home, ".config/typecache/typecache.conf");
  }
  return "";
}

const SettingSpec* FindSetting(absl::string_view key) {
  for (const SettingSpec& spec : SettingSpecs()) {
    if (key == spec.key) return &spec;
  }
  return nullptr;
}

namespace {

absl::StatusOr<bool> ParseBool(absl::string_view text) {
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty()) return false;
  return absl::InvalidArgumentError(
      absl::StrCat("'", text, "' is not a boolean (true/false, yes/no, on/off, 1/0)"));
}

// One "key = value" line of a configuration file; nullopt for blank and comment lines.
struct ConfigLine {
  std::string key;
  std::string value;
};
absl::StatusOr<std::optional<ConfigLine>> ParseConfigLine(absl::string_view line) {
  size_t hash = line.find('#');
  if (hash != absl::string_view::npos) line = line.substr(0, hash);
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return std::optional<ConfigLine>();
  size_t eq = line.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("expected 'key = value', not '", line, "'"));
  }
  ConfigLine parsed{std::string(absl::StripAsciiWhitespace(line.substr(0, eq))),
                    std::string(absl::StripAsciiWhitespace(line.substr(eq + 1)))};
  if (parsed.key.empty()) return absl::InvalidArgumentError("no key before '='");
  return std::optional<ConfigLine>(std::move(parsed));
}

// Reads one file into `into`; every trouble becomes a problem, never an error.
void ReadConfigFile(Fs& fs, const std::string& path, bool must_exist, const std::string& named_by,
                    std::map<std::string, SettingValue>& into, std::vector<std::string>& files_read,
                    std::vector<ConfigProblem>& problems) {
  if (path.empty()) return;
  absl::StatusOr<FileInfo> info = fs.Stat(path);
  if (info.ok() && !info->exists()) {
    if (must_exist) {
      problems.push_back(
          {ConfigProblem::Severity::kError, named_by, absl::StrCat(path, " does not exist")});
    }
    return;
  }
  absl::StatusOr<std::string> text =
      info.ok() ? fs.ReadFile(path) : absl::StatusOr<std::string>(info.status());
  if (!text.ok()) {
    problems.push_back(
        {ConfigProblem::Severity::kError, path, std::string(text.status().message())});
    return;
  }
  files_read.push_back(path);
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_no;
    std::string where = absl::StrCat(path, ":", line_no);
    absl::StatusOr<std::optional<ConfigLine>> parsed = ParseConfigLine(line);
    if (!parsed.ok()) {
      problems.push_back(
          {ConfigProblem::Severity::kError, where, std::string(parsed.status().message())});
      continue;
    }
    if (!parsed->has_value()) continue;
    const ConfigLine& entry = **parsed;
    if (FindSetting(entry.key) == nullptr) {
      problems.push_back({ConfigProblem::Severity::kWarning, where,
                          absl::StrCat("unknown setting '", entry.key, "' (ignored)")});
      continue;
    }
    into[entry.key] = SettingValue{entry.value, where};
  }
}

// Lineage names: comma-separated for remote_read, one for remote_write (never empty).
absl::Status CheckLineages(absl::string_view key, absl::string_view value) {
  if (key == "remote_read" && value.empty()) return absl::OkStatus();
  for (absl::string_view name : absl::StrSplit(value, ',')) {
    if (absl::StripAsciiWhitespace(name).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", value, "' is not ",
          key == "remote_read" ? "a comma-separated list of lineage names" : "a lineage name",
          " (e.g. main, feature-x)"));
    }
    if (key == "remote_write" && absl::StrContains(value, ',')) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", value, "' is not one lineage name (pushes go to one lineage)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string ShownValue(absl::string_view key, absl::string_view value) {
  if (key == "remote") return RedactUrl(value);
  return std::string(value);
}

std::vector<std::string> SplitLineages(absl::string_view value) {
  std::vector<std::string> out;
  for (absl::string_view name : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(name));
  }
  return out;
}

absl::Status CheckSetting(absl::string_view key, absl::string_view value) {
  absl::Status status;
  if (key == "lock_timeout") {
    status = ParseDurationSetting(value).status();
  } else if (key == "max_size") {
    status = ParseSize(value).status();
  } else if (key == "verbose" || key == "disable" || key == "remote_read_only") {
    status = ParseBool(value).status();
  } else if (key == "remote") {
    // Parsed as it will be opened (no network traffic); the message redacts credentials.
    if (!value.empty()) status = OpenBlobStore(value).status();
  } else if (key == "remote_read" || key == "remote_write") {
    status = CheckLineages(key, value);
  } else if (key == "remote_prefix") {
    status = ValidatePrefix(value);
  } else if (key == "remote_budget") {
    absl::StatusOr<absl::Duration> budget = ParseDurationSetting(value);
    status = budget.status();
    if (budget.ok() && *budget <= absl::ZeroDuration()) {
      status = absl::InvalidArgumentError(
          absl::StrCat("'", value, "' is not a positive duration (e.g. 2s, 500ms)"));
    }
  } else if (key == "publish") {
    if (value != "auto" && value != "always" && value != "never") {
      status = absl::InvalidArgumentError(
          absl::StrCat("'", value, "' is not one of auto, always, never"));
    }
  } else {
    status = absl::InvalidArgumentError(absl::StrCat("unknown setting '", key, "'"));
  }
  return status;
}

absl::StatusOr<Config> Config::Load(Fs& fs, const std::map<std::string, std::string>& flags,
                                    const EnvLookup& env, const std::string& cache_dir) {
  Config config;
  std::map<std::string, SettingValue> defaults;
  for (const SettingSpec& spec : SettingSpecs()) {
    defaults[spec.key] = SettingValue{spec.default_value, "default"};
  }
  config.values_ = defaults;
  // Weakest first; each layer overwrites the one before.
  std::optional<std::string> named = env("TYPECACHE_CONFIG");
  bool named_file = named.has_value() && !named->empty();
  ReadConfigFile(fs, UserConfigPath(env), named_file, "TYPECACHE_CONFIG", config.values_,
                 config.files_read_, config.problems_);
  if (!cache_dir.empty()) {
    ReadConfigFile(fs, JoinPath(cache_dir, "typecache.conf"), false, "", config.values_,
                   config.files_read_, config.problems_);
  }
  for (const SettingSpec& spec : SettingSpecs()) {
    if (auto value = env(spec.env); value.has_value() && !value->empty()) {
      config.values_[spec.key] = SettingValue{*value, absl::StrCat("environment (", spec.env, ")")};
    }
  }
  for (const auto& [key, value] : flags) {
    if (FindSetting(key) == nullptr) return absl::InvalidArgumentError("unknown setting " + key);
    config.values_[key] = SettingValue{value, "command line"};
  }
  // Validate every value now, so a typo is reported whatever command runs; a bad value is
  // replaced by the default, alone.
  for (auto& [key, setting] : config.values_) {
    absl::Status status = CheckSetting(key, setting.value);
    if (status.ok()) continue;
    std::string where = setting.origin;
    if (absl::StartsWith(where, "environment (")) where = FindSetting(key)->env;
    config.problems_.push_back(
        {ConfigProblem::Severity::kError, where,
         absl::StrCat(key, ": ", status.message(), "; using the default, ",
                      defaults[key].value.empty() ? "none" : defaults[key].value)});
    setting = defaults[key];
  }
  return config;
}

const ConfigProblem* Config::FirstError() const {
  for (const ConfigProblem& p : problems_) {
    if (p.severity == ConfigProblem::Severity::kError) return &p;
  }
  return nullptr;
}

namespace {

absl::StatusOr<std::vector<std::string>> ReadLines(Fs& fs, const std::string& path) {
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(path));
  std::vector<std::string> lines;
  if (!info.exists()) return lines;
  ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path));
  lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

bool LineHasKey(const std::string& line, absl::string_view key) {
  absl::StatusOr<std::optional<ConfigLine>> parsed = ParseConfigLine(line);
  return parsed.ok() && parsed->has_value() && (*parsed)->key == key;
}

absl::Status WriteLines(Fs& fs, const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) absl::StrAppend(&text, line, "\n");
  RETURN_IF_ERROR(MakeDirs(fs, DirName(path)));
  return WriteFileAtomic(fs, path, text);
}

}  // namespace

absl::StatusOr<int> SetInConfigFile(Fs& fs, const std::string& path, absl::string_view key,
                                    absl::string_view value) {
  RETURN_IF_ERROR(CheckSetting(key, value));
  ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(fs, path));
  std::string line = absl::StrCat(key, " = ", value);
  int last = -1;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (LineHasKey(lines[i], key)) last = static_cast<int>(i);
  }
  std::vector<std::string> out;
  int at = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (static_cast<int>(i) == last) {
      out.push_back(line);
      at = static_cast<int>(out.size());
    } else if (!LineHasKey(lines[i], key)) {
      out.push_back(lines[i]);
    }
  }
  if (last < 0) {
    out.push_back(line);
    at = static_cast<int>(out.size());
  }
  RETURN_IF_ERROR(WriteLines(fs, path, out));
  return at;
}

absl::StatusOr<int> UnsetInConfigFile(Fs& fs, const std::string& path, absl::string_view key) {
  ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(fs, path));
  std::vector<std::string> out;
  int removed = 0;
  for (const std::string& line : lines) {
    if (LineHasKey(line, key)) {
      ++removed;
    } else {
      out.push_back(line);
    }
  }
  if (removed > 0) RETURN_IF_ERROR(WriteLines(fs, path, out));
  return removed;
}

absl::StatusOr<absl::Duration> Config::Duration(const std::string& key) const {
  return ParseDurationSetting(Get(key).value);
}
absl::StatusOr<int64_t> Config::Size(const std::string& key) const {
  return ParseSize(Get(key).value);
}
absl::StatusOr<bool> Config::Bool(const std::string& key) const {
  return ParseBool(Get(key).value);
}

absl::StatusOr<absl::Duration> ParseDurationSetting(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  struct Unit {
    const char* suffix;
    absl::Duration unit;
  };
  static const Unit kUnits[] = {{"ms", absl::Milliseconds(1)}, {"s", absl::Seconds(1)},
                                {"m", absl::Minutes(1)},       {"h", absl::Hours(1)},
                                {"d", absl::Hours(24)},        {"w", absl::Hours(24 * 7)}};
  for (const Unit& unit : kUnits) {
    absl::string_view number = text;
    if (absl::ConsumeSuffix(&number, unit.suffix)) {
      double value = 0;
      if (absl::SimpleAtod(number, &value) && value >= 0 && std::isfinite(value)) {
        return unit.unit * value;
      }
    }
  }
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds) && seconds >= 0 && std::isfinite(seconds)) {
    return absl::Seconds(seconds);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", text, "' is not a duration (e.g. 30d, 12h, 90m, 45s, 250ms)"));
}

absl::StatusOr<int64_t> ParseSize(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  double factor = 1;
  absl::string_view number = text;
  if (!number.empty()) {
    char last = absl::ascii_toupper(static_cast<unsigned char>(number.back()));
    if (last == 'B') {
      number.remove_suffix(1);
      last = number.empty() ? '\0' : absl::ascii_toupper(static_cast<unsigned char>(number.back()));
    }
    // "Gi"/"GiB" (as FormatSize prints) mean the same as "G": the 'i' precedes the B, not
    // the unit letter.
    bool iec = false;
    if (last == 'I' && number.size() >= 2) {
      iec = true;
      last = absl::ascii_toupper(static_cast<unsigned char>(number[number.size() - 2]));
    }
    const char* units = "KMGT";
    for (int i = 0; i < 4; ++i) {
      if (last == units[i]) {
        factor = std::pow(1024.0, i + 1);
        number.remove_suffix(iec ? 2 : 1);
        break;
      }
    }
  }
  double value = 0;
  if (!absl::SimpleAtod(number, &value) || value < 0 || !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a size (e.g. 2G, 500M, 64K, or bytes)"));
  }
  return static_cast<int64_t>(value * factor);
}

std::string FormatSize(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, " B");
  return absl::StrFormat("%.1f %s", value, units[unit]);
}

}  // namespace typecache
