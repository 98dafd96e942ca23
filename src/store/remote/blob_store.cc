#include "src/store/remote/blob_store.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/base/status_macros.h"
#include "src/store/remote/curl_session.h"
#include "src/store/remote/http_store.h"
#include "src/store/remote/redis_store.h"
#include "src/store/remote/s3_store.h"

namespace typecache {
namespace {

constexpr size_t kMaxKeyBytes = 1024;

bool KeyChar(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/';
}

// scheme://[userinfo@]authority[/path][?query], split without decoding.
struct UrlParts {
  std::string scheme;
  std::string userinfo;
  bool has_userinfo = false;
  std::string authority;  // host[:port]
  std::string path;       // from the first '/', or ""
  std::string query;      // after '?', or ""
};

UrlParts SplitUrl(absl::string_view url) {
  UrlParts p;
  size_t colon = url.find(':');
  p.scheme = absl::AsciiStrToLower(url.substr(0, colon));
  absl::string_view rest = colon == absl::string_view::npos ? "" : url.substr(colon + 1);
  absl::ConsumePrefix(&rest, "//");
  size_t q = rest.find('?');
  if (q != absl::string_view::npos) {
    p.query = std::string(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) p.path = std::string(rest.substr(slash));
  size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) {
    p.has_userinfo = true;
    p.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  p.authority = std::string(authority);
  return p;
}

absl::Status BadUrl(absl::string_view url, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bad store URL ", RedactUrl(url), ": ", why));
}

// host[:port] with a default port; [v6] literals allowed.
absl::Status SplitHostPort(absl::string_view url, absl::string_view authority, int default_port,
                           std::string* host, int* port) {
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return BadUrl(url, "unclosed [ in the host");
    *host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) return BadUrl(url, "junk after ]");
    port_text = after;
  } else {
    size_t colon = authority.rfind(':');
    *host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (host->empty()) return BadUrl(url, "no host");
  *port = default_port;
  if (!port_text.empty() && (!absl::SimpleAtoi(port_text, port) || *port < 1 || *port > 65535)) {
    return BadUrl(url, absl::StrCat("bad port \"", port_text, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    absl::string_view url, absl::string_view query, absl::string_view allowed) {
  std::vector<std::pair<std::string, std::string>> params;
  if (query.empty()) return params;
  std::vector<absl::string_view> allowed_names = absl::StrSplit(allowed, ',');
  for (absl::string_view item : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    bool known = false;
    for (absl::string_view name : allowed_names) known |= kv.first == name;
    if (!known) {
      return BadUrl(url,
                    absl::StrCat("unknown parameter \"", kv.first, "\" (known: ", allowed, ")"));
    }
    params.emplace_back(kv.first, UriUnescape(kv.second));
  }
  return params;
}

absl::StatusOr<int> ParseDb(absl::string_view url, absl::string_view text) {
  int db = 0;
  if (!absl::SimpleAtoi(text, &db) || db < 0 || db > 1000000) {
    return BadUrl(url, absl::StrCat("bad database number \"", text, "\""));
  }
  return db;
}

absl::Status CheckPrefixText(absl::string_view url, absl::string_view prefix) {
  absl::Status s = ValidatePrefix(prefix);
  if (!s.ok()) return BadUrl(url, absl::StrCat("key prefix: ", s.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlobStore>> OpenRedis(absl::string_view url, const UrlParts& p,
                                                     const StoreOptions& options) {
  RedisTarget t;
  t.display = RedactUrl(url);
  if (p.scheme == "redis") {
    if (p.has_userinfo) {
      size_t colon = p.userinfo.find(':');
      if (colon == std::string::npos) {
        t.password = UriUnescape(p.userinfo);  // redis://password@host, as redis-cli takes it
      } else {
        t.user = UriUnescape(p.userinfo.substr(0, colon));
        t.password = UriUnescape(p.userinfo.substr(colon + 1));
      }
    }
    RETURN_IF_ERROR(SplitHostPort(url, p.authority, 6379, &t.host, &t.port));
    absl::string_view db = p.path;
    absl::ConsumePrefix(&db, "/");
    if (!db.empty()) {
      ASSIGN_OR_RETURN(t.db, ParseDb(url, db));
    }
    ASSIGN_OR_RETURN(auto params, ParseQuery(url, p.query, "prefix"));
    for (auto& [name, value] : params) t.key_prefix = value;
  } else {  // redis+unix
    if (!p.authority.empty() || p.has_userinfo) {
      return BadUrl(url, "expected redis+unix:///absolute/path/to/socket");
    }
    if (p.path.empty() || p.path[0] != '/') return BadUrl(url, "no socket path");
    t.unix_socket = UriUnescape(p.path);
    ASSIGN_OR_RETURN(auto params, ParseQuery(url, p.query, "db,prefix,user,password"));
    for (auto& [name, value] : params) {
      if (name == "db") {
        ASSIGN_OR_RETURN(t.db, ParseDb(url, value));
      } else if (name == "prefix") {
        t.key_prefix = value;
      } else if (name == "user") {
        t.user = value;
      } else {
        t.password = value;
      }
    }
  }
  if (!t.key_prefix.empty()) RETURN_IF_ERROR(CheckPrefixText(url, t.key_prefix));
  if (t.key_prefix.empty() && !options.key_prefix.empty()) {
    RETURN_IF_ERROR(CheckPrefixText(url, options.key_prefix));
  }
  return NewRedisStore(std::move(t), options);
}

absl::StatusOr<std::unique_ptr<BlobStore>> OpenHttp(absl::string_view url, const UrlParts& p,
                                                    const StoreOptions& options) {
  HttpTarget t;
  t.display = RedactUrl(url);
  if (!p.query.empty()) return BadUrl(url, "a query string is not allowed");
  std::string host;
  int port = 0;
  RETURN_IF_ERROR(SplitHostPort(url, p.authority, p.scheme == "https" ? 443 : 80, &host, &port));
  if (p.has_userinfo) t.userpwd = UriUnescape(p.userinfo);
  std::string path = p.path.empty() ? "/" : p.path;
  if (path.back() != '/') path.push_back('/');
  if (absl::StrContains(path, "//")) return BadUrl(url, "empty path segment");
  t.base_url = absl::StrCat(p.scheme, "://", p.authority, path);
  if (!absl::EndsWith(t.display, "/")) t.display.push_back('/');
  return NewHttpStore(std::move(t), options);
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

absl::StatusOr<std::unique_ptr<BlobStore>> OpenS3(absl::string_view url, const UrlParts& p,
                                                  const StoreOptions& options) {
  if (p.has_userinfo) {
    return BadUrl(url, "credentials go in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, not the URL");
  }
  if (!p.query.empty()) return BadUrl(url, "a query string is not allowed");
  S3Target t;
  t.bucket = p.authority;
  if (t.bucket.size() < 3 || t.bucket.size() > 63) return BadUrl(url, "bucket name length");
  for (char c : t.bucket) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '.')) {
      return BadUrl(url, "bucket names are [a-z0-9.-]");
    }
  }
  absl::string_view prefix = p.path;
  absl::ConsumePrefix(&prefix, "/");
  t.prefix = std::string(prefix);
  if (!t.prefix.empty() && t.prefix.back() != '/') t.prefix.push_back('/');
  if (!t.prefix.empty()) RETURN_IF_ERROR(CheckPrefixText(url, t.prefix));
  t.endpoint = options.s3_endpoint;
  if (t.endpoint.empty()) t.endpoint = Env("AWS_ENDPOINT_URL_S3");
  if (t.endpoint.empty()) t.endpoint = Env("AWS_ENDPOINT_URL");
  while (absl::EndsWith(t.endpoint, "/")) t.endpoint.pop_back();
  if (!t.endpoint.empty() && !absl::StartsWith(t.endpoint, "http://") &&
      !absl::StartsWith(t.endpoint, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad S3 endpoint ", RedactUrl(t.endpoint), " for ", url,
                     ": expected http://host[:port] or https://host[:port]"));
  }
  t.region = options.s3_region;
  if (t.region.empty()) t.region = Env("AWS_REGION");
  if (t.region.empty()) t.region = Env("AWS_DEFAULT_REGION");
  if (t.region.empty()) t.region = "us-east-1";
  for (char c : t.region) {
    if (!(absl::ascii_isalnum(c) || c == '-')) {
      return BadUrl(url, absl::StrCat("bad region \"", t.region, "\""));
    }
  }
  t.access_key_id = options.aws_access_key_id;
  t.secret_access_key = options.aws_secret_access_key;
  t.session_token = options.aws_session_token;
  if (t.access_key_id.empty()) {
    t.access_key_id = Env("AWS_ACCESS_KEY_ID");
    t.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
    t.session_token = Env("AWS_SESSION_TOKEN");
  }
  if (!t.access_key_id.empty() && t.secret_access_key.empty()) {
    return BadUrl(url, "an access key id without a secret access key");
  }
  return NewS3Store(std::move(t), options);
}

}  // namespace

absl::Status CheckObjectSize(absl::string_view what, absl::string_view bytes, size_t max_bytes) {
  if (bytes.size() <= max_bytes) return absl::OkStatus();
  return absl::OutOfRangeError(
      absl::StrFormat("%s: %d bytes, over the limit of %d", what, bytes.size(), max_bytes));
}

absl::Status ValidateKey(absl::string_view key) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad key \"", absl::CEscape(key.substr(0, 100)), "\": ", why));
  };
  if (key.empty()) return bad("empty");
  if (key.size() > kMaxKeyBytes) return bad("longer than 1024 bytes");
  for (char c : key) {
    if (!KeyChar(c)) return bad("characters other than [A-Za-z0-9._/-]");
  }
  if (key.front() == '/' || key.back() == '/') return bad("leading or trailing '/'");
  for (absl::string_view segment : absl::StrSplit(key, '/')) {
    if (segment.empty()) return bad("empty segment");
    if (segment == "." || segment == "..") return bad("'.' or '..' segment");
    // A WebDAV store on Apache keeps key K in the collection "K.tc-k/" (http_store.cc).
    if (absl::EndsWith(segment, ".tc-k")) return bad("a segment ending in \".tc-k\" is reserved");
  }
  if (absl::StrContains(key, ".tc-tmp-")) return bad("\".tc-tmp-\" is reserved");
  return absl::OkStatus();
}

