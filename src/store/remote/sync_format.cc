#include "src/store/remote/sync_format.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/base/status_macros.h"
#include "src/store/remote/codec.h"

namespace typecache {
namespace {

constexpr absl::string_view kObjectMagic = "typecache-group 1";
constexpr absl::string_view kLogMagic = "typecache-remote-log 1";
constexpr absl::string_view kSnapMagic = "typecache-remote-snap 1";
constexpr absl::string_view kLatestMagic = "typecache-remote-latest 1";
constexpr absl::string_view kStateMagic = "typecache-remote-state 1";
constexpr absl::string_view kPackMagic = "typecache-pack 1";
constexpr size_t kMaxRows = 1000000;
constexpr size_t kMaxHeader = 8192;

std::string SanitizePart(absl::string_view s) {
  std::string out;
  for (char c : s) {
    out.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c
                                                                                             : '-');
  }
  return out.empty() ? "-" : out;
}

std::string Seq12(int64_t seq) {
  std::string s = absl::StrCat(seq);
  if (s.size() < 12) s.insert(0, 12 - s.size(), '0');
  return s;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutFixed64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool Fixed64(uint64_t* v) {
    if (data_.size() - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) {
      *v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    return true;
  }
  bool Byte(uint8_t* b) {
    if (pos_ >= data_.size()) return false;
    *b = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool Bytes(uint64_t n, std::string* out) {
    if (n > data_.size() - pos_) return false;
    out->assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  absl::string_view data_;
  size_t pos_ = 0;
};

void PutValue(std::string& out, const RemoteValue& v) {
  out.push_back(static_cast<char>(v.type));
  switch (v.type) {
    case RemoteValue::Type::kInt:
      PutFixed64(out, static_cast<uint64_t>(v.integer));
      break;
    case RemoteValue::Type::kReal: {
      uint64_t bits;
      std::memcpy(&bits, &v.real, sizeof(bits));
      PutFixed64(out, bits);
      break;
    }
    case RemoteValue::Type::kText:
    case RemoteValue::Type::kBlob:
      PutVarint(out, v.bytes.size());
      out.append(v.bytes);
      break;
    case RemoteValue::Type::kNull:
      break;
  }
}

bool ReadValue(Reader& r, RemoteValue* v) {
  uint8_t t;
  if (!r.Byte(&t) || t > 4) return false;
  v->type = static_cast<RemoteValue::Type>(t);
  uint64_t x;
  switch (v->type) {
    case RemoteValue::Type::kInt:
      if (!r.Fixed64(&x)) return false;
      v->integer = static_cast<int64_t>(x);
      return true;
    case RemoteValue::Type::kReal:
      if (!r.Fixed64(&x)) return false;
      std::memcpy(&v->real, &x, sizeof(x));
      return true;
    case RemoteValue::Type::kText:
    case RemoteValue::Type::kBlob:
      return r.Varint(&x) && r.Bytes(x, &v->bytes);
    case RemoteValue::Type::kNull:
      return true;
  }
  return false;
}

// Text records: lines, the last "check <xxh3 of everything before it>".
std::string WithCheck(std::string text) {
  absl::StrAppend(&text, "check ", Xxh3Hex(text), "\n");
  return text;
}

absl::StatusOr<std::vector<std::vector<std::string>>> CheckedLines(absl::string_view text,
                                                                   absl::string_view magic,
                                                                   absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(what, ": ", why));
  };
  if (text.empty() || text.back() != '\n') return bad("truncated (no final newline)");
  size_t last = text.rfind('\n', text.size() - 2);
  if (last == absl::string_view::npos) return bad("truncated");
  absl::string_view body = text.substr(0, last + 1);
  absl::string_view check_line = text.substr(last + 1, text.size() - last - 2);
  if (!absl::StartsWith(check_line, "check ") || check_line.substr(6) != Xxh3Hex(body)) {
    return bad("check line missing or wrong (truncated or altered)");
  }
  std::vector<std::vector<std::string>> lines;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    if (first) {
      if (line != magic) return bad(absl::StrCat("not a '", magic, "' record"));
      first = false;
      continue;
    }
    lines.push_back(absl::StrSplit(line, ' '));
  }
  if (first) return bad("empty");
  return lines;
}

absl::StatusOr<int64_t> Int(const std::string& s, absl::string_view what) {
  int64_t v;
  if (!absl::SimpleAtoi(s, &v) || v < 0) {
    return absl::DataLossError(absl::StrCat(what, ": bad number '", s, "'"));
  }
  return v;
}

std::string SetLine(absl::string_view group, const ViewEntry& e) {
  return absl::StrCat("set ", EscapeName(group), " ", EscapeName(e.file), " ", e.digest, " ",
                      e.bytes, "\n");
}

absl::Status ParseSet(const std::vector<std::string>& f, size_t at, absl::string_view what,
                      std::string* group, ViewEntry* e) {
  if (f.size() != at + 4) return absl::DataLossError(absl::StrCat(what, ": bad set line"));
  ASSIGN_OR_RETURN(*group, UnescapeName(f[at]));
  ASSIGN_OR_RETURN(e->file, UnescapeName(f[at + 1]));
  if (!IsDigest(f[at + 2])) return absl::DataLossError(absl::StrCat(what, ": bad digest"));
  e->digest = f[at + 2];
  ASSIGN_OR_RETURN(e->bytes, Int(f[at + 3], what));
  if (group->empty() || e->file.empty()) {
    return absl::DataLossError(absl::StrCat(what, ": empty name"));
  }
  return absl::OkStatus();
}

struct Common {
  std::string ns, lineage;
  int64_t seq = -1, time = 0;
};

// Handles ns/lineage/seq/time lines; false if the line is not one of them.
absl::StatusOr<bool> CommonLine(const std::vector<std::string>& f, Common& c,
                                absl::string_view what) {
  if (f.size() != 2) return false;
  if (f[0] == "ns") {
    c.ns = f[1];
  } else if (f[0] == "lineage") {
    c.lineage = f[1];
  } else if (f[0] == "seq") {
    ASSIGN_OR_RETURN(c.seq, Int(f[1], what));
  } else if (f[0] == "time") {
    ASSIGN_OR_RETURN(c.time, Int(f[1], what));
  } else {
    return false;
  }
  return true;
}

absl::Status CheckCommon(const Common& c, absl::string_view ns, absl::string_view lineage,
                         int64_t seq, absl::string_view what) {
  if (c.ns != ns || c.lineage != lineage || c.seq != seq) {
    return absl::DataLossError(absl::StrCat(what, ": record is for ", c.ns, " ", c.lineage, " #",
                                            c.seq, ", expected ", ns, " ", lineage, " #", seq));
  }
  return absl::OkStatus();
}

// A log record or snapshot of ns/lineage/seq: the magic and check line verified, the common
// lines read into `record` (ns, lineage, seq, time) and checked against what was asked for;
// every other line goes to `line` (an error stops the parse).
template <typename Record>
absl::Status ParseRecordLines(
    absl::string_view text, absl::string_view magic, absl::string_view what, absl::string_view ns,
    absl::string_view lineage, int64_t seq,
    const std::function<absl::Status(const std::vector<std::string>&)>& line, Record& record) {
  ASSIGN_OR_RETURN(auto lines, CheckedLines(text, magic, what));
  Common c;
  for (const auto& f : lines) {
    ASSIGN_OR_RETURN(bool common, CommonLine(f, c, what));
    if (!common) RETURN_IF_ERROR(line(f));
  }
  RETURN_IF_ERROR(CheckCommon(c, ns, lineage, seq, what));
  record.ns = c.ns;
  record.lineage = c.lineage;
  record.seq = c.seq;
  record.time = c.time;
  return absl::OkStatus();
}

}  // namespace

