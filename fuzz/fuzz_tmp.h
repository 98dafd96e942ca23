// A fresh temporary directory for a fuzz target's files, under $TMPDIR (tools/fuzz and the
// corpus tests point it at their own scratch space) or /tmp.
#ifndef TYPECACHE_FUZZ_FUZZ_TMP_H_
#define TYPECACHE_FUZZ_FUZZ_TMP_H_

#include <cstdlib>
#include <string>

namespace typecache {

inline std::string FuzzTempDir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + name + ".XXXXXX";
  const char* made = ::mkdtemp(templ.data());
  if (made == nullptr) std::abort();
  return made;
}

}  // namespace typecache

#endif  // TYPECACHE_FUZZ_FUZZ_TMP_H_
