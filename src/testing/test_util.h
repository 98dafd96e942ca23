// Helpers for unit tests: temporary directories, table-driven checks, and small mypy-layout
// cache databases (and direct writers of them).
#ifndef TYPECACHE_SRC_TESTING_TEST_UTIL_H_
#define TYPECACHE_SRC_TESTING_TEST_UTIL_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "src/sqlite/sqlite_db.h"

namespace typecache {

#define TC_ASSERT_OK(expr)                       \
  do {                                           \
    const ::absl::Status tc_s_ = (expr);         \
    ASSERT_TRUE(tc_s_.ok()) << tc_s_.ToString(); \
  } while (0)
#define TC_EXPECT_OK(expr)                       \
  do {                                           \
    const ::absl::Status tc_s_ = (expr);         \
    EXPECT_TRUE(tc_s_.ok()) << tc_s_.ToString(); \
  } while (0)

// A fresh directory under TEST_TMPDIR, removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  // Writes each {name, contents} of `files` as a new file in the directory, in order.
  absl::Status WriteFiles(const std::vector<std::pair<std::string, std::string>>& files) const;

 private:
  std::string path_;
};

// The names in directory `dir`, sorted; a listing error fails the test and gives none.
std::vector<std::string> SortedNames(const std::string& dir);

// An environment (an EnvLookup) that holds `vars` and nothing else.
std::function<std::optional<std::string>(const std::string&)> EnvOf(
    std::map<std::string, std::string> vars);

// Expects `fn(input)` to be `output` for every {input, output} of `cases`; a failure names the
// input.
void ExpectEachMapsTo(const std::function<std::string(absl::string_view)>& fn,
                      const std::vector<std::pair<std::string, std::string>>& cases);

// A table's rows keyed by path, as ReadRows and ExactRows give them.
using Rows = std::map<std::string, std::string>;

// One cache row as mypy writes it.
struct Row {
  std::string path;
  double mtime = 0;
  std::string data;
};

// Which schema a fixture uses: mypy <= 1.13 (`files`, TEXT) or >= 1.14 (`files2`, BLOB).
enum class Schema { kFiles, kFiles2 };

// Creates (or opens) a database with mypy's schema and inserts/replaces `rows`.
absl::Status WriteRows(const std::string& db_path, Schema schema, const std::vector<Row>& rows);
// Deletes rows by key.
absl::Status DeleteRows(const std::string& db_path, Schema schema,
                        const std::vector<std::string>& keys);
// All rows of the table, keyed by path; values "mtime|typeof(data)|data".
absl::StatusOr<Rows> ReadRows(const std::string& db_path, Schema schema);
// ReadRows, expecting it to succeed: an error fails the test and gives no rows.
Rows RowsOf(const std::string& db_path, Schema schema = Schema::kFiles);
// PRAGMA integrity_check result ("ok" when healthy).
absl::StatusOr<std::string> IntegrityCheck(const std::string& db_path);

// The module a cache key belongs to: the key up to the first dot of its basename
// ("pkg/a.meta.json" -> "pkg/a"). Tests compare by module where groups of one module's formats
// do not matter.
std::string ModuleOf(const std::string& key);
// The module of a group name ("files2:pkg/a.json" -> "pkg/a"; "" stays "").
std::string ModuleOfGroup(const std::string& group);

// Rows of one mypy module group in the JSON layout: X.meta.json + X.data.json.
std::vector<Row> ModuleRows(const std::string& module, const std::string& tag, double mtime);
// ModuleRows of modules "pkg/m<from>" .. "pkg/m<to - 1>".
std::vector<Row> Modules(int from, int to, const std::string& tag, double mtime);
// ModuleRows whose meta JSON also holds `extra_members`, e.g. "\"version_id\": \"1.0.1\"".
std::vector<Row> ModuleRowsWithMeta(const std::string& module, const std::string& tag, double mtime,
                                    const std::string& extra_members);

// A direct writer (as mypy 1.20.2+ is) that keeps the database at `db_path` open in WAL mode with
// checkpoints off, after running `sql`: its changes stay in the -wal file until it is closed.
absl::StatusOr<Db> OpenWalWriter(const std::string& db_path, const std::string& sql,
                                 Db::Mode mode = Db::Mode::kReadWrite);

// All rows of `table`, exactly: path -> "<mtime, %.17g>|typeof(mtime)|typeof(data)|hex(data)".
absl::StatusOr<Rows> ExactRows(const std::string& db_path, const std::string& table);
// ExactRows, expecting it to succeed: an error fails the test and gives no rows.
Rows ExactRowsOf(const std::string& db_path, const std::string& table);

}  // namespace typecache

#endif  // TYPECACHE_SRC_TESTING_TEST_UTIL_H_
