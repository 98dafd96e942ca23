#include "src/base/json.h"

namespace typecache {
namespace {

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0.
size_t Utf8Length(absl::string_view s) {
  auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char b = byte(0);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return cont(1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (b == 0xE0 && byte(1) < 0xA0) return 0;   // Overlong.
    if (b == 0xED && byte(1) >= 0xA0) return 0;  // Surrogate.
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (b == 0xF0 && byte(1) < 0x90) return 0;   // Overlong.
    if (b == 0xF4 && byte(1) >= 0x90) return 0;  // Above U+10FFFF.
    return 4;
  }
  return 0;
}

}  // namespace

std::string JsonText(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty()) {
    size_t n = Utf8Length(bytes);
    if (n > 0) {
      out.append(bytes.data(), n);
    } else {
      // Latin-1: the byte is the code point U+0080..U+00FF, two bytes in UTF-8.
      unsigned char b = static_cast<unsigned char>(bytes[0]);
      out.push_back(static_cast<char>(0xC0 | (b >> 6)));
      out.push_back(static_cast<char>(0x80 | (b & 0x3F)));
      n = 1;
    }
    bytes.remove_prefix(n);
  }
  return out;
}

std::string DumpJson(const nlohmann::ordered_json& document) {
  // Every string in a document built here went through JsonText, so dump() cannot meet invalid
  // UTF-8; `replace` keeps it from ever throwing all the same.
  return document.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

std::string JsonQuote(absl::string_view text) {
  return DumpJson(nlohmann::ordered_json(JsonText(text)));
}

}  // namespace typecache
