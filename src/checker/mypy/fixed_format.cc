#include "src/checker/mypy/fixed_format.h"

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"

namespace typecache {
namespace {

// Tags (FORMAT-NOTES.md §3.2).
constexpr uint8_t kTagFalse = 0;
constexpr uint8_t kTagTrue = 1;
constexpr uint8_t kTagNone = 2;
constexpr uint8_t kTagInt = 3;
constexpr uint8_t kTagStr = 4;
constexpr uint8_t kTagBytes = 5;
constexpr uint8_t kTagFloat = 6;
constexpr uint8_t kTagList = 20;
constexpr uint8_t kTagListInt = 21;
constexpr uint8_t kTagListStr = 22;
constexpr uint8_t kTagListBytes = 23;
constexpr uint8_t kTagTuple = 24;
constexpr uint8_t kTagDict = 30;

// First byte of the long int form.
constexpr uint8_t kLongInt = 0x0F;

// Smallest encodings, used to bound counts by the bytes left before reserving anything.
constexpr size_t kMinStr = 1;           // bare length byte
constexpr size_t kMinInt = 1;           // one-byte int
constexpr size_t kMinValue = 1;         // a tag
constexpr size_t kMinDictEntry = 2;     // key length + value tag
constexpr size_t kMinIgnoredEntry = 4;  // tagged int (2) + empty str list (2)
constexpr size_t kMinError = 15;        // 24, None, 4 x tagged int, 2 x empty str, None

// Strict UTF-8 as CPython decodes it: no overlongs, no surrogates, nothing above U+10FFFF.
// Returns the offset of the first invalid byte, or npos.
size_t InvalidUtf8At(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (n - i < len) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return absl::string_view::npos;
}

// Names the field an error is about: "dependencies" or "dependencies[3]".
struct Field {
  absl::string_view name;
  int64_t index = -1;
  Field At(int64_t i) const { return Field{name, i}; }
  std::string Str() const {
    return index < 0 ? std::string(name) : absl::StrCat(name, "[", index, "]");
  }
};

// Bounds-checked cursor over one row. Every read either succeeds or returns DataLoss naming
// the field and the offset where the failing item starts.
class Reader {
 public:
  Reader(absl::string_view data, absl::string_view row_kind, bool allow_float)
      : data_(data), row_kind_(row_kind), allow_float_(allow_float) {}

  size_t pos() const { return pos_; }
  size_t left() const { return data_.size() - pos_; }
  void Skip(size_t n) { pos_ += n; }

  absl::Status Fail(const Field& f, size_t at, absl::string_view what) const {
    return absl::DataLossError(
        absl::StrCat(row_kind_, ": field ", f.Str(), " at byte ", at, ": ", what));
  }

  absl::Status Need(const Field& f, size_t at, size_t n, absl::string_view what) const {
    if (left() >= n) return absl::OkStatus();
    return Fail(f, at,
                absl::StrCat("truncated: ", what, " needs ", n, " byte", n == 1 ? "" : "s", ", ",
                             left(), " left"));
  }

  absl::StatusOr<uint8_t> Byte(const Field& f, absl::string_view what) {
    RETURN_IF_ERROR(Need(f, pos_, 1, what));
    return static_cast<uint8_t>(data_[pos_++]);
  }

  // The 1-, 2- or 4-byte int form whose first byte `b0` (at `at`) was just read.
  absl::StatusOr<int64_t> ShortIntRest(const Field& f, size_t at, uint8_t b0) {
    if ((b0 & 1) == 0) return static_cast<int64_t>(b0 >> 1) - 10;
    if ((b0 & 3) == 1) {
      RETURN_IF_ERROR(Need(f, at, 1, "the rest of a 2-byte int"));
      uint32_t u = b0 | static_cast<uint32_t>(U8(pos_)) << 8;
      pos_ += 1;
      return static_cast<int64_t>(u >> 2) - 100;
    }
    RETURN_IF_ERROR(Need(f, at, 3, "the rest of a 4-byte int"));
    uint32_t u = b0 | static_cast<uint32_t>(U8(pos_)) << 8 |
                 static_cast<uint32_t>(U8(pos_ + 1)) << 16 |
                 static_cast<uint32_t>(U8(pos_ + 2)) << 24;
    pos_ += 3;
    return static_cast<int64_t>(u >> 3) - 10000;
  }

