#include "src/os/writeback.h"

#include <utility>

#include "src/base/status_macros.h"

namespace typecache {

absl::StatusOr<std::unique_ptr<BackgroundWriteback>> BackgroundWriteback::Start(
    Fs& fs, const std::string& path) {
  ASSIGN_OR_RETURN(int fd, fs.OpenForWriteback(path));
  OwnedFd owned = fd >= 0 ? OwnedFd(fs, fd) : OwnedFd();
  return std::unique_ptr<BackgroundWriteback>(new BackgroundWriteback(fs, std::move(owned)));
}

BackgroundWriteback::BackgroundWriteback(Fs& fs, OwnedFd fd) : fs_(fs), fd_(std::move(fd)) {
  if (fd_.valid()) thread_ = std::thread([this] { Run(); });
}

BackgroundWriteback::~BackgroundWriteback() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  fd_.Reset();
}

void BackgroundWriteback::Kick() {
  absl::MutexLock lock(&mu_);
  kicked_ = true;
}

int BackgroundWriteback::started() const {
  absl::MutexLock lock(&mu_);
  return started_;
}

void BackgroundWriteback::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](BackgroundWriteback* self)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) { return self->kicked_ || self->stop_; },
          this));
      // Pending kicks are still served when stopping: the last pages written get their start.
      if (!kicked_) return;
      kicked_ = false;
      ++started_;
    }
    (void)fs_.StartWriteback(fd_.get());
  }
}

}  // namespace typecache
