// S3Store: BlobStore over an S3 bucket (AWS, or an S3-compatible server through an endpoint),
// signed with libcurl's SigV4 (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3").
//
// Contract: key K is object <prefix>K. Get/Put/Delete are GetObject/PutObject/DeleteObject;
// List is ListObjectsV2 (list-type=2, prefix, max-keys=list_page_size) following continuation
// tokens, at most max_list_keys keys. With s3_conditional_writes (the default, as AWS has):
//   PutIfAbsent: PutObject with "If-None-Match: *" (412: false; 409 ConditionalRequestConflict,
//     a concurrent attempt: retried up to 3 times).
//   CompareAndSwap: GetObject, compare the content, then PutObject with "If-Match: <ETag>"
//     (or "If-None-Match: *" when absence is expected).
// Without it both are Unimplemented. The payload is sent as UNSIGNED-PAYLOAD (the body is not
// hashed into the signature; callers check content with codec.h's digest); a session token
// goes in x-amz-security-token. Path-style URLs when an endpoint is given, virtual-hosted
// (https://BUCKET.s3.REGION.amazonaws.com) otherwise.
// Cost: one request per call (CompareAndSwap two; List one per 1000 keys). Kept-alive curl
// handle.
// Failure behaviour: see blob_store.h (403, e.g. a bad signature or an unknown key id, is
// PermissionDenied; 503 SlowDown is Unavailable).
#ifndef TYPECACHE_SRC_STORE_REMOTE_S3_STORE_H_
#define TYPECACHE_SRC_STORE_REMOTE_S3_STORE_H_

#include <memory>
#include <string>

#include "src/store/remote/blob_store.h"

namespace typecache {

struct S3Target {
  std::string bucket;
  std::string prefix;    // "" or ending with '/'
  std::string endpoint;  // scheme://host[:port], no trailing '/'; empty: AWS
  std::string region;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
};

absl::StatusOr<std::unique_ptr<BlobStore>> NewS3Store(S3Target target, const StoreOptions& options);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_S3_STORE_H_
