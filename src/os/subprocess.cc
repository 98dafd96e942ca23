#include "src/os/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "src/os/fs.h"

extern char** environ;

namespace typecache {
namespace {

std::atomic<pid_t> g_child{0};

void ForwardSignal(int sig, siginfo_t* info, void*) {
  pid_t child = g_child.load();
  // si_code <= 0: sent by a process (SI_USER, SI_QUEUE, SI_TKILL), not by the terminal.
  if (child > 0 && info != nullptr && info->si_code <= 0) ::kill(child, sig);
}

class SignalForwarding {
 public:
  SignalForwarding() {
    struct sigaction action {};
    action.sa_sigaction = ForwardSignal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
  }
  ~SignalForwarding() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // Our own output is gone (closed pipe): keep draining the child.
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// Scans a stream chunk by chunk for `marker`, across chunk boundaries.
class Scanner {
 public:
  explicit Scanner(const std::string& marker) : marker_(marker) {}
  bool Feed(const char* data, size_t size) {
    if (marker_.empty() || seen_) return seen_;
    tail_.append(data, size);
    if (tail_.find(marker_) != std::string::npos) seen_ = true;
    if (tail_.size() > marker_.size()) tail_.erase(0, tail_.size() - marker_.size());
    return seen_;
  }
  bool seen() const { return seen_; }

 private:
  const std::string& marker_;
  std::string tail_;
  bool seen_ = false;
};

}  // namespace

absl::StatusOr<ChildResult> RunChild(const ChildSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("no command to run");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "cannot create", "pipe");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return ErrnoStatus(err, "cannot create", "pipe");
  }

  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq != nullptr) env[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
  }
  for (const auto& [key, value] : spec.set_env) env[key] = value;
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env) env_strings.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  SignalForwarding forwarding;
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return ErrnoStatus(rc, "cannot run", spec.argv[0]);
  }
  g_child.store(pid);

  Scanner out_scan(spec.scan_for), err_scan(spec.scan_for);
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int targets[2] = {spec.out_fd, spec.err_fd};
  Scanner* scanners[2] = {&out_scan, &err_scan};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    int ready = ::poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
        continue;
      }
      WriteAll(targets[i], buf, static_cast<size_t>(n));
      scanners[i]->Feed(buf, static_cast<size_t>(n));
    }
  }

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus(errno, "cannot wait for", spec.argv[0]);
  }
  g_child.store(0);
  ChildResult result;
  result.marker_seen = out_scan.seen() || err_scan.seen();
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
    result.exit_code = 128 + result.term_signal;
  }
  return result;
}

}  // namespace typecache