  // A bare int, any form.
  absl::StatusOr<int64_t> Int(const Field& f) {
    size_t at = pos_;
    ASSIGN_OR_RETURN(uint8_t b0, Byte(f, "an int"));
    if (b0 != kLongInt) return ShortIntRest(f, at, b0);
    size_t m_at = pos_;
    ASSIGN_OR_RETURN(uint8_t m0, Byte(f, "the size of a long int"));
    if (m0 == kLongInt) return Fail(f, m_at, "long int whose size is itself a long int");
    ASSIGN_OR_RETURN(int64_t m, ShortIntRest(f, m_at, m0));
    if (m < 0) return Fail(f, m_at, absl::StrCat("long int with negative size field ", m));
    const bool negative = (m & 1) != 0;
    const size_t k = static_cast<size_t>(m >> 1);
    RETURN_IF_ERROR(Need(f, at, k, absl::StrCat("the ", k, " value bytes of a long int")));
    uint64_t magnitude = 0;
    for (size_t i = 0; i < k; ++i) {
      uint8_t b = U8(pos_ + i);
      if (b == 0) continue;
      if (i >= 8) return Fail(f, at, "long int does not fit in 64 bits");
      magnitude |= static_cast<uint64_t>(b) << (8 * i);
    }
    pos_ += k;
    constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (!negative) {
      if (magnitude > kMax) return Fail(f, at, "long int does not fit in 64 bits");
      return static_cast<int64_t>(magnitude);
    }
    if (magnitude > kMax + 1) return Fail(f, at, "long int does not fit in 64 bits");
    if (magnitude == kMax + 1) return std::numeric_limits<int64_t>::min();
    return -static_cast<int64_t>(magnitude);
  }

  // A bare count of items that take at least `min_item` bytes each.
  absl::StatusOr<size_t> Count(const Field& f, size_t min_item) {
    size_t at = pos_;
    ASSIGN_OR_RETURN(int64_t n, Int(f));
    if (n < 0) return Fail(f, at, absl::StrCat("negative count ", n));
    if (static_cast<uint64_t>(n) > left() / min_item) {
      return Fail(f, at, absl::StrCat("count ", n, " cannot fit in the ", left(), " bytes left"));
    }
    return static_cast<size_t>(n);
  }

  // Bare bytes: a short-form length, then the payload.
  absl::StatusOr<absl::string_view> Bytes(const Field& f) {
    size_t at = pos_;
    ASSIGN_OR_RETURN(uint8_t b0, Byte(f, "a length"));
    if (b0 == kLongInt) return Fail(f, at, "length in the long int form");
    ASSIGN_OR_RETURN(int64_t n, ShortIntRest(f, at, b0));
    if (n < 0) return Fail(f, at, absl::StrCat("negative length ", n));
    if (static_cast<uint64_t>(n) > left()) {
      return Fail(f, at, absl::StrCat("length ", n, " exceeds the ", left(), " bytes left"));
    }
    absl::string_view out = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }

  // Bare str: bare bytes that must be UTF-8.
  absl::StatusOr<std::string> Str(const Field& f) {
    size_t at = pos_;
    ASSIGN_OR_RETURN(absl::string_view s, Bytes(f));
    size_t bad = InvalidUtf8At(s);
    if (bad != absl::string_view::npos) {
      return Fail(f, at, absl::StrCat("str is not UTF-8 (byte ", pos_ - s.size() + bad, ")"));
    }
    return std::string(s);
  }

