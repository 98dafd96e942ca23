#include "src/store/remote/curl_session.h"

#include <curl/curl.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace typecache {
namespace {

// libcurl is loaded when the first HTTP session is made, not at startup: linked normally it
// brings some 30 shared objects (TLS, Kerberos, LDAP, ...) whose loading and constructors cost
// every `typecache run` several milliseconds, while most runs never talk HTTP. Only the
// functions below are used; their signatures are those of curl.h (ABI soname 4).
struct LibCurl {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_reset)(CURL*);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  struct curl_slist* (*slist_append)(struct curl_slist*, const char*);
  void (*slist_free_all)(struct curl_slist*);
};

// The loaded library, or why it could not be loaded (then every Create fails with that reason,
// which callers treat as the store being unavailable).
const absl::StatusOr<LibCurl>& Curl() {
  static const absl::StatusOr<LibCurl>* lib = [] {
    const char* soname = "libcurl.so.4";
    // RTLD_NOW: a library missing a symbol fails here, as an unavailable store, not later as a
    // "symbol lookup error" that kills the process mid-pull (lazy binding saved 0.3 ms).
    void* so = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (so == nullptr) {
      const char* why = dlerror();
      return new absl::StatusOr<LibCurl>(absl::UnavailableError(absl::StrCat(
          "HTTP stores need libcurl (Debian: apt install libcurl4): ", why ? why : soname)));
    }
    LibCurl l;
    bool ok = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(so, name));
      ok = ok && fn != nullptr;
    };
    sym(l.global_init, "curl_global_init");
    sym(l.easy_init, "curl_easy_init");
    sym(l.easy_setopt, "curl_easy_setopt");
    sym(l.easy_perform, "curl_easy_perform");
    sym(l.easy_getinfo, "curl_easy_getinfo");
    sym(l.easy_reset, "curl_easy_reset");
    sym(l.easy_cleanup, "curl_easy_cleanup");
    sym(l.easy_strerror, "curl_easy_strerror");
    sym(l.slist_append, "curl_slist_append");
    sym(l.slist_free_all, "curl_slist_free_all");
    if (!ok) {
      return new absl::StatusOr<LibCurl>(
          absl::UnavailableError(absl::StrCat(soname, " lacks a function typecache uses")));
    }
    CURLcode init = l.global_init(CURL_GLOBAL_DEFAULT);
    if (init != CURLE_OK) {
      return new absl::StatusOr<LibCurl>(
          absl::InternalError(absl::StrCat("curl_global_init: ", l.easy_strerror(init))));
    }
    return new absl::StatusOr<LibCurl>(l);
  }();
  return *lib;
}

// The loaded library; only called once a session exists (Create checked Curl()).
const LibCurl& Lib() { return *Curl(); }

// Bodies of error statuses are kept only this far (for messages), whatever their size.
constexpr size_t kErrorBodyBytes = 4096;

struct Sink {
  HttpResponse* response;
  size_t limit;
  long status = 0;  // of the response being received, from its status line
  bool over_limit = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t len = size * n;
  std::string& body = sink->response->body;
  if (sink->status < 200 || sink->status > 299) {  // an error page: keep its start only
    body.append(data, std::min(len, kErrorBodyBytes - std::min(kErrorBodyBytes, body.size())));
    return len;
  }
  if (body.size() + len > sink->limit) {
    sink->over_limit = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR: reading stops at the limit
  }
  body.append(data, len);
  return len;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t len = size * n;
  absl::string_view line(data, len);
  if (absl::StartsWith(line, "HTTP/")) {
    sink->response->etag.clear();  // a new response (e.g. after 100 Continue)
    size_t space = line.find(' ');
    int status = 0;
    if (space != absl::string_view::npos && absl::SimpleAtoi(line.substr(space + 1, 3), &status)) {
      sink->status = status;
    }
  } else if (absl::StartsWithIgnoreCase(line, "etag:")) {
    sink->response->etag = std::string(absl::StripAsciiWhitespace(line.substr(5)));
  } else if (absl::StartsWithIgnoreCase(line, "server:")) {
    sink->response->server = std::string(absl::StripAsciiWhitespace(line.substr(7)));
  }
  return len;
}

long Millis(absl::Duration d) {
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

}  // namespace

void AddTlsTrust(const StoreOptions& options, CurlAuth& auth) {
  auto pick = [](const std::string& option, const char* env) {
    if (!option.empty()) return option;
    const char* v = std::getenv(env);
    return std::string(v == nullptr ? "" : v);
  };
  auth.ca_file = pick(options.tls_ca_file, "SSL_CERT_FILE");
  auth.ca_dir = pick(options.tls_ca_dir, "SSL_CERT_DIR");
}

