#include "src/os/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "src/os/fs.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

// Captures a child's two streams in files.
class SubprocessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    out_fd_ = ::open(tmp_.Sub("out").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    err_fd_ = ::open(tmp_.Sub("err").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(out_fd_, 0);
    ASSERT_GE(err_fd_, 0);
  }
  void TearDown() override {
    ::close(out_fd_);
    ::close(err_fd_);
  }

  ChildSpec Shell(const std::string& script) const {
    ChildSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.out_fd = out_fd_;
    spec.err_fd = err_fd_;
    return spec;
  }
  absl::StatusOr<ChildResult> RunShell(const std::string& script, const std::string& scan = "") {
    ChildSpec spec = Shell(script);
    spec.scan_for = scan;
    return RunChild(spec);
  }
  std::string Out() const { return Contents("out"); }
  std::string Err() const { return Contents("err"); }
  std::string Contents(const std::string& name) const {
    absl::StatusOr<std::string> text = RealFs().ReadFile(tmp_.Sub(name));
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? *text : "";
  }

  TempDir tmp_;
  int out_fd_ = -1;
  int err_fd_ = -1;
};

TEST_F(SubprocessTest, ReturnsTheExitCode) {
  absl::StatusOr<ChildResult> result = RunShell("exit 3");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->term_signal, 0);
  EXPECT_FALSE(result->marker_seen);

  result = RunShell("exit 0");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
}

TEST_F(SubprocessTest, OutputPassesThroughByteForByte) {
  absl::StatusOr<ChildResult> result =
      RunShell("printf 'a\\000b\\377c\\r\\n'; printf 'to err\\001\\n' >&2; printf 'tail'");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(Out(), std::string("a\0b\xff"
                               "c\r\ntail",
                               11));
  EXPECT_EQ(Err(), "to err\001\n");
}

TEST_F(SubprocessTest, LargeOutputOnBothStreams) {
  // Much more than a pipe buffer on each stream, interleaved.
  absl::StatusOr<ChildResult> result =
      RunShell("yes 0123456789abcdef | head -c 1000000; yes ERR | head -c 300000 >&2; printf end");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  std::string want_out;
  while (want_out.size() < 1000000) want_out += "0123456789abcdef\n";
  want_out.resize(1000000);
  want_out += "end";
  std::string want_err;
  while (want_err.size() < 300000) want_err += "ERR\n";
  want_err.resize(300000);
  EXPECT_TRUE(Out() == want_out) << "stdout differs, " << Out().size() << " bytes";
  EXPECT_TRUE(Err() == want_err) << "stderr differs, " << Err().size() << " bytes";
}

TEST_F(SubprocessTest, MarkerFoundInStderr) {
  absl::StatusOr<ChildResult> result = RunShell(
      "echo 'Traceback...' >&2; echo 'x.py: error: INTERNAL ERROR -- please report' >&2; "
      "exit 2",
      "INTERNAL ERROR");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->marker_seen);
  EXPECT_EQ(result->exit_code, 2);
  // Scanning does not swallow the output.
  EXPECT_TRUE(absl::StrContains(Err(), "INTERNAL ERROR -- please report")) << Err();
}

TEST_F(SubprocessTest, MarkerFoundWhenSplitAcrossWrites) {
  absl::StatusOr<ChildResult> result = RunShell(
      "printf 'x: INT' >&2; sleep 0.2; printf 'ERNAL ER' >&2; sleep 0.2; printf 'ROR\\n' >&2",
      "INTERNAL ERROR");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->marker_seen);
  EXPECT_EQ(Err(), "x: INTERNAL ERROR\n");
}

TEST_F(SubprocessTest, MarkerFoundInStdout) {
  absl::StatusOr<ChildResult> result =
      RunShell("printf 'INTERNAL'; sleep 0.1; printf ' ERROR\\n'", "INTERNAL ERROR");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->marker_seen);
}