  absl::StatusOr<double> Float(const Field& f) {
    RETURN_IF_ERROR(Need(f, pos_, 8, "a float"));
    uint64_t bits = 0;
    for (size_t i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(U8(pos_ + i)) << (8 * i);
    pos_ += 8;
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }

  absl::StatusOr<bool> Bool(const Field& f) {
    size_t at = pos_;
    ASSIGN_OR_RETURN(uint8_t b, Byte(f, "a bool"));
    if (b > 1) return Fail(f, at, absl::StrCat("bool byte ", b, " (expected 0 or 1)"));
    return b == 1;
  }

  absl::Status ExpectTag(const Field& f, uint8_t want, absl::string_view what) {
    size_t at = pos_;
    ASSIGN_OR_RETURN(uint8_t tag, Byte(f, "a tag"));
    if (tag != want) {
      return Fail(f, at,
                  absl::StrCat("tag ", tag, " where ", what, " (tag ", want, ") was expected"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> TaggedInt(const Field& f) {
    RETURN_IF_ERROR(ExpectTag(f, kTagInt, "an int"));
    return Int(f);
  }
  absl::StatusOr<std::string> TaggedStr(const Field& f) {
    RETURN_IF_ERROR(ExpectTag(f, kTagStr, "a str"));
    return Str(f);
  }
  absl::StatusOr<std::string> TaggedBytes(const Field& f) {
    RETURN_IF_ERROR(ExpectTag(f, kTagBytes, "bytes"));
    ASSIGN_OR_RETURN(absl::string_view b, Bytes(f));
    return std::string(b);
  }
  absl::StatusOr<std::optional<std::string>> OptStr(const Field& f) {
    size_t at = pos_;
    ASSIGN_OR_RETURN(uint8_t tag, Byte(f, "a tag"));
    if (tag == kTagNone) return std::optional<std::string>();
    if (tag != kTagStr) {
      return Fail(f, at, absl::StrCat("tag ", tag, " where None (2) or a str (4) was expected"));
    }
    ASSIGN_OR_RETURN(std::string s, Str(f));
    return std::optional<std::string>(std::move(s));
  }

  // A list after its tag `tag`: count (each item at least `min_item` bytes), then the items,
  // each read by `item` from the list's field at its index.
  template <typename T, typename ReadItem>
  absl::StatusOr<std::vector<T>> List(const Field& f, uint8_t tag, absl::string_view what,
                                      size_t min_item, ReadItem item) {
    RETURN_IF_ERROR(ExpectTag(f, tag, what));
    ASSIGN_OR_RETURN(size_t n, Count(f, min_item));
    std::vector<T> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(T v, item(f.At(static_cast<int64_t>(i))));
      out.push_back(std::move(v));
    }
    return out;
  }

  absl::StatusOr<std::vector<std::string>> StrList(const Field& f) {
    return List<std::string>(f, kTagListStr, "a list of str", kMinStr,
                             [this](const Field& fi) { return Str(fi); });
  }
  absl::StatusOr<std::vector<std::string>> BytesList(const Field& f) {
    return List<std::string>(f, kTagListBytes, "a list of bytes", kMinStr,
                             [this](const Field& fi) -> absl::StatusOr<std::string> {
                               ASSIGN_OR_RETURN(absl::string_view b, Bytes(fi));
                               return std::string(b);
                             });
  }
  absl::StatusOr<std::vector<int64_t>> IntList(const Field& f) {
    return List<int64_t>(f, kTagListInt, "a list of int", kMinInt,
                         [this](const Field& fi) { return Int(fi); });
  }

  // Dict body after its tag: count, then (bare str key, JSON value) pairs.
  absl::StatusOr<FfValue> DictBody(const Field& f, int depth) {
    ASSIGN_OR_RETURN(size_t n, Count(f, kMinDictEntry));
    FfValue out;
    out.kind = FfValue::Kind::kDict;
    out.keys.reserve(n);
    out.items.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      Field fi = f.At(static_cast<int64_t>(i));
      ASSIGN_OR_RETURN(std::string key, Str(fi));
      ASSIGN_OR_RETURN(FfValue v, Value(fi, depth + 1));
      out.keys.push_back(std::move(key));
      out.items.push_back(std::move(v));
    }
    return out;
  }

  absl::StatusOr<FfValue> Dict(const Field& f) {
    RETURN_IF_ERROR(ExpectTag(f, kTagDict, "a dict"));
    return DictBody(f, 1);
  }

  // A tagged JSON value; `depth` counts the containers around it.
  absl::StatusOr<FfValue> Value(const Field& f, int depth) {
    size_t at = pos_;
    ASSIGN_OR_RETURN(uint8_t tag, Byte(f, "a tag"));
    FfValue out;
    switch (tag) {
      case kTagNone:
        return out;
      case kTagFalse:
      case kTagTrue:
        out.kind = FfValue::Kind::kBool;
        out.boolean = tag == kTagTrue;
        return out;
      case kTagInt: {
        out.kind = FfValue::Kind::kInt;
        ASSIGN_OR_RETURN(out.integer, Int(f));
        return out;
      }
      case kTagStr: {
        out.kind = FfValue::Kind::kStr;
        ASSIGN_OR_RETURN(out.str, Str(f));
        return out;
      }
      case kTagFloat: {
        if (!allow_float_) {
          return Fail(f, at, "float (tag 6) in a JSON value, which mypy 1.20 does not read");
        }
        out.kind = FfValue::Kind::kFloat;
        ASSIGN_OR_RETURN(out.real, Float(f));
        return out;
      }
      case kTagList:
      case kTagTuple:
      case kTagDict: {
        if (depth >= kFfMaxNesting) {
          return Fail(f, at, absl::StrCat("nested deeper than ", kFfMaxNesting, " levels"));
        }
        if (tag == kTagDict) return DictBody(f, depth);
        out.kind = tag == kTagList ? FfValue::Kind::kList : FfValue::Kind::kTuple;
        ASSIGN_OR_RETURN(size_t n, Count(f, kMinValue));
        out.items.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          ASSIGN_OR_RETURN(FfValue v, Value(f, depth + 1));
          out.items.push_back(std::move(v));
        }
        return out;
      }
      default:
        return Fail(f, at, absl::StrCat("tag ", tag, " is not a JSON value"));
    }
  }

  // Error list (§5): tag 20, count, then per error tag 24 (no count) and 8 fields.
  absl::StatusOr<std::vector<FfError>> Errors(const Field& f) {
    return List<FfError>(f, kTagList, "an error list", kMinError,
                         [this](const Field& fi) -> absl::StatusOr<FfError> {
                           RETURN_IF_ERROR(ExpectTag(fi, kTagTuple, "an error tuple"));
                           FfError e;
                           ASSIGN_OR_RETURN(e.path, OptStr(fi));
                           ASSIGN_OR_RETURN(e.line, TaggedInt(fi));
                           ASSIGN_OR_RETURN(e.column, TaggedInt(fi));
                           ASSIGN_OR_RETURN(e.end_line, TaggedInt(fi));
                           ASSIGN_OR_RETURN(e.end_column, TaggedInt(fi));
                           ASSIGN_OR_RETURN(e.severity, TaggedStr(fi));
                           ASSIGN_OR_RETURN(e.message, TaggedStr(fi));
                           ASSIGN_OR_RETURN(e.code, OptStr(fi));
                           return e;
                         });
  }

  absl::Status ExpectEnd(absl::string_view last_field) const {
    if (left() == 0) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(row_kind_, ": ", left(), " trailing byte",
                                            left() == 1 ? "" : "s", " at byte ", pos_,
                                            " after the last field (", last_field, ")"));
  }

 private:
  uint8_t U8(size_t i) const { return static_cast<uint8_t>(data_[i]); }

  absl::string_view data_;
  absl::string_view row_kind_;
  bool allow_float_;
  size_t pos_ = 0;
};

// ---- Encoding ----

void PutInt(std::string& out, int64_t v) {
  if (v >= -10 && v <= 117) {
    out.push_back(static_cast<char>((v + 10) << 1));
  } else if (v >= -100 && v <= 16283) {
    uint32_t u = (static_cast<uint32_t>(v + 100) << 2) | 1;
    out.push_back(static_cast<char>(u & 0xFF));
    out.push_back(static_cast<char>(u >> 8));
  } else if (v >= -10000 && v <= 536860911) {
    uint32_t u = (static_cast<uint32_t>(v + 10000) << 3) | 3;
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
  } else {
    const bool negative = v < 0;
    uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    std::string digits;
    while (magnitude != 0) {
      digits.push_back(static_cast<char>(magnitude & 0xFF));
      magnitude >>= 8;
    }
    out.push_back(static_cast<char>(kLongInt));
    PutInt(out, static_cast<int64_t>(digits.size() << 1) | (negative ? 1 : 0));
    out += digits;
  }
}

void PutBytes(std::string& out, absl::string_view b) {
  PutInt(out, static_cast<int64_t>(b.size()));
  out.append(b.data(), b.size());
}

void PutTag(std::string& out, uint8_t tag) { out.push_back(static_cast<char>(tag)); }

void PutTaggedInt(std::string& out, int64_t v) {
  PutTag(out, kTagInt);
  PutInt(out, v);
}
void PutTaggedStr(std::string& out, absl::string_view s) {
  PutTag(out, kTagStr);
  PutBytes(out, s);
}
void PutTaggedBytes(std::string& out, absl::string_view s) {
  PutTag(out, kTagBytes);
  PutBytes(out, s);
}
void PutOptStr(std::string& out, const std::optional<std::string>& s) {
  if (s.has_value()) {
    PutTaggedStr(out, *s);
  } else {
    PutTag(out, kTagNone);
  }
}
void PutStrList(std::string& out, uint8_t tag, const std::vector<std::string>& items) {
  PutTag(out, tag);
  PutInt(out, static_cast<int64_t>(items.size()));
  for (const std::string& s : items) PutBytes(out, s);
}
void PutIntList(std::string& out, const std::vector<int64_t>& items) {
  PutTag(out, kTagListInt);
  PutInt(out, static_cast<int64_t>(items.size()));
  for (int64_t v : items) PutInt(out, v);
}

void PutValue(std::string& out, const FfValue& v) {
  switch (v.kind) {
    case FfValue::Kind::kNone:
      PutTag(out, kTagNone);
      return;
    case FfValue::Kind::kBool:
      PutTag(out, v.boolean ? kTagTrue : kTagFalse);
      return;
    case FfValue::Kind::kInt:
      PutTaggedInt(out, v.integer);
      return;
    case FfValue::Kind::kFloat: {
      PutTag(out, kTagFloat);
      uint64_t bits;
      std::memcpy(&bits, &v.real, sizeof bits);
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
      return;
    }
    case FfValue::Kind::kStr:
      PutTaggedStr(out, v.str);
      return;
    case FfValue::Kind::kList:
    case FfValue::Kind::kTuple:
      PutTag(out, v.kind == FfValue::Kind::kList ? kTagList : kTagTuple);
      PutInt(out, static_cast<int64_t>(v.items.size()));
      for (const FfValue& item : v.items) PutValue(out, item);
      return;
    case FfValue::Kind::kDict: {
      PutTag(out, kTagDict);
      size_t n = std::min(v.keys.size(), v.items.size());
      PutInt(out, static_cast<int64_t>(n));
      for (size_t i = 0; i < n; ++i) {
        PutBytes(out, v.keys[i]);
        PutValue(out, v.items[i]);
      }
      return;
    }
  }
}

void PutErrors(std::string& out, const std::vector<FfError>& errors) {
  PutTag(out, kTagList);
  PutInt(out, static_cast<int64_t>(errors.size()));
  for (const FfError& e : errors) {
    PutTag(out, kTagTuple);
    PutOptStr(out, e.path);
    PutTaggedInt(out, e.line);
    PutTaggedInt(out, e.column);
    PutTaggedInt(out, e.end_line);
    PutTaggedInt(out, e.end_column);
    PutTaggedStr(out, e.severity);
    PutTaggedStr(out, e.message);
    PutOptStr(out, e.code);
  }
}

nlohmann::json HexList(const std::vector<std::string>& items) {
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& b : items) out.push_back(absl::BytesToHexString(b));
  return out;
}

}  // namespace

const FfValue* FfValue::Find(absl::string_view key) const {
  if (kind != Kind::kDict) return nullptr;
  const FfValue* found = nullptr;
  for (size_t i = 0; i < keys.size() && i < items.size(); ++i) {
    if (keys[i] == key) found = &items[i];
  }
  return found;
}

bool FfValue::operator==(const FfValue& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return boolean == o.boolean;
    case Kind::kInt:
      return integer == o.integer;
    case Kind::kFloat:  // bit for bit, so that NaN equals itself
      return std::memcmp(&real, &o.real, sizeof real) == 0;
    case Kind::kStr:
      return str == o.str;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kDict:
      return keys == o.keys && items == o.items;
  }
  return false;
}

