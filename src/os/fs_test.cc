#include "src/os/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "src/base/status_macros.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

std::string MustRead(const std::string& path) {
  absl::StatusOr<std::string> text = RealFs().ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

FileInfo::Type TypeOf(const std::string& path) {
  absl::StatusOr<FileInfo> info = RealFs().Lstat(path);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? info->type : FileInfo::Type::kOther;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ErrnoStatusTest, MessageNamesPathAndErrnoText) {
  absl::Status s = ErrnoStatus(ENOENT, "cannot open", "/some/file");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "cannot open /some/file: No such file or directory");
  EXPECT_EQ(StatusErrno(s), ENOENT);
}

TEST(ErrnoStatusTest, CodesFollowErrno) {
  EXPECT_EQ(ErrnoStatus(EEXIST, "x", "p").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoStatus(EACCES, "x", "p").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "x", "p").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EXDEV, "x", "p").code(), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusErrno(ErrnoStatus(EXDEV, "x", "p")), EXDEV);
}

TEST(ErrnoStatusTest, StatusErrnoIsZeroForOtherStatuses) {
  EXPECT_EQ(StatusErrno(absl::OkStatus()), 0);
  EXPECT_EQ(StatusErrno(absl::NotFoundError("cannot open /x: No such file or directory")), 0);
}

TEST(PathTest, JoinPath) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("a", "/abs"), "/abs");
  EXPECT_EQ(JoinPath("/x/y", "z/w"), "/x/y/z/w");
}

TEST(PathTest, DirName) {
  ExpectEachMapsTo(
      DirName,
      {{"/a/b/c", "/a/b"}, {"a/b", "a"}, {"a/b/", "a"}, {"file", "."}, {"/file", "/"}, {"/", "/"}});
}

TEST(PathTest, BaseName) {
  ExpectEachMapsTo(BaseName,
                   {{"/a/b/c.db", "c.db"}, {"a/b/", "b"}, {"file", "file"}, {"/file", "file"}});
}

TEST(PathTest, RandomSuffixIsHexAndVaries) {
  std::string a = RandomSuffix();
  std::string b = RandomSuffix();
  EXPECT_EQ(a.size(), 12u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_NE(a, b);
}

TEST(RealFsTest, LstatMissingIsNotAnError) {
  TempDir tmp;
  absl::StatusOr<FileInfo> info = RealFs().Lstat(tmp.Sub("nope"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->exists());
  info = RealFs().Stat(tmp.Sub("nope/deeper"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->exists());
}

TEST(RealFsTest, LstatAndStatOnFileDirAndSymlink) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("f"), "hello"));
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("d"), false));
  TC_ASSERT_OK(fs.Symlink("f", tmp.Sub("link")));

  absl::StatusOr<FileInfo> f = fs.Lstat(tmp.Sub("f"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->is_file());
  EXPECT_EQ(f->size, 5);
  EXPECT_GT(f->mtime_ns, 0);
  EXPECT_EQ(f->uid, ::getuid());

  absl::StatusOr<FileInfo> d = fs.Lstat(tmp.Sub("d"));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->is_dir());

  absl::StatusOr<FileInfo> l = fs.Lstat(tmp.Sub("link"));
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->is_symlink());

  absl::StatusOr<FileInfo> followed = fs.Stat(tmp.Sub("link"));
  ASSERT_TRUE(followed.ok());
  EXPECT_TRUE(followed->is_file());
  EXPECT_EQ(followed->inode, f->inode);
  EXPECT_EQ(followed->device, f->device);

  absl::StatusOr<std::string> target = fs.ReadLink(tmp.Sub("link"));
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(*target, "f");
}

TEST(RealFsTest, ReadLinkOfNonLinkFails) {
  TempDir tmp;
  TC_ASSERT_OK(RealFs().WriteNewFile(tmp.Sub("f"), ""));
  absl::StatusOr<std::string> target = RealFs().ReadLink(tmp.Sub("f"));
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(StatusErrno(target.status()), EINVAL);
  EXPECT_TRUE(absl::StrContains(target.status().message(), tmp.Sub("f")));
}

TEST(RealFsTest, SymlinkRefusesExistingName) {
  TempDir tmp;
  TC_ASSERT_OK(RealFs().Symlink("a", tmp.Sub("l")));
  absl::Status s = RealFs().Symlink("b", tmp.Sub("l"));
  EXPECT_EQ(StatusErrno(s), EEXIST) << s;
}