std::string Namespace::Name() const {
  return absl::StrCat(SanitizePart(checker), "-", SanitizePart(version), "_py",
                      SanitizePart(python), "_", SanitizePart(platform), "_", SanitizePart(layout));
}

absl::StatusOr<Namespace> ParseNamespaceName(absl::string_view name) {
  std::vector<std::string> parts = absl::StrSplit(name, '_');
  size_t dash = parts.empty() ? std::string::npos : parts[0].find('-');
  if (parts.size() != 4 || dash == std::string::npos || !absl::StartsWith(parts[1], "py")) {
    return absl::InvalidArgumentError(absl::StrCat("not a namespace name: ", name));
  }
  Namespace ns;
  ns.checker = parts[0].substr(0, dash);
  ns.version = parts[0].substr(dash + 1);
  ns.python = parts[1].substr(2);
  ns.platform = parts[2];
  ns.layout = parts[3];
  return ns;
}

bool SameNamespace(const Namespace& a, const Namespace& b) { return a.Name() == b.Name(); }

std::string SanitizeLineage(absl::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64)) {
    out.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                          c == '_'
                      ? c
                      : '-');
  }
  if (out.empty() || out == "." || out == "..") out = "-" + out;
  return out;
}

std::string RemoteKeys::Base() const {
  return prefix_.empty() ? ns_ : absl::StrCat(prefix_, "/", ns_);
}
std::string RemoteKeys::Object(absl::string_view digest) const {
  return absl::StrCat(Base(), "/g/", digest);
}
std::string RemoteKeys::ObjectsPrefix() const { return absl::StrCat(Base(), "/g/"); }
std::string RemoteKeys::LineagesPrefix() const { return absl::StrCat(Base(), "/lin/"); }
std::string RemoteKeys::LogPrefix(absl::string_view l) const {
  return absl::StrCat(LineagesPrefix(), l, "/log/");
}
std::string RemoteKeys::Log(absl::string_view l, int64_t seq) const {
  return absl::StrCat(LogPrefix(l), Seq12(seq));
}
std::string RemoteKeys::SnapPrefix(absl::string_view l) const {
  return absl::StrCat(LineagesPrefix(), l, "/snap/");
}
std::string RemoteKeys::Snap(absl::string_view l, int64_t seq) const {
  return absl::StrCat(SnapPrefix(l), Seq12(seq));
}
std::string RemoteKeys::SnapLatest(absl::string_view l) const {
  return absl::StrCat(SnapPrefix(l), "latest");
}
std::string RemoteKeys::Pack(absl::string_view digest) const {
  return absl::StrCat(Base(), "/p/", digest);
}
std::string RemoteKeys::PacksPrefix() const { return absl::StrCat(Base(), "/p/"); }
std::string RemoteKeys::Marker() const { return absl::StrCat(MarkersPrefix(prefix_), ns_); }
std::string RemoteKeys::MarkersPrefix(absl::string_view prefix) {
  return prefix.empty() ? "namespaces/" : absl::StrCat(prefix, "/namespaces/");
}
int64_t RemoteKeys::SeqOfKey(absl::string_view key) {
  size_t slash = key.rfind('/');
  absl::string_view last = slash == absl::string_view::npos ? key : key.substr(slash + 1);
  int64_t seq;
  if (last.size() != 12 || !absl::SimpleAtoi(last, &seq)) return -1;
  return seq;
}

