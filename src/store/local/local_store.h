// LocalGenerationStore: generations kept in the shared cache directory itself (layout.h): the
// head of <X.Y> is the symlink <cache>/<X.Y> -> .typecache/gens/<X.Y>/g<N>, what each
// generation changed is its log (genlog.h), its content digests sit beside the log, and the
// publish lock is a flock on .typecache/lock.
//
// Publish, in this order (docs/protocol.md, steps 5 to 7): write log N (atomically, fsynced),
// rename the private directory to gens/<X.Y>/g<N>, fsync gens/<X.Y>, rename a symlink over
// <cache>/<X.Y> (or exchange it with a real directory), fsync the cache directory: once that
// rename is durable, everything it points to is. N is one more than the head and than any
// generation a crashed publisher left behind.
// Cost: Publish O(files) metadata calls and 4 fsyncs; Fetch one stat per file and one small read
// per generation since `since`; RecordDigests one unsynced write and rename (a lost or torn
// record only means "no digest": readers check its end marker).
#ifndef TYPECACHE_SRC_STORE_LOCAL_LOCAL_STORE_H_
#define TYPECACHE_SRC_STORE_LOCAL_LOCAL_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/checker/checker_adapter.h"
#include "src/os/fs.h"
#include "src/store/generation_store.h"
#include "src/store/local/layout.h"

namespace typecache {

struct LocalStoreOptions {
  int keep_generations = 2;      // Kept besides the head, for readers that resolved an older link.
  int keep_logs = 1000;          // A snapshot older than this compares every group on publish.
  std::string run_id = "store";  // Names temporary links in runs/.
};

class LocalGenerationStore : public GenerationStore {
 public:
  LocalGenerationStore(Fs& fs, Layout layout, const CheckerAdapter& adapter,
                       LocalStoreOptions options = {})
      : fs_(fs), layout_(std::move(layout)), adapter_(adapter), options_(std::move(options)) {}

  absl::StatusOr<GenerationHead> Head(const std::string& dir) override;
  absl::StatusOr<std::optional<GroupSets>> Fetch(const std::string& dir,
                                                 const GenerationHead& since,
                                                 const GenerationHead& head) override;
  absl::StatusOr<std::optional<GenerationRecord>> Record(const std::string& dir,
                                                         int64_t gen) override;
  absl::StatusOr<std::unique_ptr<PublishLock>> Lock(
      absl::Duration timeout, const std::function<void(const std::string&)>& waiting) override;
  absl::StatusOr<PublishedGeneration> Publish(const PublishRequest& request) override;
  absl::Status RecordDigests(const std::string& dir, int64_t gen,
                             const std::map<std::string, uint64_t>& digests) override;
  absl::Status RecordCheckerVersion(const std::string& version) override;
  absl::Status CollectGarbage(const std::string& dir, int64_t head) override;

  const Layout& layout() const { return layout_; }

 private:
  absl::StatusOr<int64_t> NextGeneration(const std::string& dir, int64_t head);
  absl::Status SwitchLink(const std::string& dir, int64_t gen, std::string* warning);

  Fs& fs_;
  Layout layout_;
  const CheckerAdapter& adapter_;
  LocalStoreOptions options_;
};

// What LocalGenerationStore::CollectGarbage does: removes generations older than `head` minus
// `keep` and their digest records, logs older than `head` minus `keep_logs`, stale temporary
// files in logs/, and trash. Safe without the lock: nothing removed can become live again.
absl::Status CollectLocalGarbage(Fs& fs, const Layout& layout, const std::string& dir, int64_t head,
                                 int keep, int keep_logs);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_LOCAL_STORE_H_