absl::Status ValidatePrefix(absl::string_view prefix) {
  if (prefix.empty()) return absl::OkStatus();
  absl::string_view key = prefix;
  absl::ConsumeSuffix(&key, "/");
  absl::Status s = ValidateKey(key);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad prefix \"", absl::CEscape(prefix.substr(0, 100)), "\": ", s.message()));
  }
  return absl::OkStatus();
}

std::string RedactUrl(absl::string_view url) {
  std::string out(url);
  size_t start = out.find("://");
  if (start != std::string::npos) {
    start += 3;
    size_t end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    size_t at = out.rfind('@', end - 1);
    if (at != std::string::npos && at >= start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "***");
      } else {
        out.replace(start, at - start, "***");
      }
    }
  }
  // ?password=... / &password=...
  for (const std::string name : {"password=", "token="}) {
    size_t pos = 0;
    while ((pos = out.find(name, pos)) != std::string::npos) {
      if (pos == 0 || (out[pos - 1] != '?' && out[pos - 1] != '&')) {
        pos += name.size();
        continue;
      }
      size_t value = pos + name.size();
      size_t end = out.find('&', value);
      if (end == std::string::npos) end = out.size();
      out.replace(value, end - value, "***");
      pos = value + 3;
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(absl::string_view url,
                                                         const StoreOptions& options) {
  if (url.find("://") == absl::string_view::npos && !absl::StartsWith(url, "redis+unix:")) {
    return BadUrl(url, "expected redis://, redis+unix://, http://, https:// or s3://");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return BadUrl(url, "spaces or control characters");
    }
  }
  UrlParts p = SplitUrl(url);
  if (options.max_object_bytes == 0) {
    return absl::InvalidArgumentError("StoreOptions.max_object_bytes must be positive");
  }
  if (p.scheme == "redis" || p.scheme == "redis+unix") return OpenRedis(url, p, options);
  if (p.scheme == "http" || p.scheme == "https") return OpenHttp(url, p, options);
  if (p.scheme == "s3") return OpenS3(url, p, options);
  return BadUrl(
      url, absl::StrCat("unknown scheme \"", p.scheme, "\" (redis, redis+unix, http, https, s3)"));
}

}  // namespace typecache
