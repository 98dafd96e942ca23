// Test helper: runs a store call while the server it talks to is stopped (SIGSTOP) and then
// killed (SIGKILL) 200 ms into the call, and returns the call's status and how long it took.
// Test-only; the server is one that the test's TestServers started.
#ifndef TYPECACHE_SRC_STORE_REMOTE_KILL_UTIL_H_
#define TYPECACHE_SRC_STORE_REMOTE_KILL_UTIL_H_

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"

namespace typecache {

inline std::pair<absl::Status, absl::Duration> CallWhileKilled(
    pid_t server, const std::function<absl::Status()>& call) {
  kill(server, SIGSTOP);
  absl::Time start = absl::Now();
  std::thread killer([server] {
    absl::SleepFor(absl::Milliseconds(200));
    kill(server, SIGKILL);
  });
  absl::Status status = call();
  absl::Duration took = absl::Now() - start;
  killer.join();
  return {status, took};
}

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_KILL_UTIL_H_
