// What the store tests share (gtest; header only): a store that must open, servers that must
// start. Test-only.
#ifndef TYPECACHE_SRC_STORE_REMOTE_STORE_TEST_UTIL_H_
#define TYPECACHE_SRC_STORE_REMOTE_STORE_TEST_UTIL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "src/store/remote/blob_store.h"
#include "src/store/remote/test_servers.h"

namespace typecache {

// OpenBlobStore, or nullptr with a test failure naming the error.
inline std::unique_ptr<BlobStore> MustOpen(const std::string& url, const StoreOptions& o = {}) {
  absl::StatusOr<std::unique_ptr<BlobStore>> store = OpenBlobStore(url, o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// Starts `which` into `servers`; a fatal test failure when they cannot start (call it from
// SetUp, or check HasFatalFailure()).
inline void MustStart(const std::vector<std::string>& which,
                      std::unique_ptr<TestServers>& servers) {
  absl::StatusOr<std::unique_ptr<TestServers>> s = TestServers::Start(which);
  ASSERT_TRUE(s.ok()) << s.status();
  servers = std::move(*s);
}

// The servers shared by every test of a binary whose suites derive from SharedServersTest:
// started before a suite's first test, stopped after its last.
inline TestServers*& SharedServers() {
  static TestServers* servers = nullptr;
  return servers;
}
template <typename Param>
class SharedServersTest : public ::testing::TestWithParam<Param> {
 public:
  static void SetUpTestSuite() {
    absl::Status started = StartSharedServers(SharedServers());
    ASSERT_TRUE(started.ok()) << started;
  }
  static void TearDownTestSuite() { StopSharedServers(SharedServers()); }
};

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_STORE_TEST_UTIL_H_
