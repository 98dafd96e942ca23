#include "src/os/writeback.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/testing/fault_fs.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

// The real file system, recording the writeback calls (in order, with CloseFd as -1).
class RecordingFs : public FaultFs {
 public:
  RecordingFs() : FaultFs(RealFs()) {}
  absl::StatusOr<int> OpenForWriteback(const std::string& path) override {
    return RealFs().OpenForWriteback(path);
  }
  absl::Status StartWriteback(int fd) override {
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(fd);
    }
    return RealFs().StartWriteback(fd);
  }
  void CloseFd(int fd) override {
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(-1);
    }
    FaultFs::CloseFd(fd);
  }
  std::vector<int> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int> calls_;
};

TEST(BackgroundWritebackTest, RealFsStartsWritebackOfAFile) {
  TempDir dir;
  TC_ASSERT_OK(dir.WriteFiles({{"f", std::string(1 << 20, 'x')}}));
  absl::StatusOr<int> fd = RealFs().OpenForWriteback(dir.Sub("f"));
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_GE(*fd, 0);
  TC_EXPECT_OK(RealFs().StartWriteback(*fd));
  RealFs().CloseFd(*fd);
  EXPECT_FALSE(RealFs().OpenForWriteback(dir.Sub("missing")).ok());
}

TEST(BackgroundWritebackTest, EveryKickIsServedBeforeTheDescriptorCloses) {
  TempDir dir;
  TC_ASSERT_OK(dir.WriteFiles({{"f", std::string(1 << 20, 'x')}}));
  RecordingFs fs;
  {
    absl::StatusOr<std::unique_ptr<BackgroundWriteback>> wb =
        BackgroundWriteback::Start(fs, dir.Sub("f"));
    ASSERT_TRUE(wb.ok()) << wb.status();
    (*wb)->Kick();
    // Served by the thread without waiting for the end.
    for (int i = 0; i < 10000 && (*wb)->started() == 0; ++i) absl::SleepFor(absl::Milliseconds(1));
    EXPECT_EQ((*wb)->started(), 1);
    // A kick just before the end is still served (its pages are the last written).
    (*wb)->Kick();
  }
  std::vector<int> calls = fs.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_GE(calls[0], 0);
  EXPECT_EQ(calls[1], calls[0]);
  EXPECT_EQ(calls[2], -1);  // Closed last, after every writeback.
}

TEST(BackgroundWritebackTest, NoKickNoWriteback) {
  TempDir dir;
  TC_ASSERT_OK(dir.WriteFiles({{"f", "x"}}));
  RecordingFs fs;
  {
    absl::StatusOr<std::unique_ptr<BackgroundWriteback>> wb =
        BackgroundWriteback::Start(fs, dir.Sub("f"));
    ASSERT_TRUE(wb.ok()) << wb.status();
  }
  EXPECT_EQ(fs.calls(), std::vector<int>{-1});
}

TEST(BackgroundWritebackTest, AnFsWithoutWritebackGetsNoCalls) {
  TempDir dir;
  TC_ASSERT_OK(dir.WriteFiles({{"f", "x"}}));
  FaultFs fs(RealFs());  // Keeps Fs's default: no writeback.
  absl::StatusOr<std::unique_ptr<BackgroundWriteback>> wb =
      BackgroundWriteback::Start(fs, dir.Sub("f"));
  ASSERT_TRUE(wb.ok()) << wb.status();
  (*wb)->Kick();
  EXPECT_EQ((*wb)->started(), 0);
  EXPECT_EQ(fs.calls(), 0);
}

}  // namespace
}  // namespace typecache