bool IsDigest(absl::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string EscapeName(absl::string_view name) {
  std::string out;
  for (char ch : name) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == '%' || c >= 0x7f) {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

absl::StatusOr<std::string> UnescapeName(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    int v = 0;
    if (i + 2 >= text.size()) return absl::DataLossError("bad escape in name");
    std::string hex(text.substr(i + 1, 2));
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(hex[0])) ||
        !absl::ascii_isxdigit(static_cast<unsigned char>(hex[1])) ||
        !absl::SimpleHexAtoi(hex, &v)) {
      return absl::DataLossError("bad escape in name");
    }
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return out;
}

absl::StatusOr<std::string> EncodeGroupObject(const GroupObject& object) {
  std::string body;
  for (const RemoteRow& row : object.rows) {
    PutVarint(body, row.key.size());
    body.append(row.key);
    PutValue(body, row.mtime);
    PutValue(body, row.data);
  }
  // Level 9: measured on bench/remote_bench.py's cache (196 groups), 17% fewer bytes than
  // level 3 for 1.6x the compression time; 12 saves 2% more for 3x, 19 22% for 35x.
  ASSIGN_OR_RETURN(std::string frame, ZstdCompress(body, 9));
  std::string out =
      absl::StrCat(kObjectMagic, "\nns ", object.ns, "\ngroup ", EscapeName(object.group),
                   "\nfile ", EscapeName(object.file), "\nrows ", object.rows.size(), "\nraw ",
                   body.size(), "\ncreated ", object.created, "\n\n");
  out.append(frame);
  return out;
}

