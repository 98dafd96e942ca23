// The two pure steps of `typecache merge` (merge.h: check -> plan -> apply), kept apart from
// files so that they can be tested on listings alone.
//
// Check: whether the inputs can be merged at all (database files into cache directories do not
// mix; nor do different shard layouts, table formats, or checker versions unless allowed).
// Plan: for every group held by any input, which input it comes from. --prefer decides among
// the holders: newest (the data row's mtime, else the newest row's; ties go to the earlier
// input), first or last (input order; DEST is input 0). A group counts as a conflict only when
// its holders' contents differ (by stamp, then digest): byte-identical copies are not conflicts.
// Cost: Check O(inputs x databases); Plan O(total groups listed x log), in memory the listings (a
// 40-byte record and the name's bytes per listed group: ListedGroups), and while planning
// nothing more for listings sorted by group (as `merge` makes them), else 8 bytes per listed
// group; rows are never held, group names never copied.
#ifndef TYPECACHE_SRC_COMMANDS_MERGE_PLAN_H_
#define TYPECACHE_SRC_COMMANDS_MERGE_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

enum class Prefer { kNewest, kFirst, kLast };
absl::StatusOr<Prefer> ParsePrefer(absl::string_view text);

// ---- Check ----

struct InputDbFacts {
  std::string path;
  std::string format;              // The tables the checker reads in it, joined; "" if none.
  std::set<std::string> versions;  // Checker versions recorded by (a sample of) its groups.
};

struct InputFacts {
  std::string path;      // As messages name the input.
  bool is_file = false;  // A database file, not a cache directory.
  bool exists = true;    // False for a DEST that does not exist yet.
  // Cache directories: <X.Y> -> its database files.
  std::map<std::string, std::set<std::string>> files_by_dir;
  std::vector<InputDbFacts> dbs;  // In the order they are checked.
};

// OK when `sources` can be merged into `dest`; otherwise InvalidArgument (a database file into a
// cache directory; a cache directory into a database file is fine, Merge picks its <X.Y>) or
// FailedPrecondition naming the inputs: different shard counts in one <X.Y>, different table
// formats, different checker versions (unless `allow_mixed`). `checker` names the checker in
// messages ("mypy").
absl::Status CheckCanMerge(const InputFacts& dest, const std::vector<InputFacts>& sources,
                           bool allow_mixed, absl::string_view checker);

// ---- Plan ----

// A group's name as a listing holds it (ListedGroups): a pointer to the listing's copy of the
// bytes, their length stored just before them, so 8 bytes a record. It reads as a string_view,
// and converts to std::string where a name is stored (a set of names to copy or digest), so that
// code written for listings of strings still reads the same.
class GroupName {
 public:
  GroupName() = default;
  absl::string_view view() const {
    if (at_ == nullptr) return {};
    uint32_t size;
    std::memcpy(&size, at_ - sizeof(size), sizeof(size));
    return {at_, size};
  }
  operator absl::string_view() const { return view(); }         // NOLINT: implicit on purpose.
  operator std::string() const { return std::string(view()); }  // NOLINT: implicit on purpose.
  const char* data() const { return view().data(); }
  size_t size() const { return view().size(); }
  bool empty() const { return size() == 0; }
  int compare(absl::string_view other) const { return view().compare(other); }
  friend bool operator==(const GroupName& a, const GroupName& b) { return a.view() == b.view(); }
  friend bool operator!=(const GroupName& a, const GroupName& b) { return a.view() != b.view(); }
  friend bool operator<(const GroupName& a, const GroupName& b) { return a.view() < b.view(); }
  friend bool operator==(const GroupName& a, absl::string_view b) { return a.view() == b; }
  friend bool operator==(absl::string_view a, const GroupName& b) { return a == b.view(); }
  friend bool operator<(const GroupName& a, absl::string_view b) { return a.view() < b; }
  friend bool operator<(absl::string_view a, const GroupName& b) { return a < b.view(); }
  friend std::ostream& operator<<(std::ostream& out, const GroupName& name) {
    return out << name.view();
  }

 private:
  friend class ListedGroups;
  explicit GroupName(const char* at) : at_(at) {}
  const char* at_ = nullptr;  // The name's first byte, after its uint32 length.
};

