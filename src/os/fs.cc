#include "src/os/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/base/enum_names.h"
#include "src/base/status_macros.h"

namespace typecache {
namespace {

constexpr char kErrnoPayload[] = "typecache/errno";

absl::StatusCode CodeForErrno(int err) {
  switch (err) {
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::StatusCode::kPermissionDenied;
    case ENOSPC:
    case EDQUOT:
      return absl::StatusCode::kResourceExhausted;
    case EINVAL:
      return absl::StatusCode::kInvalidArgument;
    case EWOULDBLOCK:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

FileInfo InfoFromStat(const struct stat& st) {
  FileInfo info;
  if (S_ISREG(st.st_mode)) {
    info.type = FileInfo::Type::kFile;
  } else if (S_ISDIR(st.st_mode)) {
    info.type = FileInfo::Type::kDir;
  } else if (S_ISLNK(st.st_mode)) {
    info.type = FileInfo::Type::kSymlink;
  } else {
    info.type = FileInfo::Type::kOther;
  }
  info.size = st.st_size;
  info.disk_bytes = static_cast<int64_t>(st.st_blocks) * 512;
  info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  info.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  info.inode = st.st_ino;
  info.device = st.st_dev;
  info.uid = st.st_uid;
  info.mode = st.st_mode;
  return info;
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path);
    }
    if (n == 0) return ErrnoStatus(EIO, "short write to", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// open(2) with `flags` (files it creates: 0666 less the umask); `what` names the failure.
absl::StatusOr<int> OpenFd(const std::string& path, int flags, absl::string_view what) {
  int fd = ::open(path.c_str(), flags, 0666);
  if (fd < 0) return ErrnoStatus(errno, what, path);
  return fd;
}

// flock(2) with `operation` (LOCK_EX or LOCK_SH), without waiting: false when another holds a
// lock that conflicts.
absl::StatusOr<bool> TryFlock(int fd, int operation, absl::string_view what) {
  while (::flock(fd, operation | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    return ErrnoStatus(errno, what, absl::StrCat("fd ", fd));
  }
  return true;
}

// stat(2) (`follow`) or lstat(2) of `path`: a missing path is a FileInfo of kMissing, no error.
absl::StatusOr<FileInfo> StatPath(const std::string& path, bool follow) {
  struct stat st;
  if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return FileInfo{};
    return ErrnoStatus(errno, "cannot stat", path);
  }
  return InfoFromStat(st);
}

class RealFsImpl : public Fs {
 public:
  absl::StatusOr<FileInfo> Lstat(const std::string& path) override {
    return StatPath(path, /*follow=*/false);
  }

  absl::StatusOr<FileInfo> Stat(const std::string& path) override {
    return StatPath(path, /*follow=*/true);
  }

  absl::StatusOr<std::string> ReadLink(const std::string& path) override {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
    if (n < 0) return ErrnoStatus(errno, "cannot read link", path);
    if (static_cast<size_t>(n) == sizeof(buf)) {
      return ErrnoStatus(ENAMETOOLONG, "cannot read link", path);
    }
    return std::string(buf, static_cast<size_t>(n));
  }

  absl::Status Symlink(const std::string& target, const std::string& link) override {
    if (::symlink(target.c_str(), link.c_str()) != 0) {
      return ErrnoStatus(errno, "cannot create symlink", link);
    }
    return absl::OkStatus();
  }

  absl::Status MakeDir(const std::string& path, bool ok_if_exists) override {
    if (::mkdir(path.c_str(), 0777) == 0) return absl::OkStatus();
    int err = errno;
    if (err == EEXIST && ok_if_exists) {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
      return ErrnoStatus(ENOTDIR, "cannot create directory", path);
    }
    return ErrnoStatus(err, "cannot create directory", path);
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ErrnoStatus(errno, "cannot list directory", path);
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* entry = ::readdir(dir)) {
      absl::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    int err = errno;
    ::closedir(dir);
    if (err != 0) return ErrnoStatus(err, "cannot list directory", path);
    return names;
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("cannot rename ", from, " to"), to);
    }
    return absl::OkStatus();
  }

  absl::Status RenameExchange(const std::string& a, const std::string& b) override {
    if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
      return ErrnoStatus(errno, absl::StrCat("cannot exchange ", a, " and"), b);
    }
    return absl::OkStatus();
  }

  absl::Status Unlink(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "cannot remove", path);
    return absl::OkStatus();
  }

