#include "src/store/remote/test_servers.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace typecache {
namespace {

std::string ScriptPath() {
  std::vector<std::string> roots;
  for (const char* var : {"TEST_SRCDIR", "RUNFILES_DIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr) roots.push_back(dir);
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0)
    roots.push_back(absl::StrCat(absl::string_view(exe, static_cast<size_t>(n)), ".runfiles"));
  for (const std::string& root : roots) {
    std::string p = absl::StrCat(root, "/typecache/tests/remote/servers.py");
    if (access(p.c_str(), R_OK) == 0) return p;
  }
  return "tests/remote/servers.py";
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestServers>> TestServers::Start(
    const std::vector<std::string>& which) {
  std::string script = ScriptPath();
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    std::vector<std::string> args = {"/usr/bin/python3", script};
    args.insert(args.end(), which.begin(), which.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  // One JSON line, within 60 s.
  std::string line;
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (line.find('\n') == std::string::npos) {
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    pollfd p{out[0], POLLIN, 0};
    int n = left > 0 ? poll(&p, 1, left) : 0;
    char buf[4096];
    ssize_t got = n > 0 ? read(out[0], buf, sizeof buf) : 0;
    if (got <= 0) {
      close(out[0]);
      close(in[1]);
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
      return absl::FailedPreconditionError(absl::StrCat(
          "tests/remote/servers.py ", absl::StrJoin(which, " "), n > 0 ? " exited" : " timed out",
          " without starting its servers (status ", status, "); its stderr above says why"));
    }
    line.append(buf, static_cast<size_t>(got));
  }
  close(out[0]);
  nlohmann::json info = nlohmann::json::parse(line, nullptr, false);
  if (info.is_discarded()) return absl::InternalError("servers.py printed no JSON: " + line);
  return std::unique_ptr<TestServers>(new TestServers(pid, in[1], std::move(info)));
}

TestServers::~TestServers() {
  close(stdin_fd_);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

int TestServers::Port(const std::string& server, const std::string& field) const {
  return info_.at(server).at(field).get<int>();
}

pid_t TestServers::Pid(const std::string& server) const {
  return info_.at(server).at("pid").get<pid_t>();
}

std::string TestServers::RedisUrl() const {
  return absl::StrCat("redis://127.0.0.1:", Port("redis"));
}

std::string TestServers::NginxUrl(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", Port("nginx"), "/", path);
}

std::string TestServers::NginxTlsUrl(const std::string& path) const {
  return absl::StrCat("https://127.0.0.1:", Port("nginx", "tls_port"), "/", path);
}

std::string TestServers::NginxCaFile() const { return info_["nginx"]["ca_file"]; }

std::string TestServers::ApacheUrl(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", Port("apache"), "/", path);
}

StoreOptions TestServers::S3TlsOptions() const {
  StoreOptions o = S3Options();
  o.s3_endpoint = absl::StrCat("https://127.0.0.1:", Port("s3", "tls_port"));
  o.tls_ca_file = info_.at("s3").at("ca_file").get<std::string>();
  return o;
}

StoreOptions TestServers::S3Options(bool direct) const {
  StoreOptions o;
  o.s3_endpoint = absl::StrCat("http://127.0.0.1:", Port("s3", direct ? "direct_port" : "port"));
  o.s3_region = "us-east-1";
  o.aws_access_key_id = info_.at("s3").at("access_key").get<std::string>();
  o.aws_secret_access_key = info_.at("s3").at("secret").get<std::string>();
  return o;
}

std::string RedisAdmin(int port, const std::vector<std::string>& args) {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr || c->err) {
    if (c) redisFree(c);
    return "";
  }
  redisSetTimeout(c, tv);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::string text;
  if (r != nullptr) {
    if (r->type == REDIS_REPLY_INTEGER) {
      text = absl::StrCat(r->integer);
    } else if (r->str != nullptr) {
      text.assign(r->str, r->len);
    } else if (r->type == REDIS_REPLY_NIL) {
      text = "(nil)";
    } else {
      text = "(array)";
    }
    freeReplyObject(r);
  }
  redisFree(c);
  return text;
}

absl::Status StartSharedServers(TestServers*& servers) {
  absl::StatusOr<std::unique_ptr<TestServers>> s =
      TestServers::Start({"redis", "nginx", "apache", "s3", "blackhole"});
  if (!s.ok()) return s.status();
  servers = s->release();
  return absl::OkStatus();
}

void StopSharedServers(TestServers*& servers) {
  delete servers;
  servers = nullptr;
}

}  // namespace typecache
