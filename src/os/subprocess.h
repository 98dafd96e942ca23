// Runs the checker as a child process: no shell (posix_spawnp with an argv), its stdout and
// stderr passed through byte for byte while being scanned for a crash marker, SIGINT and
// SIGTERM sent to typecache forwarded to the child.
//
// Signals: a Ctrl-C typed at a terminal already reaches the child (same process group), so
// only signals sent by a process (kill(1), a CI runner's timeout) are forwarded; forwarding
// the terminal's too would interrupt the child twice.
#ifndef TYPECACHE_SRC_OS_SUBPROCESS_H_
#define TYPECACHE_SRC_OS_SUBPROCESS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace typecache {

struct ChildSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> set_env;
  std::string scan_for;  // Reported in ChildResult::marker_seen when found in either stream.
  int out_fd = 1;        // Where the child's stdout goes.
  int err_fd = 2;        // Where the child's stderr goes.
};

struct ChildResult {
  int exit_code = 0;    // The child's exit status, or 128+signal when killed by a signal.
  int term_signal = 0;  // Nonzero when the child was killed by a signal.
  bool marker_seen = false;
};

// Spawns and waits. Fails (without running anything) only when the child cannot be started,
// e.g. the program is not found; the message names the program.
absl::StatusOr<ChildResult> RunChild(const ChildSpec& spec);

}  // namespace typecache

#endif  // TYPECACHE_SRC_OS_SUBPROCESS_H_
