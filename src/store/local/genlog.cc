#include "src/store/local/genlog.h"

#include <functional>
#include <map>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "src/base/status_macros.h"

namespace typecache {
namespace {

// CEscape leaves spaces alone, but a space separates the fields of a record.
std::string EscapeKey(absl::string_view key) {
  return absl::StrReplaceAll(absl::CEscape(key), {{" ", "\\040"}});
}

using Fields = std::vector<absl::string_view>;

// One kind of record: how many fields it has (its name included), and how to read them (false:
// they are malformed).
struct RecordKind {
  size_t fields;
  std::function<bool(const Fields&)> read;
};

// Reads the records of `text`, a file named `source` in errors: after its first line, `header`,
// each non-empty line up to the line "end" is a record, its space-separated fields read by the
// kind its first field names. The errors: "not a <what>" without `header`; "unknown record",
// "bad <kind>"; and "truncated <what>" without the end (cut short by a crash while it was
// written: never trusted in part).
absl::Status ReadRecords(const std::string& text, const std::string& source,
                         absl::string_view header, absl::string_view what,
                         const std::map<absl::string_view, RecordKind>& kinds) {
  auto bad = [&source](size_t line, absl::string_view why) {
    return absl::DataLossError(absl::StrCat(source, ":", line + 1, ": ", why));
  };
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.empty() || lines[0] != header) return bad(0, absl::StrCat("not a ", what));
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    if (lines[i] == "end") return absl::OkStatus();
    Fields fields = absl::StrSplit(lines[i], ' ');
    auto kind = kinds.find(fields[0]);
    if (kind == kinds.end() || kind->second.fields != fields.size()) {
      return bad(i, "unknown record");
    }
    if (!kind->second.read(fields)) return bad(i, absl::StrCat("bad ", fields[0]));
  }
  return bad(lines.size() - 1, absl::StrCat("truncated ", what));
}

}  // namespace

absl::Status SerializeGenLogTo(const GenLog& log, const GroupSets& groups,
                               const std::function<absl::Status(absl::string_view)>& write) {
  constexpr size_t kPiece = 64 << 10;
  std::string out =
      absl::StrCat("typecache-genlog 1\ngen ", log.gen, "\nparent ", log.parent, "\n");
  for (const auto& [file, stamp] : log.stamps) {
    absl::StrAppend(&out, "stamp ", EscapeKey(file), " ", stamp.size, " ", stamp.mtime_ns, "\n");
  }
  for (const auto& [file, file_groups] : groups) {
    std::string escaped_file = EscapeKey(file);
    for (const std::string& group : file_groups) {
      absl::StrAppend(&out, "group ", escaped_file, " ", EscapeKey(group), "\n");
      if (out.size() >= kPiece) {
        RETURN_IF_ERROR(write(out));
        out.clear();
      }
    }
  }
  absl::StrAppend(&out, "end\n");
  return write(out);
}

std::string SerializeGenLog(const GenLog& log) {
  std::string out;
  (void)SerializeGenLogTo(log, log.groups, [&out](absl::string_view piece) {
    out.append(piece.data(), piece.size());
    return absl::OkStatus();
  });
  return out;
}

absl::StatusOr<GenLog> ParseGenLog(const std::string& text, const std::string& source,
                                   bool with_groups) {
  GenLog log;
  auto read_stamp = [&log](const Fields& f) {
    std::string file;
    FileStamp stamp;
    if (!absl::CUnescape(f[1], &file) || !absl::SimpleAtoi(f[2], &stamp.size) ||
        !absl::SimpleAtoi(f[3], &stamp.mtime_ns)) {
      return false;
    }
    log.stamps[file] = stamp;
    return true;
  };
  auto read_group = [&log, with_groups](const Fields& f) {
    std::string file, group;
    if (!absl::CUnescape(f[1], &file) || !absl::CUnescape(f[2], &group)) return false;
    if (with_groups) log.groups[file].insert(std::move(group));
    return true;
  };
  absl::Status read = ReadRecords(
      text, source, "typecache-genlog 1", "generation log",
      {{"gen", {2, [&log](const Fields& f) { return absl::SimpleAtoi(f[1], &log.gen); }}},
       {"parent", {2, [&log](const Fields& f) { return absl::SimpleAtoi(f[1], &log.parent); }}},
       {"stamp", {4, read_stamp}},
       {"group", {3, read_group}}});
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
  auto read_digest = [&out](const Fields& f) {
    std::string file;
    uint64_t digest = 0;
    if (!absl::CUnescape(f[1], &file) || f[2].size() != 16 || !absl::SimpleHexAtoi(f[2], &digest)) {
      return false;
    }
    out.digests[file] = digest;
    return true;
  };
  absl::Status read = ReadRecords(
      text, source, "typecache-digests 1", "digest record",
      {{"gen", {2, [&out](const Fields& f) { return absl::SimpleAtoi(f[1], &out.gen); }}},
       {"digest", {3, read_digest}}});
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