absl::StatusOr<GroupObject> DecodeGroupObject(absl::string_view bytes, size_t max_bytes,
                                              absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(what, ": ", why));
  };
  size_t end = bytes.substr(0, kMaxHeader).find("\n\n");
  if (end == absl::string_view::npos) return bad("no object header (truncated or garbage)");
  std::vector<absl::string_view> lines = absl::StrSplit(bytes.substr(0, end), '\n');
  if (lines.empty() || lines[0] != kObjectMagic) return bad("not a typecache group object");
  GroupObject object;
  int64_t rows = -1, raw = -1;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], ' ');
    if (f.size() != 2) return bad("bad header line");
    if (f[0] == "ns") {
      object.ns = f[1];
    } else if (f[0] == "group") {
      ASSIGN_OR_RETURN(object.group, UnescapeName(f[1]));
    } else if (f[0] == "file") {
      ASSIGN_OR_RETURN(object.file, UnescapeName(f[1]));
    } else if (f[0] == "rows") {
      ASSIGN_OR_RETURN(rows, Int(f[1], what));
    } else if (f[0] == "raw") {
      ASSIGN_OR_RETURN(raw, Int(f[1], what));
    } else if (f[0] == "created") {
      ASSIGN_OR_RETURN(object.created, Int(f[1], what));
    }
  }
  if (rows < 0 || raw < 0) return bad("header lacks rows or raw size");
  if (static_cast<uint64_t>(raw) > max_bytes || static_cast<uint64_t>(rows) > kMaxRows) {
    return absl::OutOfRangeError(
        absl::StrCat(what, ": object of ", raw, " bytes / ", rows, " rows is over the limit"));
  }
  absl::StatusOr<std::string> body = ZstdDecompress(bytes.substr(end + 2), max_bytes);
  if (!body.ok()) return bad(body.status().message());
  if (body->size() != static_cast<size_t>(raw)) return bad("size differs from its header");
  Reader r(*body);
  for (int64_t i = 0; i < rows; ++i) {
    RemoteRow row;
    uint64_t n;
    if (!r.Varint(&n) || !r.Bytes(n, &row.key) || !ReadValue(r, &row.mtime) ||
        !ReadValue(r, &row.data)) {
      return bad(absl::StrCat("row ", i, " is malformed"));
    }
    object.rows.push_back(std::move(row));
  }
  if (!r.done()) return bad("bytes after the last row");
  return object;
}

std::string GroupDigestOfNormalized(absl::string_view group, const std::vector<RemoteRow>& rows,
                                    const std::vector<std::string>& normalized) {
  // Hashed as it streams (the same bytes as one buffer holding them all: the digest is
  // unchanged), so a group's megabytes of rows are not copied once more to be hashed.
  Xxh3Stream h;
  std::string small;  // varints and numbers
  auto varint = [&](uint64_t v) {
    small.clear();
    PutVarint(small, v);
    h.Update(small);
  };
  h.Update("typecache-digest 1\n");
  varint(group.size());
  h.Update(group);
  for (size_t i = 0; i < rows.size(); ++i) {
    const RemoteRow& row = rows[i];
    varint(row.key.size());
    h.Update(row.key);
    char type = static_cast<char>(row.data.type);
    h.Update(absl::string_view(&type, 1));
    std::string num;
    const std::string* norm = &num;
    if (row.data.type == RemoteValue::Type::kText || row.data.type == RemoteValue::Type::kBlob) {
      norm = &normalized[i];
    } else if (row.data.type == RemoteValue::Type::kInt) {
      num = absl::StrCat(row.data.integer);
    } else if (row.data.type == RemoteValue::Type::kReal) {
      num = absl::StrCat(row.data.real);
    }
    varint(norm->size());
    h.Update(*norm);
  }
  return h.Hex();
}

