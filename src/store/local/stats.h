// Counters that `typecache run` records in <cache>/.typecache/stats and `typecache stats`
// shows. A text file of "name value" lines, updated by a locked read-modify-write under its
// own lock (stats.lock, never the publish lock) and replaced atomically. Statistics are not
// essential: callers log a failure to record them and carry on.
#ifndef TYPECACHE_SRC_STORE_LOCAL_STATS_H_
#define TYPECACHE_SRC_STORE_LOCAL_STATS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "src/os/fs.h"
#include "src/store/local/layout.h"

namespace typecache {

// Counter names, in the order `typecache stats` shows them.
struct Counter {
  const char* name;
  const char* label;
  const char* unit;  // "", "ms", "bytes", "time"
};
const std::vector<Counter>& KnownCounters();

class StatsDelta {
 public:
  void Add(const std::string& name, int64_t delta) { add_[name] += delta; }
  void Max(const std::string& name, int64_t value) {
    auto [it, inserted] = max_.emplace(name, value);
    if (!inserted && value > it->second) it->second = value;
  }
  void Set(const std::string& name, int64_t value) { set_[name] = value; }
  void ApplyTo(std::map<std::string, int64_t>& values) const;

 private:
  std::map<std::string, int64_t> add_, max_, set_;
};

absl::StatusOr<std::map<std::string, int64_t>> ReadStats(Fs& fs, const Layout& layout);
absl::Status UpdateStats(Fs& fs, const Layout& layout, const StatsDelta& delta);
absl::Status ZeroStats(Fs& fs, const Layout& layout);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_LOCAL_STATS_H_
