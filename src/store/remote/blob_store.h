// BlobStore: a narrow key -> bytes interface over the remote stores teams already run (Redis,
// WebDAV/HTTP, S3), the layer under typecache's cross-machine cache sharing.
//
// Contract
//   - Keys are 1..1024 bytes of [A-Za-z0-9._-/], no leading, trailing or doubled '/', no "."
//     or ".." segment, no ".tc-tmp-" (reserved for the WebDAV backend's temporary names).
//     Anything else is InvalidArgument before any network traffic. Every backend maps a key
//     to the same name (under its own prefix), so keys are portable between backends.
//   - Get of a missing key returns nullopt, never NotFound. Delete of a missing key is OK.
//   - List(prefix) returns every key that starts with `prefix` (recursively, not only one
//     "directory" level), sorted, without the store's own prefix.
//   - PutIfAbsent and CompareAndSwap are only as atomic as the server makes them: see
//     capabilities(); a backend that cannot do one returns UnimplementedError for it.
//   - A BlobStore is not thread-safe: one instance per thread (each holds one connection).
//     Instances are cheap to open: OpenBlobStore parses the URL and connects lazily, on the
//     first call.
//
// Cost: one network round trip per call unless the backend's comment says otherwise
// (WebDAV PutIfAbsent: PUT + MOVE; HTTP/S3 CompareAndSwap: GET + PUT; List: one request per
// page / per collection). Connections are kept alive between calls.
//
// Failure behaviour: every call is bounded by StoreOptions' deadlines and returns
//   UnavailableError         connect refused or timed out, request timed out, connection
//                            reset or closed mid-reply, HTTP 5xx/408/429, Redis LOADING/BUSY
//   PermissionDeniedError    HTTP 401/403, Redis NOAUTH/WRONGPASS/NOPERM/READONLY
//   ResourceExhaustedError   HTTP 507, Redis OOM
//   OutOfRangeError          an object (or a decompressed frame) larger than max_object_bytes;
//                            Get stops reading at the limit instead of allocating it
//   DataLossError            a reply that cannot be parsed, a corrupt zstd frame (codec.h)
//   InvalidArgumentError     a bad URL or key (message names the URL, credentials redacted)
//   UnimplementedError       an operation the backend (as configured) cannot do
// After an I/O failure the connection is dropped and the next call reconnects. Redis: a
// kept-alive connection the server closed while idle (its `timeout`, CLIENT KILL, a restart) is
// replaced before a call is sent on it, and an idempotent call (Get, Put, Delete, List) whose
// connection is lost mid-call is sent once more on a new one (HTTP/S3: libcurl checks a kept
// connection before reusing it). PutIfAbsent and CompareAndSwap are never retried (a retry
// could report a creation it did not make).
#ifndef TYPECACHE_SRC_STORE_REMOTE_BLOB_STORE_H_
#define TYPECACHE_SRC_STORE_REMOTE_BLOB_STORE_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace typecache {

struct StoreOptions {
  // Time to establish a connection (TCP connect, TLS handshake).
  absl::Duration connect_timeout = absl::Milliseconds(200);
  // Total time for one request including connecting (HTTP), or for each socket read/write of
  // one command (Redis: hiredis' socket timeout).
  absl::Duration request_timeout = absl::Seconds(10);
  // Largest object Get returns or Put sends; larger is OutOfRangeError.
  size_t max_object_bytes = size_t{256} << 20;
  // Prepended to every key, followed by a '/' unless it ends with one (Redis; the URL's
  // ?prefix= wins): "tc" puts key "k" at "tc/k". For HTTP and S3 the URL path is the prefix.
  std::string key_prefix;
  // List stops with OutOfRangeError past this many keys (bounds memory and request loops).
  size_t max_list_keys = 1000000;
  // Keys per page asked of S3 ListObjectsV2 (max-keys) and per Redis SCAN COUNT.
  int list_page_size = 1000;

