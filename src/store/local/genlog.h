// The change log of one generation: which groups of which database files generation N changed
// relative to its parent, plus the size and mtime of each published database file (to notice a
// generation modified in place by someone outside the protocol, cheaply, on every publish; the
// exact check is the content digest beside the log, see GenDigests).
//
// A publisher whose snapshot was generation S, publishing while generation C > S is live, reads
// the logs S+1..C: their union is every group that others changed since its snapshot, so the
// work under the lock is proportional to that union, never to the cache size (docs/protocol.md).
//
// Text format, one record per line, keys C-escaped:
//   typecache-genlog 1
//   gen 42
//   parent 41          (0: there was no cache; -1: the change from the previous generation
//                      cannot be listed: a foreign directory was adopted, or a database salvaged)
//   stamp cache.db 40960 1763758262123456789
//   group cache.db email/mime/text
#ifndef TYPECACHE_SRC_STORE_LOCAL_GENLOG_H_
#define TYPECACHE_SRC_STORE_LOCAL_GENLOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/store/generation_store.h"

namespace typecache {

struct GenLog {
  int64_t gen = 0;
  int64_t parent = 0;
  std::map<std::string, FileStamp> stamps;
  GroupSets groups;
};

std::string SerializeGenLog(const GenLog& log);
// The same text in pieces of about 64 KiB passed to `write` in order, with `groups` as the log's
// groups (`log.groups` is not read): a log of a few hundred thousand groups is never held whole,
// nor are the groups copied into a GenLog. Stops at the first error `write` returns.
absl::Status SerializeGenLogTo(const GenLog& log, const GroupSets& groups,
                               const std::function<absl::Status(absl::string_view)>& write);
// `source` names the file in error messages. `with_groups` false: the groups are checked but not
// kept (GenLog::groups stays empty), for readers of a generation's record (its stamps), so that a
// log of a few hundred thousand groups is not held as a set of their names.
absl::StatusOr<GenLog> ParseGenLog(const std::string& text, const std::string& source,
                                   bool with_groups = true);

// The content digests of generation `gen`'s database files (CacheFile::ContentDigest), kept beside
// its log in digests/<X.Y>/g<N> and written after the generation went live (older typecache
// versions neither write nor read them, and read the logs as before). Text format:
//   typecache-digests 1
//   gen 42
//   digest cache.db 0123456789abcdef
//   end
struct GenDigests {
  int64_t gen = 0;
  std::map<std::string, uint64_t> digests;
};
std::string SerializeGenDigests(const GenDigests& digests);
absl::StatusOr<GenDigests> ParseGenDigests(const std::string& text, const std::string& source);

// Adds every group of `from` into `into`.
void UnionInto(GroupSets& into, const GroupSets& from);
size_t CountGroups(const GroupSets& sets);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_GENLOG_H_
