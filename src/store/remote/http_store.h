// HttpStore: BlobStore over WebDAV (nginx dav + dav-ext, Apache mod_dav) or plain HTTP GET/PUT.
//
// Contract: before its first operation the store asks the server who it is (one OPTIONS) and
// picks a layout for good. Flat (every server but Apache): key K lives at <base URL>K.
// Collections (a Server header starting with "Apache", whose mod_dav creates nothing
// atomically): K lives at <base URL>K.tc-k/v; PutIfAbsent MKCOLs <K>.tc-tmp-<random>/, PUTs
// its "v" and MOVEs it onto K.tc-k/ with "Overwrite: F" (a rename of a non-empty directory:
// one winner; a loser gets 412 or 500 and sees the key); CompareAndSwap is Unimplemented;
// Delete removes K.tc-k/; List names keys by their collections. Below, "key" means its path.
// The base collection and any parent are made with MKCOL when the server answers 409.
// Put is PUT; when the server answers 409 (parent
// collection missing: Apache) or 500 (what nginx without create_full_put_path answers then)
// the missing collections are created with MKCOL and the PUT is sent once more. List is PROPFIND
// Depth: 1 on each collection under the prefix, recursively (bounded by max_list_keys and a request
// budget). Entries named *.tc-tmp-* (a crashed PutIfAbsent's temporary object) are never listed.
//   PutIfAbsent, default: PUT <key>.tc-tmp-<random>, then MOVE it to the key with
//     "Overwrite: F" (412 when the key exists: false, and the temporary object is deleted).
//     nginx checks and renames inside one event handler, so this is atomic with one nginx
//     worker process; with several workers two racing creators may both see true.
//   PutIfAbsent, http_conditional_writes: one PUT with "If-None-Match: *" (412: false).
//   CompareAndSwap (http_conditional_writes only): GET, compare the content, then PUT with
//     "If-Match: <ETag of that GET>" (or "If-None-Match: *" when absence is expected).
// Cost: one request per call (plus the first call's OPTIONS); PutIfAbsent (MOVE mode) two,
// (collection layout) three; CompareAndSwap two; List one per collection. The curl handle (and its
// kept-alive connection) is reused. Failure behaviour: see blob_store.h; HTTP statuses are mapped
// by HttpStatusError.
#ifndef TYPECACHE_SRC_STORE_REMOTE_HTTP_STORE_H_
#define TYPECACHE_SRC_STORE_REMOTE_HTTP_STORE_H_

#include <memory>
#include <string>

#include "src/store/remote/blob_store.h"

namespace typecache {

struct HttpTarget {
  std::string base_url;  // scheme://host[:port]/path/ (ends with '/', no user-info)
  std::string userpwd;   // "user:password" for Basic auth, or empty
  std::string display;   // the URL, redacted
};

absl::StatusOr<std::unique_ptr<BlobStore>> NewHttpStore(HttpTarget target,
                                                        const StoreOptions& options);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_HTTP_STORE_H_
