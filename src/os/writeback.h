// Early writeback of a file that is being written, on a thread of its own: the writer calls
// Kick() whenever it has written more, and the thread asks the kernel (Fs::StartWriteback) to
// start writing the pages dirty by then. On ext4 that call itself allocates the file's blocks
// and builds the I/O, so made from the writer it would cost the writer what it saves the fsync;
// here it runs beside it, on another CPU.
//
// Contract: a hint only; the file must still be fsynced. Kick() never blocks on the I/O (it
// sets a flag); kicks while a writeback is running are folded into one more. The destructor
// stops the thread (after the writeback running, if any) and closes the descriptor, so the
// object must be destroyed after SQLite closed the file (closing a descriptor of a file drops
// the process's POSIX locks on it). Errors are ignored: the fsync reports them.
// With an Fs that does no writeback (OpenForWriteback returns -1) no thread is started.
#ifndef TYPECACHE_SRC_OS_WRITEBACK_H_
#define TYPECACHE_SRC_OS_WRITEBACK_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/os/fs.h"

namespace typecache {

class BackgroundWriteback {
 public:
  // Opens the existing file `path` through `fs` and starts the thread.
  static absl::StatusOr<std::unique_ptr<BackgroundWriteback>> Start(Fs& fs,
                                                                    const std::string& path);
  ~BackgroundWriteback();
  BackgroundWriteback(const BackgroundWriteback&) = delete;
  BackgroundWriteback& operator=(const BackgroundWriteback&) = delete;

  // The file has new dirty pages: start their writeback soon. Returns at once.
  void Kick();
  // Writebacks started so far (for tests).
  int started() const;

 private:
  BackgroundWriteback(Fs& fs, OwnedFd fd);
  void Run();

  Fs& fs_;
  OwnedFd fd_;
  mutable absl::Mutex mu_;
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace typecache

#endif  // TYPECACHE_SRC_OS_WRITEBACK_H_
