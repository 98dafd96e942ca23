// The command-line interface: parses argv (CLI11, behind one-line usage errors), hands the
// chosen subcommand its options struct and a Context, and returns its exit code. Each
// subcommand lives in its own file (run_cmd.cc, config_cmd.cc, maintenance_cmd.cc) and calls
// one library function of src/commands; main() only calls Main(). Below this boundary nothing
// throws.
//
// Exit codes (docs/exit-codes.md):
//   run:      the checker's own exit status; 128+N when it was killed by signal N; 127 when it
//             cannot be started; 2 for a typecache usage error (nothing ran). Configuration and
//             cache trouble are warnings, never an exit status.
//   verify:   0 clean, 1 problems found, 2 could not run.
//   others:   0 done, 2 could not run (bad input, configuration error, lock timeout, usage).
#ifndef TYPECACHE_SRC_CLI_CLI_H_
#define TYPECACHE_SRC_CLI_CLI_H_

#include <ostream>

#include "src/os/fs.h"

namespace typecache {

// `fs` is the file system every command uses: RealFs() in the shipped binary; the test-only
// binary //src/testing:typecache_faulty passes a fault-injecting one. `err_is_terminal`: main()
// says whether stderr is a terminal (progress lines are drawn only there).
int Main(int argc, char** argv, std::ostream& out, std::ostream& err, Fs& fs,
         bool err_is_terminal = false);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CLI_CLI_H_
