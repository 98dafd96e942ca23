#include "src/checker/mypy/json_meta.h"

namespace typecache {
namespace {

constexpr int kMaxDepth = 64;

// The top-level members NormalizeMypyRow drops (normalize.h: local to the writing machine).
bool IsLocalField(absl::string_view key) {
  return key == "mtime" || key == "path" || key == "data_mtime" || key == "interface_hash";
}

// Recursive descent over the subset of json_meta.h, writing the compact form as it goes (except
// inside a dropped top-level member). Every method returns false as soon as the input leaves the
// subset: the caller then knows nothing and takes the general path.
class Scanner {
 public:
  Scanner(absl::string_view data, JsonMetaScan* out)
      : p_(data.data()), end_(data.data() + data.size()), out_(out) {}

  bool Document() {
    Space();
    if (p_ >= end_ || *p_ != '{') return false;  // not an object: the general path says so
    if (!Object(1, false)) return false;
    Space();
    return p_ == end_;
  }

 private:
  enum class Kind { kInt, kString, kOther };
  struct Scalar {
    Kind kind = Kind::kOther;
    absl::string_view text;  // a string's content
    int64_t integer = 0;
  };

  void Space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  void Emit(absl::string_view s) {
    if (!skip_) out_->normalised.append(s.data(), s.size());
  }
  void Emit(char c) {
    if (!skip_) out_->normalised.push_back(c);
  }

  // At '"': printable ASCII up to the closing quote, no escapes.
  bool String(absl::string_view* s) {
    if (p_ >= end_ || *p_ != '"') return false;
    const char* begin = ++p_;
    while (p_ < end_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') break;
      if (c < 0x20 || c > 0x7e || c == '\\') return false;
      ++p_;
    }
    if (p_ >= end_) return false;
    *s = absl::string_view(begin, static_cast<size_t>(p_ - begin));
    ++p_;
    return true;
  }

  // -?(0|[1-9][0-9]*), at most 18 digits, not -0, no fraction or exponent.
  bool Integer(int64_t* v) {
    const char* begin = p_;
    bool negative = p_ < end_ && *p_ == '-';
    if (negative) ++p_;
    const char* digits = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    size_t n = static_cast<size_t>(p_ - digits);
    if (n == 0 || n > 18 || (n > 1 && *digits == '0')) return false;
    if (negative && n == 1 && *digits == '0') return false;
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    int64_t x = 0;
    for (const char* d = digits; d < p_; ++d) x = x * 10 + (*d - '0');
    *v = negative ? -x : x;
    Emit(absl::string_view(begin, static_cast<size_t>(p_ - begin)));
    return true;
  }

  bool Literal(absl::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        absl::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    Emit(word);
    return true;
  }

  // Any value at `depth` (1 = a member of the top-level object); scalars are described in
  // `scalar` for the caller's facts. `options` is true for the top-level "options" object.
  bool Value(int depth, bool options, Scalar* scalar) {
    if (p_ >= end_) return false;
    switch (*p_) {
      case '{':
        return Object(depth + 1, options);
      case '[':
        return Array(depth + 1);
      case '"': {
        absl::string_view s;
        if (!String(&s)) return false;
        Emit('"');
        Emit(s);
        Emit('"');
        scalar->kind = Kind::kString;
        scalar->text = s;
        return true;
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        scalar->kind = Kind::kInt;
        return Integer(&scalar->integer);
    }
  }

  // At '{'. `depth` is the depth of its members' values.
  bool Object(int depth, bool options) {
    if (depth > kMaxDepth) return false;
    ++p_;
    Emit('{');
    Space();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      Emit('}');
      return true;
    }
    bool top = depth == 1;
    bool emitted = false;  // a member was written (the next one needs a comma)
    absl::string_view previous;
    for (bool first = true;; first = false) {
      Space();
      absl::string_view key;
      if (!String(&key)) return false;
      if (!first && !(previous < key)) return false;  // unsorted or repeated: general path
      previous = key;
      Space();
      if (p_ >= end_ || *p_ != ':') return false;
      ++p_;
      Space();
      bool dropped = top && IsLocalField(key);
      bool was_skipping = skip_;
      if (dropped) skip_ = true;
      if (!skip_) {
        if (emitted) out_->normalised.push_back(',');
        out_->normalised.push_back('"');
        out_->normalised.append(key.data(), key.size());
        out_->normalised.append("\":");
        emitted = true;
      }
      Scalar scalar;
      if (!Value(depth, top && key == "options", &scalar)) return false;
      skip_ = was_skipping;
      if (top) {
        if (key == "data_mtime" && scalar.kind == Kind::kInt) out_->data_mtime = scalar.integer;
        if (key == "version_id" && scalar.kind == Kind::kString) {
          out_->version_id = std::string(scalar.text);
        }
        if (key == "path" && scalar.kind == Kind::kString) out_->path = std::string(scalar.text);
      } else if (options && depth == 2 && key == "platform" && scalar.kind == Kind::kString) {
        out_->platform = std::string(scalar.text);
      }
      Space();
      if (p_ >= end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      Emit('}');
      return true;
    }
  }

  // At '['.
  bool Array(int depth) {
    if (depth > kMaxDepth) return false;
    ++p_;
    Emit('[');
    Space();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      Emit(']');
      return true;
    }
    for (bool first = true;; first = false) {
      Space();
      if (!first) Emit(',');
      Scalar scalar;
      if (!Value(depth, false, &scalar)) return false;
      Space();
      if (p_ >= end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != ']') return false;
      ++p_;
      Emit(']');
      return true;
    }
  }

  const char* p_;
  const char* end_;
  JsonMetaScan* out_;
  bool skip_ = false;  // inside a dropped top-level member: nothing is written
};

struct LastScan {
  bool valid = false;
  bool in_subset = false;
  std::string data;
  JsonMetaScan scan;
};

}  // namespace

bool ScanJsonMetaUncached(absl::string_view data, JsonMetaScan* out) {
  *out = JsonMetaScan();
  out->normalised.reserve(data.size());
  return Scanner(data, out).Document();
}

const JsonMetaScan* ScanJsonMeta(absl::string_view data) {
  thread_local LastScan last;
  if (!last.valid || absl::string_view(last.data) != data) {
    last.data.assign(data.data(), data.size());
    last.in_subset = ScanJsonMetaUncached(data, &last.scan);
    last.valid = true;
  }
  return last.in_subset ? &last.scan : nullptr;
}

}  // namespace typecache
