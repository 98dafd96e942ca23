#include "src/testing/fault_fs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/base/status_macros.h"

namespace typecache {
namespace {

int ErrnoByName(absl::string_view name) {
  static const struct {
    const char* name;
    int value;
  } kNames[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO},       {"EXDEV", EXDEV},   {"EACCES", EACCES},
                {"EPERM", EPERM},   {"EROFS", EROFS},   {"ENOENT", ENOENT}, {"EEXIST", EEXIST},
                {"EDQUOT", EDQUOT}, {"EINVAL", EINVAL}, {"EAGAIN", EAGAIN}, {"ENOLCK", ENOLCK}};
  for (const auto& entry : kNames) {
    if (name == entry.name) return entry.value;
  }
  int value = 0;
  return absl::SimpleAtoi(name, &value) ? value : 0;
}

}  // namespace

int RunInChild(const std::function<void()>& body) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  return ::waitpid(pid, &status, 0) == pid ? status : -1;
}

absl::StatusOr<bool> KilledInChildAt(int nth, const std::function<bool(Fs&)>& body) {
  int status = RunInChild([&] {
    FaultFs killing(RealFs());
    killing.KillAt(nth);
    ::_exit(body(killing) ? 0 : 3);
  });
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return true;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return false;
  return absl::InternalError(
      absl::StrCat("the child neither was killed nor succeeded: status ", status));
}

absl::Status FaultFs::Configure(const std::string& spec) {
  auto bad = [&spec]() {
    return absl::InvalidArgumentError(absl::StrCat("TYPECACHE_FAULT: cannot parse '", spec,
                                                   "' (want kill@N or fail:OP:ERRNO@N)"));
  };
  std::vector<std::string> at = absl::StrSplit(spec, '@');
  int nth = 0;
  if (at.size() != 2 || !absl::SimpleAtoi(at[1], &nth) || nth <= 0) return bad();
  if (at[0] == "kill") {
    KillAt(nth);
    return absl::OkStatus();
  }
  if (at[0] == "short:write") {
    ShortWriteAt(nth);
    return absl::OkStatus();
  }
  std::vector<std::string> parts = absl::StrSplit(at[0], ':');
  if (parts.size() != 3 || parts[0] != "fail") return bad();
  int err = ErrnoByName(parts[2]);
  static const char* const kOps[] = {
      "*",          "lstat",    "stat",     "readlink", "symlink",   "mkdir",  "listdir",
      "rename",     "exchange", "unlink",   "rmdir",    "copy",      "write",  "read",
      "fsync",      "chmod",    "openlock", "lock",     "overwrite", "readfd", "opendir",
      "lockshared", "statfd",   "scratch",  "pwritefd", "preadfd"};
  bool known = false;
  for (const char* op : kOps) known = known || parts[1] == op;
  if (err == 0 || !known) return bad();
  FailAt(parts[1], nth, err);
  return absl::OkStatus();
}

