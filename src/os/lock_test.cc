#include "src/os/lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

std::string Host() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

std::string SelfHolder() { return absl::StrCat("pid ", ::getpid(), " on host ", Host()); }

// Runs `argv` in a child (fork + execv) and returns its exit status, or -1.
int RunProgram(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(FileLockTest, TryAcquireIsExclusiveAndNamesTheHolder) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::StatusOr<FileLock> first = FileLock::TryAcquire(RealFs(), path);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->held());
  EXPECT_EQ(first->path(), path);

  absl::StatusOr<FileLock> second = FileLock::TryAcquire(RealFs(), path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_TRUE(absl::StrContains(second.status().message(), SelfHolder())) << second.status();
  EXPECT_TRUE(absl::StrContains(second.status().message(), path)) << second.status();
}

TEST(FileLockTest, HolderWritesItsDescription) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::Time before = absl::Now();
  absl::StatusOr<FileLock> lock = FileLock::Acquire(RealFs(), path, absl::Seconds(1));
  ASSERT_TRUE(lock.ok()) << lock.status();
  absl::StatusOr<std::string> text = RealFs().ReadFile(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_TRUE(absl::StartsWith(*text, SelfHolder() + " since ")) << *text;
  EXPECT_TRUE(absl::EndsWith(*text, "Z\n")) << *text;
  // The year of the timestamp is today's.
  EXPECT_TRUE(absl::StrContains(
      *text, absl::StrCat(" since ", absl::FormatTime("%Y-", before, absl::UTCTimeZone()))))
      << *text;
}

TEST(FileLockTest, DescribeSelfFormat) {
  absl::Time t = absl::FromUnixSeconds(1795294262);  // 2026-11-21T20:51:02Z
  EXPECT_EQ(FileLock::DescribeSelf(t), SelfHolder() + " since 2026-11-21T20:51:02Z");
}

TEST(FileLockTest, AcquireTimesOutNamingTheHolder) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::StatusOr<FileLock> holder = FileLock::TryAcquire(RealFs(), path);
  ASSERT_TRUE(holder.ok()) << holder.status();

  absl::Time start = absl::Now();
  absl::StatusOr<FileLock> waiter = FileLock::Acquire(RealFs(), path, absl::Milliseconds(200));
  absl::Duration elapsed = absl::Now() - start;
  ASSERT_FALSE(waiter.ok());
  EXPECT_EQ(waiter.status().code(), absl::StatusCode::kDeadlineExceeded) << waiter.status();
  EXPECT_TRUE(absl::StrContains(waiter.status().message(), "held by " + SelfHolder() + " since "))
      << waiter.status();
  EXPECT_TRUE(absl::StrContains(waiter.status().message(), path)) << waiter.status();
  EXPECT_GE(elapsed, absl::Milliseconds(200));
  EXPECT_LT(elapsed, absl::Seconds(5));
  EXPECT_TRUE(holder->held());
}

TEST(FileLockTest, ZeroTimeoutFailsAtOnce) {
  TempDir tmp;
  absl::StatusOr<FileLock> holder = FileLock::TryAcquire(RealFs(), tmp.Sub("lock"));
  ASSERT_TRUE(holder.ok());
  absl::StatusOr<FileLock> waiter =
      FileLock::Acquire(RealFs(), tmp.Sub("lock"), absl::ZeroDuration());
  EXPECT_EQ(waiter.status().code(), absl::StatusCode::kDeadlineExceeded) << waiter.status();
}

TEST(FileLockTest, UnknownHolderWhenTheFileIsEmpty) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::StatusOr<int> fd = RealFs().OpenLockFile(path);
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(*RealFs().TryLock(*fd));
  absl::StatusOr<FileLock> other = FileLock::TryAcquire(RealFs(), path);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(other.status().message(), "held by an unknown process"))
      << other.status();
  RealFs().CloseFd(*fd);
}

TEST(FileLockTest, StaleDescriptionDoesNotBlock) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  TC_ASSERT_OK(RealFs().WriteNewFile(path, "pid 1 on host elsewhere since long ago\n"));
  absl::StatusOr<FileLock> lock = FileLock::TryAcquire(RealFs(), path);
  ASSERT_TRUE(lock.ok()) << lock.status();
  absl::StatusOr<std::string> text = RealFs().ReadFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(absl::StartsWith(*text, SelfHolder())) << *text;
}

