// What typecache needs to know about a type checker with an SQLite cache, behind one small
// interface. Snapshot, capture and publish only talk to a CheckerAdapter; everything specific to
// mypy (where the cache lives, how to redirect it, which rows form a module group) lives in
// mypy_adapter.h. Another checker is added by implementing this interface.
#ifndef TYPECACHE_SRC_CHECKER_CHECKER_ADAPTER_H_
#define TYPECACHE_SRC_CHECKER_CHECKER_ADAPTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

// Reads an environment variable; returns nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// What the adapter can tell about one cache row from its key and content.
struct RowFacts {
  enum class Role { kMeta, kData, kOther };
  Role role = Role::kOther;
  std::string kind;      // For statistics: "meta.json", "data.ff", "global", ...
  bool checked = false;  // The content format is known and was checked.
  std::string problem;   // Non-empty when the content is malformed.
  // A meta row's record of int(mtime) of its data row, and what the checker calls that record
  // (for messages).
  std::optional<int64_t> data_stamp;
  std::string data_stamp_field;
  std::string version;      // Checker version that wrote the row (when recorded).
  std::string source_path;  // Source file the group caches (when recorded).
  // Non-empty when the row is in a format this typecache does not know (a newer checker): the
  // row is left alone, never misread, and its group is neither healthy nor broken.
  std::string unknown;
  // Kinds of the other rows the checker needs beside this meta row ("err.ff" for mypy 1.20).
  std::vector<std::string> required_kinds;
};

// Which rows form one group (CheckerAdapter::Select).
struct GroupSelector {
  std::string table;  // Empty: the group has rows in every table.
  std::string lo;     // Keys in [lo, hi) ...
  std::string hi;
  std::string exact;                  // ... or equal to `exact` ...
  std::optional<std::string> family;  // ... of this family ("" = other; nullopt = every family).
};

// The command to execute for one checker run.
struct Invocation {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> set_env;  // Added to the inherited environment.
  std::vector<std::string> notes;  // Things the user should know ("added --sqlite-cache").
};

// What typecache makes of one command line before running it (CheckerAdapter::Plan).
struct CommandPlan {
  // The cache directory the checker would use if run directly (its arguments, its environment,
  // its configuration files, its default), absolute; and where that came from, for users
  // ("--cache-dir flag", "MYPY_CACHE_DIR", "mypy.ini:3 [mypy] cache_dir", "default").
  std::string cache_dir;
  std::string cache_dir_origin;
  // The target language version the command checks for ("3.11"), when its arguments or
  // configuration say; "" otherwise. A cold `run --remote` pulls only that version's rows.
  std::string target_version;
  // Run the command unchanged: it cannot use a shared cache. `why` says why; `warn`: tell the
  // user even without -v (typecache would have been useful but cannot be).
  bool bypass = false;
  bool warn = false;
  std::string why;
  // The checker is reached through the environment only (its command line could not be read):
  // when its private cache then holds files but no database, this warning explains why the run
  // could not be shared.
  bool environment_only = false;
  std::string no_database_warning;
  // For -v: how the checker was found ("uv run → mypy"), which configuration file applies.
  std::vector<std::string> notes;
};

class CheckerAdapter {
 public:
  virtual ~CheckerAdapter() = default;

  // The plan for running `argv` in the working directory `cwd` (absolute) with environment
  // `env`. The default asks CacheDirFromCommand and Bypass.
  virtual CommandPlan Plan(const std::vector<std::string>& argv, const EnvLookup& env,
                           const std::string& cwd) const {
    CommandPlan plan;
    std::optional<std::string> dir = CacheDirFromCommand(argv, env);
    std::string path = dir.value_or(DefaultCacheDir());
    plan.cache_dir = !path.empty() && path[0] == '/' ? path : cwd + "/" + path;
    plan.cache_dir_origin = dir.has_value() ? "the checker's arguments or environment" : "default";
    plan.bypass = Bypass(argv, &plan.why);
    return plan;
  }

  virtual absl::string_view name() const = 0;

