#include "src/checker/mypy/mypy_adapter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "src/checker/mypy/fixed_format.h"
#include "src/os/fs.h"
#include "src/os/subprocess.h"

namespace typecache {
namespace {

constexpr absl::string_view kCacheDirFlag = "--cache-dir";

// Finds mypy's --cache-dir value; returns the index of the flag (or -1) and its value.
int FindCacheDir(const std::vector<std::string>& argv, size_t first, std::string* value) {
  int found = -1;
  for (size_t i = first; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--") break;
    if (arg == kCacheDirFlag && i + 1 < argv.size()) {
      found = static_cast<int>(i);
      *value = argv[i + 1];
      ++i;
    } else if (absl::StartsWith(arg, "--cache-dir=")) {
      found = static_cast<int>(i);
      *value = arg.substr(kCacheDirFlag.size() + 1);
    }
  }
  return found;
}

bool HasFlag(const std::vector<std::string>& argv, size_t first, absl::string_view flag) {
  for (size_t i = first; i < argv.size(); ++i) {
    if (argv[i] == "--") break;
    if (argv[i] == flag) return true;
  }
  return false;
}

bool IsDevNull(absl::string_view path) {
  return path == "/dev/null" || absl::StartsWith(path, "/dev/null/");
}

}  // namespace

size_t MypyAdapter::FirstArgIndex(const std::vector<std::string>& argv) {
  if (argv.size() >= 3 && absl::StartsWith(BaseName(argv[0]), "python") && argv[1] == "-m" &&
      argv[2] == "mypy") {
    return 3;
  }
  return argv.empty() ? 0 : 1;
}

std::optional<std::string> MypyAdapter::CacheDirFromCommand(const std::vector<std::string>& argv,
                                                            const EnvLookup& env) const {
  std::string value;
  if (FindCacheDir(argv, FirstArgIndex(argv), &value) >= 0) return value;
  std::optional<std::string> from_env = env("MYPY_CACHE_DIR");
  if (from_env.has_value() && !from_env->empty()) return from_env;
  return std::nullopt;
}

bool MypyAdapter::Bypass(const std::vector<std::string>& argv, std::string* why) const {
  size_t first = FirstArgIndex(argv);
  std::string value;
  if (FindCacheDir(argv, first, &value) >= 0 && IsDevNull(value)) {
    *why = "mypy's cache is disabled (--cache-dir=" + value + ")";
    return true;
  }
  if (HasFlag(argv, first, "--no-sqlite-cache")) {
    *why = "--no-sqlite-cache was given";
    return true;
  }
  for (absl::string_view flag : {"--version", "-V", "--help", "-h"}) {
    if (HasFlag(argv, first, flag)) {
      *why = absl::StrCat(flag, " was given");
      return true;
    }
  }
  return false;
}

absl::StatusOr<Invocation> MypyAdapter::Redirect(const std::vector<std::string>& argv,
                                                 const std::string& private_dir) const {
  if (argv.empty()) return absl::InvalidArgumentError("no mypy command given");
  Invocation inv;
  size_t first = FirstArgIndex(argv);
  std::string ignored;
  int at = FindCacheDir(argv, first, &ignored);
  inv.argv = argv;
  // Remove every --cache-dir occurrence; ours is inserted once below.
  while (at >= 0) {
    bool separate = inv.argv[static_cast<size_t>(at)] == kCacheDirFlag;
    inv.argv.erase(inv.argv.begin() + at, inv.argv.begin() + at + (separate ? 2 : 1));
    at = FindCacheDir(inv.argv, first, &ignored);
  }
  std::vector<std::string> added = {absl::StrCat(kCacheDirFlag, "=", private_dir)};
  if (!HasFlag(argv, first, "--sqlite-cache")) {
    added.push_back("--sqlite-cache");
    inv.notes.push_back("added --sqlite-cache");
  }
  inv.argv.insert(inv.argv.begin() + static_cast<long>(first), added.begin(), added.end());
  inv.set_env.emplace_back("MYPY_CACHE_DIR", private_dir);
  return inv;
}

bool MypyAdapter::IsDatabaseDir(absl::string_view name) const {
  // "<major>.<minor>", e.g. "3.11".
  size_t dot = name.find('.');
  if (dot == absl::string_view::npos || dot == 0 || dot + 1 == name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (i != dot && !absl::ascii_isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  return true;
}

bool MypyAdapter::IsDatabaseFile(absl::string_view name) const {
  if (name == "cache.db") return true;
  // cache.<n>.db
  if (!absl::StartsWith(name, "cache.") || !absl::EndsWith(name, ".db")) return false;
  absl::string_view digits = name.substr(6, name.size() - 6 - 3);
  if (digits.empty() || digits.size() > 4) return false;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

const std::vector<std::string>& MypyAdapter::tables() const {
  static const std::vector<std::string>* kTables = new std::vector<std::string>{"files", "files2"};
  return *kTables;
}

namespace {

// A fixed-format meta (mypy 1.20 and 2.x; tests/fixtures/mypy-caches/FORMAT-NOTES.md).
RowFacts DescribeFixedFormatMeta(absl::string_view data, RowFacts facts) {
  absl::StatusOr<FixedMeta> meta = DecodeFixedMeta(data);
  if (absl::IsUnimplemented(meta.status())) {
    facts.unknown = std::string(meta.status().message());
    return facts;
  }
  facts.checked = true;
  if (!meta.ok()) {
    facts.problem = std::string(meta.status().message());
    return facts;
  }
  facts.data_stamp = meta->data_mtime;
  facts.data_stamp_field = "data_mtime";
  facts.version = meta->version_id;
  facts.source_path = meta->path;
  // mypy 1.20 reads the module's errors from X.err.ff, mypy 2.x the rest of its dependencies
  // from X.meta_ex.ff; without them it rechecks the module ("Could not load ...").
  if (meta->cache_version == kFfCacheVersionMypy120) facts.required_kinds = {"err.ff"};
  if (meta->cache_version == kFfCacheVersionMypy2) facts.required_kinds = {"meta_ex.ff"};
  return facts;
}

// What DescribeRow reads of a JSON meta row (mypy <= 1.19): the top-level data_mtime, version_id
// and path. The whole document is validated (nlohmann-json's SAX parser: no tree is built, no
// recursion, so nesting depth costs no stack); nested values are skipped.
struct JsonMeta {
  bool is_object = false;
  std::optional<int64_t> data_mtime;
  std::optional<std::string> version_id;
  std::optional<std::string> path;
  std::string error;
};

class JsonMetaReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonMetaReader(JsonMeta* meta) : meta_(meta) {}

  bool null() override { return Scalar(); }
  bool boolean(bool /*value*/) override { return Scalar(); }
  bool number_integer(number_integer_t v) override { return Number(v); }
  bool number_unsigned(number_unsigned_t v) override {
    if (v > static_cast<number_unsigned_t>(std::numeric_limits<int64_t>::max())) return Scalar();
    return Number(static_cast<int64_t>(v));
  }
  bool number_float(number_float_t v, const string_t& /*text*/) override {
    // int(mtime) as mypy records it; values no int64 can hold are not a stamp.
    if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) return Scalar();
    return Number(static_cast<int64_t>(v));
  }
  bool string(string_t& v) override {
    if (depth_ == 1 && key_ == "version_id") {
      meta_->version_id = v;
      return true;
    }
    if (depth_ == 1 && key_ == "path") {
      meta_->path = v;
      return true;
    }
    return Scalar();
  }
  bool binary(binary_t& /*value*/) override { return Scalar(); }
  bool start_object(std::size_t /*elements*/) override {
    if (depth_ == 0) meta_->is_object = true;
    if (depth_ == 1) Scalar();  // The key's value is not a scalar.
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t /*elements*/) override {
    if (depth_ == 1) Scalar();
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& e) override {
    meta_->error = e.what();
    return false;
  }

 private:
  // A value of the current top-level key other than the one it needs: a later duplicate key
  // overrides an earlier one, as in a parsed object.
  bool Scalar() {
    if (depth_ == 1) {
      if (key_ == "data_mtime") meta_->data_mtime.reset();
      if (key_ == "version_id") meta_->version_id.reset();
      if (key_ == "path") meta_->path.reset();
    }
    return true;
  }
  bool Number(int64_t truncated) {
    if (depth_ == 1 && key_ == "data_mtime") {
      meta_->data_mtime = truncated;
      return true;
    }
    return Scalar();
  }

  JsonMeta* meta_;
  int depth_ = 0;
  std::string key_;
};

bool ReadJsonMeta(absl::string_view data, JsonMeta* meta) {
  JsonMetaReader reader(meta);
  return nlohmann::json::sax_parse(data.begin(), data.end(), &reader,
                                   nlohmann::json::input_format_t::json, /*strict=*/true);
}

// "a/b.meta.json" -> "a/b": the key up to the first dot of its basename.
absl::string_view StemOf(absl::string_view key) {
  size_t slash = key.rfind('/');
  size_t dot = key.find('.', slash == absl::string_view::npos ? 0 : slash + 1);
  return dot == absl::string_view::npos ? key : key.substr(0, dot);
}

}  // namespace

const std::vector<std::string>& MypyAdapter::families() const {
  static const std::vector<std::string>* kFamilies = new std::vector<std::string>{"json", "ff"};
  return *kFamilies;
}

std::string MypyAdapter::GroupOf(absl::string_view table, absl::string_view key) const {
  absl::string_view stem = StemOf(key);
  // SQLite's GLOB, which selects a family in SQL, reads a key only up to a NUL byte: so does
  // the family here (mypy's keys have none; found by the rows fuzzer).
  absl::string_view text = key.substr(0, key.find('\0'));
  if (stem.size() < text.size()) {
    absl::string_view last = text.substr(text.rfind('.') + 1);
    for (const std::string& family : families()) {
      if (last == family) return absl::StrCat(table, ":", stem, ".", family);
    }
  }
  return absl::StrCat(table, ":", stem);
}

GroupSelector MypyAdapter::Select(absl::string_view group) const {
  GroupSelector s;
  size_t colon = group.find(':');
  absl::string_view stem = group;
  if (colon != absl::string_view::npos) {
    s.table = std::string(group.substr(0, colon));
    absl::string_view rest = group.substr(colon + 1);
    stem = StemOf(rest);
    s.family = stem.size() < rest.size() ? std::string(rest.substr(stem.size() + 1)) : "";
  }
  // Keys of a module are "<stem>.<suffix>"; '/' sorts right after '.', so [stem".", stem"/")
  // holds exactly the keys that start with "<stem>.".
  s.lo = absl::StrCat(stem, ".");
  s.hi = absl::StrCat(stem, "/");
  s.exact = std::string(stem);
  return s;
}

std::string MypyAdapter::LayoutLabel(absl::string_view group) const {
  GroupSelector s = Select(group);
  if (s.table.empty()) return "every table";
  std::string format = !s.family.has_value() || s.family->empty() ? "other rows"
                       : *s.family == "ff"                        ? "fixed format"
                                                                  : "JSON";
  return absl::StrCat(s.table, ", ", format);
}

std::string MypyAdapter::GroupLabel(absl::string_view group) const {
  GroupSelector s = Select(group);
  if (s.table.empty()) return s.exact;
  return absl::StrCat(s.exact, " (", LayoutLabel(group), ")");
}

bool MypyAdapter::IsDeadDatabase(absl::string_view file, const std::vector<std::string>& files,
                                 std::string* why) const {
  if (file != "cache.db") return false;
  for (const std::string& other : files) {
    if (other != "cache.db" && IsDatabaseFile(other)) {
      *why = "cache.db beside the shards cache.N.db: mypy 2.x reads only the shards";
      return true;
    }
  }
  return false;
}

std::map<std::string, std::string> MypyAdapter::DeadTables(
    const std::vector<std::string>& tables) const {
  bool files = false, files2 = false;
  for (const std::string& t : tables) {
    files = files || t == "files";
    files2 = files2 || t == "files2";
  }
  if (files && files2) return {{"files", "mypy <= 1.13, unused beside files2 (mypy >= 1.14)"}};
  return {};
}

std::vector<std::pair<std::string, std::string>> MypyAdapter::FilesWrittenBeside() const {
  // What mypy writes into a cache directory it creates: a tag for backup tools, and a
  // .gitignore that keeps the directory out of git.
  return {{".gitignore", "# Automatically created by mypy (via typecache)\n*\n"},
          {"CACHEDIR.TAG",
           "Signature: 8a477f597d28d172789f06886806bc55\n"
           "# This file is a cache directory tag automatically created by mypy.\n"
           "# For information about cache directory tags see https://bford.info/cachedir/\n"}};
}

RowFacts::Role MypyAdapter::RoleOf(absl::string_view key) const {
  if (absl::StartsWith(key, "@")) return RowFacts::Role::kOther;
  absl::string_view stem = StemOf(key);
  if (stem.size() >= key.size()) return RowFacts::Role::kOther;
  absl::string_view kind = key.substr(stem.size() + 1);
  if (absl::StartsWith(kind, "meta.")) return RowFacts::Role::kMeta;
  if (absl::StartsWith(kind, "data.")) return RowFacts::Role::kData;
  return RowFacts::Role::kOther;
}

RowFacts MypyAdapter::DescribeRow(absl::string_view key, absl::string_view data) const {
  RowFacts facts;
  size_t slash = key.rfind('/');
  size_t dot = key.find('.', slash == absl::string_view::npos ? 0 : slash + 1);
  facts.kind = dot == absl::string_view::npos ? "other" : std::string(key.substr(dot + 1));
  if (absl::StartsWith(key, "@")) {
    facts.kind = "global";
    return facts;
  }
  if (absl::StartsWith(facts.kind, "meta.") && facts.kind != "meta_ex.ff") {
    facts.role = RowFacts::Role::kMeta;
  } else if (absl::StartsWith(facts.kind, "data.")) {
    facts.role = RowFacts::Role::kData;
  }
  if (facts.kind == "meta.ff") return DescribeFixedFormatMeta(data, facts);
  if (facts.kind == "err.ff" || facts.kind == "meta_ex.ff") {
    facts.checked = true;
    absl::Status side = CheckSideRow(key, data);
    if (!side.ok()) facts.problem = std::string(side.message());
    return facts;
  }
  if (facts.kind != "meta.json") return facts;  // Data rows are the checker's own business.
  facts.checked = true;
  JsonMeta meta;
  if (!ReadJsonMeta(data, &meta)) {
    facts.problem = absl::StrCat("invalid JSON: ", meta.error);
    return facts;
  }
  if (!meta.is_object) {
    facts.problem = "meta is not a JSON object";
    return facts;
  }
  if (!meta.data_mtime.has_value()) {
    facts.problem = "meta has no numeric data_mtime";
    return facts;
  }
  facts.data_stamp = meta.data_mtime;
  facts.data_stamp_field = "data_mtime";
  if (meta.version_id.has_value()) facts.version = *meta.version_id;
  if (meta.path.has_value()) facts.source_path = *meta.path;
  return facts;
}

bool MypyAdapter::NeedsMetaAndData(absl::string_view group) const {
  size_t colon = group.find(':');
  return !absl::StartsWith(colon == absl::string_view::npos ? group : group.substr(colon + 1), "@");
}

absl::StatusOr<std::string> MypyAdapter::InstalledVersion() const {
  // "mypy 1.0.1 (compiled: yes)" -> "1.0.1".
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "cannot create", "pipe");
  absl::StatusOr<ChildResult> result = RunChild({{"mypy", "--version"}, {}, "", pipe_fds[1], 2});
  ::close(pipe_fds[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  if (!result.ok()) return result.status();
  std::vector<absl::string_view> words = absl::StrSplit(out, ' ', absl::SkipEmpty());
  if (result->exit_code != 0 || words.size() < 2 || words[0] != "mypy") {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read mypy's version from '", absl::StripAsciiWhitespace(out), "'"));
  }
  return std::string(absl::StripAsciiWhitespace(words[1]));
}

bool MypyAdapter::RunIsPublishable(int exit_code, bool crash_marker_seen) const {
  return (exit_code == 0 || exit_code == 1) && !crash_marker_seen;
}

}  // namespace typecache