  absl::Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) return ErrnoStatus(errno, "cannot remove directory", path);
    return absl::OkStatus();
  }

  absl::StatusOr<CopyMethod> CopyFile(const std::string& from, const std::string& to) override {
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) return ErrnoStatus(errno, "cannot open", from);
    int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (out < 0) {
      int err = errno;
      ::close(in);
      return ErrnoStatus(err, "cannot create", to);
    }
    absl::StatusOr<CopyMethod> result = CopyFd(in, out, from, to);
    ::close(in);
    if (::close(out) != 0 && result.ok()) result = ErrnoStatus(errno, "cannot close", to);
    if (!result.ok()) ::unlink(to.c_str());
    return result;
  }

  using Fs::WriteNewFile;
  absl::Status WriteNewFile(const std::string& path, absl::string_view contents,
                            Durability durability) override {
    return WriteNewFileFrom(
        path, [contents](const ContentWriter& write) { return write(contents); }, durability);
  }

  absl::Status WriteNewFileFrom(const std::string& path, const ContentProducer& produce,
                                Durability durability) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) return ErrnoStatus(errno, "cannot create", path);
    absl::Status status =
        produce([fd, &path](absl::string_view piece) { return WriteAll(fd, piece, path); });
    if (status.ok() && durability == Durability::kSynced && ::fsync(fd) != 0) {
      status = ErrnoStatus(errno, "cannot fsync", path);
    }
    if (::close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "cannot close", path);
    if (!status.ok()) ::unlink(path.c_str());
    return status;
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
    absl::StatusOr<std::string> contents = ReadFd(fd);
    ::close(fd);
    if (!contents.ok()) return ErrnoStatus(StatusErrno(contents.status()), "cannot read", path);
    return contents;
  }

  absl::Status Fsync(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "cannot open for fsync", path);
    absl::Status status;
    if (::fsync(fd) != 0) status = ErrnoStatus(errno, "cannot fsync", path);
    ::close(fd);
    return status;
  }

  absl::Status Chmod(const std::string& path, mode_t mode) override {
    if (::chmod(path.c_str(), mode) != 0) return ErrnoStatus(errno, "cannot chmod", path);
    return absl::OkStatus();
  }

  absl::StatusOr<int> OpenLockFile(const std::string& path) override {
    return OpenFd(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, "cannot open lock file");
  }

  absl::StatusOr<bool> TryLock(int fd) override { return TryFlock(fd, LOCK_EX, "cannot lock"); }

  absl::StatusOr<int> OpenDirFd(const std::string& path) override {
    return OpenFd(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, "cannot open directory");
  }

  absl::StatusOr<bool> TryLockShared(int fd) override {
    return TryFlock(fd, LOCK_SH, "cannot lock (shared)");
  }

  absl::StatusOr<FileInfo> StatFd(int fd) override {
    struct stat st;
    if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "cannot stat", absl::StrCat("fd ", fd));
    return InfoFromStat(st);
  }

  absl::Status OverwriteFd(int fd, absl::string_view contents) override {
    // Write first, then cut to length: a concurrent reader never finds the file empty.
    ssize_t n = ::pwrite(fd, contents.data(), contents.size(), 0);
    if (n < 0) return ErrnoStatus(errno, "cannot write", "lock file");
    if (static_cast<size_t>(n) != contents.size())
      return ErrnoStatus(EIO, "short write to", "lock file");
    if (::ftruncate(fd, static_cast<off_t>(contents.size())) != 0) {
      return ErrnoStatus(errno, "cannot truncate", "lock file");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ReadFd(int fd) override {
    if (::lseek(fd, 0, SEEK_SET) < 0) return ErrnoStatus(errno, "cannot seek", "file");
    std::string out;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "cannot read", "file");
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  void CloseFd(int fd) override { ::close(fd); }

  absl::StatusOr<int> OpenScratchFile(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
      return ErrnoStatus(errno, "cannot create a scratch file in", dir);
    }
    // A file system without O_TMPFILE: a named file, unlinked at once.
    std::string name = absl::StrCat(dir, "/.typecache-scratch-XXXXXX");
    fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "cannot create a scratch file in", dir);
    ::unlink(name.c_str());
    return fd;
  }

  absl::Status PwriteFd(int fd, int64_t offset, absl::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "cannot write", "scratch file");
      }
      bytes.remove_prefix(static_cast<size_t>(n));
      offset += n;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> PreadFd(int fd, int64_t offset, char* out, size_t n) override {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd, out + got, n - got, static_cast<off_t>(offset) + got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "cannot read", "scratch file");
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }

  absl::StatusOr<int> OpenForWriteback(const std::string& path) override {
    return OpenFd(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, "cannot open for writeback");
  }

  absl::Status StartWriteback(int fd) override {
    if (::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0) {
      return ErrnoStatus(errno, "cannot start writeback of", absl::StrCat("fd ", fd));
    }
    return absl::OkStatus();
  }

 private:
  static absl::StatusOr<CopyMethod> CopyFd(int in, int out, const std::string& from,
                                           const std::string& to) {
    if (::ioctl(out, FICLONE, in) == 0) return CopyMethod::kReflink;
    struct stat st;
    if (::fstat(in, &st) != 0) return ErrnoStatus(errno, "cannot stat", from);
    off_t remaining = st.st_size;
    bool use_range = true;
    while (remaining > 0 && use_range) {
      ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, static_cast<size_t>(remaining), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOSYS || errno == EXDEV || errno == EOPNOTSUPP || errno == EINVAL) {
          use_range = false;
          break;
        }
        return ErrnoStatus(errno, "cannot copy to", to);
      }
      if (n == 0) break;  // Source shrank; copy what there is.
      remaining -= n;
    }
    if (use_range) return CopyMethod::kCopyFileRange;
    // Fallback: plain read/write from wherever copy_file_range stopped.
    off_t offset = st.st_size - remaining;
    if (::lseek(in, offset, SEEK_SET) < 0 || ::lseek(out, offset, SEEK_SET) < 0) {
      return ErrnoStatus(errno, "cannot seek", to);
    }
    char buf[1 << 16];
    while (true) {
      ssize_t n = ::read(in, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "cannot read", from);
      }
      if (n == 0) break;
      RETURN_IF_ERROR(WriteAll(out, absl::string_view(buf, static_cast<size_t>(n)), to));
    }
    return CopyMethod::kReadWrite;
  }
};

}  // namespace

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  absl::Status status(CodeForErrno(err), absl::StrCat(what, " ", path, ": ", std::strerror(err)));
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return status;
}