  // The cache directory that the checker's own arguments or environment name, if any.
  virtual std::optional<std::string> CacheDirFromCommand(const std::vector<std::string>& argv,
                                                         const EnvLookup& env) const = 0;
  // The default cache directory when nothing names one (relative to the working directory).
  virtual std::string DefaultCacheDir() const = 0;

  // True when the command cannot use a shared cache at all (it disables caching, or disables
  // the SQLite cache); `why` says why. Such commands run unchanged.
  virtual bool Bypass(const std::vector<std::string>& argv, std::string* why) const = 0;

  // The command redirected to the private cache directory `private_dir`.
  virtual absl::StatusOr<Invocation> Redirect(const std::vector<std::string>& argv,
                                              const std::string& private_dir) const = 0;

  // Layout: directories directly under the cache directory that hold databases ("3.11"), and the
  // database files inside them ("cache.db", "cache.7.db").
  virtual bool IsDatabaseDir(absl::string_view name) const = 0;
  virtual bool IsDatabaseFile(absl::string_view name) const = 0;

  // Tables that hold cache rows, and the name of their unique key column.
  virtual const std::vector<std::string>& tables() const = 0;
  virtual absl::string_view key_column() const = 0;

  // Row families: the key suffixes (without the dot) whose rows form groups of their own, so
  // that rows one checker version writes in one format never travel with rows another version
  // wrote in another format for the same module (mypy: "json" and "ff"). Keys with none of these
  // suffixes form the "other" family (family "").
  virtual const std::vector<std::string>& families() const = 0;

  // The group of the row `key` in `table`; all rows of one group move together. Groups of
  // different tables or families are different groups.
  virtual std::string GroupOf(absl::string_view table, absl::string_view key) const = 0;
  // The rows of `group`: in `table` (empty: every table), with keys in [lo, hi) or equal to
  // `exact`, and of the family `family` (nullopt: of every family). Also accepts the group
  // names of earlier typecache versions (one group per module across tables and families), so
  // that generation logs written by them still select a superset of what changed.
  virtual GroupSelector Select(absl::string_view group) const = 0;
  // How a group is named to users: its module, table and format (mypy: "email/mime/text (<table>,
  // fixed format)").
  virtual std::string GroupLabel(absl::string_view group) const = 0;
  // Where and in which format a group's rows are kept, for statistics ("<table>, JSON").
  virtual std::string LayoutLabel(absl::string_view group) const = 0;
  // Whether database file `file` of a database directory holding `files` is one the checker no
  // longer reads ("cache.db" beside the 16 shards of mypy 2.x); `why` says why.
  virtual bool IsDeadDatabase(absl::string_view file, const std::vector<std::string>& files,
                              std::string* why) const = 0;
  // Tables of `tables` (those present in one database) that the checker no longer reads beside
  // the others (a table of an older format that a newer one replaced), each with why: what
  // `prune --dead-tables` drops and `stats` flags. Default: none.
  virtual std::map<std::string, std::string> DeadTables(
      const std::vector<std::string>& /*tables*/) const {
    return {};
  }
  // Files the checker writes beside its database directories when it creates a cache directory
  // (name -> content), e.g. a cache directory tag for backup tools. Default: none.
  virtual std::vector<std::pair<std::string, std::string>> FilesWrittenBeside() const { return {}; }
  // The role of a row from its key alone (no parsing).
  virtual RowFacts::Role RoleOf(absl::string_view key) const = 0;

  // Describes one row (for verify, prune and stats).
  virtual RowFacts DescribeRow(absl::string_view key, absl::string_view data) const = 0;
  // Whether a group needs a meta row and a data row to be usable (false for global rows).
  virtual bool NeedsMetaAndData(absl::string_view group) const = 0;
  // The checker's own version as it records it in meta rows ("1.0.1"), or an error.
  virtual absl::StatusOr<std::string> InstalledVersion() const = 0;

  // Whether a run's cache may be published, from its exit code and whether its output contained
  // the checker's crash marker.
  virtual bool RunIsPublishable(int exit_code, bool crash_marker_seen) const = 0;
  // Text in the checker's output that means it crashed ("INTERNAL ERROR").
  virtual absl::string_view crash_marker() const = 0;
};

}  // namespace typecache

#endif  // TYPECACHE_SRC_CHECKER_CHECKER_ADAPTER_H_
