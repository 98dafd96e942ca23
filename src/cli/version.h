// `typecache --version`: typecache's version (the repository's VERSION file, embedded at build
// time by the genrule in BUILD.bazel) and the versions of the libraries built in.
#ifndef TYPECACHE_SRC_CLI_VERSION_H_
#define TYPECACHE_SRC_CLI_VERSION_H_

#include <string>

namespace typecache {

// "0.1.0"
std::string TypecacheVersion();
// "typecache 0.1.0\nSQLite 3.40.1, Abseil LTS 20220623, ...\n"
std::string VersionText();

}  // namespace typecache

#endif  // TYPECACHE_SRC_CLI_VERSION_H_
