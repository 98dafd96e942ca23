// libFuzzer target: arbitrary row contents (keys, mtimes, data) in mypy's layout, fed to group
// inspection, JSON meta parsing (DescribeRow) and group transfer. Checks invariants as well as
// crashes: moving every group into an empty database reproduces every row byte for byte, and
// every group's digest is the same whether read by ForEachGroup or DigestGroups, on either side.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "fuzz/fuzz_tmp.h"
#include "src/cachedb/cache_db.h"
#include "src/cachedb/inspect.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"

namespace {

std::map<std::string, std::string> Dump(typecache::Db& db, const char* schema) {
  std::map<std::string, std::string> rows;
  absl::StatusOr<typecache::Stmt> stmt =
      db.Prepare(std::string("SELECT path, quote(mtime), quote(data) FROM ") + schema + ".files2");
  if (!stmt.ok()) return rows;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok() || !*row) break;
    rows[std::string(stmt->ColumnText(0))] =
        std::string(stmt->ColumnText(1)) + "|" + std::string(stmt->ColumnText(2));
  }
  return rows;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace typecache;
  static std::string dir = FuzzTempDir("tc-fuzz-rows");
  MypyAdapter adapter;
  std::string input(reinterpret_cast<const char*>(data), size);
  (void)adapter.DescribeRow("fuzz.meta.json", input);
  // Rows: records separated by '\n', fields "key\tdata".
  std::string src = dir + "/src.db", dst = dir + "/dst.db";
  (void)RemoveAll(RealFs(), src);
  (void)RemoveAll(RealFs(), dst);
  {
    absl::StatusOr<Db> db = Db::Open(src, Db::Mode::kCreate);
    if (!db.ok()) abort();
    (void)db->Exec("CREATE TABLE files2 (path TEXT UNIQUE NOT NULL, mtime REAL, data BLOB)");
    absl::StatusOr<Stmt> ins = db->Prepare("INSERT OR REPLACE INTO files2 VALUES(?, ?, ?)");
    if (!ins.ok()) abort();
    size_t start = 0;
    int n = 0;
    while (start <= input.size() && n < 64) {
      size_t end = input.find('\n', start);
      if (end == std::string::npos) end = input.size();
      std::string record = input.substr(start, end - start);
      size_t tab = record.find('\t');
      std::string key = record.substr(0, tab);
      std::string value = tab == std::string::npos ? "" : record.substr(tab + 1);
      ins->Bind(1, key);
      sqlite3_bind_double(ins->raw(), 2, static_cast<double>(n) + 0.5);
      sqlite3_bind_blob(ins->raw(), 3, value.data(), static_cast<int>(value.size()),
                        SQLITE_TRANSIENT);
      (void)ins->Run();
      (void)ins->Reset();
      (void)adapter.DescribeRow(key, value);
      start = end + 1;
      ++n;
    }
  }
  absl::StatusOr<Db> out = OpenForWrite(dst);
  if (!out.ok()) abort();
  if (!AttachReadOnly(*out, src, "src").ok()) abort();
  std::set<std::string> groups;
  std::map<std::string, GroupHash> walked_digests;
  absl::Status walked = ForEachGroup(*out, adapter, "src", [&](const GroupInfo& g) {
    (void)g.Broken(adapter);
    groups.insert(g.group);
    // A group whose rows are not consecutive in key order (keys without a suffix) is visited
    // once per run of rows: its digest is the sum of theirs.
    walked_digests[g.group].exact += g.digest.exact;
    walked_digests[g.group].content += g.digest.content;
    return absl::OkStatus();
  });
  if (!walked.ok()) abort();
  {
    absl::StatusOr<SqlTransaction> txn = SqlTransaction::Begin(*out, SqlTransaction::Kind::kWrite);
    if (!txn.ok()) abort();
    if (!ReplaceGroups(*out, "src", groups, adapter).ok()) abort();
    if (!txn->Commit().ok()) abort();
  }
  // Every key belongs to exactly the group GroupOf names, so the copy is complete and exact.
  if (Dump(*out, "main") != Dump(*out, "src")) abort();
  absl::StatusOr<std::map<std::string, GroupHash>> src_digests =
      DigestGroups(*out, "src", groups, adapter);
  absl::StatusOr<std::map<std::string, GroupHash>> main_digests =
      DigestGroups(*out, "main", groups, adapter);
  if (!src_digests.ok() || !main_digests.ok()) abort();
  if (*src_digests != walked_digests || *main_digests != walked_digests) abort();
  return 0;
}