TEST(RealFsTest, MakeDirExistence) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("d"), false));
  EXPECT_EQ(TypeOf(tmp.Sub("d")), FileInfo::Type::kDir);

  absl::Status again = fs.MakeDir(tmp.Sub("d"), false);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_EQ(StatusErrno(again), EEXIST);
  TC_EXPECT_OK(fs.MakeDir(tmp.Sub("d"), true));

  // A symlink to a directory is accepted with ok_if_exists.
  TC_ASSERT_OK(fs.Symlink("d", tmp.Sub("dl")));
  TC_EXPECT_OK(fs.MakeDir(tmp.Sub("dl"), true));

  // A regular file is not a directory, even with ok_if_exists.
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("f"), "x"));
  absl::Status on_file = fs.MakeDir(tmp.Sub("f"), true);
  EXPECT_FALSE(on_file.ok());
  EXPECT_EQ(StatusErrno(on_file), ENOTDIR) << on_file;

  // Missing parent.
  absl::Status no_parent = fs.MakeDir(tmp.Sub("x/y"), true);
  EXPECT_EQ(StatusErrno(no_parent), ENOENT) << no_parent;
}

TEST(RealFsTest, ListDirOmitsDotEntries) {
  TempDir tmp;
  Fs& fs = RealFs();
  absl::StatusOr<std::vector<std::string>> empty = fs.ListDir(tmp.path());
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());

  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("b"), ""));
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("a"), false));
  TC_ASSERT_OK(fs.Symlink("nowhere", tmp.Sub("c")));
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(tmp.path());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(Sorted(*names), (std::vector<std::string>{"a", "b", "c"}));

  absl::StatusOr<std::vector<std::string>> missing = fs.ListDir(tmp.Sub("missing"));
  EXPECT_EQ(StatusErrno(missing.status()), ENOENT);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), tmp.Sub("missing")));
}

TEST(RealFsTest, RenameReplacesTarget) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(tmp.WriteFiles({{"a", "new"}, {"b", "old"}}));
  TC_ASSERT_OK(fs.Rename(tmp.Sub("a"), tmp.Sub("b")));
  EXPECT_EQ(TypeOf(tmp.Sub("a")), FileInfo::Type::kMissing);
  EXPECT_EQ(MustRead(tmp.Sub("b")), "new");

  absl::Status s = fs.Rename(tmp.Sub("a"), tmp.Sub("c"));
  EXPECT_EQ(StatusErrno(s), ENOENT) << s;
}

TEST(RealFsTest, RenameExchangeSwaps) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("a"), "A"));
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("b"), false));
  TC_ASSERT_OK(fs.RenameExchange(tmp.Sub("a"), tmp.Sub("b")));
  EXPECT_EQ(TypeOf(tmp.Sub("a")), FileInfo::Type::kDir);
  EXPECT_EQ(MustRead(tmp.Sub("b")), "A");

  absl::Status s = fs.RenameExchange(tmp.Sub("a"), tmp.Sub("missing"));
  EXPECT_EQ(StatusErrno(s), ENOENT) << s;
  EXPECT_EQ(TypeOf(tmp.Sub("a")), FileInfo::Type::kDir);
}

TEST(RealFsTest, UnlinkAndRemoveDir) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("f"), ""));
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("d"), false));
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("d/inner"), ""));

  TC_ASSERT_OK(fs.Unlink(tmp.Sub("f")));
  EXPECT_EQ(TypeOf(tmp.Sub("f")), FileInfo::Type::kMissing);
  EXPECT_EQ(StatusErrno(fs.Unlink(tmp.Sub("f"))), ENOENT);

  EXPECT_EQ(StatusErrno(fs.RemoveDir(tmp.Sub("d"))), ENOTEMPTY);
  TC_ASSERT_OK(fs.Unlink(tmp.Sub("d/inner")));
  TC_ASSERT_OK(fs.RemoveDir(tmp.Sub("d")));
  EXPECT_EQ(TypeOf(tmp.Sub("d")), FileInfo::Type::kMissing);
}

