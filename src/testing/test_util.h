// Helpers for unit tests: temporary directories, and small mypy-layout cache databases.
#ifndef TYPECACHE_SRC_TESTING_TEST_UTIL_H_
#define TYPECACHE_SRC_TESTING_TEST_UTIL_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

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

 private:
  std::string path_;
};

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
absl::StatusOr<std::map<std::string, std::string>> ReadRows(const std::string& db_path,
                                                            Schema schema);
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

// All rows of `table`, exactly: path -> "<mtime, %.17g>|typeof(mtime)|typeof(data)|hex(data)".
absl::StatusOr<std::map<std::string, std::string>> ExactRows(const std::string& db_path,
                                                             const std::string& table);

}  // namespace typecache

#endif  // TYPECACHE_SRC_TESTING_TEST_UTIL_H_
