#include "src/os/lock.h"

#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "src/base/status_macros.h"

namespace typecache {
namespace {

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string ReadHolder(Fs& fs, int fd) {
  absl::StatusOr<std::string> text = fs.ReadFd(fd);
  if (!text.ok() || text->empty()) return "an unknown process";
  return std::string(absl::StripTrailingAsciiWhitespace(*text));
}

}  // namespace

std::string FileLock::DescribeSelf(absl::Time since) {
  return absl::StrCat("pid ", ::getpid(), " on host ", HostName(), " since ",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", since, absl::UTCTimeZone()));
}

absl::StatusOr<FileLock> FileLock::TryAcquire(Fs& fs, const std::string& path) {
  ASSIGN_OR_RETURN(int fd, fs.OpenLockFile(path));
  absl::StatusOr<bool> locked = fs.TryLock(fd);
  if (!locked.ok() || !*locked) {
    std::string holder = ReadHolder(fs, fd);
    fs.CloseFd(fd);
    if (!locked.ok()) return locked.status();
    return absl::UnavailableError(absl::StrCat("lock ", path, " is held by ", holder));
  }
  FileLock lock(&fs, path, fd);
  (void)fs.OverwriteFd(fd, DescribeSelf(absl::Now()) + "\n");  // Advisory only.
  return lock;
}

absl::StatusOr<FileLock> FileLock::Acquire(Fs& fs, const std::string& path, absl::Duration timeout,
                                           const WaitNotice& notice) {
  ASSIGN_OR_RETURN(int fd, fs.OpenLockFile(path));
  absl::Time start = absl::Now();
  absl::Duration sleep = absl::Milliseconds(1);
  bool noticed = false;
  while (true) {
    absl::StatusOr<bool> locked = fs.TryLock(fd);
    if (!locked.ok()) {
      fs.CloseFd(fd);
      return locked.status();
    }
    if (*locked) break;
    absl::Duration waited = absl::Now() - start;
    if (waited >= timeout) {
      std::string holder = ReadHolder(fs, fd);
      fs.CloseFd(fd);
      return absl::DeadlineExceededError(absl::StrFormat(
          "timed out after %s waiting for lock %s held by %s",
          absl::FormatDuration(absl::Trunc(waited, absl::Milliseconds(1))), path, holder));
    }
    if (!noticed && notice && waited >= absl::Seconds(1)) {
      noticed = true;
      notice(ReadHolder(fs, fd));
    }
    absl::SleepFor(std::min(sleep, timeout - waited));
    sleep = std::min(sleep * 2, absl::Milliseconds(50));
  }
  FileLock lock(&fs, path, fd);
  lock.waited_ = absl::Now() - start;
  (void)fs.OverwriteFd(fd, DescribeSelf(absl::Now()) + "\n");  // Advisory only.
  return lock;
}

}  // namespace typecache