TEST(RealFsTest, WriteNewFileIsExclusive) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("f"), std::string("a\0b", 3)));
  EXPECT_EQ(MustRead(tmp.Sub("f")), std::string("a\0b", 3));
  absl::Status s = fs.WriteNewFile(tmp.Sub("f"), "other");
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_EQ(MustRead(tmp.Sub("f")), std::string("a\0b", 3));
}

TEST(RealFsTest, WriteNewFileDoesNotFollowPlantedSymlink) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.Symlink(tmp.Sub("victim"), tmp.Sub("f")));
  EXPECT_FALSE(fs.WriteNewFile(tmp.Sub("f"), "evil").ok());
  EXPECT_EQ(TypeOf(tmp.Sub("victim")), FileInfo::Type::kMissing);
}

TEST(RealFsTest, ReadFileMissingNamesPath) {
  TempDir tmp;
  absl::StatusOr<std::string> text = RealFs().ReadFile(tmp.Sub("missing"));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(text.status().message(), tmp.Sub("missing"))) << text.status();
}

TEST(RealFsTest, CopyFileCopiesContent) {
  TempDir tmp;
  Fs& fs = RealFs();
  std::string big;
  for (int i = 0; i < 200000; ++i) big.push_back(static_cast<char>((i * 7919) & 0xff));
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("src"), big));
  absl::StatusOr<CopyMethod> method = fs.CopyFile(tmp.Sub("src"), tmp.Sub("dst"));
  ASSERT_TRUE(method.ok()) << method.status();
  EXPECT_EQ(MustRead(tmp.Sub("dst")), big);
  EXPECT_STRNE(CopyMethodName(*method), "?");

  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("empty"), ""));
  ASSERT_TRUE(fs.CopyFile(tmp.Sub("empty"), tmp.Sub("empty2")).ok());
  EXPECT_EQ(TypeOf(tmp.Sub("empty2")), FileInfo::Type::kFile);
  EXPECT_EQ(MustRead(tmp.Sub("empty2")), "");
}

TEST(RealFsTest, CopyMethodNames) {
  EXPECT_STREQ(CopyMethodName(CopyMethod::kReflink), "reflink");
  EXPECT_STREQ(CopyMethodName(CopyMethod::kCopyFileRange), "copy_file_range");
  EXPECT_STREQ(CopyMethodName(CopyMethod::kReadWrite), "read/write");
}

TEST(RealFsTest, CopyFileRefusesExistingTarget) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(tmp.WriteFiles({{"src", "new content"}, {"dst", "precious"}}));
  absl::StatusOr<CopyMethod> method = fs.CopyFile(tmp.Sub("src"), tmp.Sub("dst"));
  ASSERT_FALSE(method.ok());
  EXPECT_EQ(method.status().code(), absl::StatusCode::kAlreadyExists) << method.status();
  EXPECT_TRUE(absl::StrContains(method.status().message(), tmp.Sub("dst")));
  // The refused target is neither truncated nor removed.
  EXPECT_EQ(MustRead(tmp.Sub("dst")), "precious");
}

TEST(RealFsTest, CopyFileNeverFollowsSymlinkAtTarget) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(tmp.WriteFiles({{"src", "payload"}, {"victim", "precious"}}));
  TC_ASSERT_OK(fs.Symlink(tmp.Sub("victim"), tmp.Sub("dst")));
  EXPECT_FALSE(fs.CopyFile(tmp.Sub("src"), tmp.Sub("dst")).ok());
  EXPECT_EQ(MustRead(tmp.Sub("victim")), "precious");
  EXPECT_EQ(TypeOf(tmp.Sub("dst")), FileInfo::Type::kSymlink);

  // A dangling symlink must not create its target either.
  TC_ASSERT_OK(fs.Symlink(tmp.Sub("created"), tmp.Sub("dst2")));
  EXPECT_FALSE(fs.CopyFile(tmp.Sub("src"), tmp.Sub("dst2")).ok());
  EXPECT_EQ(TypeOf(tmp.Sub("created")), FileInfo::Type::kMissing);
}

TEST(RealFsTest, CopyFileMissingSourceCreatesNothing) {
  TempDir tmp;
  absl::StatusOr<CopyMethod> method = RealFs().CopyFile(tmp.Sub("missing"), tmp.Sub("dst"));
  ASSERT_FALSE(method.ok());
  EXPECT_EQ(StatusErrno(method.status()), ENOENT);
  EXPECT_TRUE(absl::StrContains(method.status().message(), tmp.Sub("missing")));
  EXPECT_EQ(TypeOf(tmp.Sub("dst")), FileInfo::Type::kMissing);
}