absl::Status FaultFs::Before(const char* op, const std::string& path) {
  ++calls_;
  if (!trace_path_.empty()) {
    int fd = ::open(trace_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      std::string line = absl::StrCat(calls_, " ", op, " ", path, "\n");
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
  }
  if (kill_nth_ > 0 && calls_ == kill_nth_) ::raise(SIGKILL);
  if (fail_nth_ > 0 && (fail_op_ == "*" || fail_op_ == op) && ++fail_seen_ == fail_nth_) {
    ++failures_;
    return ErrnoStatus(fail_errno_, absl::StrCat("injected fault in ", op), path);
  }
  return absl::OkStatus();
}

#define TC_FAULT(op, path) RETURN_IF_ERROR(Before(op, path))

absl::StatusOr<FileInfo> FaultFs::Lstat(const std::string& path) {
  TC_FAULT("lstat", path);
  return base_.Lstat(path);
}
absl::StatusOr<FileInfo> FaultFs::Stat(const std::string& path) {
  TC_FAULT("stat", path);
  return base_.Stat(path);
}
absl::StatusOr<std::string> FaultFs::ReadLink(const std::string& path) {
  TC_FAULT("readlink", path);
  return base_.ReadLink(path);
}
absl::Status FaultFs::Symlink(const std::string& target, const std::string& link) {
  TC_FAULT("symlink", link);
  return base_.Symlink(target, link);
}
absl::Status FaultFs::MakeDir(const std::string& path, bool ok_if_exists) {
  TC_FAULT("mkdir", path);
  return base_.MakeDir(path, ok_if_exists);
}
absl::StatusOr<std::vector<std::string>> FaultFs::ListDir(const std::string& path) {
  TC_FAULT("listdir", path);
  return base_.ListDir(path);
}
absl::Status FaultFs::Rename(const std::string& from, const std::string& to) {
  TC_FAULT("rename", to);
  return base_.Rename(from, to);
}
absl::Status FaultFs::RenameExchange(const std::string& a, const std::string& b) {
  TC_FAULT("exchange", b);
  return base_.RenameExchange(a, b);
}
absl::Status FaultFs::Unlink(const std::string& path) {
  TC_FAULT("unlink", path);
  return base_.Unlink(path);
}
absl::Status FaultFs::RemoveDir(const std::string& path) {
  TC_FAULT("rmdir", path);
  return base_.RemoveDir(path);
}
absl::StatusOr<CopyMethod> FaultFs::CopyFile(const std::string& from, const std::string& to) {
  TC_FAULT("copy", to);
  return base_.CopyFile(from, to);
}
absl::Status FaultFs::WriteNewFile(const std::string& path, absl::string_view contents,
                                   Durability durability) {
  TC_FAULT("write", path);
  if (short_nth_ > 0 && ++writes_ == short_nth_) {
    ++failures_;
    return base_.WriteNewFile(path, contents.substr(0, contents.size() / 2), durability);
  }
  return base_.WriteNewFile(path, contents, durability);
}
absl::StatusOr<std::string> FaultFs::ReadFile(const std::string& path) {
  TC_FAULT("read", path);
  return base_.ReadFile(path);
}
absl::Status FaultFs::Fsync(const std::string& path) {
  TC_FAULT("fsync", path);
  return base_.Fsync(path);
}
absl::Status FaultFs::Chmod(const std::string& path, mode_t mode) {
  TC_FAULT("chmod", path);
  return base_.Chmod(path, mode);
}
absl::StatusOr<int> FaultFs::OpenLockFile(const std::string& path) {
  TC_FAULT("openlock", path);
  return base_.OpenLockFile(path);
}
absl::StatusOr<bool> FaultFs::TryLock(int fd) {
  TC_FAULT("lock", absl::StrCat("fd ", fd));
  return base_.TryLock(fd);
}
absl::StatusOr<int> FaultFs::OpenDirFd(const std::string& path) {
  TC_FAULT("opendir", path);
  return base_.OpenDirFd(path);
}
absl::StatusOr<bool> FaultFs::TryLockShared(int fd) {
  TC_FAULT("lockshared", absl::StrCat("fd ", fd));
  return base_.TryLockShared(fd);
}
absl::StatusOr<FileInfo> FaultFs::StatFd(int fd) {
  TC_FAULT("statfd", absl::StrCat("fd ", fd));
  return base_.StatFd(fd);
}
absl::Status FaultFs::OverwriteFd(int fd, absl::string_view contents) {
  TC_FAULT("overwrite", absl::StrCat("fd ", fd));
  return base_.OverwriteFd(fd, contents);
}
absl::StatusOr<std::string> FaultFs::ReadFd(int fd) {
  TC_FAULT("readfd", absl::StrCat("fd ", fd));
  return base_.ReadFd(fd);
}
absl::StatusOr<int> FaultFs::OpenScratchFile(const std::string& dir) {
  TC_FAULT("scratch", dir);
  return base_.OpenScratchFile(dir);
}
absl::Status FaultFs::PwriteFd(int fd, int64_t offset, absl::string_view bytes) {
  TC_FAULT("pwritefd", absl::StrCat("fd ", fd));
  return base_.PwriteFd(fd, offset, bytes);
}
absl::StatusOr<size_t> FaultFs::PreadFd(int fd, int64_t offset, char* out, size_t n) {
  TC_FAULT("preadfd", absl::StrCat("fd ", fd));
  return base_.PreadFd(fd, offset, out, n);
}

#undef TC_FAULT

absl::StatusOr<Fs*> ProcessFs() {
  const char* spec = std::getenv("TYPECACHE_FAULT");
  const char* trace = std::getenv("TYPECACHE_FAULT_TRACE");
  if ((spec == nullptr || *spec == '\0') && (trace == nullptr || *trace == '\0')) {
    return &RealFs();
  }
  static FaultFs* fault_fs = new FaultFs(RealFs());
  if (spec != nullptr && *spec != '\0') RETURN_IF_ERROR(fault_fs->Configure(spec));
  if (trace != nullptr && *trace != '\0') fault_fs->TraceTo(trace);
  return fault_fs;
}

}  // namespace typecache