absl::StatusOr<std::unique_ptr<CurlSession>> CurlSession::Create(absl::Duration connect_timeout,
                                                                 absl::Duration request_timeout,
                                                                 CurlAuth auth) {
  if (!Curl().ok()) return Curl().status();
  CURL* handle = Lib().easy_init();
  if (handle == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  return std::unique_ptr<CurlSession>(
      new CurlSession(handle, connect_timeout, request_timeout, std::move(auth)));
}

CurlSession::CurlSession(void* handle, absl::Duration connect_timeout,
                         absl::Duration request_timeout, CurlAuth auth)
    : handle_(handle),
      connect_timeout_(connect_timeout),
      request_timeout_(request_timeout),
      auth_(std::move(auth)) {}

CurlSession::~CurlSession() { Lib().easy_cleanup(static_cast<CURL*>(handle_)); }

absl::StatusOr<HttpResponse> CurlSession::Perform(const HttpRequest& request,
                                                  absl::string_view display_url) {
  CURL* h = static_cast<CURL*>(handle_);
  // Reset clears the options of the previous request but keeps the connection cache.
  Lib().easy_reset(h);
  HttpResponse response;
  Sink sink{&response, request.max_response_bytes};
  char errbuf[CURL_ERROR_SIZE] = {0};
  Lib().easy_setopt(h, CURLOPT_URL, request.url.c_str());
  Lib().easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  Lib().easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  Lib().easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  Lib().easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, Millis(connect_timeout_));
  Lib().easy_setopt(h, CURLOPT_TIMEOUT_MS, Millis(request_timeout_));
  Lib().easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  Lib().easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  Lib().easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  Lib().easy_setopt(h, CURLOPT_HEADERFUNCTION, WriteHeader);
  Lib().easy_setopt(h, CURLOPT_HEADERDATA, &sink);
  if (!auth_.userpwd.empty()) Lib().easy_setopt(h, CURLOPT_USERPWD, auth_.userpwd.c_str());
  if (!auth_.aws_sigv4.empty()) Lib().easy_setopt(h, CURLOPT_AWS_SIGV4, auth_.aws_sigv4.c_str());
  if (!auth_.ca_file.empty()) Lib().easy_setopt(h, CURLOPT_CAINFO, auth_.ca_file.c_str());
  if (!auth_.ca_dir.empty()) Lib().easy_setopt(h, CURLOPT_CAPATH, auth_.ca_dir.c_str());

  if (request.method == "HEAD") {
    Lib().easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET" && !request.body) {
    Lib().easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    Lib().easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.body) {
    Lib().easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                      static_cast<curl_off_t>(request.body->size()));
    Lib().easy_setopt(h, CURLOPT_POSTFIELDS, request.body->data());
  }
  struct curl_slist* headers = nullptr;
  // No "Expect: 100-continue" round trip for large bodies; no form content type.
  headers = Lib().slist_append(headers, "Expect:");
  bool has_content_type = false;
  for (const std::string& header : request.headers) {
    has_content_type |= absl::StartsWithIgnoreCase(header, "content-type:");
    headers = Lib().slist_append(headers, header.c_str());
  }
  if (request.body && !has_content_type) {
    headers = Lib().slist_append(headers, "Content-Type: application/octet-stream");
  }
  Lib().easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = Lib().easy_perform(h);
  Lib().slist_free_all(headers);
  Lib().easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  const std::string what = absl::StrCat(request.method, " ", display_url);
  if (rc == CURLE_WRITE_ERROR && sink.over_limit) {
    return absl::OutOfRangeError(absl::StrFormat("%s: object larger than the limit of %d bytes",
                                                 what, request.max_response_bytes));
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? errbuf : Lib().easy_strerror(rc);
    std::string message = absl::StrCat(what, ": ", detail);
    switch (rc) {
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        return absl::InvalidArgumentError(message);
      case CURLE_OUT_OF_MEMORY:
        return absl::ResourceExhaustedError(message);
      case CURLE_LOGIN_DENIED:
        return absl::PermissionDeniedError(message);
      default:
        // Refused, resolve, timeout, send/recv errors, empty or partial replies, TLS.
        return absl::UnavailableError(message);
    }
  }
  Lib().easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

absl::Status HttpStatusError(long status, absl::string_view what, absl::string_view body) {
  std::string snippet(body.substr(0, 200));
  for (char& c : snippet) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::string message = absl::StrCat(what, ": HTTP ", status);
  if (!snippet.empty()) absl::StrAppend(&message, " (", snippet, ")");
  if (status == 401 || status == 403) return absl::PermissionDeniedError(message);
  if (status == 507) return absl::ResourceExhaustedError(message);
  if (status == 413) return absl::OutOfRangeError(message);
  if (status == 408 || status == 429 || status >= 500) return absl::UnavailableError(message);
  if (status == 404 || status == 410) return absl::NotFoundError(message);
  if (status == 405 || status == 501) return absl::UnimplementedError(message);
  if (status == 409) return absl::AbortedError(message);
  if (status == 412) return absl::FailedPreconditionError(message);
  if (status == 400) return absl::InvalidArgumentError(message);
  return absl::UnknownError(message);
}

std::string UriEscape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

std::string UriUnescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      auto hex = [](char c) { return absl::ascii_isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10; };
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string XmlUnescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t end = s.find(';', i);
    if (end == absl::string_view::npos || end - i > 10) {
      out.push_back(s[i]);
      continue;
    }
    absl::string_view entity = s.substr(i + 1, end - i - 1);
    char c = 0;
    static constexpr struct {
      const char* name;
      char c;
    } kNamed[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    for (const auto& named : kNamed) {
      if (entity == named.name) c = named.c;
    }
    if (c == 0 && !entity.empty() && entity[0] == '#') {
      uint32_t code = 0;
      bool ok = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X')
                    ? absl::SimpleHexAtoi(entity.substr(2), &code)
                    : absl::SimpleAtoi(entity.substr(1), &code);
      if (ok && code > 0 && code < 128) c = static_cast<char>(code);
    }
    if (c == 0) {
      out.push_back(s[i]);
      continue;
    }
    out.push_back(c);
    i = end;
  }
  return out;
}

}  // namespace typecache