TEST(RealFsTest, FsyncFileAndDirectory) {
  TempDir tmp;
  TC_ASSERT_OK(RealFs().WriteNewFile(tmp.Sub("f"), "x"));
  TC_EXPECT_OK(RealFs().Fsync(tmp.Sub("f")));
  TC_EXPECT_OK(RealFs().Fsync(tmp.path()));
  EXPECT_EQ(StatusErrno(RealFs().Fsync(tmp.Sub("missing"))), ENOENT);
}

TEST(RealFsTest, ChmodChangesMode) {
  TempDir tmp;
  TC_ASSERT_OK(RealFs().WriteNewFile(tmp.Sub("f"), "x"));
  TC_ASSERT_OK(RealFs().Chmod(tmp.Sub("f"), 0640));
  absl::StatusOr<FileInfo> info = RealFs().Stat(tmp.Sub("f"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->mode & 07777, 0640u);
}

TEST(RealFsTest, LockFileIsExclusiveBetweenOpens) {
  TempDir tmp;
  Fs& fs = RealFs();
  absl::StatusOr<int> a = fs.OpenLockFile(tmp.Sub("lock"));
  absl::StatusOr<int> b = fs.OpenLockFile(tmp.Sub("lock"));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(::fcntl(*a, F_GETFD) & FD_CLOEXEC, 0);

  absl::StatusOr<bool> got_a = fs.TryLock(*a);
  ASSERT_TRUE(got_a.ok());
  EXPECT_TRUE(*got_a);
  absl::StatusOr<bool> got_b = fs.TryLock(*b);
  ASSERT_TRUE(got_b.ok());
  EXPECT_FALSE(*got_b);

  TC_ASSERT_OK(fs.OverwriteFd(*a, "a much longer first text"));
  TC_ASSERT_OK(fs.OverwriteFd(*a, "short"));
  absl::StatusOr<std::string> seen = fs.ReadFd(*b);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(*seen, "short");

  fs.CloseFd(*a);
  got_b = fs.TryLock(*b);
  ASSERT_TRUE(got_b.ok());
  EXPECT_TRUE(*got_b);
  fs.CloseFd(*b);
}

TEST(RealFsTest, OpenLockFileDoesNotFollowSymlink) {
  TempDir tmp;
  TC_ASSERT_OK(RealFs().Symlink(tmp.Sub("target"), tmp.Sub("lock")));
  absl::StatusOr<int> fd = RealFs().OpenLockFile(tmp.Sub("lock"));
  EXPECT_FALSE(fd.ok());
  if (fd.ok()) RealFs().CloseFd(*fd);
  EXPECT_EQ(TypeOf(tmp.Sub("target")), FileInfo::Type::kMissing);
}

TEST(RemoveAllTest, RemovesTreeWithoutFollowingSymlinks) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("outside"), false));
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("outside/keep"), "keep"));
  TC_ASSERT_OK(MakeDirs(fs, tmp.Sub("tree/a/b")));
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("tree/a/b/f"), "x"));
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("tree/g"), "y"));
  TC_ASSERT_OK(fs.Symlink(tmp.Sub("outside"), tmp.Sub("tree/a/dirlink")));
  TC_ASSERT_OK(fs.Symlink(tmp.Sub("outside/keep"), tmp.Sub("tree/filelink")));

  TC_ASSERT_OK(RemoveAll(fs, tmp.Sub("tree")));
  EXPECT_EQ(TypeOf(tmp.Sub("tree")), FileInfo::Type::kMissing);
  EXPECT_EQ(MustRead(tmp.Sub("outside/keep")), "keep");
}

TEST(RemoveAllTest, SymlinkToDirectoryRemovesOnlyTheLink) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.MakeDir(tmp.Sub("d"), false));
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("d/f"), "x"));
  TC_ASSERT_OK(fs.Symlink("d", tmp.Sub("l")));
  TC_ASSERT_OK(RemoveAll(fs, tmp.Sub("l")));
  EXPECT_EQ(TypeOf(tmp.Sub("l")), FileInfo::Type::kMissing);
  EXPECT_EQ(MustRead(tmp.Sub("d/f")), "x");
}