  // HTTP/WebDAV: the server honours If-None-Match/If-Match on PUT (Apache mod_dav does; nginx
  // ignores them and overwrites). When true, PutIfAbsent is one conditional PUT and
  // CompareAndSwap is available; when false, PutIfAbsent is PUT of a temporary name plus
  // MOVE with "Overwrite: F", and CompareAndSwap is Unimplemented.
  bool http_conditional_writes = false;

  // https:// (WebDAV and S3): CA certificates to verify the server with instead of libcurl's
  // default bundle (Debian: /etc/ssl/certs): a PEM file, else $SSL_CERT_FILE; a hashed
  // directory, else $SSL_CERT_DIR. The server's certificate and name are always verified.
  std::string tls_ca_file;
  std::string tls_ca_dir;

  // S3. Endpoint: this, else $AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL, else AWS
  // (https://BUCKET.s3.REGION.amazonaws.com). With an endpoint, path-style addressing.
  std::string s3_endpoint;
  // Region: this, else $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1.
  std::string s3_region;
  // Credentials: these, else $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY / $AWS_SESSION_TOKEN.
  // Without an access key, requests are sent unsigned.
  std::string aws_access_key_id;
  std::string aws_secret_access_key;
  std::string aws_session_token;
  // AWS S3 honours If-None-Match: * (since 2024-08) and If-Match (since 2024-11) on PUT. Set
  // false for a server that ignores them: PutIfAbsent and CompareAndSwap are then
  // Unimplemented rather than silently overwriting.
  bool s3_conditional_writes = true;
};

// What a backend can do, as configured. Each flag is a promise the backend keeps against
// concurrent writers that also use this interface.
struct StoreCapabilities {
  bool put_if_absent = false;     // PutIfAbsent is atomic: exactly one creator wins
  bool compare_and_swap = false;  // CompareAndSwap is atomic
  bool list = false;              // List works
  bool etags = false;             // the server returns a validator (ETag) with each object
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // The object's bytes, or nullopt when the key does not exist.
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) = 0;
  // Creates or replaces the object.
  virtual absl::Status Put(absl::string_view key, absl::string_view bytes) = 0;
  // Creates the object only if the key does not exist: true if this call created it, false if
  // it existed (and was left as it was).
  virtual absl::StatusOr<bool> PutIfAbsent(absl::string_view key, absl::string_view bytes) = 0;
  // Replaces the object with `replacement` only if its current content is `expected`
  // (nullopt: only if it does not exist). True if replaced, false if the content differed.
  virtual absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                              std::optional<absl::string_view> expected,
                                              absl::string_view replacement) = 0;
  // Every key that starts with `prefix` ("" = all), sorted.
  virtual absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) = 0;
  // Removes the object; OK when it does not exist.
  virtual absl::Status Delete(absl::string_view key) = 0;

  virtual StoreCapabilities capabilities() const = 0;
  // The URL and settings, for messages: passwords and secrets are replaced by "***".
  virtual std::string description() const = 0;
};

// Opens a store by URL (no network traffic yet):
//   redis://[user:password@]host:port[/db][?prefix=P]
//   redis+unix:///path/to/socket[?db=N][&prefix=P][&password=S][&user=U]
//   http://[user:password@]host[:port]/path/   https://...   (WebDAV or plain HTTP PUT/GET)
//   s3://bucket[/prefix]
// A malformed URL is InvalidArgumentError naming it (credentials redacted).
absl::StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(absl::string_view url,
                                                         const StoreOptions& options = {});

// InvalidArgument unless `key` is a valid key (see the contract above; segments ending in
// ".tc-k" are reserved too: the WebDAV store's collection layout).
absl::Status ValidateKey(absl::string_view key);
// OutOfRange naming `what` (e.g. "PUT <url>") when `bytes` is over `max_bytes`: what every
// store's Put checks before sending anything.
absl::Status CheckObjectSize(absl::string_view what, absl::string_view bytes, size_t max_bytes);
// A valid List prefix: empty, or a key, or a key followed by '/'.
absl::Status ValidatePrefix(absl::string_view prefix);
// `url` with the password in its user-info (and any password= query value) replaced by "***".
std::string RedactUrl(absl::string_view url);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_BLOB_STORE_H_
