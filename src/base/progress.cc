#include "src/base/progress.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace typecache {
namespace {

constexpr size_t kMaxWidth = 79;  // Fits an 80-column terminal.

std::string Bytes(double n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrFormat("%.0f B", n) : absl::StrFormat("%.1f %s", n, units[u]);
}

// Time left rounds up, time spent down.
std::string Seconds(double s, bool up) {
  auto whole = static_cast<int64_t>(up ? std::ceil(s) : std::floor(s));
  if (whole < 60) return absl::StrCat(whole, " s");
  if (whole < 3600) return absl::StrCat(whole / 60, " min ", whole % 60, " s");
  return absl::StrCat(whole / 3600, " h ", (whole % 3600) / 60, " min");
}

}  // namespace

Progress::Progress(ProgressOptions options) : options_(std::move(options)) {
  if (options_.enabled() && options_.ticker) ticker_ = std::thread([this] { Tick(); });
}

Progress::~Progress() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    ClearLocked();
    active_ = false;
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

Progress& Progress::Silent() {
  static Progress* silent = new Progress(ProgressOptions{});
  return *silent;
}

void Progress::Start(const std::string& what, int64_t total, ProgressUnit unit,
                     const std::string& noun) {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(mu_);
  ClearLocked();
  active_ = true;
  what_ = what;
  detail_.clear();
  total_ = total;
  done_ = 0;
  unit_ = unit;
  noun_ = noun;
  poll_ = nullptr;
  started_ = Now();
  drawn_ = absl::InfinitePast();
  MaybeDrawLocked(false);  // Only with after = 0 (TYPECACHE_PROGRESS_AFTER_MS=0).
}

template <typename Change>
void Progress::UpdateAndDraw(Change change) {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(mu_);
  change();
  MaybeDrawLocked(false);
}

void Progress::Label(const std::string& what) {
  UpdateAndDraw([&] { what_ = what; });
}

void Progress::Detail(const std::string& detail) {
  UpdateAndDraw([&] { detail_ = detail; });
}

void Progress::SetTotal(int64_t total) {
  UpdateAndDraw([&] { total_ = total; });
}

void Progress::SetWork(int64_t total, ProgressUnit unit, const std::string& noun) {
  UpdateAndDraw([&] {
    total_ = total;
    done_ = 0;
    unit_ = unit;
    noun_ = noun;
    drawn_ = absl::InfinitePast();  // Shown at once (past the threshold): the total is news.
  });
}

void Progress::Poll(std::function<int64_t()> done) {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(mu_);
  poll_ = std::move(done);
}

void Progress::Add(int64_t n) {
  UpdateAndDraw([&] { done_ += n; });
}

void Progress::Set(int64_t done) {
  UpdateAndDraw([&] { done_ = done; });
}

void Progress::Done() {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(mu_);
  ClearLocked();
  active_ = false;
  poll_ = nullptr;
}

void Progress::Interject(const std::function<void()>& write) {
  if (!enabled()) {
    write();
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ClearLocked();
  write();
  drawn_ = absl::InfinitePast();
}

std::string Progress::Format(const std::string& what, int64_t done, int64_t total,
                             ProgressUnit unit, const std::string& noun, absl::Duration elapsed) {
  bool bytes = unit == ProgressUnit::kBytes;
  if (total > 0) done = std::min(done, total);
  auto amount = [&](int64_t n) { return bytes ? Bytes(static_cast<double>(n)) : absl::StrCat(n); };
  std::string noun_part = bytes || noun.empty() ? "" : absl::StrCat(" ", noun);
  if (total <= 0 && done == 0) {  // Nothing to count: one long call.
    return absl::StrCat(what, ": ", Seconds(absl::ToDoubleSeconds(elapsed), false), " elapsed");
  }
  std::string line = absl::StrCat(what, ": ", amount(done));
  if (total > 0) {
    absl::StrAppend(&line, "/", amount(total), noun_part, " (", done * 100 / total, "%)");
  } else {
    absl::StrAppend(&line, noun_part);
  }
  double secs = absl::ToDoubleSeconds(elapsed);
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  if (done > 0 && secs > 0) {
    std::string count = rate < 10 ? absl::StrFormat("%.1f", rate) : absl::StrFormat("%.0f", rate);
    absl::StrAppend(&line, ", ", bytes ? Bytes(rate) : count + noun_part, "/s");
  }
  if (done > 0 && total > 0 && rate > 0 && done < total) {
    absl::StrAppend(&line, ", ", Seconds(static_cast<double>(total - done) / rate, true), " left");
  } else {
    absl::StrAppend(&line, ", ", Seconds(secs, false), " elapsed");
  }
  return line;
}

void Progress::MaybeDrawLocked(bool force) {
  if (!active_ || stop_) return;
  absl::Time now = Now();
  if (now - started_ < options_.after) return;
  if (!force && now - drawn_ < options_.interval) return;
  drawn_ = now;
  if (poll_) done_ = std::max(done_, poll_());
  // A wrapped line cannot be redrawn with '\r': shorten the detail from the left (paths keep
  // their file name), then the step's name.
  std::string what = what_, detail = detail_;
  auto compose = [&] {
    return absl::StrCat("typecache: ",
                        Format(detail.empty() ? what : absl::StrCat(what, ": ", detail), done_,
                               total_, unit_, noun_, now - started_));
  };
  std::string line = compose();
  for (std::string* part : {&detail, &what}) {
    size_t floor = part == &detail ? 8 : 0;  // Keep the end of the detail's file name.
    if (line.size() <= kMaxWidth || part->size() <= floor + 3) continue;
    size_t excess = line.size() - kMaxWidth;
    size_t keep = std::max(floor, part->size() > excess + 3 ? part->size() - excess - 3 : 0);
    *part = absl::StrCat("...", part->substr(part->size() - keep));
    line = compose();
  }
  std::string pad = line.size() < shown_width_ ? std::string(shown_width_ - line.size(), ' ') : "";
  *options_.out << '\r' << line << pad << std::flush;
  shown_width_ = line.size();
}

void Progress::ClearLocked() {
  if (shown_width_ == 0) return;
  *options_.out << '\r' << std::string(shown_width_, ' ') << '\r' << std::flush;
  shown_width_ = 0;
}

void Progress::Tick() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.interval));
    if (stop_) break;
    // Drawn by the ticker only when the caller has not drawn for a whole interval.
    MaybeDrawLocked(false);
  }
}

}  // namespace typecache
