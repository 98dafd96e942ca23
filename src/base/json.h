// Minimal JSON: a validating parser into a small DOM (for mypy's JSON meta rows) and a string
// escaper (for `--json` output). No dependency is worth adding for this.
#ifndef TYPECACHE_SRC_BASE_JSON_H_
#define TYPECACHE_SRC_BASE_JSON_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  // Member lookup on an object; nullptr when absent or not an object.
  const JsonValue* Find(const std::string& key) const;
};

// Parses one JSON document (RFC 8259; nesting limited to 200 levels).
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

}  // namespace typecache

#endif  // TYPECACHE_SRC_BASE_JSON_H_
