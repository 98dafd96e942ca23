#include "src/checker/mypy/normalize.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/checker/mypy/fixed_format.h"
#include "src/checker/mypy/json_meta.h"

namespace typecache {
namespace {

// Fields of a meta row that are local to the machine that wrote it. interface_hash is a hash of
// the data row as mypy serialised it, which holds the source path (absolute when mypy was given
// absolute paths); the data row itself is covered by the digest without its path.
constexpr const char* kLocalMetaFields[] = {"mtime", "path", "data_mtime", "interface_hash"};

absl::StatusOr<nlohmann::json> ParseObject(absl::string_view key, absl::string_view data) {
  nlohmann::json j = nlohmann::json::parse(data.begin(), data.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(key, ": not a JSON object"));
  }
  return j;
}

// `"path": "<no quote or backslash-quote>"}` at the very end of `data`: the length of what
// stays (up to and without the ", " before "path"), or npos.
size_t TrailingPathMember(absl::string_view data) {
  constexpr absl::string_view kMember = "\"path\":";
  if (data.size() < kMember.size() + 4 || data.back() != '}') return absl::string_view::npos;
  size_t at = data.rfind(kMember);
  if (at == absl::string_view::npos) return absl::string_view::npos;
  size_t p = at + kMember.size();
  while (p < data.size() && data[p] == ' ') ++p;
  if (p >= data.size() || data[p] != '"') return absl::string_view::npos;
  ++p;
  while (p < data.size() && data[p] != '"') {
    if (data[p] == '\\') ++p;
    ++p;
  }
  if (p + 2 != data.size()) return absl::string_view::npos;  // '"' then the final '}'
  size_t keep = at;
  while (keep > 0 && data[keep - 1] == ' ') --keep;
  if (keep == 0 || data[keep - 1] != ',') return absl::string_view::npos;
  return keep - 1;
}

// The last JSON meta NormalizeMypyRow parsed on this thread, without its machine-local fields
// (which MypyNamespaceFacts does not read): a check that normalises a meta and then asks for its
// facts parses it once. Keyed by the row's whole content (compared byte for byte), so a hit is
// exactly the row that was parsed.
struct LastMeta {
  std::string data;
  nlohmann::json normalised;
  bool valid = false;
};
LastMeta& Last() {
  thread_local LastMeta last;
  return last;
}

}  // namespace

absl::StatusOr<std::string> NormalizeMypyRow(absl::string_view key, absl::string_view data) {
  if (absl::EndsWith(key, ".meta.json")) {
    // The one pass the row check made of this meta, when it is in its subset (json_meta.h).
    if (const JsonMetaScan* scan = ScanJsonMeta(data)) return scan->normalised;
    absl::StatusOr<nlohmann::json> j = ParseObject(key, data);
    if (!j.ok()) return j.status();
    for (const char* field : kLocalMetaFields) j->erase(field);
    std::string out = j->dump();
    LastMeta& last = Last();
    last.data.assign(data.data(), data.size());
    last.normalised = *std::move(j);
    last.valid = true;
    return out;
  }
  if (absl::EndsWith(key, kFfMetaSuffix)) {
    absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(data);
    if (!meta.ok()) {
      if (absl::IsUnimplemented(meta.status())) return std::string(data);
      return absl::DataLossError(absl::StrCat(key, ": ", meta.status().message()));
    }
    meta->mtime = 0;
    meta->path.clear();
    meta->data_mtime = 0;
    meta->interface_hash.clear();
    return EncodeFixedMeta(*meta);
  }
  if (absl::EndsWith(key, ".data.json")) {
    size_t keep = TrailingPathMember(data);
    if (keep == absl::string_view::npos) return std::string(data);
    return absl::StrCat(data.substr(0, keep), "}");
  }
  return std::string(data);
}

absl::StatusOr<std::pair<std::string, std::string>> MypyNamespaceFacts(absl::string_view key,
                                                                       absl::string_view data) {
  std::pair<std::string, std::string> facts;
  if (absl::EndsWith(key, ".meta.json")) {
    if (const JsonMetaScan* scan = ScanJsonMeta(data)) {
      facts.first = scan->version_id.value_or("");
      facts.second = scan->platform.value_or("");
      return facts;
    }
    LastMeta& last = Last();
    absl::StatusOr<nlohmann::json> parsed;
    const nlohmann::json* j = nullptr;
    if (last.valid && absl::string_view(last.data) == data) {
      j = &last.normalised;  // the meta NormalizeMypyRow just parsed
    } else {
      parsed = ParseObject(key, data);
      if (!parsed.ok()) return parsed.status();
      j = &*parsed;
    }
    auto v = j->find("version_id");
    if (v != j->end() && v->is_string()) facts.first = v->get<std::string>();
    auto o = j->find("options");
    if (o != j->end() && o->is_object()) {
      auto p = o->find("platform");
      if (p != o->end() && p->is_string()) facts.second = p->get<std::string>();
    }
    return facts;
  }
  if (absl::EndsWith(key, kFfMetaSuffix)) {
    absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(data);
    if (!meta.ok()) {
      if (absl::IsUnimplemented(meta.status())) return facts;
      return absl::DataLossError(absl::StrCat(key, ": ", meta.status().message()));
    }
    facts.first = meta->version_id;
    if (const FfValue* p = meta->options.Find("platform");
        p != nullptr && p->kind == FfValue::Kind::kStr) {
      facts.second = p->str;
    }
  }
  return facts;
}

std::string MypyLayoutOf(absl::string_view db_file) {
  if (db_file == "cache.db") return "1file";
  if (absl::StartsWith(db_file, "cache.") && absl::EndsWith(db_file, ".db")) {
    int n = 0;
    if (absl::SimpleAtoi(db_file.substr(6, db_file.size() - 9), &n) && n >= 0 && n < 16) {
      return "16shards";
    }
  }
  return "";
}

}  // namespace typecache
