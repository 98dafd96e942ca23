// mypy's cache settings (cache_dir, sqlite_cache, incremental) as mypy itself computes them from
// its command line, its environment and its configuration file, following mypy's own precedence
// (mypy/main.py process_options, mypy/config_parser.py parse_config_file):
//
//   1. Defaults: cache_dir ".mypy_cache", incremental true, sqlite_cache false (true from mypy
//      1.20).
//   2. The configuration file: --config-file FILE if given (`--config-file=` means none), else
//      the first of mypy.ini, .mypy.ini, pyproject.toml (only with [tool.mypy]), setup.cfg (only
//      with [mypy]) in the working directory (from mypy 1.15: then in each parent up to a
//      directory holding .git or .hg), then $XDG_CONFIG_HOME/mypy/config,
//      ~/.config/mypy/config, ~/.mypy.ini. Only the [mypy] section (or [tool.mypy]) counts;
//      cache_dir there has ~ and $VARS expanded, and $MYPY_CONFIG_FILE_DIR is the directory of
//      the file. `no_sqlite_cache`/`no_incremental` are the inverted keys.
//   3. MYPY_CACHE_DIR, when not blank, replaces the configured cache_dir; then ~ is expanded.
//   4. The command line (last occurrence wins): --cache-dir DIR (taken verbatim), --sqlite-cache,
//      --no-sqlite-cache, -i/--incremental, --no-incremental; argparse's @file arguments and
//      unique abbreviations (--cache-d, --no-sq) included.
//
// INI files are read with configparser.RawConfigParser's rules (comments are whole lines
// starting with # or ;, continuation lines are indented deeper, keys are lower-cased, = or :,
// [DEFAULT] values show in every section). A file mypy would reject (mypy prints the error and
// goes on to the next candidate file) is an error here, naming file:line.
#ifndef TYPECACHE_SRC_CHECKER_MYPY_MYPY_CONFIG_H_
#define TYPECACHE_SRC_CHECKER_MYPY_MYPY_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace typecache {

// Reads an environment variable; returns nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// What differs between mypy versions in how the settings are found.
struct MypyConfigRules {
  // mypy >= 1.15: the project's config files are also looked for in the parent directories,
  // up to the first one holding .git or .hg; each file is parsed on its own.
  bool walk_up_parents = false;
  // mypy >= 1.20: sqlite_cache defaults to true.
  bool sqlite_cache_default = false;

  static MypyConfigRules Mypy1_0() { return {}; }
  static MypyConfigRules ForVersion(int major, int minor);
};

struct MypyCacheSettings {
  // Where mypy puts its cache: absolute, with "." components removed (".." kept).
  std::string cache_dir;
  // The value mypy holds in options.cache_dir (possibly relative to the working directory).
  std::string cache_dir_value;
  // "--cache-dir flag", "MYPY_CACHE_DIR", "mypy.ini:3 [mypy] cache_dir",
  // "pyproject.toml:5 [tool.mypy] cache_dir" or "default".
  std::string cache_dir_origin;
  // cache_dir is /dev/null: mypy reads and writes no cache.
  bool cache_disabled = false;

  bool sqlite_cache = false;
  std::string sqlite_cache_origin;  // "--sqlite-cache flag", "setup.cfg:4 [mypy] ...", "default"
  bool incremental = true;
  std::string incremental_origin;
  // The Python version mypy checks for ("3.11": --python-version, else the configuration's
  // python_version); "" when neither says (mypy then uses its interpreter's version).
  std::string python_version;

  // The configuration file whose settings apply, as mypy names it ("mypy.ini",
  // "../setup.cfg", "/home/u/.mypy.ini"), empty when none; and its absolute path. (mypy's own
  // options.config_file, which `mypy -v` logs, ends up holding --config-file's value even when
  // that file was skipped, e.g. a "setup.cfg" without [mypy].)
  std::string config_file;
  std::string config_file_path;
  // What mypy would print about the configuration without stopping, e.g.
  // "mypy.ini: No [mypy] section in config file".
  std::vector<std::string> warnings;
};

// The cache settings mypy computes for `mypy <argv_mypy_args...>` run in `cwd` (absolute) with
// environment `env`. argv_mypy_args are mypy's own arguments (after "mypy" or "python -m mypy").
// Errors: a configuration file mypy would reject (file:line in the message), a missing
// --config-file or @file, an ambiguous abbreviation, --cache-dir without a value.
absl::StatusOr<MypyCacheSettings> ReadMypyCacheSettings(
    const std::vector<std::string>& argv_mypy_args, const std::string& cwd, const EnvLookup& env);
absl::StatusOr<MypyCacheSettings> ReadMypyCacheSettings(
    const std::vector<std::string>& argv_mypy_args, const std::string& cwd, const EnvLookup& env,
    const MypyConfigRules& rules);

// Exposed for tests: Python's os.path.expanduser and os.path.expandvars (POSIX) over `env`.
std::string PythonExpandUser(const std::string& path, const EnvLookup& env);
std::string PythonExpandVars(const std::string& path, const EnvLookup& env);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CHECKER_MYPY_MYPY_CONFIG_H_