int StatusErrno(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kErrnoPayload);
  int err = 0;
  if (payload.has_value() && absl::SimpleAtoi(std::string(*payload), &err)) return err;
  return 0;
}

const char* CopyMethodName(CopyMethod method) {
  static constexpr EnumName<CopyMethod> kMethods[] = {
      {CopyMethod::kReflink, "reflink"},
      {CopyMethod::kCopyFileRange, "copy_file_range"},
      {CopyMethod::kReadWrite, "read/write"}};
  return NameOf(method, kMethods);
}

Fs& RealFs() {
  static RealFsImpl* fs = new RealFsImpl();
  return *fs;
}

absl::Status RemoveAll(Fs& fs, const std::string& path) {
  ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(path));
  if (!info.exists()) return absl::OkStatus();
  if (!info.is_dir()) {
    absl::Status status = fs.Unlink(path);
    return StatusErrno(status) == ENOENT ? absl::OkStatus() : status;
  }
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(path);
  if (!names.ok()) {
    return StatusErrno(names.status()) == ENOENT ? absl::OkStatus() : names.status();
  }
  for (const std::string& name : *names) RETURN_IF_ERROR(RemoveAll(fs, JoinPath(path, name)));
  absl::Status status = fs.RemoveDir(path);
  return StatusErrno(status) == ENOENT ? absl::OkStatus() : status;
}

absl::Status Fs::WriteNewFileFrom(const std::string& path, const ContentProducer& produce,
                                  Durability durability) {
  std::string contents;
  RETURN_IF_ERROR(produce([&contents](absl::string_view piece) {
    contents.append(piece.data(), piece.size());
    return absl::OkStatus();
  }));
  return WriteNewFile(path, contents, durability);
}

namespace {

// The end of an atomic write: `tmp`, complete (and fsynced unless kUnsynced), renamed to `path`.
absl::Status RenameIntoPlace(Fs& fs, const std::string& tmp, const std::string& path,
                             Durability durability) {
  absl::Status status = fs.Rename(tmp, path);
  if (!status.ok()) {
    (void)fs.Unlink(tmp);
    return status;
  }
  return durability == Durability::kSynced ? fs.Fsync(DirName(path)) : absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomic(Fs& fs, const std::string& path, absl::string_view contents,
                             Durability durability) {
  std::string tmp = absl::StrCat(path, ".tmp.", RandomSuffix());
  RETURN_IF_ERROR(fs.WriteNewFile(tmp, contents, durability));
  return RenameIntoPlace(fs, tmp, path, durability);
}

absl::Status WriteFileAtomicFrom(Fs& fs, const std::string& path,
                                 const Fs::ContentProducer& produce, Durability durability) {
  std::string tmp = absl::StrCat(path, ".tmp.", RandomSuffix());
  RETURN_IF_ERROR(fs.WriteNewFileFrom(tmp, produce, durability));
  return RenameIntoPlace(fs, tmp, path, durability);
}

absl::Status MakeDirs(Fs& fs, const std::string& path) {
  if (path.empty() || path == "/" || path == ".") return absl::OkStatus();
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(path));
  if (info.is_dir()) return absl::OkStatus();
  std::string parent = DirName(path);
  if (parent != path) RETURN_IF_ERROR(MakeDirs(fs, parent));
  return fs.MakeDir(path, /*ok_if_exists=*/true);
}

std::string JoinPath(absl::string_view a, absl::string_view b) {
  if (a.empty()) return std::string(b);
  if (!b.empty() && b.front() == '/') return std::string(b);
  if (a.back() == '/') return absl::StrCat(a, b);
  return absl::StrCat(a, "/", b);
}

std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  if (::getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  return JoinPath(cwd, path);
}

std::string DirName(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string BaseName(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

std::string RandomSuffix() {
  // Reseeded after fork(): a child must never repeat its parent's names.
  thread_local pid_t seeded_for = 0;
  thread_local std::mt19937_64 rng;
  if (seeded_for != ::getpid()) {
    seeded_for = ::getpid();
    std::random_device device;
    rng.seed((static_cast<uint64_t>(device()) << 32) ^ device() ^
             (static_cast<uint64_t>(seeded_for) << 16) ^
             static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(buf, 12);
}

}  // namespace typecache
