// TestServers: starts real servers for the remote-store tests through tests/remote/servers.py
// (redis-server, nginx with WebDAV, Apache mod_dav, s3rver behind a SigV4-checking proxy, a
// blackhole) and
// stops them when destroyed. Test-only.
//
// Contract: Start fails (never skips) with the script's message when a server cannot start,
// e.g. redis-server or nginx not installed. Servers listen on free 127.0.0.1 ports in a temp
// dir that is removed at the end. The script is found in the Bazel runfiles, else at
// tests/remote/servers.py under the current directory.
// Cost: ~0.1 s for redis and nginx, ~1 s for s3rver (node start-up).
// Failure behaviour: destroying closes the script's stdin; it stops its servers; if it has not
// exited after 10 s it is killed (its servers die with it: PR_SET_PDEATHSIG).
#ifndef TYPECACHE_SRC_STORE_REMOTE_TEST_SERVERS_H_
#define TYPECACHE_SRC_STORE_REMOTE_TEST_SERVERS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/store/remote/blob_store.h"

namespace typecache {

class TestServers {
 public:
  static absl::StatusOr<std::unique_ptr<TestServers>> Start(const std::vector<std::string>& which);
  ~TestServers();

  const nlohmann::json& info() const { return info_; }
  int Port(const std::string& server, const std::string& field = "port") const;
  pid_t Pid(const std::string& server) const;

  std::string RedisUrl() const;                         // redis://127.0.0.1:P
  std::string NginxUrl(const std::string& path) const;  // http://127.0.0.1:P/<path>
  // The same server over TLS (https://127.0.0.1:P/<path>), whose self-signed certificate
  // NginxCaFile() holds (a PEM file: its own CA).
  std::string NginxTlsUrl(const std::string& path) const;
  std::string NginxCaFile() const;
  std::string ApacheUrl(const std::string& path) const;  // http://127.0.0.1:P/<path>
  std::string S3Url() const { return "s3://tc-test/"; }
  // Options for the S3 store: the checking proxy (or s3rver itself with direct = true).
  StoreOptions S3Options(bool direct = false) const;
  // The checking proxy over TLS (an nginx in front), its certificate trusted.
  StoreOptions S3TlsOptions() const;

 private:
  TestServers(pid_t pid, int stdin_fd, nlohmann::json info)
      : pid_(pid), stdin_fd_(stdin_fd), info_(std::move(info)) {}
  pid_t pid_;
  int stdin_fd_;
  nlohmann::json info_;
};

// For suites whose tests share one set of servers (SetUpTestSuite / TearDownTestSuite): starts
// redis, nginx, apache, s3 and the blackhole into `servers`, and stops them.
absl::Status StartSharedServers(TestServers*& servers);
void StopSharedServers(TestServers*& servers);

// A raw Redis command on a fresh connection, for tests that reconfigure the server (CONFIG SET,
// REPLICAOF). The reply as text ("OK", an error text, an integer); "" on I/O failure.
std::string RedisAdmin(int port, const std::vector<std::string>& args);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_TEST_SERVERS_H_
