// RedisStore: BlobStore over one Redis server (hiredis 0.14, synchronous, one connection).
//
// Contract: keys are stored as Redis strings named <prefix><key>. PutIfAbsent is SET NX and
// CompareAndSwap one Lua script (both atomic on the server); List is SCAN MATCH <prefix>* with
// COUNT list_page_size, at most max_list_keys keys and a bounded number of SCAN calls (SCAN may
// return a key twice; List dedupes). Get is a read-only Lua script (flags=no-writes, so it works
// on read-only replicas and while the server is OOM) that returns only the length of a value
// over max_object_bytes, so such a value is never sent to the client; on Redis < 7 (no script
// flags) it falls back to MULTI/EXISTS/GETRANGE 0 max/EXEC, which an OOM server refuses.
// Cost: one round trip per call (List: one per SCAN page); the connection is opened on the
// first call and kept.
// Failure behaviour: see blob_store.h. The connect timeout bounds TCP connect; the request
// timeout is hiredis' socket timeout, i.e. it bounds each read and write of one command. An
// I/O error drops the connection; the next call reconnects (and re-sends AUTH and SELECT).
#ifndef TYPECACHE_SRC_STORE_REMOTE_REDIS_STORE_H_
#define TYPECACHE_SRC_STORE_REMOTE_REDIS_STORE_H_

#include <memory>
#include <string>

#include "src/store/remote/blob_store.h"

namespace typecache {

struct RedisTarget {
  std::string host;  // TCP, or
  int port = 6379;
  std::string unix_socket;  // a Unix socket path
  int db = 0;
  std::string user;  // AUTH user password (Redis 6 ACLs) when set, AUTH password otherwise
  std::string password;
  std::string key_prefix;
  std::string display;  // the URL, redacted
};

std::unique_ptr<BlobStore> NewRedisStore(RedisTarget target, const StoreOptions& options);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_REDIS_STORE_H_
