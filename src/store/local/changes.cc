#include "src/store/local/changes.h"

#include <algorithm>

#include "src/base/status_macros.h"

namespace typecache {

absl::StatusOr<std::vector<std::string>> DatabaseFiles(Fs& fs, const CheckerAdapter& adapter,
                                                       const std::string& dir) {
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(dir));
  std::vector<std::string> out;
  if (!info.is_dir()) return out;
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(dir));
  for (std::string& name : names) {
    if (adapter.IsDatabaseFile(name)) out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<GenLog> ReadLog(Fs& fs, const Layout& layout, const std::string& dir, int64_t gen,
                               bool with_groups) {
  std::string path = layout.log_path(dir, gen);
  ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path));
  return ParseGenLog(text, path, with_groups);
}

absl::StatusOr<std::optional<GroupSets>> ChangesSince(Fs& fs, const Layout& layout,
                                                      const CheckerAdapter& adapter,
                                                      const std::string& dir, const LiveState& base,
                                                      const LiveState& live) {
  if (live.kind == LiveState::Kind::kMissing && base.kind == LiveState::Kind::kMissing) {
    return GroupSets{};  // No cache before, none now: nothing to merge.
  }
  if (live.kind != LiveState::Kind::kGeneration) return std::nullopt;
  int64_t base_gen = 0;
  if (base.kind == LiveState::Kind::kGeneration) {
    base_gen = base.gen;
  } else if (base.kind == LiveState::Kind::kForeign) {
    return std::nullopt;
  }
  if (base_gen > live.gen) return std::nullopt;
  // The live generation must be exactly what its log describes. Its groups are kept only when
  // they are part of the change (a publish onto its own base, the usual case, needs only the
  // stamps: a prune's log names every group it evicted).
  absl::StatusOr<GenLog> live_log =
      ReadLog(fs, layout, dir, live.gen, /*with_groups=*/base_gen < live.gen);
  if (!live_log.ok()) return std::nullopt;
  ASSIGN_OR_RETURN(std::vector<std::string> files, DatabaseFiles(fs, adapter, live.resolved));
  if (files.size() != live_log->stamps.size()) return std::nullopt;
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(FileInfo info, fs.Stat(JoinPath(live.resolved, file)));
    auto it = live_log->stamps.find(file);
    if (it == live_log->stamps.end() || !(it->second == FileStamp{info.size, info.mtime_ns})) {
      return std::nullopt;  // Modified in place by a process outside the protocol.
    }
  }
  GroupSets changed;
  for (int64_t gen = base_gen + 1; gen <= live.gen; ++gen) {
    absl::StatusOr<GenLog> read;
    const absl::StatusOr<GenLog>* log = &live_log;  // Not copied.
    if (gen != live.gen) {
      read = ReadLog(fs, layout, dir, gen);
      log = &read;
    }
    if (!log->ok()) return std::nullopt;
    // A generation made from a foreign directory may differ from its parent anywhere.
    if ((*log)->parent < 0) return std::nullopt;
    UnionInto(changed, (*log)->groups);
  }
  return changed;
}

}  // namespace typecache
