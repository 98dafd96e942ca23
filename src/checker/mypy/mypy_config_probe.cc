// Test only: prints what ReadMypyCacheSettings says mypy would do, as one JSON object, so that
// tests/e2e/mypy_config_real_test.py can compare it with what the real mypy does.
//
//   mypy_config_probe [--version X.Y] [--cwd DIR] [--] MYPY_ARGS...
//
// The environment is the probe's own. Exit 0 with {"ok": true, ...settings}, or exit 0 with
// {"ok": false, "error": "..."} when the library reports an error; 2 on a usage error.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "src/checker/mypy/mypy_config.h"

int main(int argc, char** argv) {
  std::string cwd;
  typecache::MypyConfigRules rules = typecache::MypyConfigRules::Mypy1_0();
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--cwd" && i + 1 < argc) {
      cwd = argv[++i];
    } else if (a == "--version" && i + 1 < argc) {
      std::vector<std::string> parts = absl::StrSplit(argv[++i], '.');
      int major = 0, minor = 0;
      if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &major) ||
          !absl::SimpleAtoi(parts[1], &minor)) {
        std::cerr << "mypy_config_probe: bad --version\n";
        return 2;
      }
      rules = typecache::MypyConfigRules::ForVersion(major, minor);
    } else {
      break;
    }
  }
  if (cwd.empty()) {
    char buf[4096];
    if (::getcwd(buf, sizeof(buf)) == nullptr) return 2;
    cwd = buf;
  }
  std::vector<std::string> args(argv + i, argv + argc);
  auto env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  absl::StatusOr<typecache::MypyCacheSettings> s =
      typecache::ReadMypyCacheSettings(args, cwd, env, rules);
  nlohmann::json out;
  if (!s.ok()) {
    out["ok"] = false;
    out["error"] = std::string(s.status().message());
  } else {
    out["ok"] = true;
    out["cache_dir"] = s->cache_dir;
    out["cache_dir_value"] = s->cache_dir_value;
    out["cache_dir_origin"] = s->cache_dir_origin;
    out["cache_disabled"] = s->cache_disabled;
    out["sqlite_cache"] = s->sqlite_cache;
    out["sqlite_cache_origin"] = s->sqlite_cache_origin;
    out["incremental"] = s->incremental;
    out["incremental_origin"] = s->incremental_origin;
    out["config_file"] = s->config_file;
    out["config_file_path"] = s->config_file_path;
    out["warnings"] = s->warnings;
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
