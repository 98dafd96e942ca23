#include "src/store/local/genlog.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace typecache {
namespace {

// CEscape leaves spaces alone, but a space separates the fields of a record.
std::string EscapeKey(absl::string_view key) {
  return absl::StrReplaceAll(absl::CEscape(key), {{" ", "\\040"}});
}

}  // namespace

std::string SerializeGenLog(const GenLog& log) {
  std::string out =
      absl::StrCat("typecache-genlog 1\ngen ", log.gen, "\nparent ", log.parent, "\n");
  for (const auto& [file, stamp] : log.stamps) {
    absl::StrAppend(&out, "stamp ", EscapeKey(file), " ", stamp.size, " ", stamp.mtime_ns, "\n");
  }
  for (const auto& [file, groups] : log.groups) {
    std::string escaped_file = EscapeKey(file);
    for (const std::string& group : groups) {
      absl::StrAppend(&out, "group ", escaped_file, " ", EscapeKey(group), "\n");
    }
  }
  absl::StrAppend(&out, "end\n");
  return out;
}

absl::StatusOr<GenLog> ParseGenLog(const std::string& text, const std::string& source) {
  GenLog log;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  auto bad = [&source](size_t line, absl::string_view why) {
    return absl::DataLossError(absl::StrCat(source, ":", line + 1, ": ", why));
  };
  if (lines.empty() || lines[0] != "typecache-genlog 1") return bad(0, "not a generation log");
  bool ended = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.empty()) continue;
    if (line == "end") {
      ended = true;
      break;
    }
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f[0] == "gen" && f.size() == 2) {
      if (!absl::SimpleAtoi(f[1], &log.gen)) return bad(i, "bad gen");
    } else if (f[0] == "parent" && f.size() == 2) {
      if (!absl::SimpleAtoi(f[1], &log.parent)) return bad(i, "bad parent");
    } else if (f[0] == "stamp" && f.size() == 4) {
      std::string file;
      FileStamp stamp;
      if (!absl::CUnescape(f[1], &file) || !absl::SimpleAtoi(f[2], &stamp.size) ||
          !absl::SimpleAtoi(f[3], &stamp.mtime_ns)) {
        return bad(i, "bad stamp");
      }
      log.stamps[file] = stamp;
    } else if (f[0] == "group" && f.size() == 3) {
      std::string file, group;
      if (!absl::CUnescape(f[1], &file) || !absl::CUnescape(f[2], &group)) {
        return bad(i, "bad group");
      }
      log.groups[file].insert(std::move(group));
    } else {
      return bad(i, "unknown record");
    }
  }
  // A log without its end marker was cut short; never trust a partial list of changes.
  if (!ended) return bad(lines.size() - 1, "truncated generation log");
  return log;
}

std::string SerializeGenDigests(const GenDigests& digests) {
  std::string out = absl::StrCat("typecache-digests 1\ngen ", digests.gen, "\n");
  for (const auto& [file, digest] : digests.digests) {
    absl::StrAppend(&out, "digest ", EscapeKey(file), " ", absl::Hex(digest, absl::kZeroPad16),
                    "\n");
  }
  absl::StrAppend(&out, "end\n");
  return out;
}

absl::StatusOr<GenDigests> ParseGenDigests(const std::string& text, const std::string& source) {
  GenDigests out;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  auto bad = [&source](size_t line, absl::string_view why) {
    return absl::DataLossError(absl::StrCat(source, ":", line + 1, ": ", why));
  };
  if (lines.empty() || lines[0] != "typecache-digests 1") return bad(0, "not a digest record");
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.empty()) continue;
    if (line == "end") return out;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f[0] == "gen" && f.size() == 2) {
      if (!absl::SimpleAtoi(f[1], &out.gen)) return bad(i, "bad gen");
    } else if (f[0] == "digest" && f.size() == 3) {
      std::string file;
      uint64_t digest = 0;
      if (!absl::CUnescape(f[1], &file) || f[2].size() != 16 ||
          !absl::SimpleHexAtoi(f[2], &digest)) {
        return bad(i, "bad digest");
      }
      out.digests[file] = digest;
    } else {
      return bad(i, "unknown record");
    }
  }
  // Cut short (a crash while it was written): never trust part of it.
  return bad(lines.size() - 1, "truncated digest record");
}

void UnionInto(GroupSets& into, const GroupSets& from) {
  for (const auto& [file, groups] : from) into[file].insert(groups.begin(), groups.end());
}

size_t CountGroups(const GroupSets& sets) {
  size_t n = 0;
  for (const auto& [file, groups] : sets) n += groups.size();
  return n;
}

}  // namespace typecache
