#include "src/commands/config.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/base/status_macros.h"

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

namespace {

const SettingSpec* FindSpec(absl::string_view key) {
  for (const SettingSpec& spec : SettingSpecs()) {
    if (key == spec.key) return &spec;
  }
  return nullptr;
}

absl::Status ReadConfigFile(Fs& fs, const std::string& path,
                            std::map<std::string, SettingValue>& into,
                            std::vector<std::string>& files_read) {
  if (path.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(path));
  if (!info.exists()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path));
  files_read.push_back(path);
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected 'key = value'"));
    }
    std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    if (FindSpec(key) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": unknown setting '", key, "'"));
    }
    into[key] = SettingValue{value, absl::StrCat(path, ":", line_no)};
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> Config::Load(Fs& fs, const std::map<std::string, std::string>& flags,
                                    const EnvLookup& env, const std::string& cache_dir) {
  Config config;
  for (const SettingSpec& spec : SettingSpecs()) {
    config.values_[spec.key] = SettingValue{spec.default_value, "default"};
  }
  // Weakest first; each layer overwrites the one before.
  RETURN_IF_ERROR(ReadConfigFile(fs, UserConfigPath(env), config.values_, config.files_read_));
  if (!cache_dir.empty()) {
    RETURN_IF_ERROR(ReadConfigFile(fs, JoinPath(cache_dir, "typecache.conf"), config.values_,
                                   config.files_read_));
  }
  for (const SettingSpec& spec : SettingSpecs()) {
    if (auto value = env(spec.env); value.has_value() && !value->empty()) {
      config.values_[spec.key] = SettingValue{*value, absl::StrCat("environment (", spec.env, ")")};
    }
  }
  for (const auto& [key, value] : flags) {
    if (FindSpec(key) == nullptr) return absl::InvalidArgumentError("unknown setting " + key);
    config.values_[key] = SettingValue{value, "command line"};
  }
  // Validate every value now, so a typo is reported whatever command runs.
  for (const auto& [key, setting] : config.values_) {
    absl::Status status;
    if (key == "lock_timeout") status = config.Duration(key).status();
    if (key == "max_size") status = config.Size(key).status();
    if (key == "verbose") status = config.Bool(key).status();
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(setting.origin, ": ", key, ": ", status.message()));
    }
  }
  return config;
}

absl::StatusOr<absl::Duration> Config::Duration(const std::string& key) const {
  return ParseDurationSetting(Get(key).value);
}
absl::StatusOr<int64_t> Config::Size(const std::string& key) const {
  return ParseSize(Get(key).value);
}
absl::StatusOr<bool> Config::Bool(const std::string& key) const {
  std::string v = absl::AsciiStrToLower(Get(key).value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty()) return false;
  return absl::InvalidArgumentError(absl::StrCat("'", v, "' is not a boolean"));
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
