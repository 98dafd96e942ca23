#include "src/store/remote/parallel.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <thread>

namespace typecache {
namespace {

// Runs work(store, i) for every i in [0, n) on `parallelism` threads; open_error(i, status)
// for the items of a worker whose store did not open.
void RunParallel(absl::string_view url, const StoreOptions& options, size_t n, int parallelism,
                 const std::function<void(BlobStore&, size_t)>& work,
                 const std::function<void(size_t, const absl::Status&)>& open_error) {
  if (n == 0) return;
  size_t workers = static_cast<size_t>(std::clamp(parallelism, 1, 64));
  workers = std::min(workers, n);
  std::atomic<size_t> next{0};
  std::string url_copy(url);
  auto worker = [&] {
    absl::StatusOr<std::unique_ptr<BlobStore>> store = OpenBlobStore(url_copy, options);
    for (size_t i = next++; i < n; i = next++) {
      if (store.ok()) {
        work(**store, i);
      } else {
        open_error(i, store.status());
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
}

}  // namespace

std::vector<absl::StatusOr<std::optional<std::string>>> GetMany(
    absl::string_view url, const StoreOptions& options, const std::vector<std::string>& keys,
    int parallelism) {
  std::vector<absl::StatusOr<std::optional<std::string>>> results(keys.size());
  RunParallel(
      url, options, keys.size(), parallelism,
      [&](BlobStore& store, size_t i) { results[i] = store.Get(keys[i]); },
      [&](size_t i, const absl::Status& s) { results[i] = s; });
  return results;
}

std::vector<absl::Status> PutMany(absl::string_view url, const StoreOptions& options,
                                  const std::vector<std::pair<std::string, std::string>>& items,
                                  int parallelism) {
  std::vector<absl::Status> results(items.size());
  RunParallel(
      url, options, items.size(), parallelism,
      [&](BlobStore& store, size_t i) { results[i] = store.Put(items[i].first, items[i].second); },
      [&](size_t i, const absl::Status& s) { results[i] = s; });
  return results;
}

}  // namespace typecache