absl::StatusOr<std::string> GroupDigest(absl::string_view group, std::vector<RemoteRow> rows,
                                        const RowHooks& hooks) {
  std::sort(rows.begin(), rows.end(),
            [](const RemoteRow& a, const RemoteRow& b) { return a.key < b.key; });
  std::vector<std::string> norms(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const RemoteRow& row = rows[i];
    if (row.data.type == RemoteValue::Type::kText || row.data.type == RemoteValue::Type::kBlob) {
      ASSIGN_OR_RETURN(norms[i], hooks.normalize(row.key, row.data.bytes));
    }
  }
  return GroupDigestOfNormalized(group, rows, norms);
}

namespace {

// The fixed header of a pack: "typecache-pack 1", then "name value" lines, then a blank line.
absl::StatusOr<std::map<std::string, std::string>> PackHeader(absl::string_view bytes,
                                                              size_t* body_at,
                                                              absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(what, ": ", why));
  };
  size_t end = bytes.substr(0, kMaxHeader).find("\n\n");
  if (end == absl::string_view::npos) return bad("no pack header (truncated or garbage)");
  std::vector<absl::string_view> lines = absl::StrSplit(bytes.substr(0, end), '\n');
  if (lines.empty() || lines[0] != kPackMagic) return bad("not a typecache pack");
  std::map<std::string, std::string> out;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], ' ');
    if (f.size() != 2) return bad("bad header line");
    out[f[0]] = f[1];
  }
  *body_at = end + 2;
  return out;
}

}  // namespace

absl::StatusOr<std::string> EncodePack(const PackObject& pack, int level) {
  std::string body;
  for (const PackedGroup& g : pack.groups) {
    PutVarint(body, g.object.group.size());
    body.append(g.object.group);
    PutVarint(body, g.object.file.size());
    body.append(g.object.file);
    body.append(g.digest);
    PutVarint(body, g.object.rows.size());
    for (const RemoteRow& row : g.object.rows) {
      PutVarint(body, row.key.size());
      body.append(row.key);
      PutValue(body, row.mtime);
      PutValue(body, row.data);
    }
  }
  ASSIGN_OR_RETURN(std::string frame, ZstdCompress(body, level));
  std::string out = absl::StrCat(kPackMagic, "\nns ", pack.ns, "\nlineage ", pack.lineage, "\nseq ",
                                 pack.seq, "\ngroups ", pack.groups.size(), "\nraw ", body.size(),
                                 "\ncreated ", pack.created, "\n\n");
  out.append(frame);
  return out;
}

absl::StatusOr<PackObject> DecodePack(absl::string_view bytes, size_t max_bytes,
                                      absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(what, ": ", why));
  };
  size_t at = 0;
  ASSIGN_OR_RETURN(auto h, PackHeader(bytes, &at, what));
  PackObject pack;
  pack.ns = h["ns"];
  pack.lineage = h["lineage"];
  int64_t groups = -1, raw = -1;
  if (h.count("seq")) {
    ASSIGN_OR_RETURN(pack.seq, Int(h["seq"], what));
  }
  if (h.count("created")) {
    ASSIGN_OR_RETURN(pack.created, Int(h["created"], what));
  }
  if (h.count("groups")) {
    ASSIGN_OR_RETURN(groups, Int(h["groups"], what));
  }
  if (h.count("raw")) {
    ASSIGN_OR_RETURN(raw, Int(h["raw"], what));
  }
  if (groups < 0 || raw < 0) return bad("header lacks groups or raw size");
  if (static_cast<uint64_t>(raw) > max_bytes || static_cast<uint64_t>(groups) > kMaxRows) {
    return absl::OutOfRangeError(
        absl::StrCat(what, ": pack of ", raw, " bytes / ", groups, " groups is over the limit"));
  }
  absl::StatusOr<ByteBuffer> body = ZstdDecompressToBuffer(bytes.substr(at), max_bytes);
  if (!body.ok()) return bad(body.status().message());
  if (body->view().size() != static_cast<size_t>(raw)) return bad("size differs from its header");
  Reader r(body->view());
  for (int64_t i = 0; i < groups; ++i) {
    PackedGroup g;
    g.object.ns = pack.ns;
    g.object.created = pack.created;
    uint64_t n, rows;
    if (!r.Varint(&n) || !r.Bytes(n, &g.object.group) || !r.Varint(&n) ||
        !r.Bytes(n, &g.object.file) || !r.Bytes(32, &g.digest) || !r.Varint(&rows) ||
        rows > kMaxRows) {
      return bad(absl::StrCat("group ", i, " is malformed"));
    }
    for (uint64_t j = 0; j < rows; ++j) {
      RemoteRow row;
      if (!r.Varint(&n) || !r.Bytes(n, &row.key) || !ReadValue(r, &row.mtime) ||
          !ReadValue(r, &row.data)) {
        return bad(absl::StrCat("group ", i, " row ", j, " is malformed"));
      }
      g.object.rows.push_back(std::move(row));
    }
    if (!pack.groups.empty() && !(pack.groups.back().object.group < g.object.group)) {
      return bad("groups not sorted or repeated");
    }
    pack.groups.push_back(std::move(g));
  }
  if (!r.done()) return bad("bytes after the last group");
  return pack;
}

