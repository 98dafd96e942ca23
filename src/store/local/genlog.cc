#include "src/store/local/genlog.h"

#include <functional>
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

absl::Status BadLine(const std::string& source, size_t line, absl::string_view why) {
  return absl::DataLossError(absl::StrCat(source, ":", line + 1, ": ", why));
}

// Reads the records of `text`, a file named `source` in errors: after its first line, `header`,
// each non-empty line up to the line "end", split into its space-separated fields, goes to
// `record` with the line's index. Without `header` it is "not a <what>"; without its end it was
// cut short (a crash while it was written): a "truncated <what>", never trusted in part.
using RecordReader =
    std::function<absl::Status(size_t line, const std::vector<absl::string_view>& fields)>;
absl::Status ReadRecords(const std::string& text, const std::string& source,
                         absl::string_view header, absl::string_view what,
                         const RecordReader& record) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.empty() || lines[0] != header) return BadLine(source, 0, absl::StrCat("not a ", what));
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    if (lines[i] == "end") return absl::OkStatus();
    std::vector<absl::string_view> fields = absl::StrSplit(lines[i], ' ');
    absl::Status read = record(i, fields);
    if (!read.ok()) return read;
  }
  return BadLine(source, lines.size() - 1, absl::StrCat("truncated ", what));
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
  absl::Status read =
      ReadRecords(text, source, "typecache-genlog 1", "generation log",
                  [&](size_t i, const std::vector<absl::string_view>& f) -> absl::Status {
                    if (f[0] == "gen" && f.size() == 2) {
                      if (!absl::SimpleAtoi(f[1], &log.gen)) return BadLine(source, i, "bad gen");
                    } else if (f[0] == "parent" && f.size() == 2) {
                      if (!absl::SimpleAtoi(f[1], &log.parent))
                        return BadLine(source, i, "bad parent");
                    } else if (f[0] == "stamp" && f.size() == 4) {
                      std::string file;
                      FileStamp stamp;
                      if (!absl::CUnescape(f[1], &file) || !absl::SimpleAtoi(f[2], &stamp.size) ||
                          !absl::SimpleAtoi(f[3], &stamp.mtime_ns)) {
                        return BadLine(source, i, "bad stamp");
                      }
                      log.stamps[file] = stamp;
                    } else if (f[0] == "group" && f.size() == 3) {
                      std::string file, group;
                      if (!absl::CUnescape(f[1], &file) || !absl::CUnescape(f[2], &group)) {
                        return BadLine(source, i, "bad group");
                      }
                      log.groups[file].insert(std::move(group));
                    } else {
                      return BadLine(source, i, "unknown record");
                    }
                    return absl::OkStatus();
                  });
  if (!read.ok()) return read;
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
  absl::Status read =
      ReadRecords(text, source, "typecache-digests 1", "digest record",
                  [&](size_t i, const std::vector<absl::string_view>& f) -> absl::Status {
                    if (f[0] == "gen" && f.size() == 2) {
                      if (!absl::SimpleAtoi(f[1], &out.gen)) return BadLine(source, i, "bad gen");
                    } else if (f[0] == "digest" && f.size() == 3) {
                      std::string file;
                      uint64_t digest = 0;
                      if (!absl::CUnescape(f[1], &file) || f[2].size() != 16 ||
                          !absl::SimpleHexAtoi(f[2], &digest)) {
                        return BadLine(source, i, "bad digest");
                      }
                      out.digests[file] = digest;
                    } else {
                      return BadLine(source, i, "unknown record");
                    }
                    return absl::OkStatus();
                  });
  if (!read.ok()) return read;
  return out;
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
