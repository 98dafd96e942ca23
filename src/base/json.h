// JSON output (`--json`) through nlohmann-json: one valid document per command, whatever bytes
// the paths and messages in it hold.
//
// Paths are bytes, not necessarily UTF-8 (a file name may hold any byte but '/' and NUL), and a
// JSON text must be Unicode. JsonText keeps every valid UTF-8 sequence and reads each byte that
// is not part of one as Latin-1: byte 0xE9 becomes U+00E9 ("\u00e9" in the output). So the
// output is always valid JSON, and a name that is valid UTF-8 reads as itself; a reader cannot
// tell a Latin-1-read byte from the same character written in UTF-8 (docs/commands/*.md say
// so). DumpJson escapes everything outside ASCII, so the output is ASCII. Cost: O(bytes).
#ifndef TYPECACHE_SRC_BASE_JSON_H_
#define TYPECACHE_SRC_BASE_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace typecache {

// `bytes` as valid UTF-8 (see above).
std::string JsonText(absl::string_view bytes);

// `document` on one line, ASCII only (non-ASCII characters escaped), without a newline.
std::string DumpJson(const nlohmann::ordered_json& document);

// `text` as a JSON string literal, quotes included (JsonText, then escaped as DumpJson does).
std::string JsonQuote(absl::string_view text);

}  // namespace typecache

#endif  // TYPECACHE_SRC_BASE_JSON_H_
