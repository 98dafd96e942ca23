#include "src/cli/remote_json.h"

#include "src/base/json.h"

namespace typecache {

nlohmann::ordered_json RemoteCountersJson(const RemoteCounters& counters) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [name, field] : RemoteCounters::Fields()) out[name] = counters.*field;
  return out;
}

nlohmann::ordered_json JsonTextList(const std::vector<std::string>& items) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const std::string& item : items) out.push_back(JsonText(item));
  return out;
}

nlohmann::ordered_json RemoteReportJson(const RemoteReport& r) {
  nlohmann::ordered_json doc;
  doc["namespaces"] = JsonTextList(r.namespaces);
  doc["groups_changed_remotely"] = r.groups_changed_remotely;
  doc["groups_already_local"] = r.groups_already_local;
  doc["groups_applied"] = r.groups_applied;
  doc["groups_kept_local"] = r.groups_kept_local;
  doc["groups_pushed"] = r.groups_pushed;
  doc["records_appended"] = r.records_appended;
  doc["packs_used"] = r.packs_used;
  doc["groups_from_pack"] = r.groups_from_pack;
  doc["packs_written"] = r.packs_written;
  doc["direct_publishes"] = r.direct_publishes;
  doc["counters"] = RemoteCountersJson(r.counters);
  doc["warnings"] = JsonTextList(r.warnings);
  return doc;
}

}  // namespace typecache
