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

nlohmann::ordered_json RemoteGcJson(const std::string& ns, const GcReport& g) {
  return {{"namespace", JsonText(ns)},
          {"lineages", JsonTextList(g.lineages)},
          {"snapshot_seq", g.snapshot_seq},
          {"records_deleted", g.records_deleted},
          {"snapshots_deleted", g.snapshots_deleted},
          {"objects_deleted", g.objects_deleted},
          {"objects_kept", g.objects_kept},
          {"packs_deleted", g.packs_deleted},
          {"pack_bytes_deleted", g.pack_bytes_deleted},
          {"packs_kept", g.packs_kept},
          {"pack_bytes_kept", g.pack_bytes_kept}};
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
  doc["dbs_from_spares"] = r.dbs_from_spares;
  doc["counters"] = RemoteCountersJson(r.counters);
  doc["warnings"] = JsonTextList(r.warnings);
  return doc;
}

}  // namespace typecache
