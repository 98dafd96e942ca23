// typecache's settings and where each value came from.
//
// Precedence, strongest first: command-line flag > TYPECACHE_* environment variable >
// <cache>/typecache.conf > user file ($XDG_CONFIG_HOME/typecache/typecache.conf, else
// ~/.config/typecache/typecache.conf; TYPECACHE_CONFIG overrides its path) > default.
// Files hold "key = value" lines; '#' starts a comment. docs/config.md lists every key.
// The cache directory itself is chosen before any cache-dir file can be read: flag,
// TYPECACHE_DIR, the checker's own arguments and environment, the checker's default.
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

class Config {
 public:
  // `flags` holds the values given on the command line, by key.
  static absl::StatusOr<Config> Load(Fs& fs, const std::map<std::string, std::string>& flags,
                                     const EnvLookup& env, const std::string& cache_dir);

  const SettingValue& Get(const std::string& key) const { return values_.at(key); }
  const std::map<std::string, SettingValue>& values() const { return values_; }
  std::vector<std::string> files_read() const { return files_read_; }

  absl::StatusOr<absl::Duration> Duration(const std::string& key) const;
  absl::StatusOr<int64_t> Size(const std::string& key) const;
  absl::StatusOr<bool> Bool(const std::string& key) const;

 private:
  std::map<std::string, SettingValue> values_;
  std::vector<std::string> files_read_;
};

// The user-level configuration file path for `env`.
std::string UserConfigPath(const EnvLookup& env);

// "30d", "12h", "90m", "45s", "250ms", or a plain number of seconds.
absl::StatusOr<absl::Duration> ParseDurationSetting(absl::string_view text);
// "2G", "500M", "64K", "1.5G", or a plain number of bytes; "0" means unlimited.
absl::StatusOr<int64_t> ParseSize(absl::string_view text);
std::string FormatSize(int64_t bytes);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_CONFIG_H_
