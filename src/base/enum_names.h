// One table of an enum's names, for parsing and printing it (flags, settings, statistics).
#ifndef TYPECACHE_SRC_BASE_ENUM_NAMES_H_
#define TYPECACHE_SRC_BASE_ENUM_NAMES_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace typecache {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// The name of `value` in `names`; "?" when it has none.
template <typename E, size_t N>
const char* NameOf(E value, const EnumName<E> (&names)[N]) {
  for (const EnumName<E>& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";
}

// The value `text` names; otherwise InvalidArgument "<what> '<text>' is not one of a, b, c".
template <typename E, size_t N>
absl::StatusOr<E> ParseName(absl::string_view text, const EnumName<E> (&names)[N],
                            absl::string_view what) {
  std::string all;
  for (const EnumName<E>& n : names) {
    if (text == n.name) return n.value;
    absl::StrAppend(&all, all.empty() ? "" : ", ", n.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(what, " '", text, "' is not one of ", all));
}

}  // namespace typecache

#endif  // TYPECACHE_SRC_BASE_ENUM_NAMES_H_