TEST(RemoveAllTest, SingleFileAndMissingPath) {
  TempDir tmp;
  TC_ASSERT_OK(RealFs().WriteNewFile(tmp.Sub("f"), "x"));
  TC_ASSERT_OK(RemoveAll(RealFs(), tmp.Sub("f")));
  EXPECT_EQ(TypeOf(tmp.Sub("f")), FileInfo::Type::kMissing);
  TC_EXPECT_OK(RemoveAll(RealFs(), tmp.Sub("f")));
  TC_EXPECT_OK(RemoveAll(RealFs(), tmp.Sub("no/such/dir")));
}

TEST(WriteFileAtomicTest, CreatesAndReplacesWithoutLeftovers) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(WriteFileAtomic(fs, tmp.Sub("f"), "first"));
  EXPECT_EQ(MustRead(tmp.Sub("f")), "first");
  TC_ASSERT_OK(WriteFileAtomic(fs, tmp.Sub("f"), "second, longer"));
  EXPECT_EQ(MustRead(tmp.Sub("f")), "second, longer");
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(tmp.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"f"});
}

TEST(WriteFileAtomicTest, ReplacesAPlantedSymlinkInsteadOfWritingThroughIt) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("victim"), "precious"));
  TC_ASSERT_OK(fs.Symlink(tmp.Sub("victim"), tmp.Sub("f")));
  TC_ASSERT_OK(WriteFileAtomic(fs, tmp.Sub("f"), "new"));
  EXPECT_EQ(TypeOf(tmp.Sub("f")), FileInfo::Type::kFile);
  EXPECT_EQ(MustRead(tmp.Sub("f")), "new");
  EXPECT_EQ(MustRead(tmp.Sub("victim")), "precious");
}

TEST(WriteFileAtomicTest, MissingDirectoryFailsAndLeavesNothing) {
  TempDir tmp;
  absl::Status s = WriteFileAtomic(RealFs(), tmp.Sub("missing/f"), "x");
  EXPECT_EQ(StatusErrno(s), ENOENT) << s;
  EXPECT_EQ(TypeOf(tmp.Sub("missing")), FileInfo::Type::kMissing);
}

TEST(WriteFileAtomicTest, FromPiecesWritesThemInOrderAndAFailedProducerLeavesNothing) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(WriteFileAtomicFrom(fs, tmp.Sub("f"), [](const Fs::ContentWriter& write) {
    for (absl::string_view piece : {"one ", "", "two ", "three"}) RETURN_IF_ERROR(write(piece));
    return absl::OkStatus();
  }));
  EXPECT_EQ(MustRead(tmp.Sub("f")), "one two three");
  absl::Status s = WriteFileAtomicFrom(fs, tmp.Sub("f"), [](const Fs::ContentWriter& write) {
    RETURN_IF_ERROR(write("half"));
    return absl::DataLossError("producer failed");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(MustRead(tmp.Sub("f")), "one two three");
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(tmp.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"f"});
}

TEST(MakeDirsTest, CreatesParentsAndAcceptsExisting) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(MakeDirs(fs, tmp.Sub("a/b/c")));
  EXPECT_EQ(TypeOf(tmp.Sub("a")), FileInfo::Type::kDir);
  EXPECT_EQ(TypeOf(tmp.Sub("a/b/c")), FileInfo::Type::kDir);
  TC_EXPECT_OK(MakeDirs(fs, tmp.Sub("a/b/c")));
  TC_EXPECT_OK(MakeDirs(fs, tmp.Sub("a/b/c/")));
  TC_EXPECT_OK(MakeDirs(fs, tmp.Sub("a/b/d")));
  EXPECT_EQ(TypeOf(tmp.Sub("a/b/d")), FileInfo::Type::kDir);
}

TEST(MakeDirsTest, FailsUnderARegularFile) {
  TempDir tmp;
  Fs& fs = RealFs();
  TC_ASSERT_OK(fs.WriteNewFile(tmp.Sub("f"), "x"));
  EXPECT_FALSE(MakeDirs(fs, tmp.Sub("f/sub")).ok());
  EXPECT_FALSE(MakeDirs(fs, tmp.Sub("f")).ok());
  EXPECT_EQ(TypeOf(tmp.Sub("f")), FileInfo::Type::kFile);
}

}  // namespace
}  // namespace typecache
