#include "src/store/remote/redis_store.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/base/status_macros.h"

namespace typecache {
namespace {

constexpr bool kIdempotent = true;

// KEYS[1] = key; ARGV[1] = "1" if a value is expected, "0" if absence is; ARGV[2] = expected;
// ARGV[3] = replacement.
constexpr char kCasScript[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if (ARGV[1] == '0' and v == false) or (ARGV[1] == '1' and v == ARGV[2]) then "
    "redis.call('SET', KEYS[1], ARGV[3]) return 1 end return 0";

// KEYS[1] = key, ARGV[1] = limit: nil if missing, the length if longer than the limit, else
// the value. no-writes (Redis >= 7): runs on read-only replicas and when the server is OOM.
constexpr char kGetScript[] =
    "#!lua flags=no-writes\n"
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return false end "
    "if #v > tonumber(ARGV[1]) then return #v end return v";

constexpr int kMaxScanCalls = 1 << 20;

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

timeval DurationToTimeval(absl::Duration d) {
  int64_t us = std::max<int64_t>(1000, absl::ToInt64Microseconds(d));
  return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

// The status for an error reply.
absl::Status ReplyError(absl::string_view what, absl::string_view text) {
  std::string message = absl::StrCat(what, ": ", text);
  auto starts = [&](absl::string_view p) { return absl::StartsWith(text, p); };
  if (starts("NOAUTH") || starts("WRONGPASS") || starts("NOPERM") || starts("READONLY") ||
      absl::StrContains(text, "invalid password") || absl::StrContains(text, "invalid username")) {
    return absl::PermissionDeniedError(message);
  }
  if (starts("OOM")) return absl::ResourceExhaustedError(message);
  if (starts("LOADING") || starts("BUSY") || starts("MASTERDOWN") || starts("TRYAGAIN") ||
      starts("CLUSTERDOWN") || starts("NOREPLICAS") || starts("MISCONF")) {
    return absl::UnavailableError(message);
  }
  if (starts("WRONGTYPE")) return absl::FailedPreconditionError(message);
  return absl::UnknownError(message);
}

class RedisStore : public BlobStore {
 public:
  RedisStore(RedisTarget target, const StoreOptions& options)
      : target_(std::move(target)), options_(options) {
    if (!options_.key_prefix.empty() && target_.key_prefix.empty()) {
      target_.key_prefix = options_.key_prefix;
    }
    // "?prefix=tc" puts keys under "tc/", as the URL path does for WebDAV and S3.
    if (!target_.key_prefix.empty() && target_.key_prefix.back() != '/') {
      target_.key_prefix.push_back('/');
    }
  }
  ~RedisStore() override { Disconnect(); }

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    std::string name = Name(key);
    std::string limit = absl::StrCat(options_.max_object_bytes);
    if (!legacy_get_) {
      ASSIGN_OR_RETURN(Reply reply,
                       Command({"EVAL", kGetScript, "1", name, limit}, "GET " + name, kIdempotent));
      if (reply->type == REDIS_REPLY_ERROR && absl::StartsWith(reply->str, "ERR") &&
          (absl::StrContains(reply->str, "compil") || absl::StrContains(reply->str, "shebang"))) {
        legacy_get_ = true;  // Redis < 7: no script flags
      } else {
        return GetReply(reply.get(), name);
      }
    }
    // Redis < 7: MULTI/EXISTS/GETRANGE 0 limit/EXEC in one round trip (refused when OOM).
    std::vector<std::vector<std::string>> commands = {
        {"MULTI"}, {"EXISTS", name}, {"GETRANGE", name, "0", limit}, {"EXEC"}};
    ASSIGN_OR_RETURN(std::vector<Reply> replies, Pipeline(commands, "GET " + name, kIdempotent));
    redisReply* exec = replies[3].get();
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2) {
      return absl::DataLossError(absl::StrCat("GET ", name, ": unexpected EXEC reply"));
    }
    redisReply* exists = exec->element[0];
    redisReply* value = exec->element[1];
    if (exists->type == REDIS_REPLY_ERROR) return ReplyError("GET " + name, exists->str);
    if (exists->type != REDIS_REPLY_INTEGER) {
      return absl::DataLossError(absl::StrCat("GET ", name, ": unexpected reply types"));
    }
    if (exists->integer == 0) return std::optional<std::string>();
    return GetReply(value, name);
  }

  absl::Status Put(absl::string_view key, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, bytes));
    std::string name = Name(key);
    ASSIGN_OR_RETURN(Reply reply, Command({"SET", name, bytes}, "SET " + name, kIdempotent));
    return ExpectStatus(reply.get(), "SET " + name);
  }

