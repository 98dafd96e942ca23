// An Fs wrapper that injects faults: it fails the Nth call of an operation with a chosen errno,
// or kills the process with SIGKILL at the Nth call of any operation (a crash "right here").
//
// Tests build one directly. The binary builds one from TYPECACHE_FAULT (test hook, documented
// in docs/reliability.md), so end-to-end tests can crash a real `typecache run` at every step:
//   TYPECACHE_FAULT=kill@17            SIGKILL just before the 17th file-system call
//   TYPECACHE_FAULT=fail:rename:EXDEV@2 the 2nd rename fails with EXDEV
//   TYPECACHE_FAULT=fail:*:ENOSPC@5     the 5th call of any kind fails with ENOSPC
//   TYPECACHE_FAULT=short:write@1       the 1st whole-file write keeps only half its bytes and
//                                       reports success (a lying disk / torn write)
// TYPECACHE_FAULT_TRACE=FILE appends one line per call ("<n> <op> <path>") to FILE.
#ifndef TYPECACHE_SRC_TESTING_FAULT_FS_H_
#define TYPECACHE_SRC_TESTING_FAULT_FS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/os/fs.h"

namespace typecache {

class FaultFs : public Fs {
 public:
  explicit FaultFs(Fs& base) : base_(base) {}

  // Fails the `nth` (1-based) call whose operation name is `op` ("*" for any) with `err`.
  void FailAt(std::string op, int nth, int err) {
    fail_op_ = std::move(op);
    fail_nth_ = nth;
    fail_errno_ = err;
  }
  // The `nth` WriteNewFile writes only the first half of its contents and reports success.
  void ShortWriteAt(int nth) { short_nth_ = nth; }
  // Raises SIGKILL before performing the `nth` call of any operation.
  void KillAt(int nth) { kill_nth_ = nth; }
  void TraceTo(std::string path) { trace_path_ = std::move(path); }
  int calls() const { return calls_; }
  int failures() const { return failures_; }

  // Parses a TYPECACHE_FAULT specification (see above).
  absl::Status Configure(const std::string& spec);

  absl::StatusOr<FileInfo> Lstat(const std::string& path) override;
  absl::StatusOr<FileInfo> Stat(const std::string& path) override;
  absl::StatusOr<std::string> ReadLink(const std::string& path) override;
  absl::Status Symlink(const std::string& target, const std::string& link) override;
  absl::Status MakeDir(const std::string& path, bool ok_if_exists) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status RenameExchange(const std::string& a, const std::string& b) override;
  absl::Status Unlink(const std::string& path) override;
  absl::Status RemoveDir(const std::string& path) override;
  absl::StatusOr<CopyMethod> CopyFile(const std::string& from, const std::string& to) override;
  using Fs::WriteNewFile;
  absl::Status WriteNewFile(const std::string& path, absl::string_view contents,
                            Durability durability) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status Fsync(const std::string& path) override;
  absl::Status Chmod(const std::string& path, mode_t mode) override;
  absl::StatusOr<int> OpenLockFile(const std::string& path) override;
  absl::StatusOr<bool> TryLock(int fd) override;
  absl::Status OverwriteFd(int fd, absl::string_view contents) override;
  absl::StatusOr<std::string> ReadFd(int fd) override;
  void CloseFd(int fd) override { base_.CloseFd(fd); }
  absl::StatusOr<int> OpenScratchFile(const std::string& dir) override;
  absl::Status PwriteFd(int fd, int64_t offset, absl::string_view bytes) override;
  absl::StatusOr<size_t> PreadFd(int fd, int64_t offset, char* out, size_t n) override;
  absl::StatusOr<int> OpenDirFd(const std::string& path) override;
  absl::StatusOr<bool> TryLockShared(int fd) override;
  absl::StatusOr<FileInfo> StatFd(int fd) override;

 private:
  // Counts the call; returns an injected error, or OK to go ahead.
  absl::Status Before(const char* op, const std::string& path);

  Fs& base_;
  std::string fail_op_;
  int fail_nth_ = 0;
  int fail_errno_ = 0;
  int fail_seen_ = 0;
  int kill_nth_ = 0;
  int short_nth_ = 0;
  int writes_ = 0;
  int calls_ = 0;
  int failures_ = 0;
  std::string trace_path_;
};

// Runs `body` in a forked child process, which exits 0 when `body` returns; returns the child's
// wait status (-1 when it could not be forked or waited for).
int RunInChild(const std::function<void()>& body);

// Runs `body` in a child process with a FaultFs over RealFs() that raises SIGKILL before its
// `nth` call. Returns whether the child was killed: false when it ran to the end and `body`
// returned true; an error when `body` returned false or the child ended otherwise.
absl::StatusOr<bool> KilledInChildAt(int nth, const std::function<bool(Fs&)>& body);

// The Fs the binary uses: RealFs(), wrapped in a FaultFs when TYPECACHE_FAULT or
// TYPECACHE_FAULT_TRACE is set. A malformed TYPECACHE_FAULT is an error.
absl::StatusOr<Fs*> ProcessFs();

}  // namespace typecache

#endif  // TYPECACHE_SRC_TESTING_FAULT_FS_H_
