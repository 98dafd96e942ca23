// mypy's machine-local row fields, for comparing cache rows across machines (store/remote).
//
// Two machines that check the same source with the same mypy write rows that differ only in
// what is local to each machine: a meta row's source `mtime`, its `path` (absolute when mypy was
// given absolute paths), `data_mtime` (when the data row was written) and `interface_hash` (a
// hash of the data row as serialised, path included: measured with mypy 1.0.1 on two checkouts),
// and a JSON data row's top-level `path`. NormalizeMypyRow returns the row with those fields
// removed, so a digest of normalised rows is the same on both machines while the source hash, the
// dependencies, the options and the data are still covered.
//
// Contract: pure functions, thread-safe, no I/O.
//   - `.meta.json`: parsed; "mtime", "path", "data_mtime", "interface_hash" dropped; re-serialised
//   canonically
//     (sorted keys, compact). Not JSON or not an object: DataLossError.
//   - `.meta.ff`: decoded (fixed_format.h), the same four fields cleared, re-encoded. A malformed
//     row is DataLossError; a header this typecache does not know is returned unchanged.
//   - `.data.json`: the trailing top-level `"path": "..."` member is dropped when the row ends
//     with it (mypy sorts keys, so "path" is MypyFile's last); otherwise unchanged.
//   - Every other row (`.data.ff`, `.err.ff`, `.meta_ex.ff`, global rows): unchanged.
// Not covered: mypy >= 1.19 `dep_hashes` (the dependencies' interface hashes) differ between
// machines that gave mypy absolute paths; such metas get different digests (only a cost: more
// uploads). Relative paths (`mypy pkg` from the checkout) make them equal.
// Cost: O(row) for metas (a JSON parse or an FF decode); O(path length) for data rows.
// MypyNamespaceFacts of the JSON meta NormalizeMypyRow last normalised on the same thread (same
// bytes) reuses that parse: normalise first, then ask for the facts, and a meta is parsed once.
#ifndef TYPECACHE_SRC_CHECKER_MYPY_NORMALIZE_H_
#define TYPECACHE_SRC_CHECKER_MYPY_NORMALIZE_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

absl::StatusOr<std::string> NormalizeMypyRow(absl::string_view key, absl::string_view data);

// For a meta row: {mypy version ("1.0.1"), platform ("linux")} as the row records them, either
// empty when absent. For any other row: {"", ""}. A malformed meta is DataLossError.
absl::StatusOr<std::pair<std::string, std::string>> MypyNamespaceFacts(absl::string_view key,
                                                                       absl::string_view data);

// The database layout a file name belongs to: "1file" (cache.db) or "16shards" (cache.<n>.db,
// mypy 2.x); "" for anything else.
std::string MypyLayoutOf(absl::string_view db_file);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CHECKER_MYPY_NORMALIZE_H_