bool FixedMeta::operator==(const FixedMeta& o) const {
  return buffer_format == o.buffer_format && cache_version == o.cache_version && id == o.id &&
         path == o.path && mtime == o.mtime && size == o.size && hash == o.hash &&
         dependencies == o.dependencies && data_mtime == o.data_mtime &&
         suppressed == o.suppressed && imports_ignored == o.imports_ignored &&
         options == o.options && suppressed_deps_opts == o.suppressed_deps_opts &&
         dep_prios == o.dep_prios && dep_lines == o.dep_lines && dep_hashes == o.dep_hashes &&
         interface_hash == o.interface_hash && trans_dep_hash == o.trans_dep_hash &&
         version_id == o.version_id && ignore_all == o.ignore_all && plugin_data == o.plugin_data;
}

bool FfError::operator==(const FfError& o) const {
  return path == o.path && line == o.line && column == o.column && end_line == o.end_line &&
         end_column == o.end_column && severity == o.severity && message == o.message &&
         code == o.code;
}

bool FixedMetaEx::operator==(const FixedMetaEx& o) const {
  return dependencies == o.dependencies && suppressed == o.suppressed &&
         dep_hashes == o.dep_hashes && error_lines == o.error_lines;
}

absl::StatusOr<FixedMeta> DecodeFixedMeta(absl::string_view bytes) {
  constexpr absl::string_view kKind = "fixed-format meta row";
  if (bytes.size() < 2) {
    return absl::DataLossError(absl::StrCat(kKind, ": truncated header: ", bytes.size(), " byte",
                                            bytes.size() == 1 ? "" : "s", ", 2 needed"));
  }
  FixedMeta m;
  m.buffer_format = static_cast<uint8_t>(bytes[0]);
  m.cache_version = static_cast<uint8_t>(bytes[1]);
  if (m.buffer_format != kFfBufferFormat ||
      (m.cache_version != kFfCacheVersionMypy120 && m.cache_version != kFfCacheVersionMypy2)) {
    return absl::UnimplementedError(
        absl::StrCat(kKind, " written by a mypy this typecache does not know (header bytes ",
                     m.buffer_format, ", ", m.cache_version, ")"));
  }
  Reader r(bytes, kKind, /*allow_float=*/m.cache_version == kFfCacheVersionMypy2);
  r.Skip(2);
  ASSIGN_OR_RETURN(m.id, r.TaggedStr({"id"}));
  ASSIGN_OR_RETURN(m.path, r.TaggedStr({"path"}));
  ASSIGN_OR_RETURN(m.mtime, r.TaggedInt({"mtime"}));
  ASSIGN_OR_RETURN(m.size, r.TaggedInt({"size"}));
  ASSIGN_OR_RETURN(m.hash, r.TaggedStr({"hash"}));
  ASSIGN_OR_RETURN(m.dependencies, r.StrList({"dependencies"}));
  ASSIGN_OR_RETURN(m.data_mtime, r.TaggedInt({"data_mtime"}));
  ASSIGN_OR_RETURN(m.suppressed, r.StrList({"suppressed"}));
  {
    const Field f{"imports_ignored"};
    ASSIGN_OR_RETURN(size_t n, r.Count(f, kMinIgnoredEntry));  // bare count, no tag
    m.imports_ignored.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      Field fi = f.At(static_cast<int64_t>(i));
      ASSIGN_OR_RETURN(int64_t line, r.TaggedInt(fi));
      ASSIGN_OR_RETURN(std::vector<std::string> codes, r.StrList(fi));
      m.imports_ignored.emplace_back(line, std::move(codes));
    }
  }
  ASSIGN_OR_RETURN(m.options, r.Dict({"options"}));
  ASSIGN_OR_RETURN(m.suppressed_deps_opts, r.TaggedBytes({"suppressed_deps_opts"}));
  ASSIGN_OR_RETURN(m.dep_prios, r.IntList({"dep_prios"}));
  ASSIGN_OR_RETURN(m.dep_lines, r.IntList({"dep_lines"}));
  ASSIGN_OR_RETURN(m.dep_hashes, r.BytesList({"dep_hashes"}));
  ASSIGN_OR_RETURN(m.interface_hash, r.TaggedBytes({"interface_hash"}));
  ASSIGN_OR_RETURN(m.trans_dep_hash, r.TaggedBytes({"trans_dep_hash"}));
  ASSIGN_OR_RETURN(m.version_id, r.TaggedStr({"version_id"}));
  ASSIGN_OR_RETURN(m.ignore_all, r.Bool({"ignore_all"}));
  ASSIGN_OR_RETURN(m.plugin_data, r.Value({"plugin_data"}, 0));
  RETURN_IF_ERROR(r.ExpectEnd("plugin_data"));
  return m;
}

