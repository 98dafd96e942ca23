// The command-line interface: builds the CLI11 application, parses, dispatches to one
// subcommand (a library function returning absl::Status or an exit code) and turns the result
// into an exit code and one "typecache: error: ..." line. main() only calls Main().
//
// Exit codes (docs/exit-codes.md):
//   run:      the checker's own exit status; 127 when the checker cannot be started;
//             2 for a typecache usage error (nothing ran).
//   others:   0 success; 1 problems found (verify) ; 2 could not run (bad input, usage error).
#ifndef TYPECACHE_SRC_CLI_CLI_H_
#define TYPECACHE_SRC_CLI_CLI_H_

#include <ostream>

#include "src/os/fs.h"

namespace typecache {

// `fs` is the file system every command uses: RealFs() in the shipped binary; the test-only
// binary //src/testing:typecache_faulty passes a fault-injecting one.
int Main(int argc, char** argv, std::ostream& out, std::ostream& err, Fs& fs);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CLI_CLI_H_
