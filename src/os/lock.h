// An exclusive inter-process lock on a separate lock file (never on a database file).
//
// Contract:
// - flock(2) on `path`, opened O_CLOEXEC|O_NOFOLLOW: a child process (mypy) never inherits it,
//   and the kernel releases it when the holder dies, however it dies.
// - Acquire() polls with backoff until `timeout`; on expiry it returns DeadlineExceeded naming
//   the holder: "pid 123 on host build-7 since 2026-11-21T20:51:02Z (running for 12.3s)".
// - The holder writes that description into the lock file after taking the lock; the content
//   is advisory only (a stale description never blocks anyone).
// - Release happens in the destructor or Release(); the lock file itself is never deleted, so
//   two processes can never lock two different inodes under one name.
#ifndef TYPECACHE_SRC_OS_LOCK_H_
#define TYPECACHE_SRC_OS_LOCK_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/os/fs.h"

namespace typecache {

class FileLock {
 public:
  // Called once when the wait passes one second, with the holder's description.
  using WaitNotice = std::function<void(const std::string& holder)>;

  static absl::StatusOr<FileLock> Acquire(Fs& fs, const std::string& path, absl::Duration timeout,
                                          const WaitNotice& notice = nullptr);
  // One attempt; returns Unavailable (naming the holder) when someone else holds it.
  static absl::StatusOr<FileLock> TryAcquire(Fs& fs, const std::string& path);

  void Release() { fd_.Reset(); }
  bool held() const { return fd_.valid(); }
  // How long Acquire() waited.
  absl::Duration waited() const { return waited_; }
  const std::string& path() const { return path_; }

  // "pid N on host H since T": what this process writes into a lock file it holds.
  static std::string DescribeSelf(absl::Time since);

 private:
  FileLock(Fs* fs, std::string path, int fd) : path_(std::move(path)), fd_(*fs, fd) {}

  std::string path_;
  OwnedFd fd_;  // Closing the only descriptor releases the flock.
  absl::Duration waited_;
};

}  // namespace typecache

#endif  // TYPECACHE_SRC_OS_LOCK_H_
