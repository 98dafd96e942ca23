#include "src/store/local/fresh_publish.h"

#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "src/base/status_macros.h"
#include "src/os/writeback.h"
#include "src/store/local/snapshot.h"
#include "src/store/local/sweep.h"

namespace typecache {

absl::StatusOr<PublishReport> PublishFreshGeneration(Fs& fs, const Layout& layout,
                                                     const CheckerAdapter& adapter,
                                                     const FreshGeneration& dirs,
                                                     PublishOptions options) {
  RETURN_IF_ERROR(layout.Create(fs, adapter));
  std::string id = absl::StrCat("fresh-", ::getpid(), "-", RandomSuffix());
  ASSIGN_OR_RETURN(RunDir run_dir, ClaimRunDir(fs, layout, id));
  const std::string root = run_dir.path;
  mode_t mask = ::umask(0);
  ::umask(mask);
  auto publish = [&]() -> absl::StatusOr<PublishReport> {
    Snapshot snapshot;
    snapshot.private_root = root;
    WriteSets writes;
    for (const auto& [dir, files] : dirs) {
      snapshot.dirs.push_back({dir, LiveState{}, {}, {}});  // based on nothing
      std::string private_dir = JoinPath(root, dir);
      RETURN_IF_ERROR(fs.MakeDir(private_dir, false));
      for (const auto& [file, groups] : files) {
        std::string db = JoinPath(private_dir, file);
        PreparedFile& prepared = writes.prepared[dir][file];
        prepared.digest = PreparedFile::Digest::kIncremental;  // from nothing: the sum of groups
        std::set<std::string>& written = writes[dir][file];
        // The groups' digests are computed from the rows while SQLite writes them (both only
        // read the rows): on a cold pull the hashing no longer adds to the wall time.
        std::thread digests([&prepared, &written, &groups = groups]() {
          for (const auto& [group, rows] : groups) {
            written.insert(group);
            for (const CacheRow& row : rows) {
              if (!StoredAsGiven(row)) prepared.digest = PreparedFile::Digest::kRecompute;
            }
            prepared.groups[group] = WrittenDigest{0, DigestOfRows(group, rows).exact};
          }
        });
        // The file's pages start going to disk while SQLite writes it (on another thread), so
        // that the fsync below waits for the last ones only: on a cold pull of a 15 MB cache
        // that fsync was 12 ms of a 62 ms pull. A hint: without it (no descriptor to spare) the
        // fsync does it all. Destroyed after WriteGroupsToFile closed the file (writeback.h).
        absl::Status wrote = fs.WriteNewFile(db, "", Durability::kUnsynced);
        std::unique_ptr<BackgroundWriteback> writeback;
        if (wrote.ok()) {
          absl::StatusOr<std::unique_ptr<BackgroundWriteback>> started =
              BackgroundWriteback::Start(fs, db);
          if (started.ok()) writeback = *std::move(started);
          wrote = WriteGroupsToFile(db, groups, adapter, [&writeback] {
            if (writeback) writeback->Kick();
          });
        }
        writeback.reset();
        digests.join();
        RETURN_IF_ERROR(wrote);
        // As the prepare step leaves a run's copy: shareable by the group (0666 & ~umask) and
        // durable before the publish renames it into place (SQLite itself does not sync).
        RETURN_IF_ERROR(fs.Chmod(db, 0666 & ~mask));
        RETURN_IF_ERROR(fs.Fsync(db));
      }
      RETURN_IF_ERROR(fs.Fsync(private_dir));
    }
    options.yield_conflicts = true;
    return Publish(fs, layout, adapter, snapshot, writes, id, options);
  };
  absl::StatusOr<PublishReport> report = publish();
  (void)RemoveAll(fs, root);
  run_dir.Release(fs, layout);
  return report;
}

}  // namespace typecache
