// One pass over a mypy JSON meta row (`<module>.meta.json`, mypy <= 1.19) for the three things a
// remote pull asks of every meta it verifies: is it a well-formed JSON object (the adapter's row
// check), its canonical form without the machine-local fields (normalize.h, for the digest), and
// the facts it records (data_mtime, version_id, path, options.platform). Without it each meta
// was parsed three times by nlohmann-json (a SAX pass, a DOM parse and a dump): the largest cost
// of verifying a pack, which is mostly metas by count.
//
// Contract: ScanJsonMeta accepts only a subset of JSON for which its answers are exactly those of
// the general path (nlohmann-json's parse and compact dump() with sorted keys): what mypy's
// json.dumps(sort_keys=True) writes, with
//   - object keys strictly ascending by bytes at every level (so no duplicates, and the input
//     order is nlohmann's std::map order),
//   - strings of printable ASCII without backslash escapes (dump() writes them unchanged),
//   - numbers that are integers of at most 18 digits, not "-0" (dump() writes them unchanged),
//   - true, false, null, whitespace between tokens, nesting at most 64 deep.
// Anything else (floats, escapes, non-ASCII, unsorted keys, invalid JSON) returns nullptr: the
// caller takes the general path, which decides validity and output as before. So the subset
// only makes the common case cheaper and never changes an answer (json_meta_test.cc compares
// both paths on real metas, on every truncation of one and on generated documents).
// Thread-safe: the last scan is remembered per thread, keyed by the row's bytes, so the row
// check, the normaliser and the namespace facts of one meta share one pass.
// Cost: O(size), one copy of the row (the key of the remembered scan) and of its output.
#ifndef TYPECACHE_SRC_CHECKER_MYPY_JSON_META_H_
#define TYPECACHE_SRC_CHECKER_MYPY_JSON_META_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace typecache {

struct JsonMetaScan {
  // nlohmann's compact dump of the document without the top-level "mtime", "path",
  // "data_mtime" and "interface_hash" members (what NormalizeMypyRow returns).
  std::string normalised;
  // Top-level members (and options.platform) when they have that type; absent otherwise.
  std::optional<int64_t> data_mtime;
  std::optional<std::string> version_id;
  std::optional<std::string> path;
  std::optional<std::string> platform;
};

// The scan of `data`, or nullptr when it is outside the subset above (then nothing is known:
// use the general path). The pointer is valid until the next call on this thread.
const JsonMetaScan* ScanJsonMeta(absl::string_view data);

// The scan itself, without the per-thread memo (for tests): false outside the subset.
bool ScanJsonMetaUncached(absl::string_view data, JsonMetaScan* out);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CHECKER_MYPY_JSON_META_H_
