// Parallel transfers: many Gets or Puts spread over `parallelism` worker threads, each with its
// own BlobStore (its own connection) opened from the same URL.
//
// Contract: results come back in the order of the inputs, one status per item; one item's
// failure does not stop the others. parallelism is clamped to [1, 64] and to the item count.
// Cost: parallelism connections; the items are taken from a shared counter, so a slow item
// delays only its worker.
// Failure behaviour: a URL that does not open fails every item with that error.
#ifndef TYPECACHE_SRC_STORE_REMOTE_PARALLEL_H_
#define TYPECACHE_SRC_STORE_REMOTE_PARALLEL_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/store/remote/blob_store.h"

namespace typecache {

std::vector<absl::StatusOr<std::optional<std::string>>> GetMany(
    absl::string_view url, const StoreOptions& options, const std::vector<std::string>& keys,
    int parallelism);

std::vector<absl::Status> PutMany(absl::string_view url, const StoreOptions& options,
                                  const std::vector<std::pair<std::string, std::string>>& items,
                                  int parallelism);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_PARALLEL_H_