TEST(FileLockTest, ReleasedOnDestructionAndByRelease) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  {
    absl::StatusOr<FileLock> lock = FileLock::TryAcquire(RealFs(), path);
    ASSERT_TRUE(lock.ok());
    ASSERT_FALSE(FileLock::TryAcquire(RealFs(), path).ok());
  }
  absl::StatusOr<FileLock> again = FileLock::TryAcquire(RealFs(), path);
  ASSERT_TRUE(again.ok()) << again.status();
  again->Release();
  EXPECT_FALSE(again->held());
  again->Release();  // Idempotent.
  EXPECT_TRUE(FileLock::TryAcquire(RealFs(), path).ok());
  // The lock file itself stays.
  absl::StatusOr<FileInfo> info = RealFs().Lstat(path);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->is_file());
}

TEST(FileLockTest, MoveTransfersOwnership) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::StatusOr<FileLock> lock = FileLock::TryAcquire(RealFs(), path);
  ASSERT_TRUE(lock.ok());
  FileLock moved = std::move(*lock);
  EXPECT_TRUE(moved.held());
  EXPECT_FALSE(lock->held());
  lock = absl::StatusOr<FileLock>();  // Destroys the moved-from lock: must not release.
  EXPECT_FALSE(FileLock::TryAcquire(RealFs(), path).ok());

  // Move assignment releases what the target held.
  absl::StatusOr<FileLock> other = FileLock::TryAcquire(RealFs(), tmp.Sub("other"));
  ASSERT_TRUE(other.ok());
  moved = std::move(*other);
  EXPECT_EQ(moved.path(), tmp.Sub("other"));
  EXPECT_TRUE(FileLock::TryAcquire(RealFs(), path).ok());
  EXPECT_FALSE(FileLock::TryAcquire(RealFs(), tmp.Sub("other")).ok());
}

TEST(FileLockTest, AcquireWaitsForRelease) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::StatusOr<FileLock> holder = FileLock::TryAcquire(RealFs(), path);
  ASSERT_TRUE(holder.ok());
  std::thread releaser([&holder] {
    absl::SleepFor(absl::Milliseconds(150));
    holder->Release();
  });
  absl::StatusOr<FileLock> waiter = FileLock::Acquire(RealFs(), path, absl::Seconds(10));
  releaser.join();
  ASSERT_TRUE(waiter.ok()) << waiter.status();
  EXPECT_TRUE(waiter->held());
  EXPECT_GE(waiter->waited(), absl::Milliseconds(100));
  EXPECT_LT(waiter->waited(), absl::Seconds(10));
}

TEST(FileLockTest, WaitNoticeCalledOnceAfterOneSecond) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::StatusOr<FileLock> holder = FileLock::TryAcquire(RealFs(), path);
  ASSERT_TRUE(holder.ok());
  std::atomic<int> notices{0};
  std::string seen;
  absl::Time start = absl::Now();
  absl::Duration noticed_after;
  std::thread releaser([&holder] {
    absl::SleepFor(absl::Milliseconds(1500));
    holder->Release();
  });
  absl::StatusOr<FileLock> waiter =
      FileLock::Acquire(RealFs(), path, absl::Seconds(10), [&](const std::string& who) {
        ++notices;
        seen = who;
        noticed_after = absl::Now() - start;
      });
  releaser.join();
  ASSERT_TRUE(waiter.ok()) << waiter.status();
  EXPECT_EQ(notices.load(), 1);
  EXPECT_TRUE(absl::StartsWith(seen, SelfHolder())) << seen;
  EXPECT_GE(noticed_after, absl::Seconds(1));
}

TEST(FileLockTest, NoNoticeForAShortWait) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  int notices = 0;
  absl::StatusOr<FileLock> lock =
      FileLock::Acquire(RealFs(), path, absl::Seconds(1), [&](const std::string&) { ++notices; });
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(notices, 0);
  EXPECT_LT(lock->waited(), absl::Seconds(1));
}