absl::StatusOr<std::vector<FfError>> DecodeErrorsRow(absl::string_view bytes) {
  Reader r(bytes, "fixed-format .err.ff row", /*allow_float=*/false);
  ASSIGN_OR_RETURN(std::vector<FfError> errors, r.Errors({"errors"}));
  RETURN_IF_ERROR(r.ExpectEnd("errors"));
  return errors;
}

absl::StatusOr<FixedMetaEx> DecodeMetaExRow(absl::string_view bytes) {
  Reader r(bytes, "fixed-format .meta_ex.ff row", /*allow_float=*/true);
  FixedMetaEx m;
  ASSIGN_OR_RETURN(m.dependencies, r.StrList({"dependencies"}));
  ASSIGN_OR_RETURN(m.suppressed, r.StrList({"suppressed"}));
  ASSIGN_OR_RETURN(m.dep_hashes, r.BytesList({"dep_hashes"}));
  ASSIGN_OR_RETURN(m.error_lines, r.Errors({"error_lines"}));
  RETURN_IF_ERROR(r.ExpectEnd("error_lines"));
  return m;
}

absl::Status CheckSideRow(absl::string_view key_or_suffix, absl::string_view bytes) {
  const bool err = absl::EndsWith(key_or_suffix, kFfErrSuffix);
  const bool meta_ex = absl::EndsWith(key_or_suffix, kFfMetaExSuffix);
  if (!err && !meta_ex) {
    return absl::InvalidArgumentError(absl::StrCat("'", key_or_suffix,
                                                   "' is not a fixed-format side row (",
                                                   kFfErrSuffix, ", ", kFfMetaExSuffix, ")"));
  }
  if (bytes.empty()) {
    return absl::DataLossError(
        absl::StrCat("fixed-format ", err ? kFfErrSuffix : kFfMetaExSuffix, " row is empty"));
  }
  if (err) return DecodeErrorsRow(bytes).status();
  return DecodeMetaExRow(bytes).status();
}

