#include "src/testing/fault_fs.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

bool Exists(const std::string& path) {
  absl::StatusOr<FileInfo> info = RealFs().Lstat(path);
  return info.ok() && info->exists();
}

TEST(FaultFsTest, PassesThroughWithoutFaults) {
  TempDir tmp;
  FaultFs fs(RealFs());
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("a"), "hello"));
  absl::StatusOr<std::string> text = fs.ReadFile(tmp.Sub("a"));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "hello");
  TC_ASSERT_OK(fs.Rename(tmp.Sub("a"), tmp.Sub("b")));
  EXPECT_TRUE(Exists(tmp.Sub("b")));
  EXPECT_EQ(fs.calls(), 3);
  EXPECT_EQ(fs.failures(), 0);
}

TEST(FaultFsTest, FailsTheNthCallOfTheNamedOperationOnly) {
  TempDir tmp;
  FaultFs fs(RealFs());
  fs.FailAt("rename", 2, EXDEV);
  for (const char* name : {"a", "b", "c"}) TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub(name), name));

  // Calls of other operations do not count towards the nth rename.
  ASSERT_TRUE(fs.Lstat(tmp.Sub("a")).ok());
  TC_EXPECT_OK(fs.Rename(tmp.Sub("a"), tmp.Sub("a2")));
  absl::Status second = fs.Rename(tmp.Sub("b"), tmp.Sub("b2"));
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(StatusErrno(second), EXDEV) << second;
  EXPECT_TRUE(absl::StrContains(second.message(), "injected fault in rename")) << second;
  EXPECT_TRUE(absl::StrContains(second.message(), tmp.Sub("b2"))) << second;
  // The failed call was not performed.
  EXPECT_TRUE(Exists(tmp.Sub("b")));
  EXPECT_FALSE(Exists(tmp.Sub("b2")));
  // Only the nth call fails.
  TC_EXPECT_OK(fs.Rename(tmp.Sub("c"), tmp.Sub("c2")));
  TC_EXPECT_OK(fs.Rename(tmp.Sub("b"), tmp.Sub("b2")));
  EXPECT_EQ(fs.failures(), 1);
  EXPECT_EQ(fs.calls(), 3 + 1 + 4);
}

TEST(FaultFsTest, StarMatchesAnyOperation) {
  TempDir tmp;
  FaultFs fs(RealFs());
  fs.FailAt("*", 3, ENOSPC);
  ASSERT_TRUE(fs.Lstat(tmp.Sub("x")).ok());
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("d"), false));
  absl::Status third = fs.WriteNewFile(tmp.Sub("f"), "x");
  EXPECT_EQ(StatusErrno(third), ENOSPC) << third;
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(third.message(), "injected fault in write")) << third;
  EXPECT_FALSE(Exists(tmp.Sub("f")));
  TC_EXPECT_OK(fs.WriteNewFile(tmp.Sub("f"), "x"));
  EXPECT_EQ(fs.failures(), 1);
}

TEST(FaultFsTest, FailureReachesStatusOrOperations) {
  TempDir tmp;
  FaultFs fs(RealFs());
  fs.FailAt("copy", 1, EIO);
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("src"), "x"));
  absl::StatusOr<CopyMethod> copied = fs.CopyFile(tmp.Sub("src"), tmp.Sub("dst"));
  ASSERT_FALSE(copied.ok());
  EXPECT_EQ(StatusErrno(copied.status()), EIO);
  EXPECT_FALSE(Exists(tmp.Sub("dst")));
}

TEST(FaultFsTest, HelpersGoThroughTheWrapper) {
  TempDir tmp;
  FaultFs fs(RealFs());
  fs.FailAt("rename", 1, EXDEV);
  absl::Status s = WriteFileAtomic(fs, tmp.Sub("f"), "x");
  EXPECT_EQ(StatusErrno(s), EXDEV) << s;
  EXPECT_FALSE(Exists(tmp.Sub("f")));
  // WriteFileAtomic removed its temporary file after the failed rename.
  absl::StatusOr<std::vector<std::string>> names = RealFs().ListDir(tmp.path());
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty()) << absl::StrJoin(*names, ",");
}

TEST(FaultFsTest, TraceRecordsEveryCall) {
  TempDir tmp;
  FaultFs fs(RealFs());
  fs.TraceTo(tmp.Sub("trace"));
  ASSERT_TRUE(fs.Lstat(tmp.Sub("x")).ok());
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("d"), false));
  absl::StatusOr<std::string> trace = RealFs().ReadFile(tmp.Sub("trace"));
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(*trace, absl::StrCat("1 lstat ", tmp.Sub("x"), "\n", "2 mkdir ", tmp.Sub("d"), "\n"));
}

TEST(FaultFsConfigureTest, FailSpec) {
  TempDir tmp;
  FaultFs fs(RealFs());
  TC_ASSERT_OK(fs.Configure("fail:rename:EXDEV@2"));
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("a"), ""));
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("b"), ""));
  TC_EXPECT_OK(fs.Rename(tmp.Sub("a"), tmp.Sub("a2")));
  EXPECT_EQ(StatusErrno(fs.Rename(tmp.Sub("b"), tmp.Sub("b2"))), EXDEV);
}

