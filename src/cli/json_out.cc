#include "src/cli/json_out.h"

#include <algorithm>

#include "src/store/local/stats.h"

namespace typecache {
namespace {

using Json = nlohmann::ordered_json;

Json Text(absl::string_view s) { return JsonText(s); }

Json Texts(const std::vector<std::string>& items) {
  Json out = Json::array();
  for (const std::string& item : items) out.push_back(Text(item));
  return out;
}

}  // namespace

void PrintJson(const Json& document, std::ostream& out) {
  out << document.dump(2, ' ', /*ensure_ascii=*/true) << "\n";
}

void PrintJson(const std::vector<Json>& per_path, std::ostream& out) {
  if (per_path.size() == 1) {
    PrintJson(per_path[0], out);
  } else {
    PrintJson(Json(per_path), out);
  }
}

Json StatsJson(const CacheStats& stats) {
  Json doc;
  doc["path"] = Text(stats.path);
  doc["kind"] = stats.is_cache_dir ? "cache_dir" : "file";
  doc["size"] = stats.size();
  doc["disk"] = DiskUsageJson(stats.disk);
  Json dbs = Json::array();
  for (const DbStats& s : stats.dbs) {
    Json db;
    db["dir"] = Text(s.ref.dir);
    db["file"] = Text(s.ref.file);
    db["path"] = Text(s.ref.shown);
    db["size"] = s.size;
    db["groups"] = s.groups;
    db["rows"] = s.rows;
    db["bytes"] = s.bytes;
    db["broken_groups"] = s.broken;
    Json by_kind = Json::object();
    for (const auto& [k, v] : s.bytes_by_kind) by_kind[Text(k)] = v;
    db["bytes_by_kind"] = by_kind;
    Json by_version = Json::object();
    for (const auto& [k, v] : s.groups_by_version) by_version[Text(k)] = v;
    db["groups_by_version"] = by_version;
    Json by_layout = Json::array();
    for (const auto& [key, n] : s.groups_by_layout) {
      by_layout.push_back(
          {{"version", Text(key.first)}, {"layout", Text(key.second)}, {"groups", n}});
    }
    db["groups_by_layout"] = by_layout;
    db["dead"] = s.dead.empty() ? Json(nullptr) : Text(s.dead);
    db["tables"] = Texts(s.tables);
    db["error"] = s.error.empty() ? Json(nullptr) : Text(s.error);
    dbs.push_back(db);
  }
  doc["databases"] = dbs;
  Json counters = Json::object();
  for (const Counter& c : KnownCounters()) {
    auto it = stats.counters.find(c.name);
    counters[c.name] = it == stats.counters.end() ? 0 : it->second;
  }
  doc["counters"] = counters;
  return doc;
}

Json VerifyJson(const std::string& path, const VerifyReport& report) {
  auto list = [](const std::vector<Problem>& items) {
    Json out = Json::array();
    for (const Problem& p : items) {
      out.push_back({{"where", Text(p.where)},
                     {"group", Text(p.group)},
                     {"label", Text(p.label)},
                     {"what", Text(p.what)}});
    }
    return out;
  };
  return {{"path", Text(path)},
          {"databases", report.databases},
          {"groups", report.groups},
          {"problems", list(report.problems)},
          {"unknown_format", list(report.unknown)},
          {"repaired", Texts(report.repaired)}};
}

Json PruneJson(const std::string& path, const PruneReport& report) {
  Json evicted = Json::array();
  for (const Eviction& e : report.evicted) {
    evicted.push_back({{"db", Text(e.db)},
                       {"group", Text(e.group)},
                       {"reason", Text(e.reason)},
                       {"bytes", e.bytes}});
  }
  return {{"path", Text(path)},
          {"dry_run", report.dry_run},
          {"size_before", report.size_before},
          {"size_after", report.size_after},
          {"budget", report.budget.has_value() ? Json(*report.budget) : Json(nullptr)},
          {"bytes_freed", std::max<int64_t>(0, report.size_before - report.size_after)},
          {"leftovers_reclaimed", report.leftovers_reclaimed},
          {"evicted", evicted},
          {"dropped_tables", Texts(report.dropped_tables)}};
}

Json MergeJson(const MergeReport& report) {
  Json doc;
  Json inputs = Json::array();
  for (size_t i = 0; i < report.inputs.size(); ++i) {
    inputs.push_back(
        {{"path", Text(report.inputs[i])},
         {"role", i == 0 ? "destination" : "source"},
         {"groups_taken", i < report.groups_taken.size() ? report.groups_taken[i] : 0}});
  }
  doc["inputs"] = inputs;
  doc["conflicts"] = report.conflicts;
  doc["bytes"] = report.bytes;
  doc["groups_changed"] = report.edit.groups_changed;
  return doc;
}

Json CompactJson(const std::string& path, const EditReport& report) {
  return {{"path", Text(path)},
          {"databases_changed", report.dbs_changed},
          {"size_before", report.bytes_before},
          {"size_after", report.bytes_after}};
}

Json CleanJson(const CleanReport& report) {
  return {{"path", Text(report.cache_dir)}, {"exists", report.exists},
          {"dry_run", report.dry_run},      {"removed", Texts(report.removed)},
          {"bytes", report.bytes},          {"live_runs_kept", report.live_runs},
          {"kept", Texts(report.kept)}};
}

}  // namespace typecache