  absl::StatusOr<bool> PutIfAbsent(absl::string_view key, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, bytes));
    std::string name = Name(key);
    ASSIGN_OR_RETURN(Reply reply, Command({"SET", name, bytes, "NX"}, "SET NX " + name));
    if (reply->type == REDIS_REPLY_NIL) return false;
    RETURN_IF_ERROR(ExpectStatus(reply.get(), "SET NX " + name));
    return true;
  }

  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view replacement) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, replacement));
    std::string name = Name(key);
    ASSIGN_OR_RETURN(Reply reply, Command({"EVAL", kCasScript, "1", name, expected ? "1" : "0",
                                           expected ? *expected : absl::string_view(), replacement},
                                          "CAS " + name));
    if (reply->type == REDIS_REPLY_ERROR) return ReplyError("CAS " + name, reply->str);
    if (reply->type != REDIS_REPLY_INTEGER) {
      return absl::DataLossError(absl::StrCat("CAS ", name, ": unexpected reply"));
    }
    return reply->integer == 1;
  }

  absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) override {
    RETURN_IF_ERROR(ValidatePrefix(prefix));
    std::string pattern;
    for (char c : target_.key_prefix + std::string(prefix)) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern.push_back('\\');
      pattern.push_back(c);
    }
    pattern.push_back('*');
    std::set<std::string> keys;
    std::string cursor = "0";
    std::string count = absl::StrCat(std::max(1, options_.list_page_size));
    for (int calls = 0;; ++calls) {
      if (calls == kMaxScanCalls) {
        return absl::DeadlineExceededError(absl::StrCat("SCAN ", pattern, ": too many calls"));
      }
      ASSIGN_OR_RETURN(Reply reply, Command({"SCAN", cursor, "MATCH", pattern, "COUNT", count},
                                            "SCAN " + pattern, kIdempotent));
      if (reply->type == REDIS_REPLY_ERROR) return ReplyError("SCAN " + pattern, reply->str);
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
          reply->element[0]->type != REDIS_REPLY_STRING ||
          reply->element[1]->type != REDIS_REPLY_ARRAY) {
        return absl::DataLossError(absl::StrCat("SCAN ", pattern, ": unexpected reply"));
      }
      cursor.assign(reply->element[0]->str, reply->element[0]->len);
      redisReply* batch = reply->element[1];
      for (size_t i = 0; i < batch->elements; ++i) {
        if (batch->element[i]->type != REDIS_REPLY_STRING) continue;
        absl::string_view name(batch->element[i]->str, batch->element[i]->len);
        if (!absl::StartsWith(name, target_.key_prefix)) continue;
        keys.insert(std::string(name.substr(target_.key_prefix.size())));
        if (keys.size() > options_.max_list_keys) {
          return absl::OutOfRangeError(
              absl::StrFormat("SCAN %s: more than %d keys", pattern, options_.max_list_keys));
        }
      }
      if (cursor == "0") break;
    }
    return std::vector<std::string>(keys.begin(), keys.end());
  }

  absl::Status Delete(absl::string_view key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    std::string name = Name(key);
    ASSIGN_OR_RETURN(Reply reply, Command({"DEL", name}, "DEL " + name, kIdempotent));
    if (reply->type == REDIS_REPLY_ERROR) return ReplyError("DEL " + name, reply->str);
    return absl::OkStatus();
  }

  StoreCapabilities capabilities() const override {
    StoreCapabilities c;
    c.put_if_absent = true;
    c.compare_and_swap = true;
    c.list = true;
    c.etags = false;
    return c;
  }

  std::string description() const override {
    std::string d = target_.display;
    if (!target_.key_prefix.empty())
      absl::StrAppend(&d, " (key prefix \"", target_.key_prefix, "\")");
    return d;
  }

 private:
  std::string Name(absl::string_view key) const { return absl::StrCat(target_.key_prefix, key); }

  // A Get reply: nil (missing), an integer (the length of a value over the limit), a string.
  absl::StatusOr<std::optional<std::string>> GetReply(redisReply* reply, const std::string& name) {
    if (reply->type == REDIS_REPLY_ERROR) return ReplyError("GET " + name, reply->str);
    if (reply->type == REDIS_REPLY_NIL) return std::optional<std::string>();
    if (reply->type == REDIS_REPLY_INTEGER ||
        (reply->type == REDIS_REPLY_STRING && reply->len > options_.max_object_bytes)) {
      return absl::OutOfRangeError(absl::StrFormat(
          "GET %s: object larger than the limit of %d bytes", name, options_.max_object_bytes));
    }
    if (reply->type != REDIS_REPLY_STRING) {
      return absl::DataLossError(absl::StrCat("GET ", name, ": unexpected reply type"));
    }
    return std::optional<std::string>(std::string(reply->str, reply->len));
  }

  absl::Status CheckSize(absl::string_view key, absl::string_view bytes) const {
    return CheckObjectSize(key, bytes, options_.max_object_bytes);
  }

  void Disconnect() {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }

  // The status for a failed context (then dropped), e.g. "SET k: 127.0.0.1:6379: Connection
  // refused".
  absl::Status IoError(absl::string_view what) {
    std::string detail = ctx_ != nullptr ? ctx_->errstr : "no context";
    if (ctx_ != nullptr && ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      detail = "timed out";
    }
    int err = ctx_ != nullptr ? ctx_->err : REDIS_ERR_OTHER;
    // The peer closed or reset the connection (not a timeout): the command may be retried on a
    // new one when it is idempotent.
    connection_lost_ =
        err == REDIS_ERR_EOF || (err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
    Disconnect();
    std::string message = absl::StrCat(what, ": ", target_.display, ": ", detail);
    if (err == REDIS_ERR_PROTOCOL) return absl::DataLossError(message);
    if (err == REDIS_ERR_OOM) return absl::ResourceExhaustedError(message);
    return absl::UnavailableError(message);
  }

  absl::Status Connect() {
    if (ctx_ != nullptr) return absl::OkStatus();
    timeval connect_tv = DurationToTimeval(options_.connect_timeout);
    ctx_ = target_.unix_socket.empty()
               ? redisConnectWithTimeout(target_.host.c_str(), target_.port, connect_tv)
               : redisConnectUnixWithTimeout(target_.unix_socket.c_str(), connect_tv);
    if (ctx_ == nullptr) return absl::ResourceExhaustedError("cannot allocate a Redis context");
    if (ctx_->err != 0) return IoError("connect");
    timeval request_tv = DurationToTimeval(options_.request_timeout);
    if (redisSetTimeout(ctx_, request_tv) != REDIS_OK) return IoError("connect");
    if (!target_.password.empty()) {
      std::vector<absl::string_view> auth = {"AUTH"};
      if (!target_.user.empty()) auth.push_back(target_.user);
      auth.push_back(target_.password);
      ASSIGN_OR_RETURN(Reply reply, Send(auth, "AUTH"));
      absl::Status status = ExpectStatus(reply.get(), "AUTH");
      if (!status.ok()) {
        Disconnect();
        return status;
      }
    }
    if (target_.db != 0) {
      std::string db = absl::StrCat(target_.db);
      ASSIGN_OR_RETURN(Reply reply, Send({"SELECT", db}, "SELECT"));
      absl::Status status = ExpectStatus(reply.get(), "SELECT " + db);
      if (!status.ok()) {
        Disconnect();
        return status;
      }
    }
    return absl::OkStatus();
  }

  // One command on the connected context.
  absl::StatusOr<Reply> Send(const std::vector<absl::string_view>& args, absl::string_view what) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (absl::string_view a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    void* raw = redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
    if (raw == nullptr) return IoError(what);
    return Reply(static_cast<redisReply*>(raw));
  }

  // A kept-alive connection the server has closed while it sat idle (its `timeout`, CLIENT
  // KILL, a restart): the close is already in the socket, so it is dropped before a command is
  // written on it. Any other data waiting there is unexpected too.
  void DropIfClosedByPeer() {
    if (ctx_ == nullptr) return;
    pollfd p{ctx_->fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) return;  // nothing pending: alive as far as we can tell
    char c;
    ssize_t n = ::recv(ctx_->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Disconnect();
  }

  // One command, reconnecting first when the kept connection was closed by the server. An
  // idempotent command (GET, SET, DEL, SCAN) whose connection is lost mid-command (a close
  // racing the write) is sent once more on a new connection; SET NX and CAS never are (a retry
  // could report a creation it did not make).
  absl::StatusOr<Reply> Command(const std::vector<absl::string_view>& args, absl::string_view what,
                                bool idempotent = false) {
    connection_lost_ = false;
    DropIfClosedByPeer();
    bool reused = ctx_ != nullptr;
    RETURN_IF_ERROR(Connect());
    absl::StatusOr<Reply> reply = Send(args, what);
    if (!reply.ok() && reused && idempotent && connection_lost_) {
      RETURN_IF_ERROR(Connect());
      return Send(args, what);
    }
    return reply;
  }

  // Several commands written at once, then their replies read: one round trip.
  absl::StatusOr<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands,
                                              absl::string_view what, bool idempotent) {
    connection_lost_ = false;
    DropIfClosedByPeer();
    bool reused = ctx_ != nullptr;
    absl::StatusOr<std::vector<Reply>> replies = PipelineOnce(commands, what);
    if (!replies.ok() && reused && idempotent && connection_lost_) {
      return PipelineOnce(commands, what);
    }
    return replies;
  }

  absl::StatusOr<std::vector<Reply>> PipelineOnce(
      const std::vector<std::vector<std::string>>& commands, absl::string_view what) {
    RETURN_IF_ERROR(Connect());
    for (const auto& args : commands) {
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const std::string& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
          REDIS_OK) {
        return IoError(what);
      }
    }
    std::vector<Reply> replies;
    for (size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return IoError(what);
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    // MULTI and the queued commands answer OK / QUEUED, or an error (e.g. NOAUTH, OOM).
    for (size_t i = 0; i + 1 < replies.size(); ++i) {
      if (replies[i]->type == REDIS_REPLY_ERROR) return ReplyError(what, replies[i]->str);
    }
    if (replies.back()->type == REDIS_REPLY_ERROR) return ReplyError(what, replies.back()->str);
    return replies;
  }

  static absl::Status ExpectStatus(redisReply* reply, absl::string_view what) {
    if (reply->type == REDIS_REPLY_ERROR) return ReplyError(what, reply->str);
    if (reply->type != REDIS_REPLY_STATUS) {
      return absl::DataLossError(absl::StrCat(what, ": unexpected reply type ", reply->type));
    }
    return absl::OkStatus();
  }

  RedisTarget target_;
  StoreOptions options_;
  redisContext* ctx_ = nullptr;
  bool legacy_get_ = false;
  bool connection_lost_ = false;  // the last I/O error was a close/reset by the peer
};

}  // namespace

std::unique_ptr<BlobStore> NewRedisStore(RedisTarget target, const StoreOptions& options) {
  return std::make_unique<RedisStore>(std::move(target), options);
}

}  // namespace typecache
