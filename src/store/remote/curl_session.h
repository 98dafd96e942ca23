// CurlSession: one libcurl easy handle, reused for every request so the connection stays
// alive, with the deadlines and size limit of StoreOptions. Shared by the WebDAV/HTTP and S3
// backends; not part of the public API.
//
// Contract: Perform sends one request and returns the HTTP status, body and ETag; it never
// follows redirects and speaks only http/https. CURLOPT_NOSIGNAL is set (safe in threads).
// Cost: one round trip (plus a connect when the kept-alive connection is gone).
// Failure behaviour: transport failures (refused, timeout, reset, reply cut short) are
// UnavailableError; a 2xx body over max_response_bytes is OutOfRangeError (reading stops at
// the limit; the connection is then dropped). The body of a non-2xx reply is kept to its first
// 4 KiB whatever the limit. HTTP error statuses are not errors here: HttpStatusError
// classifies them.
// Not thread-safe: one session per thread.
#ifndef TYPECACHE_SRC_STORE_REMOTE_CURL_SESSION_H_
#define TYPECACHE_SRC_STORE_REMOTE_CURL_SESSION_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/store/remote/blob_store.h"

namespace typecache {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, PUT, DELETE, MKCOL, MOVE, PROPFIND, ...
  std::string url;
  std::vector<std::string> headers;       // "Name: value"
  std::optional<absl::string_view> body;  // sent with Content-Length when set
  size_t max_response_bytes = 1 << 20;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::string etag;    // the ETag header, quotes kept, "" if none
  std::string server;  // the Server header ("Apache/2.4.71 (Debian)"), "" if none
};

// Credentials and TLS trust of a session.
struct CurlAuth {
  std::string userpwd;    // "user:password" for Basic auth or, with aws_sigv4, "AKID:SECRET"
  std::string aws_sigv4;  // e.g. "aws:amz:us-east-1:s3"; empty: no signing
  // CA certificates that verify https:// servers instead of libcurl's default bundle: a PEM
  // file (CURLOPT_CAINFO) and a hashed directory (CURLOPT_CAPATH); empty: the default.
  std::string ca_file;
  std::string ca_dir;
};

// Sets `auth`'s TLS trust from `options` (tls_ca_file, tls_ca_dir), else from $SSL_CERT_FILE
// and $SSL_CERT_DIR (as OpenSSL, Python and uv read them).
void AddTlsTrust(const StoreOptions& options, CurlAuth& auth);

class CurlSession {
 public:
  static absl::StatusOr<std::unique_ptr<CurlSession>> Create(absl::Duration connect_timeout,
                                                             absl::Duration request_timeout,
                                                             CurlAuth auth);
  ~CurlSession();
  CurlSession(const CurlSession&) = delete;
  CurlSession& operator=(const CurlSession&) = delete;

  // `display_url` names the request in messages (the URL with credentials redacted).
  absl::StatusOr<HttpResponse> Perform(const HttpRequest& request, absl::string_view display_url);

 private:
  CurlSession(void* handle, absl::Duration connect_timeout, absl::Duration request_timeout,
              CurlAuth auth);
  void* handle_;  // CURL*
  absl::Duration connect_timeout_;
  absl::Duration request_timeout_;
  CurlAuth auth_;
};

// What the WebDAV/HTTP and S3 stores share: their parsed URL, options and one session. Make one
// with NewCurlStore.
template <typename Target>
class CurlStore : public BlobStore {
 protected:
  CurlStore(Target target, const StoreOptions& options, std::unique_ptr<CurlSession> session)
      : target_(std::move(target)), options_(options), session_(std::move(session)) {}
  Target target_;
  StoreOptions options_;
  std::unique_ptr<CurlSession> session_;
};

// Opens the session with the options' timeouts and `auth`, and the store `Store` over it.
template <typename Store, typename Target>
absl::StatusOr<std::unique_ptr<BlobStore>> NewCurlStore(Target target, const StoreOptions& options,
                                                        CurlAuth auth) {
  AddTlsTrust(options, auth);
  absl::StatusOr<std::unique_ptr<CurlSession>> session =
      CurlSession::Create(options.connect_timeout, options.request_timeout, std::move(auth));
  if (!session.ok()) return session.status();
  return std::unique_ptr<BlobStore>(new Store(std::move(target), options, std::move(*session)));
}

// The error for an HTTP status that is not success (see blob_store.h for the mapping).
// `what` is e.g. "PUT http://host/key"; `body` is quoted (first 200 bytes) in the message.
absl::Status HttpStatusError(long status, absl::string_view what, absl::string_view body);

// %-escapes everything but unreserved characters (RFC 3986, uppercase hex), as SigV4 wants.
std::string UriEscape(absl::string_view s);
// Undoes %-escapes (invalid escapes are kept literally).
std::string UriUnescape(absl::string_view s);
// Replaces XML's five predefined entities and numeric character references (ASCII only).
std::string XmlUnescape(absl::string_view s);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_CURL_SESSION_H_
