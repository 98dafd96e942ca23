// The seam between the run protocol (snapshot, capture, publish: src/store/local/snapshot.h,
// publish.h) and where a cache's generations live. A GenerationStore keeps, per database
// directory ("3.11"), a sequence of immutable generations and what each changed; the protocol
// asks it for the head, for the groups changed since a generation, for the exclusive right to
// publish, and to make a prepared directory the next head. LocalGenerationStore
// (src/store/local/local_store.h) keeps them in the shared cache directory; another store
// implements this interface and leaves snapshot, capture and publish as they are.
//
// Contract: Head and Fetch need no lock and may be stale by the time they return; Publish is
// called only while a PublishLock from Lock is held, with the head read under that lock.
// Generations are immutable once they are the head, and stay readable (Head().resolved) until
// CollectGarbage removes generations older than the head minus the store's keep count.
// Cost: Head O(1); Fetch O(generations since) reads of small logs; Publish O(1) renames and
// syncs; Record O(1) small reads; RecordDigests one small atomic write.
#ifndef TYPECACHE_SRC_STORE_GENERATION_STORE_H_
#define TYPECACHE_SRC_STORE_GENERATION_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace typecache {

// Size and mtime of a published database file: cheap to compare on every publish.
struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp& o) const { return size == o.size && mtime_ns == o.mtime_ns; }
};

// Groups per database file name ("cache.db" -> {"<table>:os/path.json", ...}).
using GroupSets = std::map<std::string, std::set<std::string>>;

// What a database directory is now.
struct GenerationHead {
  enum class Kind { kMissing, kGeneration, kForeign };
  Kind kind = Kind::kMissing;
  int64_t gen = 0;       // For kGeneration.
  std::string resolved;  // A local directory holding its database files (empty when missing).
};

// What the store recorded about one generation's database files when it was published.
struct GenerationRecord {
  int64_t gen = 0;
  int64_t parent = 0;  // 0: made from nothing; -1: its change from the parent cannot be listed.
  std::map<std::string, FileStamp> stamps;
  // Content digest per file (CacheFile::ContentDigest), for the files it was recorded for:
  // generations published by an older typecache, or after a change that could not be listed,
  // have none.
  std::map<std::string, uint64_t> digests;
};

struct PublishRequest {
  std::string dir;          // "3.11"
  GenerationHead onto;      // The head read under the lock, which the private copy now extends.
  std::string private_dir;  // Its database files, complete and fsynced.
  // What it changed relative to `onto`'s parent chain (logged); the caller's sets, not a copy
  // (a maintenance command's can hold hundreds of thousands of groups).
  const GroupSets& written;
  bool unlisted = false;  // Its changes cannot be listed group by group.
};

struct PublishedGeneration {
  int64_t gen = 0;
  std::string resolved;            // A local directory holding its files (as in GenerationHead).
  std::vector<std::string> files;  // Its database files.
  int64_t bytes = 0;               // Their size.
  std::string warning;  // A step after the commit point failed; the publish itself happened.
};

// Held while publishing; released when destroyed.
class PublishLock {
 public:
  virtual ~PublishLock() = default;
};

class GenerationStore {
 public:
  virtual ~GenerationStore() = default;

  virtual absl::StatusOr<GenerationHead> Head(const std::string& dir) = 0;
  // The groups changed between generation `since` and the head `head` of `dir`; nullopt when
  // that cannot be known (a record is missing or marks an unlisted change, the head is not a
  // generation, or its files no longer match their record): then compare every group.
  virtual absl::StatusOr<std::optional<GroupSets>> Fetch(const std::string& dir,
                                                         const GenerationHead& since,
                                                         const GenerationHead& head) = 0;
  // The record of generation `gen` of `dir`; nullopt when there is none.
  virtual absl::StatusOr<std::optional<GenerationRecord>> Record(const std::string& dir,
                                                                 int64_t gen) = 0;
  // The exclusive right to publish, waiting up to `timeout`; `waiting` hears who holds it.
  virtual absl::StatusOr<std::unique_ptr<PublishLock>> Lock(
      absl::Duration timeout, const std::function<void(const std::string&)>& waiting) = 0;
  // Makes `request.private_dir` the next generation and head of `request.dir` (the directory
  // is consumed). Under the lock.
  virtual absl::StatusOr<PublishedGeneration> Publish(const PublishRequest& request) = 0;
  // Adds content digests to generation `gen`'s record (after the lock: the generation is
  // immutable, so the digests are facts about it whoever writes them).
  virtual absl::Status RecordDigests(const std::string& dir, int64_t gen,
                                     const std::map<std::string, uint64_t>& digests) = 0;
  // The checker version the latest publish wrote (what `prune --keep-version current` keeps).
  virtual absl::Status RecordCheckerVersion(const std::string& version) = 0;
  // Removes what is no longer needed after generation `head` of `dir` went live. Safe without
  // the lock; errors are warnings.
  virtual absl::Status CollectGarbage(const std::string& dir, int64_t head) = 0;
};

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_GENERATION_STORE_H_