std::string EncodeFixedMeta(const FixedMeta& m) {
  std::string out;
  out.push_back(static_cast<char>(m.buffer_format));
  out.push_back(static_cast<char>(m.cache_version));
  PutTaggedStr(out, m.id);
  PutTaggedStr(out, m.path);
  PutTaggedInt(out, m.mtime);
  PutTaggedInt(out, m.size);
  PutTaggedStr(out, m.hash);
  PutStrList(out, kTagListStr, m.dependencies);
  PutTaggedInt(out, m.data_mtime);
  PutStrList(out, kTagListStr, m.suppressed);
  PutInt(out, static_cast<int64_t>(m.imports_ignored.size()));
  for (const auto& [line, codes] : m.imports_ignored) {
    PutTaggedInt(out, line);
    PutStrList(out, kTagListStr, codes);
  }
  if (m.options.kind == FfValue::Kind::kDict) {
    PutValue(out, m.options);
  } else {  // not a decoded meta; write the empty dict mypy would need
    PutTag(out, kTagDict);
    PutInt(out, 0);
  }
  PutTaggedBytes(out, m.suppressed_deps_opts);
  PutIntList(out, m.dep_prios);
  PutIntList(out, m.dep_lines);
  PutStrList(out, kTagListBytes, m.dep_hashes);
  PutTaggedBytes(out, m.interface_hash);
  PutTaggedBytes(out, m.trans_dep_hash);
  PutTaggedStr(out, m.version_id);
  out.push_back(m.ignore_all ? 1 : 0);
  PutValue(out, m.plugin_data);
  return out;
}

