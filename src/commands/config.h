// typecache's settings and where each value came from; reading and editing typecache.conf.
//
// Precedence, strongest first: command-line flag > TYPECACHE_* environment variable >
// <cache>/typecache.conf > user file ($XDG_CONFIG_HOME/typecache/typecache.conf, else
// ~/.config/typecache/typecache.conf; TYPECACHE_CONFIG overrides its path) > default.
// Files hold "key = value" lines; '#' starts a comment. docs/config.md lists every key.
// The cache directory itself is chosen before any cache-dir file can be read: flag,
// TYPECACHE_DIR, the checker's own arguments and environment, the checker's default.
//
// Loading never fails because of a file or a variable: each bad value, malformed line, unknown
// key or missing TYPECACHE_CONFIG file is one Problem naming file:line (or the variable), that
// setting keeps its default and every other setting is kept. `typecache run` prints problems as
// warnings; the maintenance commands and `typecache config` refuse to run on an error.
#ifndef TYPECACHE_SRC_COMMANDS_CONFIG_H_
#define TYPECACHE_SRC_COMMANDS_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"

namespace typecache {

struct SettingSpec {
  const char* key;  // In files and `typecache config`.
  const char* env;  // Environment variable.
  const char* default_value;
  const char* help;
};
const std::vector<SettingSpec>& SettingSpecs();

struct SettingValue {
  std::string value;
  std::string origin;  // "command line", "environment (TYPECACHE_X)", "<file>:<line>", "default"
};

struct ConfigProblem {
  enum class Severity {
    kWarning,  // Never stops a command (an unknown key: a newer typecache's setting, a typo).
    kError,    // A value or line that cannot be used; `run` warns, other commands stop.
  };
  Severity severity = Severity::kError;
  std::string where;    // "<file>:<line>", "<file>", "TYPECACHE_PUBLISH", "TYPECACHE_CONFIG"
  std::string message;  // "publish: 'sometimes' is not one of auto, always, never"
  std::string ToString() const { return where + ": " + message; }
};

class Config {
 public:
  // `flags` holds the values given on the command line, by key (checked by the caller with
  // CheckSetting: an invalid flag is a usage error). Fails only for a key that is not a
  // setting in `flags` (a programming error); trouble in files and variables is in problems().
  static absl::StatusOr<Config> Load(Fs& fs, const std::map<std::string, std::string>& flags,
                                     const EnvLookup& env, const std::string& cache_dir);

  const SettingValue& Get(const std::string& key) const { return values_.at(key); }
  const std::map<std::string, SettingValue>& values() const { return values_; }
  std::vector<std::string> files_read() const { return files_read_; }
  const std::vector<ConfigProblem>& problems() const { return problems_; }
  // The first problem of severity kError, if any.
  const ConfigProblem* FirstError() const;

  absl::StatusOr<absl::Duration> Duration(const std::string& key) const;
  absl::StatusOr<int64_t> Size(const std::string& key) const;
  absl::StatusOr<bool> Bool(const std::string& key) const;

 private:
  std::map<std::string, SettingValue> values_;
  std::vector<std::string> files_read_;
  std::vector<ConfigProblem> problems_;
};

// The spec of `key`, or nullptr when it is not a setting.
const SettingSpec* FindSetting(absl::string_view key);

// `value` of `key` as typecache prints it: a remote store URL with its password (user:password@,
// password=, token=) replaced by "***"; anything else unchanged.
std::string ShownValue(absl::string_view key, absl::string_view value);

// remote_read's value as lineage names ("main, feature" -> {"main", "feature"}).
std::vector<std::string> SplitLineages(absl::string_view value);

// Whether `value` is valid for `key`: "'x' is not a duration (e.g. 30d, ...)" otherwise.
absl::Status CheckSetting(absl::string_view key, absl::string_view value);

// Edits a configuration file, keeping its comments and other lines; the file is replaced
// atomically. Set replaces the key's line (the last one, and drops earlier duplicates) or
// appends one; the file and its directory are created when missing. Returns the line number
// the key is now on. Unset removes every line of the key; returns how many it removed.
absl::StatusOr<int> SetInConfigFile(Fs& fs, const std::string& path, absl::string_view key,
                                    absl::string_view value);
absl::StatusOr<int> UnsetInConfigFile(Fs& fs, const std::string& path, absl::string_view key);

// The user-level configuration file path for `env`.
std::string UserConfigPath(const EnvLookup& env);

// "30d", "12h", "90m", "45s", "250ms", or a plain number of seconds.
absl::StatusOr<absl::Duration> ParseDurationSetting(absl::string_view text);
// "2G", "500M", "64K", "1.5G", or a plain number of bytes; "0" means unlimited.
absl::StatusOr<int64_t> ParseSize(absl::string_view text);
std::string FormatSize(int64_t bytes);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_CONFIG_H_