absl::StatusOr<int64_t> PackCreated(absl::string_view bytes, absl::string_view what) {
  size_t at = 0;
  ASSIGN_OR_RETURN(auto h, PackHeader(bytes, &at, what));
  if (!h.count("created")) return absl::DataLossError(absl::StrCat(what, ": no creation time"));
  return Int(h["created"], what);
}

std::string SerializeLogRecord(const LogRecord& rec) {
  std::string t =
      absl::StrCat(kLogMagic, "\nns ", rec.ns, "\nlineage ", rec.lineage, "\nseq ", rec.seq,
                   "\ntime ", rec.time, "\nwriter ", EscapeName(rec.writer), "\n");
  for (const LogEntry& e : rec.entries) {
    if (e.deleted) {
      absl::StrAppend(&t, "del ", EscapeName(e.group), "\n");
    } else {
      t.append(SetLine(e.group, e.entry));
    }
  }
  return WithCheck(std::move(t));
}

absl::StatusOr<LogRecord> ParseLogRecord(absl::string_view text, absl::string_view ns,
                                         absl::string_view lineage, int64_t seq) {
  std::string what = absl::StrCat("log record ", ns, "/", lineage, " #", seq);
  LogRecord rec;
  auto line = [&](const std::vector<std::string>& f) -> absl::Status {
    LogEntry e;
    if (f[0] == "writer" && f.size() == 2) {
      ASSIGN_OR_RETURN(rec.writer, UnescapeName(f[1]));
      return absl::OkStatus();
    } else if (f[0] == "set") {
      RETURN_IF_ERROR(ParseSet(f, 1, what, &e.group, &e.entry));
    } else if (f[0] == "del" && f.size() == 2) {
      e.deleted = true;
      ASSIGN_OR_RETURN(e.group, UnescapeName(f[1]));
    } else {
      return absl::DataLossError(absl::StrCat(what, ": unknown line '", f[0], "'"));
    }
    rec.entries.push_back(std::move(e));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(ParseRecordLines(text, kLogMagic, what, ns, lineage, seq, line, rec));
  return rec;
}

void ApplyRecord(const LogRecord& record, View& view) {
  for (const LogEntry& e : record.entries) {
    if (e.deleted) {
      view.erase(e.group);
    } else {
      view[e.group] = e.entry;
    }
  }
}

std::string SerializeSnapshot(const SnapshotRecord& snap) {
  std::string t = absl::StrCat(kSnapMagic, "\nns ", snap.ns, "\nlineage ", snap.lineage, "\nseq ",
                               snap.seq, "\ntime ", snap.time, "\n");
  for (const auto& [group, e] : snap.view) t.append(SetLine(group, e));
  return WithCheck(std::move(t));
}

absl::StatusOr<SnapshotRecord> ParseSnapshot(absl::string_view text, absl::string_view ns,
                                             absl::string_view lineage, int64_t seq) {
  std::string what = absl::StrCat("snapshot ", ns, "/", lineage, " #", seq);
  SnapshotRecord snap;
  auto line = [&](const std::vector<std::string>& f) -> absl::Status {
    if (f[0] != "set") return absl::DataLossError(absl::StrCat(what, ": unknown line"));
    std::string group;
    ViewEntry e;
    RETURN_IF_ERROR(ParseSet(f, 1, what, &group, &e));
    snap.view[group] = e;
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(ParseRecordLines(text, kSnapMagic, what, ns, lineage, seq, line, snap));
  return snap;
}

std::string SerializeLatest(int64_t seq, const PackRef* pack) {
  std::string t = absl::StrCat(kLatestMagic, "\nseq ", seq, "\n");
  if (pack != nullptr) {
    absl::StrAppend(&t, "pack ", pack->seq, " ", pack->digest, " ", pack->bytes, "\n");
  }
  return WithCheck(std::move(t));
}

absl::StatusOr<std::optional<PackRef>> ParseLatestPack(absl::string_view text) {
  ASSIGN_OR_RETURN(auto lines, CheckedLines(text, kLatestMagic, "snapshot pointer"));
  for (const auto& f : lines) {
    if (f.size() != 4 || f[0] != "pack") continue;
    PackRef ref;
    ASSIGN_OR_RETURN(ref.seq, Int(f[1], "snapshot pointer"));
    if (!IsDigest(f[2])) return absl::DataLossError("snapshot pointer: bad pack digest");
    ref.digest = f[2];
    ASSIGN_OR_RETURN(ref.bytes, Int(f[3], "snapshot pointer"));
    return std::optional<PackRef>(ref);
  }
  return std::optional<PackRef>();
}

absl::StatusOr<int64_t> ParseLatest(absl::string_view text) {
  ASSIGN_OR_RETURN(auto lines, CheckedLines(text, kLatestMagic, "snapshot pointer"));
  for (const auto& f : lines) {
    if (f.size() == 2 && f[0] == "seq") return Int(f[1], "snapshot pointer");
  }
  return absl::DataLossError("snapshot pointer: no seq");
}

std::string SerializeSyncState(const SyncState& state) {
  std::string t = absl::StrCat(kStateMagic, "\nmarked ", state.marked ? 1 : 0, "\n");
  for (const auto& [name, l] : state.lineages) {
    absl::StrAppend(&t, "lineage ", name, " ", l.seq, " ", l.checked, "\n");
    for (const auto& [group, e] : l.view)
      absl::StrAppend(&t, "view ", name, " ", SetLine(group, e).substr(4));
  }
  for (const std::string& g : state.pending) absl::StrAppend(&t, "pending ", EscapeName(g), "\n");
  return WithCheck(std::move(t));
}

absl::StatusOr<SyncState> ParseSyncState(absl::string_view text, absl::string_view what) {
  ASSIGN_OR_RETURN(auto lines, CheckedLines(text, kStateMagic, what));
  SyncState state;
  for (const auto& f : lines) {
    if (f[0] == "marked" && f.size() == 2) {
      state.marked = f[1] == "1";
    } else if (f[0] == "lineage" && f.size() == 4) {
      LineageState& l = state.lineages[f[1]];
      ASSIGN_OR_RETURN(l.seq, Int(f[2], what));
      ASSIGN_OR_RETURN(l.checked, Int(f[3], what));
    } else if (f[0] == "view" && f.size() == 6) {
      std::string group;
      ViewEntry e;
      RETURN_IF_ERROR(ParseSet(f, 2, what, &group, &e));
      state.lineages[f[1]].view[group] = e;
    } else if (f[0] == "pending" && f.size() == 2) {
      ASSIGN_OR_RETURN(std::string g, UnescapeName(f[1]));
      state.pending.insert(g);
    } else {
      return absl::DataLossError(absl::StrCat(what, ": unknown line '", f[0], "'"));
    }
  }
  return state;
}

View EffectiveView(const SyncState& state, const std::vector<std::string>& order) {
  View out;
  for (const std::string& name : order) {
    auto it = state.lineages.find(name);
    if (it == state.lineages.end()) continue;
    for (const auto& [group, e] : it->second.view) out[group] = e;
  }
  return out;
}

}  // namespace typecache
