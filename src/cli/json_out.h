// The JSON typecache prints (--json), built with nlohmann-json: one document per command.
//
// Paths and messages are bytes, not necessarily UTF-8 (a file name can hold any byte but '/'
// and NUL). JsonText keeps valid UTF-8 and reads each byte that is not part of a valid UTF-8
// sequence as Latin-1, so byte 0xE9 becomes U+00E9; the output is ASCII with every non-ASCII
// character escaped ("\u00e9"), always valid JSON. (A reader cannot tell that U+00E9 from a
// valid "é" in the name: docs/commands/stats.md says so.)
#ifndef TYPECACHE_SRC_CLI_JSON_OUT_H_
#define TYPECACHE_SRC_CLI_JSON_OUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "src/base/json.h"  // JsonText
#include "src/commands/clean.h"
#include "src/commands/maintenance.h"
#include "src/commands/merge.h"
#include "src/commands/prune.h"
#include "src/commands/stats_cmd.h"
#include "src/commands/verify.h"

namespace typecache {

// Prints one document: a single per-path object as it is, several as an array of them.
void PrintJson(const std::vector<nlohmann::ordered_json>& per_path, std::ostream& out);
void PrintJson(const nlohmann::ordered_json& document, std::ostream& out);

nlohmann::ordered_json StatsJson(const CacheStats& stats);
nlohmann::ordered_json VerifyJson(const std::string& path, const VerifyReport& report);
nlohmann::ordered_json PruneJson(const std::string& path, const PruneReport& report);
nlohmann::ordered_json MergeJson(const MergeReport& report);
nlohmann::ordered_json CompactJson(const std::string& path, const EditReport& report);
nlohmann::ordered_json CleanJson(const CleanReport& report);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CLI_JSON_OUT_H_
