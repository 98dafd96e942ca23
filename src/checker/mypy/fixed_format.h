// Decoder for mypy's binary "fixed-format" (FF) cache metadata: the `<module>.meta.ff` rows of
// mypy 1.20.x (header bytes 00 07) and mypy 2.x (00 0A), and the side rows that go with them
// (`.err.ff` in 1.20.x, `.meta_ex.ff` in 2.x). The byte layout is
// tests/fixtures/mypy-caches/FORMAT-NOTES.md.
//
// Contract:
// - Pure functions over a byte string; no I/O, no global state, thread-safe.
// - A meta row with header bytes other than (0, 7) or (0, 10) yields absl::UnimplementedError
//   ("written by a mypy this typecache does not know (header bytes B0, B1)"); it is never
//   read with a guessed layout.
// - Anything else that does not follow the layout yields absl::DataLossError naming the field
//   and the byte offset in the row: truncation, bytes after the last field, an unexpected tag,
//   a length or count larger than the bytes left, invalid UTF-8 in a str, a bool byte other
//   than 0/1, nesting deeper than kMaxNesting, an int outside int64.
// - The decoder accepts what mypy's own reader accepts, except that it is stricter in four
//   places: trailing bytes, negative list/dict counts (mypy reads them as empty), `0F` as the
//   first byte of a long int's size (mypy reads it as a 4-byte size), and ints beyond int64.
// - Errors do not name the row's key; callers add it.
//
// Cost: O(row size) time; allocation bounded by a small multiple of the row size (every count
// is checked against the bytes left before anything is reserved). Recursion depth is bounded.
#ifndef TYPECACHE_SRC_CHECKER_MYPY_FIXED_FORMAT_H_
#define TYPECACHE_SRC_CHECKER_MYPY_FIXED_FORMAT_H_

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

// Row key suffixes of the fixed format.
inline constexpr absl::string_view kFfMetaSuffix = ".meta.ff";
inline constexpr absl::string_view kFfDataSuffix = ".data.ff";
inline constexpr absl::string_view kFfErrSuffix = ".err.ff";         // mypy 1.20.x
inline constexpr absl::string_view kFfMetaExSuffix = ".meta_ex.ff";  // mypy 2.x

// Header bytes of a meta row: byte 0 is librt's buffer format, byte 1 mypy's CACHE_VERSION.
inline constexpr uint8_t kFfBufferFormat = 0;
inline constexpr uint8_t kFfCacheVersionMypy120 = 7;  // mypy 1.20.x
inline constexpr uint8_t kFfCacheVersionMypy2 = 10;   // mypy 2.x (checked with 2.3.1)

// Nested lists/tuples/dicts deeper than this are rejected (mypy never writes more than 2).
inline constexpr int kFfMaxNesting = 64;

// A "JSON value" as the fixed format stores it (option values, plugin_data). Lists and tuples
// are distinct, as in mypy. Dicts keep wire order and duplicate keys (mypy's writer sorts).
struct FfValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kStr, kList, kTuple, kDict };
  Kind kind = Kind::kNone;
  bool boolean = false;           // kBool
  int64_t integer = 0;            // kInt
  double real = 0;                // kFloat (mypy 2.x only)
  std::string str;                // kStr
  std::vector<std::string> keys;  // kDict: keys[i] belongs to items[i]
  std::vector<FfValue> items;     // kList, kTuple, kDict

  // Value of the last entry named `key` of a dict (Python's dict semantics); nullptr if absent
  // or not a dict. O(entries).
  const FfValue* Find(absl::string_view key) const;
  bool operator==(const FfValue& other) const;
  bool operator!=(const FfValue& other) const { return !(*this == other); }
};