// One group of one input, as the plan sees it.
struct ListedGroup {
  GroupName group;
  double rank = 0;                 // The data row's mtime, else the newest row's.
  std::optional<uint64_t> digest;  // Its content; needed when other inputs hold it too.
  // Its row count and row mtimes, hashed (from the listing: no data read). Digests cover the
  // mtimes, so holders whose stamps differ cannot be byte-identical: they are a conflict without
  // reading their data, and only holders with equal stamps are digested.
  uint64_t stamp = 0;
};

// The groups of one listing, compactly: fixed-size records (40 bytes) in blocks that never move
// and the names packed in blocks of their own (no heap string per group, no doubling of one
// large array while a listing of hundreds of thousands of groups grows: docs/benchmarks.md
// section 5). Add copies the name; records are then edited in place (digests) and sorted.
class ListedGroups {
 public:
  using Records = std::deque<ListedGroup>;
  using iterator = Records::iterator;
  using const_iterator = Records::const_iterator;

  ListedGroups() = default;
  ListedGroups(const ListedGroups& other) { *this = other; }
  ListedGroups& operator=(const ListedGroups& other);
  // Moves keep every name where it is (the blocks move, not the bytes): records stay valid.
  ListedGroups(ListedGroups&& other) noexcept;
  ListedGroups& operator=(ListedGroups&& other) noexcept;

  // Appends a record of `group`, its name copied into this listing.
  ListedGroup& Add(absl::string_view group, double rank, std::optional<uint64_t> digest = {},
                   uint64_t stamp = 0);
  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  ListedGroup& operator[](size_t i) { return records_[i]; }
  const ListedGroup& operator[](size_t i) const { return records_[i]; }
  iterator begin() { return records_.begin(); }
  iterator end() { return records_.end(); }
  const_iterator begin() const { return records_.begin(); }
  const_iterator end() const { return records_.end(); }
  // Bytes held for the names (the blocks allocated), for tests.
  size_t name_bytes() const { return blocks_.size() * kBlock + large_bytes_; }

  // Names (with their 4-byte lengths) longer than this get a block of their own.
  static constexpr size_t kBlock = size_t{64} << 10;

 private:
  Records records_;
  std::vector<std::unique_ptr<char[]>> blocks_;  // Full blocks, then the one being filled.
  size_t used_ = kBlock;                         // Bytes used in blocks_.back().
  std::vector<std::unique_ptr<char[]>> large_;   // Names longer than kBlock.
  size_t large_bytes_ = 0;
};

struct InputListing {
  size_t input = 0;  // Position in MergeReport::inputs: 0 is DEST.
  ListedGroups groups;
};

struct MergePlan {
  // Every group of the result -> the input it comes from; and the groups held by several inputs
  // with different contents. Both filled only when PlanMerge is asked to name the groups.
  std::map<std::string, size_t> source;
  std::set<std::string> conflicts;
  int64_t num_conflicts = 0;
  std::vector<int64_t> groups_from;  // Per input: groups of the result that come from it.
  // Per listing (in the order given), per listed group: whether the result takes that copy.
  // Always filled: what `merge` applies, with no group name copied (listings of a 10 GB cache
  // hold hundreds of thousands of groups; docs/benchmarks.md section 5).
  std::vector<std::vector<bool>> taken;
  // Holdings the plan copied and sorted (8 bytes each): 0 when every listing came sorted by
  // group (as `merge` lists them), which PlanMerge then merges as they are.
  size_t holdings_sorted = 0;
};

// The groups whose digests PlanMerge needs: per input, those other inputs hold too (with the
// same stamp).
std::map<size_t, std::set<std::string>> GroupsToDigest(const std::vector<InputListing>& listings);
// The same one listed group at a time, in group order, as (position in `listings`, position in
// its groups): nothing held, however many groups the inputs share.
void ForEachGroupToDigest(const std::vector<InputListing>& listings,
                          const std::function<void(size_t listing, size_t index)>& visit);

// `listings` in input order (each input at most once); `num_inputs` sizes groups_from. A group
// held several times without digests counts as a conflict (its contents cannot be compared).
// `name_groups`: fill MergePlan::source and conflicts too (O(groups) strings; `merge` reads
// `taken` and `num_conflicts` instead). Memory besides the plan: none when each listing is sorted
// by group, else 8 bytes per listed group (MergePlan::holdings_sorted).
MergePlan PlanMerge(const std::vector<InputListing>& listings, Prefer prefer, size_t num_inputs,
                    bool name_groups = true);

}  // namespace typecache

#endif  // TYPECACHE_SRC_COMMANDS_MERGE_PLAN_H_