std::string EncodeErrorsRow(const std::vector<FfError>& errors) {
  std::string out;
  PutErrors(out, errors);
  return out;
}

std::string EncodeMetaExRow(const FixedMetaEx& m) {
  std::string out;
  PutStrList(out, kTagListStr, m.dependencies);
  PutStrList(out, kTagListStr, m.suppressed);
  PutStrList(out, kTagListBytes, m.dep_hashes);
  PutErrors(out, m.error_lines);
  return out;
}

nlohmann::json FfValueToJson(const FfValue& v) {
  switch (v.kind) {
    case FfValue::Kind::kNone:
      return nullptr;
    case FfValue::Kind::kBool:
      return v.boolean;
    case FfValue::Kind::kInt:
      return v.integer;
    case FfValue::Kind::kFloat:
      return v.real;
    case FfValue::Kind::kStr:
      return v.str;
    case FfValue::Kind::kList:
    case FfValue::Kind::kTuple: {
      nlohmann::json out = nlohmann::json::array();
      for (const FfValue& item : v.items) out.push_back(FfValueToJson(item));
      return out;
    }
    case FfValue::Kind::kDict: {
      nlohmann::json out = nlohmann::json::object();
      for (size_t i = 0; i < v.keys.size() && i < v.items.size(); ++i) {
        out[v.keys[i]] = FfValueToJson(v.items[i]);  // a later duplicate wins, as in Python
      }
      return out;
    }
  }
  return nullptr;
}