// mypy's CacheMeta as one `.meta.ff` row holds it, fields in wire order (FORMAT-NOTES.md §4;
// the same 19 fields in 1.20.x and 2.x). Byte strings are raw bytes, not hex.
struct FixedMeta {
  uint8_t buffer_format = kFfBufferFormat;  // header byte 0
  uint8_t cache_version = 0;                // header byte 1
  std::string id;                           // module id, "tinypkg.util"
  std::string path;                         // source path as mypy saw it
  int64_t mtime = 0;                        // source mtime, seconds
  int64_t size = 0;                         // source size, bytes
  std::string hash;                         // hex digest of the source
  std::vector<std::string> dependencies;    // 2.x: direct imports only (rest in .meta_ex.ff)
  int64_t data_mtime = 0;                   // int(mtime column) of the `.data.ff` row
  std::vector<std::string> suppressed;
  // `# type: ignore[...]` codes by line, wire order (duplicates kept; the JSON keeps the last).
  std::vector<std::pair<int64_t, std::vector<std::string>>> imports_ignored;
  FfValue options;                   // always Kind::kDict
  std::string suppressed_deps_opts;  // raw bytes
  std::vector<int64_t> dep_prios;    // one per dependencies + suppressed entry
  std::vector<int64_t> dep_lines;
  std::vector<std::string> dep_hashes;  // raw bytes, one per dependency
  std::string interface_hash;           // raw bytes
  std::string trans_dep_hash;           // raw bytes
  std::string version_id;               // "1.20.2", "2.3.1"
  bool ignore_all = false;
  FfValue plugin_data;  // Kind::kNone without plugins

  bool operator==(const FixedMeta& other) const;
  bool operator!=(const FixedMeta& other) const { return !(*this == other); }
};

// One entry of an error list: (path, line, column, end_line, end_column, severity, message,
// code), as in mypy's ErrorTuple.
struct FfError {
  std::optional<std::string> path;
  int64_t line = 0;
  int64_t column = 0;
  int64_t end_line = 0;
  int64_t end_column = 0;
  std::string severity;
  std::string message;
  std::optional<std::string> code;

  bool operator==(const FfError& other) const;
};

// mypy 2.x CacheMetaEx, the `.meta_ex.ff` row: the indirect imports and the module's errors.
struct FixedMetaEx {
  std::vector<std::string> dependencies;
  std::vector<std::string> suppressed;
  std::vector<std::string> dep_hashes;  // raw bytes
  std::vector<FfError> error_lines;

  bool operator==(const FixedMetaEx& other) const;
};

// Decodes a whole `.meta.ff` row (header included). Errors: see the contract above.
absl::StatusOr<FixedMeta> DecodeFixedMeta(absl::string_view bytes);

// Decodes a whole 1.20.x `.err.ff` row (no header): the error list alone.
absl::StatusOr<std::vector<FfError>> DecodeErrorsRow(absl::string_view bytes);

// Decodes a whole 2.x `.meta_ex.ff` row (no header).
absl::StatusOr<FixedMetaEx> DecodeMetaExRow(absl::string_view bytes);

// Validates a side row by its key (or key suffix): `.err.ff` or `.meta_ex.ff` are decoded in
// full and the result dropped; any other key is absl::InvalidArgumentError. An empty row is
// DataLoss (mypy needs the row, and an empty error list is still 2 bytes).
absl::Status CheckSideRow(absl::string_view key_or_suffix, absl::string_view bytes);

// Canonical encoders (mypy's writer choices: the shortest int form, sorted nothing — wire order
// is kept as decoded). For tests and the fuzzer: Decode(Encode(x)) == x for every decoded x,
// and Encode(Decode(row)) == row for every row mypy wrote. O(output size).
std::string EncodeFixedMeta(const FixedMeta& meta);
std::string EncodeErrorsRow(const std::vector<FfError>& errors);
std::string EncodeMetaExRow(const FixedMetaEx& meta_ex);

// JSON views with the field names and value conventions of the fixtures' expected.json: byte
// strings as lowercase hex, imports_ignored keyed by the line as a string, tuples as arrays,
// "header" as [byte0, byte1]. Never throws (strings were validated as UTF-8 when decoded; a
// hand-built FixedMeta with invalid UTF-8 makes nlohmann's dump() throw, not these).
nlohmann::json FfValueToJson(const FfValue& value);
nlohmann::json FixedMetaToJson(const FixedMeta& meta);
nlohmann::json FfErrorsToJson(const std::vector<FfError>& errors);
nlohmann::json FixedMetaExToJson(const FixedMetaEx& meta_ex);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CHECKER_MYPY_FIXED_FORMAT_H_
