// The CheckerAdapter for mypy's SQLite cache, every layout from mypy 0.660 to 2.3
// (../shared/reference/mypy-cache-format.md; docs/layout.md).
//
// - Commands: mypy is found inside launcher chains (launcher.h: `uv run`, `poetry run`, `env`,
//   `timeout`, `python3 -m mypy`, ...). typecache's --cache-dir=<private copy> and --sqlite-cache
//   go where mypy's own arguments start, and every --cache-dir of the user's is removed (it names
//   the shared cache). When mypy cannot be found (`make check`, `tox -e mypy`), no flag is added
//   (it would reach another program): MYPY_CACHE_DIR alone redirects the cache, and a
//   configuration that turns the SQLite cache off makes the command run unchanged, with a
//   warning. dmypy runs unchanged (the daemon keeps its cache state in its own process).
// - Cache directory: as mypy computes it (mypy_config.h): --cache-dir, MYPY_CACHE_DIR, the
//   configuration file (mypy.ini, .mypy.ini, pyproject.toml, setup.cfg, --config-file), else
//   .mypy_cache; in the directory and environment the launchers give mypy.
// - Databases: <cache>/<X.Y>/cache.db, or the 2.x shards <cache>/<X.Y>/cache.<n>.db.
// - Tables: `files` (TEXT data, mypy <= 1.13) and `files2` (BLOB data, mypy >= 1.14), keyed by
//   `path`.
// - Groups: "<table>:<module>.<family>", where <module> is the key up to the first dot of its
//   basename and <family> its last suffix, "json" or "ff". So in files2,
//   "email/mime/text.meta.json", ".data.json" and ".deps.json" form "files2:email/mime/text.json",
//   and ".meta.ff", ".data.ff", ".err.ff", ".meta_ex.ff" form "files2:email/mime/text.ff": mypy
//   1.18 (JSON) and 1.20 (fixed format) rows of one module are separate groups, as are rows of
//   the tables `files` and `files2`. A global key such as "@plugins_snapshot.json" is a group of
//   its own ("files2:@plugins_snapshot.json"). Group names without a table ("email/mime/text",
//   from typecache 0.1 logs) select the module's rows in every table and family.
// - Publishable: exit code 0 (clean) or 1 (type errors found), and no "INTERNAL ERROR".
#ifndef TYPECACHE_SRC_CHECKER_MYPY_MYPY_ADAPTER_H_
#define TYPECACHE_SRC_CHECKER_MYPY_MYPY_ADAPTER_H_

#include "src/checker/checker_adapter.h"

namespace typecache {

class MypyAdapter : public CheckerAdapter {
 public:
  absl::string_view name() const override { return "mypy"; }
  CommandPlan Plan(const std::vector<std::string>& argv, const EnvLookup& env,
                   const std::string& cwd) const override;
  std::optional<std::string> CacheDirFromCommand(const std::vector<std::string>& argv,
                                                 const EnvLookup& env) const override;
  std::string DefaultCacheDir() const override { return ".mypy_cache"; }
  bool Bypass(const std::vector<std::string>& argv, std::string* why) const override;
  absl::StatusOr<Invocation> Redirect(const std::vector<std::string>& argv,
                                      const std::string& private_dir) const override;
  bool IsDatabaseDir(absl::string_view name) const override;
  bool IsDatabaseFile(absl::string_view name) const override;
  const std::vector<std::string>& tables() const override;
  absl::string_view key_column() const override { return "path"; }
  const std::vector<std::string>& families() const override;
  std::string GroupOf(absl::string_view table, absl::string_view key) const override;
  GroupSelector Select(absl::string_view group) const override;
  std::string GroupLabel(absl::string_view group) const override;
  std::string LayoutLabel(absl::string_view group) const override;
  bool IsDeadDatabase(absl::string_view file, const std::vector<std::string>& files,
                      std::string* why) const override;
  std::map<std::string, std::string> DeadTables(
      const std::vector<std::string>& tables) const override;
  std::vector<std::pair<std::string, std::string>> FilesWrittenBeside() const override;
  RowFacts::Role RoleOf(absl::string_view key) const override;
  RowFacts DescribeRow(absl::string_view key, absl::string_view data) const override;
  bool NeedsMetaAndData(absl::string_view group) const override;
  absl::StatusOr<std::string> InstalledVersion() const override;
  bool RunIsPublishable(int exit_code, bool crash_marker_seen) const override;
  absl::string_view crash_marker() const override { return "INTERNAL ERROR"; }

  // Index of the first mypy argument in argv: 1 for "mypy ...", 3 for "python -m mypy ...",
  // 2 for "uv run mypy ..."; argv.size() when mypy is not found in argv.
  static size_t FirstArgIndex(const std::vector<std::string>& argv);
};

}  // namespace typecache

#endif  // TYPECACHE_SRC_CHECKER_MYPY_MYPY_ADAPTER_H_
