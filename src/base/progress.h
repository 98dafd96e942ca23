// Progress on a terminal for long work: one line on stderr, redrawn in place with '\r'
//
//   typecache: stats: cache.db: 1.2 GiB/2.1 GiB (57%), 85.3 MiB/s, 11 s left
//   typecache: merge: copying groups: 1200/5000 groups (24%), 812 groups/s, 5 s left
//
// A step (Start ... Done) is drawn only once it has run for `after` (about a second: short work
// stays silent), then at most every `interval` (10 times a second), also while the caller is
// inside one long call that reports nothing (a VACUUM, a file copy): a background thread redraws
// the line with the time spent. Done() clears the line. Whether to draw at all is the caller's
// decision (ProgressOptions::out: the CLI sets it only when stderr is a terminal and progress is
// not turned off), so this layer knows nothing of terminals and tests stay silent.
//
// A disabled Progress (no `out`) costs a branch per call; Progress::Silent() is one to pass when
// the caller has none. Thread-safe: the methods may be called while the ticker draws.
#ifndef TYPECACHE_SRC_BASE_PROGRESS_H_
#define TYPECACHE_SRC_BASE_PROGRESS_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace typecache {

struct ProgressOptions {
  std::ostream* out = nullptr;  // nullptr: no progress at all.
  absl::Duration after = absl::Seconds(1);
  absl::Duration interval = absl::Milliseconds(100);
  // Redraw from a background thread while the caller reports nothing (off in unit tests that
  // drive `clock` by hand).
  bool ticker = true;
  std::function<absl::Time()> clock;  // Default: absl::Now.
  bool enabled() const { return out != nullptr; }
};

enum class ProgressUnit { kCount, kBytes };

class Progress {
 public:
  explicit Progress(ProgressOptions options);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // A silent Progress, for callers given none.
  static Progress& Silent();
  // `p` or, when null, Silent().
  static Progress& Or(Progress* p) { return p != nullptr ? *p : Silent(); }

  bool enabled() const { return options_.enabled(); }

  // Starts a step (ending the previous one): `what` names it ("stats: cache.db"), `total` is the
  // amount of work (0: unknown), `noun` what is counted ("groups"; ignored for bytes).
  void Start(const std::string& what, int64_t total, ProgressUnit unit = ProgressUnit::kCount,
             const std::string& noun = "");
  // Renames the step, keeping its counts and its start time.
  void Label(const std::string& what);
  // What the step is doing now, shown after its name ("compact: vacuum of 3.11/cache.db: ...");
  // "" for nothing. Start() clears it.
  void Detail(const std::string& detail);
  void SetTotal(int64_t total);
  // Counts a new amount of work inside the running step (its name, detail and start time stay):
  // done goes back to 0 (a snapshot that knows its bytes only once it reaches a directory, a
  // publish that reaches its per-group work). Redrawn at once once the step is shown.
  void SetWork(int64_t total, ProgressUnit unit, const std::string& noun = "");
  // While set, `done` is asked for the amount done whenever the line is about to be drawn (also
  // by the ticker, from its thread), for work done inside one long call that cannot report (a
  // file copy: the size of the copy so far). nullptr stops it; Start() and Done() too. It must
  // be cheap and safe to call from another thread.
  void Poll(std::function<int64_t()> done);
  void Add(int64_t n);
  void Set(int64_t done);
  // Ends the step; clears the line if it was drawn.
  void Done();
  // Runs `write` (a message on the same stream) with the line cleared first and redrawn at the
  // next update, so a note never lands at the end of the progress line.
  void Interject(const std::function<void()>& write);

  // The line for a step that ran `elapsed` (for tests): "<what>: <done>/<total> ...".
  static std::string Format(const std::string& what, int64_t done, int64_t total, ProgressUnit unit,
                            const std::string& noun, absl::Duration elapsed);

 private:
  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }
  void MaybeDrawLocked(bool force);
  // When enabled: applies `change` to the state under the lock, then draws if it is time.
  template <typename Change>
  void UpdateAndDraw(Change change);
  void ClearLocked();
  void Tick();

  const ProgressOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool active_ = false;
  bool stop_ = false;
  std::string what_;
  std::string detail_;
  int64_t done_ = 0;
  int64_t total_ = 0;
  ProgressUnit unit_ = ProgressUnit::kCount;
  std::string noun_;
  std::function<int64_t()> poll_;
  absl::Time started_;
  absl::Time drawn_ = absl::InfinitePast();
  size_t shown_width_ = 0;  // Width of the line on screen (0: none).
  std::thread ticker_;
};

}  // namespace typecache

#endif  // TYPECACHE_SRC_BASE_PROGRESS_H_
