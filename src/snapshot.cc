#include "src/snapshot.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/cache_db.h"
#include "src/status_macros.h"

namespace typecache {
namespace {

constexpr int kAttempts = 5;

// Copies every database of one directory; returns NotFound when the generation vanished.
absl::Status CopyDir(Fs& fs, const CheckerAdapter& adapter, const std::string& from,
                     const std::string& to, Snapshot& snap) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(from));
  std::sort(names.begin(), names.end());
  RETURN_IF_ERROR(fs.MakeDir(to, /*ok_if_exists=*/false));
  for (const std::string& name : names) {
    if (!adapter.IsDatabaseFile(name)) continue;
    std::string dst = JoinPath(to, name);
    ASSIGN_OR_RETURN(CopyResult copied, ConsistentCopy(fs, JoinPath(from, name), dst));
    RETURN_IF_ERROR(InstallCapture(dst, adapter));
    snap.bytes += copied.bytes;
    snap.method = copied.method;
    ++snap.files;
  }
  return absl::OkStatus();
}

}  // namespace

LiveState Snapshot::BaseOf(absl::string_view name) const {
  for (const SnapshotDir& dir : dirs) {
    if (dir.name == name) return dir.base;
  }
  return LiveState{};
}

absl::StatusOr<Snapshot> TakeSnapshot(Fs& fs, const Layout& layout, const CheckerAdapter& adapter,
                                      const std::string& private_root) {
  absl::Time start = absl::Now();
  Snapshot snap;
  snap.private_root = private_root;
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(layout.cache_dir()));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!adapter.IsDatabaseDir(name)) continue;
    std::string to = JoinPath(private_root, name);
    absl::Status status;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      ASSIGN_OR_RETURN(LiveState live, ReadLiveState(fs, layout, name));
      if (live.kind == LiveState::Kind::kMissing) {
        status = absl::OkStatus();
        break;
      }
      status = CopyDir(fs, adapter, live.resolved, to, snap);
      if (status.ok()) {
        snap.dirs.push_back({name, live});
        break;
      }
      // The generation was garbage-collected under us: start over from the live one.
      RETURN_IF_ERROR(RemoveAll(fs, to));
      if (!absl::IsNotFound(status)) break;
    }
    if (!status.ok()) return status;
  }
  snap.took = absl::Now() - start;
  return snap;
}

}  // namespace typecache
