#include "src/store/local/layout.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/base/status_macros.h"

namespace typecache {

std::string Layout::GenName(int64_t gen) { return absl::StrFormat("g%08d", gen); }

int64_t Layout::ParseGenName(absl::string_view name) {
  if (name.size() < 2 || name[0] != 'g') return -1;
  int64_t gen = 0;
  if (!absl::SimpleAtoi(name.substr(1), &gen) || gen <= 0) return -1;
  for (char c : name.substr(1)) {
    if (c < '0' || c > '9') return -1;
  }
  return gen;
}

std::string Layout::idle_run_path(int n) const {
  return JoinPath(idle_runs_dir(), absl::StrCat(n));
}

std::string Layout::gen_path(absl::string_view dir, int64_t gen) const {
  return JoinPath(gens_dir(dir), GenName(gen));
}

std::string Layout::log_path(absl::string_view dir, int64_t gen) const {
  return JoinPath(logs_dir(dir), absl::StrCat(GenName(gen), ".log"));
}

std::string Layout::digest_path(absl::string_view dir, int64_t gen) const {
  return JoinPath(digests_dir(dir), GenName(gen));
}

std::string Layout::LinkTarget(absl::string_view dir, int64_t gen) {
  return absl::StrCat(".typecache/gens/", dir, "/", GenName(gen));
}

absl::Status Layout::Create(Fs& fs) const {
  return Create(fs, std::vector<std::pair<std::string, std::string>>());
}

absl::Status Layout::Create(Fs& fs, const CheckerAdapter& adapter) const {
  return Create(fs, adapter.FilesWrittenBeside());
}

absl::Status Layout::Create(Fs& fs,
                            const std::vector<std::pair<std::string, std::string>>& beside) const {
  ASSIGN_OR_RETURN(FileInfo info, fs.Stat(cache_dir_));
  if (!info.exists()) {
    RETURN_IF_ERROR(MakeDirs(fs, cache_dir_));
    // Like the checker: e.g. mark the directory as a cache for backup tools, keep it out of git.
    for (const auto& [name, content] : beside) {
      (void)fs.WriteNewFile(JoinPath(cache_dir_, name), content);
    }
  } else if (!info.is_dir()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cache directory ", cache_dir_, " exists and is not a directory"));
  }
  for (const std::string& dir : {state_dir(), runs_dir(), trash_dir(),
                                 JoinPath(state_dir(), "gens"), JoinPath(state_dir(), "logs")}) {
    // typecache writes only inside directories it made: a symlink planted here could point
    // anywhere, so it is refused rather than followed.
    ASSIGN_OR_RETURN(FileInfo existing, fs.Lstat(dir));
    if (existing.is_symlink()) {
      return absl::PermissionDeniedError(
          absl::StrCat("refusing to use ", dir, ": it is a symbolic link, not a directory"));
    }
    RETURN_IF_ERROR(fs.MakeDir(dir, /*ok_if_exists=*/true));
  }
  return absl::OkStatus();
}

absl::StatusOr<LiveState> ReadLiveState(Fs& fs, const Layout& layout, absl::string_view dir) {
  LiveState state;
  std::string live = layout.live_path(dir);
  ASSIGN_OR_RETURN(FileInfo info, fs.Lstat(live));
  if (!info.exists()) return state;
  if (info.is_symlink()) {
    ASSIGN_OR_RETURN(std::string target, fs.ReadLink(live));
    std::string prefix = absl::StrCat(".typecache/gens/", dir, "/");
    if (absl::StartsWith(target, prefix)) {
      int64_t gen = Layout::ParseGenName(target.substr(prefix.size()));
      if (gen > 0) {
        state.kind = LiveState::Kind::kGeneration;
        state.gen = gen;
        state.resolved = layout.gen_path(dir, gen);
        return state;
      }
    }
    ASSIGN_OR_RETURN(FileInfo followed, fs.Stat(live));
    if (!followed.exists()) return state;  // A dangling symlink counts as missing.
    if (!followed.is_dir()) {
      return absl::FailedPreconditionError(absl::StrCat(live, " is not a directory"));
    }
    state.kind = LiveState::Kind::kForeign;
    state.resolved = live;
    return state;
  }
  if (!info.is_dir()) {
    return absl::FailedPreconditionError(absl::StrCat(live, " is not a directory"));
  }
  state.kind = LiveState::Kind::kForeign;
  state.resolved = live;
  return state;
}

}  // namespace typecache
