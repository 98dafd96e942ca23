// A test fixture for the commands that work on a target (a cache directory or a database file,
// named as on the command line): a temporary directory, the mypy adapter, and a command run on a
// path the way the command line resolves it.
#ifndef TYPECACHE_SRC_TESTING_COMMAND_FIXTURE_H_
#define TYPECACHE_SRC_TESTING_COMMAND_FIXTURE_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"
#include "src/testing/test_util.h"

namespace typecache {

class CommandTest : public ::testing::Test {
 protected:
  // Resolves `path` and runs `command` on the target; an error resolving it is the result.
  template <typename Command>
  auto OnTarget(const std::string& path, Command command)
      -> decltype(command(std::declval<const Target&>())) {
    absl::StatusOr<Target> target = ResolveTarget(RealFs(), adapter_, path);
    if (!target.ok()) return target.status();
    return command(*target);
  }

  // Options of an edit that waits for the publish lock no longer than a test may.
  static EditOptions TestEditOptions() {
    EditOptions options;
    options.lock_timeout = absl::Seconds(10);
    return options;
  }

  TempDir tmp_;
  MypyAdapter adapter_;
};

}  // namespace typecache

#endif  // TYPECACHE_SRC_TESTING_COMMAND_FIXTURE_H_