TEST(FileLockTest, ErrorsAreNotUnavailable) {
  TempDir tmp;
  absl::StatusOr<FileLock> missing_dir = FileLock::TryAcquire(RealFs(), tmp.Sub("no/lock"));
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_EQ(missing_dir.status().code(), absl::StatusCode::kNotFound) << missing_dir.status();

  // Never locks through a symlink planted at the lock path.
  TC_ASSERT_OK(RealFs().Symlink(tmp.Sub("elsewhere"), tmp.Sub("link")));
  absl::StatusOr<FileLock> via_link =
      FileLock::Acquire(RealFs(), tmp.Sub("link"), absl::Milliseconds(10));
  ASSERT_FALSE(via_link.ok());
  EXPECT_FALSE(absl::IsUnavailable(via_link.status()));
  EXPECT_FALSE(absl::IsDeadlineExceeded(via_link.status()));
  absl::StatusOr<FileInfo> info = RealFs().Lstat(tmp.Sub("elsewhere"));
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->exists());
}

TEST(FileLockTest, OtherProcessSeesTheLock) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::StatusOr<FileLock> lock = FileLock::Acquire(RealFs(), path, absl::Seconds(1));
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ(RunProgram({"/usr/bin/flock", "-n", path, "/bin/true"}), 1);
  lock->Release();
  EXPECT_EQ(RunProgram({"/usr/bin/flock", "-n", path, "/bin/true"}), 0);
}

TEST(FileLockTest, LockDescriptorIsCloseOnExec) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  absl::StatusOr<FileLock> lock = FileLock::Acquire(RealFs(), path, absl::Seconds(1));
  ASSERT_TRUE(lock.ok()) << lock.status();

  // Start a long-lived program from this process while it holds the lock; a pipe that is
  // itself close-on-exec tells us when the exec has happened.
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(ready[1]);
  char byte;
  while (::read(ready[0], &byte, 1) > 0) {
  }
  ::close(ready[0]);

  // Releasing in this process must free the lock: the program did not inherit it.
  lock->Release();
  absl::StatusOr<FileLock> again = FileLock::TryAcquire(RealFs(), path);
  EXPECT_TRUE(again.ok()) << again.status();

  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "sleep exited early, status " << status;
}

TEST(FileLockTest, ReleasedWhenTheHolderDies) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  int to_parent[2], to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(to_parent[0]);
    ::close(to_child[1]);
    absl::StatusOr<FileLock> lock = FileLock::TryAcquire(RealFs(), path);
    char ok = lock.ok() ? 'y' : 'n';
    (void)!::write(to_parent[1], &ok, 1);
    char byte;
    (void)!::read(to_child[0], &byte, 1);  // Wait until the parent has looked.
    ::_exit(0);                            // Dies without releasing.
  }
  ::close(to_parent[1]);
  ::close(to_child[0]);
  char got = 0;
  ASSERT_EQ(::read(to_parent[0], &got, 1), 1);
  ASSERT_EQ(got, 'y');

  absl::StatusOr<FileLock> blocked = FileLock::TryAcquire(RealFs(), path);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(blocked.status().message(), absl::StrCat("pid ", pid, " on host ")))
      << blocked.status();

  ::close(to_child[1]);  // Lets the child exit.
  ::close(to_parent[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));

  absl::StatusOr<FileLock> after = FileLock::Acquire(RealFs(), path, absl::Seconds(2));
  EXPECT_TRUE(after.ok()) << after.status();
}

TEST(FileLockTest, ReleasedWhenTheHolderIsKilled) {
  TempDir tmp;
  std::string path = tmp.Sub("lock");
  int to_parent[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(to_parent[0]);
    absl::StatusOr<FileLock> lock = FileLock::TryAcquire(RealFs(), path);
    char ok = lock.ok() ? 'y' : 'n';
    (void)!::write(to_parent[1], &ok, 1);
    while (true) ::pause();
  }
  ::close(to_parent[1]);
  char got = 0;
  ASSERT_EQ(::read(to_parent[0], &got, 1), 1);
  ::close(to_parent[0]);
  ASSERT_EQ(got, 'y');
  EXPECT_TRUE(absl::IsUnavailable(FileLock::TryAcquire(RealFs(), path).status()));
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  absl::StatusOr<FileLock> after = FileLock::TryAcquire(RealFs(), path);
  EXPECT_TRUE(after.ok()) << after.status();
}

}  // namespace
}  // namespace typecache
