// The one seam between typecache and the file system.
//
// Every file operation that snapshot, publish, lock and sweep perform goes through an `Fs`.
// `RealFs()` talks to the kernel; `FaultFs` (fault_fs.h) wraps another Fs and fails or kills
// the process at a chosen call, which is how crash and fault tests reach every step.
// SQLite's own I/O does not pass through here; it is protected by the publish protocol
// (docs/protocol.md) rather than by injection.
//
// Conventions: every error is an absl::Status whose message names the path and the errno
// text (see ErrnoStatus). Files are created with O_NOFOLLOW|O_CLOEXEC and modes that let a
// group share a cache (0666/0777 masked by the umask).
#ifndef TYPECACHE_SRC_OS_FS_H_
#define TYPECACHE_SRC_OS_FS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

// Converts an errno value into a Status: "<what> <path>: <strerror>".
absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path);

// Returns the errno carried by a Status made by ErrnoStatus, or 0.
int StatusErrno(const absl::Status& status);

struct FileInfo {
  enum class Type { kMissing, kFile, kDir, kSymlink, kOther };
  Type type = Type::kMissing;
  int64_t size = 0;
  int64_t disk_bytes = 0;  // Allocated on disk (st_blocks * 512): what `du` counts.
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // Status change: set by the kernel on every write, never by utimes.
  uint64_t inode = 0;
  uint64_t device = 0;
  uid_t uid = 0;
  mode_t mode = 0;
  bool exists() const { return type != Type::kMissing; }
  bool is_dir() const { return type == Type::kDir; }
  bool is_file() const { return type == Type::kFile; }
  bool is_symlink() const { return type == Type::kSymlink; }
};

// How CopyFile made its copy (for statistics and benchmarks).
enum class CopyMethod { kReflink, kCopyFileRange, kReadWrite };
const char* CopyMethodName(CopyMethod method);

// Whether a write must survive a power cut (fsync of the file, and of the directory after a
// rename) or only a crash of the process.
enum class Durability { kSynced, kUnsynced };

class Fs {
 public:
  virtual ~Fs() = default;

  // lstat(2): symlinks are reported as kSymlink, a missing path as kMissing (not an error).
  virtual absl::StatusOr<FileInfo> Lstat(const std::string& path) = 0;
  // stat(2): follows symlinks.
  virtual absl::StatusOr<FileInfo> Stat(const std::string& path) = 0;
  virtual absl::StatusOr<std::string> ReadLink(const std::string& path) = 0;
  virtual absl::Status Symlink(const std::string& target, const std::string& link) = 0;
  // Creates one directory (mode 0777 & ~umask). `ok_if_exists` accepts an existing directory
  // or a symlink to one.
  virtual absl::Status MakeDir(const std::string& path, bool ok_if_exists) = 0;
  // Names in a directory, without "." and "..", unsorted.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // renameat2(RENAME_EXCHANGE): atomically swaps two existing paths.
  virtual absl::Status RenameExchange(const std::string& a, const std::string& b) = 0;
  virtual absl::Status Unlink(const std::string& path) = 0;
  virtual absl::Status RemoveDir(const std::string& path) = 0;
  // Copies `from` to a new file `to` (created with O_EXCL|O_NOFOLLOW): reflink when the file
  // system supports it, else copy_file_range, else read/write. `to` is not fsynced.
  virtual absl::StatusOr<CopyMethod> CopyFile(const std::string& from, const std::string& to) = 0;
  // Creates `path` exclusively (O_EXCL|O_NOFOLLOW), writes `contents`, fsyncs it unless told
  // kUnsynced (for what may be lost in a power cut: counters, hints; an fsync costs ~1 ms here).
  virtual absl::Status WriteNewFile(const std::string& path, absl::string_view contents,
                                    Durability durability) = 0;
  absl::Status WriteNewFile(const std::string& path, absl::string_view contents) {
    return WriteNewFile(path, contents, Durability::kSynced);
  }
  // The same with the contents produced piece by piece: `produce` calls `write` with each piece
  // in order (for files too large to hold as one string). This default gathers the pieces and
  // calls WriteNewFile (so a test's Fs sees one write); the real file system writes each piece.
  using ContentWriter = std::function<absl::Status(absl::string_view)>;
  using ContentProducer = std::function<absl::Status(const ContentWriter& write)>;
  virtual absl::Status WriteNewFileFrom(const std::string& path, const ContentProducer& produce,
                                        Durability durability);
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // fsync(2) of a file or a directory.
  virtual absl::Status Fsync(const std::string& path) = 0;
  virtual absl::Status Chmod(const std::string& path, mode_t mode) = 0;
  // Opens (creating if needed, O_NOFOLLOW|O_CLOEXEC) a file to lock; returns the descriptor.
  virtual absl::StatusOr<int> OpenLockFile(const std::string& path) = 0;
  // flock(LOCK_EX|LOCK_NB). Returns false when another open file description holds it.
  virtual absl::StatusOr<bool> TryLock(int fd) = 0;
  // Replaces the whole content of an open (lock) file; not fsynced (advisory information).
  virtual absl::Status OverwriteFd(int fd, absl::string_view contents) = 0;
  virtual absl::StatusOr<std::string> ReadFd(int fd) = 0;
  virtual void CloseFd(int fd) = 0;
  // Opens an existing directory to lock it (O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC); a
  // missing path is NotFound. Locks taken on it follow the directory when it is renamed.
  virtual absl::StatusOr<int> OpenDirFd(const std::string& path) = 0;
  // flock(LOCK_SH|LOCK_NB). Returns false when another open file description holds LOCK_EX.
  virtual absl::StatusOr<bool> TryLockShared(int fd) = 0;
  // fstat(2) of an open descriptor.
  virtual absl::StatusOr<FileInfo> StatFd(int fd) = 0;
  // A scratch file in `dir` that has no name (O_TMPFILE; else created and unlinked at once), so
  // nothing is left behind whatever happens to the process; read and write it by offset.
  virtual absl::StatusOr<int> OpenScratchFile(const std::string& dir) = 0;
  // All of `bytes` at `offset` (pwrite(2), retried until written).
  virtual absl::Status PwriteFd(int fd, int64_t offset, absl::string_view bytes) = 0;
  // Up to `n` bytes at `offset` into `out`; fewer only at the end of the file.
  virtual absl::StatusOr<size_t> PreadFd(int fd, int64_t offset, char* out, size_t n) = 0;