TEST_F(SubprocessTest, MarkerNotFound) {
  absl::StatusOr<ChildResult> result =
      RunShell("printf 'INTERNAL ERRO'; printf 'R' >&2; printf 'internal error\\n'; exit 1",
               "INTERNAL ERROR");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->marker_seen);
  EXPECT_EQ(result->exit_code, 1);

  // Halves of the marker on different streams do not make a marker.
  result = RunShell("printf 'INTERNAL '; sleep 0.1; printf 'ERROR' >&2", "INTERNAL ERROR");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->marker_seen);

  // No marker to look for.
  result = RunShell("echo INTERNAL ERROR", "");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->marker_seen);
}

TEST_F(SubprocessTest, MissingProgramIsAnErrorNamingIt) {
  ChildSpec spec;
  spec.argv = {"/nonexistent/tc-no-such-checker", "--version"};
  absl::StatusOr<ChildResult> result = RunChild(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::StrContains(result.status().message(), "/nonexistent/tc-no-such-checker"))
      << result.status();

  spec.argv = {"tc-no-such-checker-on-path"};
  result = RunChild(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::StrContains(result.status().message(), "tc-no-such-checker-on-path"))
      << result.status();
}

TEST_F(SubprocessTest, EmptyCommandIsAnError) {
  absl::StatusOr<ChildResult> result = RunChild(ChildSpec{});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SubprocessTest, SearchesPath) {
  ChildSpec spec;
  spec.argv = {"sh", "-c", "exit 5"};
  spec.out_fd = out_fd_;
  spec.err_fd = err_fd_;
  absl::StatusOr<ChildResult> result = RunChild(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 5);
}

TEST_F(SubprocessTest, KilledBySignal) {
  absl::StatusOr<ChildResult> result = RunShell("printf before; kill -KILL $$; echo after");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->term_signal, SIGKILL);
  EXPECT_EQ(result->exit_code, 128 + SIGKILL);
  EXPECT_EQ(Out(), "before");

  result = RunShell("kill -TERM $$; sleep 5");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->term_signal, SIGTERM);
  EXPECT_EQ(result->exit_code, 128 + SIGTERM);
}

TEST_F(SubprocessTest, SetEnvReachesTheChild) {
  ::setenv("TC_SUBPROCESS_INHERITED", "inherited", 1);
  ::setenv("TC_SUBPROCESS_OVERRIDDEN", "old", 1);
  ChildSpec spec = Shell(
      "printf '%s|%s|%s' \"$TC_SUBPROCESS_SET\" \"$TC_SUBPROCESS_OVERRIDDEN\" "
      "\"$TC_SUBPROCESS_INHERITED\"");
  spec.set_env = {{"TC_SUBPROCESS_SET", "a value with spaces=and equals"},
                  {"TC_SUBPROCESS_OVERRIDDEN", "new"}};
  absl::StatusOr<ChildResult> result = RunChild(spec);
  ::unsetenv("TC_SUBPROCESS_INHERITED");
  ::unsetenv("TC_SUBPROCESS_OVERRIDDEN");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Out(), "a value with spaces=and equals|new|inherited");
}

TEST_F(SubprocessTest, ForwardsSigtermSentByAProcess) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ChildSpec spec = Shell("echo ready; exec sleep 20");
  spec.out_fd = pipe_fds[1];
  // Once the child has said it runs, send SIGTERM to this process, as kill(1) would.
  std::thread watcher([read_fd = pipe_fds[0]] {
    std::string seen;
    char buf[256];
    bool sent = false;
    while (true) {
      ssize_t n = ::read(read_fd, buf, sizeof(buf));
      if (n <= 0) break;
      seen.append(buf, static_cast<size_t>(n));
      if (!sent && absl::StrContains(seen, "ready\n")) {
        ::kill(::getpid(), SIGTERM);
        sent = true;
      }
    }
  });
  absl::StatusOr<ChildResult> result = RunChild(spec);
  ::close(pipe_fds[1]);
  watcher.join();
  ::close(pipe_fds[0]);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->term_signal, SIGTERM);
  EXPECT_EQ(result->exit_code, 128 + SIGTERM);
}

}  // namespace
}  // namespace typecache
