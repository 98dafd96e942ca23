// The JSON of `typecache remote pull|push --json` that //tests/remote_sync:remote_tool prints
// too: one definition of the counters' and a report's fields.
#ifndef TYPECACHE_SRC_CLI_REMOTE_JSON_H_
#define TYPECACHE_SRC_CLI_REMOTE_JSON_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "src/commands/remote.h"

namespace typecache {

// {"hits": ..., "misses": ..., ...}: every RemoteCounters field, in RemoteCounters::Fields order.
nlohmann::ordered_json RemoteCountersJson(const RemoteCounters& counters);
// Strings as JsonText (bytes, not necessarily UTF-8).
nlohmann::ordered_json JsonTextList(const std::vector<std::string>& items);
// One namespace of a gc: what was deleted and kept (objects, packs and their bytes).
nlohmann::ordered_json RemoteGcJson(const std::string& ns, const GcReport& gc);
// A pull's or push's report: namespaces, the group and pack counts, counters and warnings.
nlohmann::ordered_json RemoteReportJson(const RemoteReport& report);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CLI_REMOTE_JSON_H_