  // Early writeback, a hint that shortens a later Fsync: the kernel starts writing a file's
  // dirty pages while the caller is still producing more (a merge writes hundreds of MB that
  // would otherwise all wait for the fsync before the publish). Never a substitute for Fsync.
  // OpenForWriteback opens an existing file for it (read-only, O_NOFOLLOW|O_CLOEXEC; close it
  // with CloseFd), or returns -1 when this Fs does not do writeback (the default: wrappers and
  // test file systems then see no extra calls). Keep the descriptor open while SQLite uses the
  // file: closing any descriptor of a file drops the process's POSIX locks on it.
  virtual absl::StatusOr<int> OpenForWriteback(const std::string& path) { return -1; }
  // sync_file_range(SYNC_FILE_RANGE_WRITE) of the whole file: starts the writeback of the pages
  // dirty now, without waiting for it to finish.
  virtual absl::Status StartWriteback(int fd) { return absl::OkStatus(); }
};

// The process-wide real file system.
Fs& RealFs();

// A descriptor an Fs opened, closed through it on destruction or Reset(); movable, not copyable.
// Closing the only descriptor of a file drops the flock held on it.
class OwnedFd {
 public:
  OwnedFd() = default;
  OwnedFd(Fs& fs, int fd) : fs_(&fs), fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fs_(other.fs_), fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fs_ = other.fs_;
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { Reset(); }

  void Reset() {
    if (fd_ >= 0) fs_->CloseFd(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  Fs* fs_ = nullptr;
  int fd_ = -1;
};

// Helpers built on the primitives above.

// Removes a file or a whole directory tree; never follows symlinks. Missing is not an error.
absl::Status RemoveAll(Fs& fs, const std::string& path);
// Writes `contents` to `path` durably and atomically: temp file beside it, fsync, rename,
// fsync of the directory.
absl::Status WriteFileAtomic(Fs& fs, const std::string& path, absl::string_view contents,
                             Durability durability = Durability::kSynced);
// The same with the contents produced piece by piece (Fs::WriteNewFileFrom).
absl::Status WriteFileAtomicFrom(Fs& fs, const std::string& path,
                                 const Fs::ContentProducer& produce,
                                 Durability durability = Durability::kSynced);
// Creates `path` and its missing parents.
absl::Status MakeDirs(Fs& fs, const std::string& path);
std::string JoinPath(absl::string_view a, absl::string_view b);
// `path` made absolute against the working directory (unchanged if already absolute).
std::string AbsolutePath(const std::string& path);
std::string DirName(absl::string_view path);
std::string BaseName(absl::string_view path);
// A short random hex string for unique temporary names.
std::string RandomSuffix();

}  // namespace typecache

#endif  // TYPECACHE_SRC_OS_FS_H_