TEST(FaultFsConfigureTest, StarSpecAndNumericErrno) {
  TempDir tmp;
  FaultFs fs(RealFs());
  TC_ASSERT_OK(fs.Configure("fail:*:ENOSPC@2"));
  ASSERT_TRUE(fs.Lstat(tmp.Sub("a")).ok());
  EXPECT_EQ(StatusErrno(fs.Stat(tmp.Sub("a")).status()), ENOSPC);

  FaultFs numeric(RealFs());
  TC_ASSERT_OK(numeric.Configure(absl::StrCat("fail:mkdir:", EROFS, "@1")));
  EXPECT_EQ(StatusErrno(numeric.MakeDir(tmp.Sub("d"), false)), EROFS);
}

TEST(FaultFsConfigureTest, RejectsMalformedSpecs) {
  for (const char* spec :
       {"", "kill", "kill@", "kill@0", "kill@-1", "kill@x", "kill@1@2", "fail:rename@2",
        "fail:rename:EXDEV", "fail:rename:EXDEV@0", "fail:rename:ENOTANERRNO@2", "fail:rename:0@1",
        "fail:rename:EXDEV:extra@1", "break:rename:EXDEV@1", "oops@3"}) {
    FaultFs fs(RealFs());
    absl::Status s = fs.Configure(spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "spec '" << spec << "': " << s;
    EXPECT_TRUE(absl::StrContains(s.message(), absl::StrCat("'", spec, "'"))) << s;
  }
}

// In a child process, makes directories 1 .. `dirs` of a fresh directory through a FaultFs that
// `arm` set up to kill before the `killed_at`th call: expects the child killed, the directories
// before that call made and the others not.
void ExpectKilledBeforeMakingDir(const std::function<absl::Status(FaultFs&)>& arm, int dirs,
                                 int killed_at) {
  TempDir tmp;
  std::string dir = tmp.path();
  int status = RunInChild([&] {
    FaultFs fs(RealFs());
    if (!arm(fs).ok()) ::_exit(3);
    for (int i = 1; i <= dirs; ++i) (void)fs.MakeDir(absl::StrCat(dir, "/", i), false);
    ::_exit(7);
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  for (int i = 1; i <= dirs; ++i) {
    EXPECT_EQ(Exists(tmp.Sub(absl::StrCat(i))), i < killed_at) << "directory " << i;
  }
}

TEST(FaultFsKillTest, KillAtKillsBeforeTheNthCall) {
  ExpectKilledBeforeMakingDir(
      [](FaultFs& fs) {
        fs.KillAt(3);
        return absl::OkStatus();
      },
      4, 3);
}

TEST(FaultFsKillTest, ConfiguredKillSpec) {
  ExpectKilledBeforeMakingDir([](FaultFs& fs) { return fs.Configure("kill@2"); }, 2, 2);
}

TEST(FaultFsKillTest, NoKillWhenFewerCalls) {
  TempDir tmp;
  std::string dir = tmp.path();
  int status = RunInChild([&dir] {
    FaultFs fs(RealFs());
    fs.KillAt(5);
    (void)fs.MakeDir(dir + "/1", false);
    ::_exit(7);
  });
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST(FaultFsKillTest, KilledInChildAtTellsKilledFromFinishedAndFailed) {
  TempDir tmp;
  auto make_two = [&](Fs& fs) {
    return fs.MakeDir(tmp.Sub("a"), true).ok() && fs.MakeDir(tmp.Sub("b"), true).ok();
  };
  absl::StatusOr<bool> killed = KilledInChildAt(2, make_two);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_TRUE(*killed);
  killed = KilledInChildAt(3, make_two);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_FALSE(*killed);
  EXPECT_FALSE(KilledInChildAt(3, [](Fs&) { return false; }).ok());
}

TEST(ProcessFsTest, RealFsUnlessConfigured) {
  ::unsetenv("TYPECACHE_FAULT");
  ::unsetenv("TYPECACHE_FAULT_TRACE");
  absl::StatusOr<Fs*> fs = ProcessFs();
  ASSERT_TRUE(fs.ok()) << fs.status();
  EXPECT_EQ(*fs, &RealFs());

  ::setenv("TYPECACHE_FAULT", "fail:bogus", 1);
  absl::StatusOr<Fs*> bad = ProcessFs();
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();

  ::setenv("TYPECACHE_FAULT", "fail:rename:EXDEV@1000000", 1);
  absl::StatusOr<Fs*> wrapped = ProcessFs();
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_NE(*wrapped, &RealFs());
  EXPECT_NE(dynamic_cast<FaultFs*>(*wrapped), nullptr);
  ::unsetenv("TYPECACHE_FAULT");
}

}  // namespace
}  // namespace typecache
