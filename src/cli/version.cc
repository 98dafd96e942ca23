#include "src/cli/version.h"

#include "CLI/Version.hpp"
#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/cli/version_generated.h"
#include "src/sqlite/sqlite_db.h"
#include "toml++/impl/version.h"

namespace typecache {

std::string TypecacheVersion() { return TYPECACHE_VERSION; }

std::string VersionText() {
  return absl::StrCat("typecache ", TypecacheVersion(), "\n", "built with: SQLite ",
                      SqliteLibraryVersion(), ", Abseil LTS ", ABSL_LTS_RELEASE_VERSION, ", CLI11 ",
                      CLI11_VERSION, ", nlohmann-json ", NLOHMANN_JSON_VERSION_MAJOR, ".",
                      NLOHMANN_JSON_VERSION_MINOR, ".", NLOHMANN_JSON_VERSION_PATCH, ", toml++ ",
                      TOML_LIB_MAJOR, ".", TOML_LIB_MINOR, ".", TOML_LIB_PATCH, "\n");
}

}  // namespace typecache