nlohmann::json FixedMetaToJson(const FixedMeta& m) {
  nlohmann::json imports_ignored = nlohmann::json::object();
  for (const auto& [line, codes] : m.imports_ignored) {
    imports_ignored[std::to_string(line)] = codes;
  }
  return nlohmann::json{
      {"header", {m.buffer_format, m.cache_version}},
      {"id", m.id},
      {"path", m.path},
      {"mtime", m.mtime},
      {"size", m.size},
      {"hash", m.hash},
      {"dependencies", m.dependencies},
      {"data_mtime", m.data_mtime},
      {"suppressed", m.suppressed},
      {"imports_ignored", std::move(imports_ignored)},
      {"options", FfValueToJson(m.options)},
      {"suppressed_deps_opts", absl::BytesToHexString(m.suppressed_deps_opts)},
      {"dep_prios", m.dep_prios},
      {"dep_lines", m.dep_lines},
      {"dep_hashes", HexList(m.dep_hashes)},
      {"interface_hash", absl::BytesToHexString(m.interface_hash)},
      {"trans_dep_hash", absl::BytesToHexString(m.trans_dep_hash)},
      {"version_id", m.version_id},
      {"ignore_all", m.ignore_all},
      {"plugin_data", FfValueToJson(m.plugin_data)},
  };
}

nlohmann::json FfErrorsToJson(const std::vector<FfError>& errors) {
  nlohmann::json out = nlohmann::json::array();
  for (const FfError& e : errors) {
    nlohmann::json path = e.path ? nlohmann::json(*e.path) : nlohmann::json(nullptr);
    nlohmann::json code = e.code ? nlohmann::json(*e.code) : nlohmann::json(nullptr);
    out.push_back(nlohmann::json::array({std::move(path), e.line, e.column, e.end_line,
                                         e.end_column, e.severity, e.message, std::move(code)}));
  }
  return out;
}

nlohmann::json FixedMetaExToJson(const FixedMetaEx& m) {
  return nlohmann::json{
      {"dependencies", m.dependencies},
      {"suppressed", m.suppressed},
      {"dep_hashes", HexList(m.dep_hashes)},
      {"error_lines", FfErrorsToJson(m.error_lines)},
  };
}

}  // namespace typecache
