// `typecache prune`: evict whole module groups by age, by size budget, by checker version and by
// missing source files; optionally drop orphans and the dead tables of older mypy formats.
//
// --max-size: the budget covers the live databases (the sum of their sizes, what `typecache
// stats` shows as the size of the live databases); old generations, spares and typecache's own
// state are not in it. Leftovers of dead or failed runs are reclaimed first (sweep.h). Groups are
// evicted oldest first (by their newest row's mtime; ties by group name, then database path)
// across all databases of the target until the estimated size fits; the copies are then
// vacuumed, and while the real size is still over budget, more groups go, round after round. The
// result is within budget, exactly; if even empty databases would not fit, that is an error after
// evicting every group. The choice holds a bounded number of groups in memory (OldestFirst).
#ifndef TYPECACHE_SRC_COMMANDS_PRUNE_H_
#define TYPECACHE_SRC_COMMANDS_PRUNE_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/checker/checker_adapter.h"
#include "src/commands/maintenance.h"
#include "src/os/fs.h"

namespace typecache {

struct PruneOptions {
  std::optional<absl::Duration> older_than;
  std::optional<int64_t> max_size;  // Bytes, for the whole target.
  // Evict groups of other checker versions. "current": the version the latest `typecache run`
  // on this cache directory recorded (never the checker first on PATH).
  std::optional<std::string> keep_version;
  std::optional<std::string> missing_sources_root;
  bool orphans = false;
  bool dead_tables = false;
  // Empty the databases the checker no longer reads (CheckerAdapter::IsDeadDatabase: mypy 1.x's
  // cache.db beside mypy 2.x's shards).
  bool dead_layouts = false;
  absl::Time now = absl::Now();
  EditOptions edit;
  // Groups --max-size's choice holds in memory at once (OldestFirst); tests set it small.
  size_t size_choice_resident = size_t{1} << 15;
};

struct Eviction {
  std::string db;  // Database path.
  std::string group;
  std::string reason;
  int64_t bytes = 0;
};

// The groups evicted, held compactly (the names in one buffer; databases and reasons once each):
// a few dozen bytes per group, not an Eviction's strings. Reading makes the Eviction.
class Evictions {
 public:
  class const_iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Eviction;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Eviction;
    const_iterator(const Evictions* list, size_t at) : list_(list), at_(at) {}
    Eviction operator*() const { return (*list_)[at_]; }
    const_iterator& operator++() {
      ++at_;
      return *this;
    }
    bool operator==(const const_iterator& o) const { return at_ == o.at_; }
    bool operator!=(const const_iterator& o) const { return at_ != o.at_; }

   private:
    const Evictions* list_;
    size_t at_;
  };

  void push_back(const Eviction& e);
  void Append(const Evictions& other);
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  Eviction operator[](size_t i) const;
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, items_.size()}; }

 private:
  struct Item {
    size_t group_end = 0;  // In names_; the group begins where the previous one ends.
    int64_t bytes = 0;
    uint32_t db = 0;
    uint32_t reason = 0;
  };
  static uint32_t Intern(std::vector<std::string>& values,
                         std::unordered_map<std::string, uint32_t>& index, const std::string& v);
  std::string names_;
  std::vector<Item> items_;
  std::vector<std::string> dbs_, reasons_;
  std::unordered_map<std::string, uint32_t> db_index_, reason_index_;
};

struct PruneReport {
  Evictions evicted;
  std::vector<std::string> dropped_tables;
  int64_t size_before = 0;
  int64_t size_after = 0;
  std::optional<int64_t> budget;    // --max-size, when given.
  int64_t leftovers_reclaimed = 0;  // Disk bytes of dead or failed runs' leftovers removed.
  int rounds = 0;                   // Edits published (each one generation).
  bool dry_run = false;
};

// --max-size's choice: the shortest oldest-first prefix of every group of the target whose
// estimated cost reaches the excess, in memory bounded in the number of groups. Add() appends each
// group's compact record to a spill (in memory up to `buffer_bytes`, then an unlinked temporary
// file); Choose() reads the spill once per `resident_limit` groups chosen, keeping only the
// oldest `resident_limit` records past the previous pass in a heap. The prefix is named by its
// last (newest) key: a group goes when its key sorts at or before it.
class OldestFirst {
 public:
  // Order: newest row mtime, then group name, then database (an index in the databases' order).
  struct Key {
    double newest = 0;
    std::string group;
    uint32_t db = 0;
  };
  static bool Before(const Key& a, const Key& b);

  explicit OldestFirst(size_t resident_limit, size_t buffer_bytes = size_t{1} << 20);
  ~OldestFirst();
  OldestFirst(const OldestFirst&) = delete;
  OldestFirst& operator=(const OldestFirst&) = delete;

  absl::Status Add(double newest, absl::string_view group, uint32_t db, int64_t bytes);
  // The last key of the shortest prefix whose cost (bytes * scale[db] + 64 per group) reaches
  // `excess`, or of every group when none does; nullopt when there is no group or excess <= 0.
  absl::StatusOr<std::optional<Key>> Choose(int64_t excess, const std::vector<double>& scale);

  int64_t groups() const { return groups_; }
  size_t max_resident() const { return max_resident_; }  // Most records in memory at once.
  int passes() const { return passes_; }                 // Reads of the spill by Choose().
  bool spilled() const { return file_ != nullptr; }

 private:
  struct Entry {
    Key key;
    int64_t bytes = 0;
  };
  absl::Status Flush();
  absl::Status ForEach(const std::function<void(Entry&)>& visit);

  size_t resident_limit_;
  size_t buffer_bytes_;
  std::string buffer_;  // Records not yet written to `file_`.
  std::FILE* file_ = nullptr;
  int64_t groups_ = 0;
  size_t max_resident_ = 0;
  int passes_ = 0;
};

absl::StatusOr<PruneReport> Prune(Fs& fs, const CheckerAdapter& adapter, const Target& target,
                                  const PruneOptions& options);
// One summary line (groups evicted, bytes freed, size before -> after against the budget);
// `list`: first one line per evicted group and dropped table.
void PrintPrune(const PruneReport& report, std::ostream& out, bool json, bool list = true);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_PRUNE_H_
