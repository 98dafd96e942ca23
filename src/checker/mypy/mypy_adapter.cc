#include "src/checker/mypy/mypy_adapter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "src/checker/mypy/fixed_format.h"
#include "src/checker/mypy/json_meta.h"
#include "src/checker/mypy/launcher.h"
#include "src/checker/mypy/mypy_config.h"
#include "src/os/fs.h"
#include "src/os/subprocess.h"

namespace typecache {
namespace {

constexpr absl::string_view kCacheDirFlag = "--cache-dir";
// Where the redirected command is checked to point (Plan): never created.
constexpr absl::string_view kProbeDir = "/nonexistent/typecache-private-copy";

// argparse accepts any unambiguous prefix of a long option; mypy's other "--cache-" option is
// --cache-fine-grained, so "--cache-d" and longer prefixes of "--cache-dir" name it.
bool IsCacheDirFlag(absl::string_view arg, bool* with_value) {
  absl::string_view name = arg.substr(0, arg.find('='));
  if (name.size() < 9 || !absl::StartsWith(kCacheDirFlag, name)) return false;
  *with_value = name.size() < arg.size();
  return true;
}

// Finds mypy's --cache-dir in argv[first...]; returns the index of the flag (or -1) and its
// value. The last occurrence wins, as in argparse.
int FindCacheDir(const std::vector<std::string>& argv, size_t first, std::string* value) {
  int found = -1;
  for (size_t i = first; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--") break;
    bool with_value = false;
    if (!IsCacheDirFlag(arg, &with_value)) continue;
    if (with_value) {
      found = static_cast<int>(i);
      *value = arg.substr(arg.find('=') + 1);
    } else if (i + 1 < argv.size()) {
      found = static_cast<int>(i);
      *value = argv[i + 1];
      ++i;
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

// Why a command whose mypy was found runs unchanged, from its arguments alone ("" if it
// does not).
std::string BypassByArguments(const std::vector<std::string>& argv, const MypyLaunch& launch) {
  if (launch.is_dmypy) {
    return absl::StrCat("the mypy daemon (", launch.description,
                        ") keeps its cache in its own process");
  }
  size_t first = launch.mypy_arg_index;
  std::string value;
  if (FindCacheDir(argv, first, &value) >= 0 && IsDevNull(value)) {
    return "mypy's cache is disabled (--cache-dir=" + value + ")";
  }
  for (absl::string_view flag : {"--version", "-V", "--help", "-h"}) {
    if (HasFlag(argv, first, flag)) return absl::StrCat(flag, " was given");
  }
  return "";
}

// The environment mypy sees at the end of the launcher chain.
EnvLookup EnvSeenByMypy(const MypyLaunch& launch, const EnvLookup& env) {
  return [launch, env](const std::string& name) -> std::optional<std::string> {
    for (auto it = launch.env_set.rbegin(); it != launch.env_set.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    if (launch.env_cleared) return std::nullopt;
    for (const std::string& unset : launch.env_unset) {
      if (unset == name) return std::nullopt;
    }
    return env(name);
  };
}

std::string CleanAbsolute(const std::string& cwd, const std::string& path) {
  std::string joined = !path.empty() && path[0] == '/' ? path : JoinPath(cwd, path);
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(joined, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == ".." && !parts.empty() && parts.back() != "..") {
      parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  return "/" + absl::StrJoin(parts, "/");
}

// mypy's working directory at the end of the launcher chain (env -C, uv --directory, ...).
std::string CwdSeenByMypy(const MypyLaunch& launch, const std::string& cwd) {
  std::string dir = cwd;
  for (const std::string& chdir : launch.chdirs) dir = CleanAbsolute(dir, chdir);
  return dir;
}

// "mypy 1.0.1 (compiled: yes)" -> {1, 0}, from `argv --version`.
absl::StatusOr<std::string> VersionOf(std::vector<std::string> argv) {
  argv.emplace_back("--version");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "cannot create", "pipe");
  int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  absl::StatusOr<ChildResult> result =
      RunChild({argv, {}, "", pipe_fds[1], null_fd >= 0 ? null_fd : 2});
  if (null_fd >= 0) ::close(null_fd);
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

std::optional<MypyConfigRules> RulesFor(absl::string_view version) {
  std::vector<absl::string_view> parts = absl::StrSplit(version, '.');
  int major = 0, minor = 0;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &major)) return std::nullopt;
  // "1.20.0+dev.abc" and "2.0" alike: the minor version is the leading digits.
  absl::string_view m = parts[1];
  size_t digits = 0;
  while (digits < m.size() && absl::ascii_isdigit(static_cast<unsigned char>(m[digits]))) {
    ++digits;
  }
  if (digits == 0 || !absl::SimpleAtoi(m.substr(0, digits), &minor)) return std::nullopt;
  return MypyConfigRules::ForVersion(major, minor);
}

// mypy's cache settings for its own arguments `mypy_args`. mypy 1.0-1.14 and mypy >= 1.15 look
// for configuration files differently (1.15 also in parent directories); when the two readings
// disagree, `version_argv --version` says which mypy this is (a subprocess, only then).
absl::StatusOr<MypyCacheSettings> ReadSettings(const std::vector<std::string>& mypy_args,
                                               const std::string& cwd, const EnvLookup& env,
                                               const std::vector<std::string>& version_argv,
                                               std::vector<std::string>* notes) {
  absl::StatusOr<MypyCacheSettings> old_rules =
      ReadMypyCacheSettings(mypy_args, cwd, env, MypyConfigRules::ForVersion(1, 14));
  absl::StatusOr<MypyCacheSettings> new_rules =
      ReadMypyCacheSettings(mypy_args, cwd, env, MypyConfigRules::ForVersion(1, 15));
  if (old_rules.ok() && new_rules.ok() && old_rules->cache_dir == new_rules->cache_dir &&
      old_rules->config_file_path == new_rules->config_file_path) {
    return old_rules;
  }
  absl::StatusOr<std::string> version = VersionOf(version_argv);
  std::optional<MypyConfigRules> rules;
  if (version.ok()) rules = RulesFor(*version);
  if (!rules.has_value()) {
    notes->push_back(absl::StrCat("cannot tell mypy's version (",
                                  version.ok() ? *version : std::string(version.status().message()),
                                  "): reading its configuration as mypy >= 1.15 does"));
    return new_rules;
  }
  notes->push_back(absl::StrCat("mypy ", *version, " reads its configuration",
                                rules->walk_up_parents ? " in parent directories too" : ""));
  return ReadMypyCacheSettings(mypy_args, cwd, env, *rules);
}

std::string ConfigNote(const MypyCacheSettings& s) {
  if (s.config_file.empty()) return "mypy configuration: none";
  return absl::StrCat("mypy configuration: ", s.config_file_path);
}

}  // namespace

size_t MypyAdapter::FirstArgIndex(const std::vector<std::string>& argv) {
  MypyLaunch launch = FindMypyLaunch(argv);
  if (launch.found) return launch.mypy_arg_index;
  return argv.empty() ? 0 : argv.size();
}

CommandPlan MypyAdapter::Plan(const std::vector<std::string>& argv, const EnvLookup& env,
                              const std::string& cwd) const {
  CommandPlan plan;
  MypyLaunch launch = FindMypyLaunch(argv);
  std::vector<std::string> mypy_args;
  std::string mypy_cwd = cwd;
  EnvLookup mypy_env = env;
  std::vector<std::string> version_argv = {"mypy"};
  if (launch.found) {
    plan.notes.push_back(absl::StrCat("checker: ", launch.description));
    mypy_cwd = CwdSeenByMypy(launch, cwd);
    mypy_env = EnvSeenByMypy(launch, env);
    if (!launch.is_dmypy) {
      mypy_args.assign(argv.begin() + static_cast<std::ptrdiff_t>(launch.mypy_arg_index),
                       argv.end());
      version_argv.assign(argv.begin(),
                          argv.begin() + static_cast<std::ptrdiff_t>(launch.mypy_arg_index));
    }
  } else if (!argv.empty()) {
    plan.environment_only = true;
    plan.notes.push_back(
        absl::StrCat("mypy not found in the command (", launch.description,
                     "): its cache is redirected through MYPY_CACHE_DIR only, no flag is added"));
  }

  absl::StatusOr<MypyCacheSettings> settings =
      ReadSettings(mypy_args, mypy_cwd, mypy_env, version_argv, &plan.notes);
  if (!settings.ok()) {
    // mypy reports a configuration it rejects itself; the cache directory is then what the
    // flags and the environment alone say.
    plan.notes.push_back(
        absl::StrCat("cannot read mypy's configuration: ", settings.status().message()));
    std::string value;
    std::optional<std::string> from_env = mypy_env("MYPY_CACHE_DIR");
    if (FindCacheDir(mypy_args, 0, &value) >= 0) {
      plan.cache_dir_origin = "--cache-dir flag";
    } else if (from_env.has_value() && !absl::StripAsciiWhitespace(*from_env).empty()) {
      value = *from_env;
      plan.cache_dir_origin = "MYPY_CACHE_DIR";
    } else {
      value = DefaultCacheDir();
      plan.cache_dir_origin = "default";
    }
    plan.cache_dir = CleanAbsolute(mypy_cwd, value);
  } else {
    plan.cache_dir = settings->cache_dir;
    plan.cache_dir_origin = settings->cache_dir_origin;
    plan.target_version = settings->python_version;
    if (!settings->config_file.empty()) plan.notes.push_back(ConfigNote(*settings));
  }
  if (argv.empty()) return plan;

  if (launch.found) {
    plan.why = BypassByArguments(argv, launch);
    if (plan.why.empty() && settings.ok()) {
      if (settings->cache_disabled) {
        plan.why = absl::StrCat("mypy's cache is disabled (cache_dir = /dev/null, from ",
                                settings->cache_dir_origin, ")");
      } else if (!settings->sqlite_cache &&
                 absl::EndsWith(settings->sqlite_cache_origin, " flag")) {
        plan.why = absl::StrCat(settings->sqlite_cache_origin, " turns the SQLite cache off");
      }
    }
    if (plan.why.empty()) {
      // Check that the redirected command really reaches the private copy with SQLite (an
      // @file argument could name another --cache-dir).
      absl::StatusOr<Invocation> probe = Redirect(argv, std::string(kProbeDir));
      if (probe.ok()) {
        std::vector<std::string> probe_args(
            probe->argv.begin() + static_cast<std::ptrdiff_t>(launch.mypy_arg_index),
            probe->argv.end());
        absl::StatusOr<MypyCacheSettings> after = ReadMypyCacheSettings(
            probe_args, mypy_cwd, mypy_env, MypyConfigRules::ForVersion(1, 15));
        if (after.ok() && (after->cache_dir != kProbeDir || !after->sqlite_cache)) {
          plan.warn = true;
          std::string origin =
              after->cache_dir != kProbeDir ? after->cache_dir_origin : after->sqlite_cache_origin;
          plan.why = origin == "default"
                         ? "cannot redirect mypy's cache: typecache's flags do not reach mypy"
                         : absl::StrCat("cannot redirect mypy's cache: ", origin,
                                        " overrides typecache's flags");
        }
      }
    }
    plan.bypass = !plan.why.empty();
    return plan;
  }

  // mypy is out of sight: only MYPY_CACHE_DIR reaches it, and only its configuration can turn
  // the SQLite cache on.
  if (!settings.ok()) return plan;
  if (settings->cache_disabled) {
    plan.bypass = true;
    plan.why = absl::StrCat("mypy's cache is disabled (cache_dir = /dev/null, from ",
                            settings->cache_dir_origin, ")");
    return plan;
  }
  if (settings->sqlite_cache_origin != "default" && !settings->sqlite_cache) {
    plan.bypass = true;
    plan.warn = true;
    plan.why = absl::StrCat(
        settings->sqlite_cache_origin,
        " turns mypy's SQLite cache off, and typecache cannot see mypy in the command to turn it "
        "on: mypy would write JSON files typecache cannot capture");
  } else if (settings->sqlite_cache_origin == "default") {
    // mypy >= 1.20 uses SQLite by default, older versions write JSON files: which one runs is
    // out of sight, so the run goes ahead and its private copy is looked at afterwards.
    plan.no_database_warning = absl::StrCat(
        "mypy wrote its cache as JSON files, which typecache cannot share (mypy < 1.20 writes "
        "SQLite only with sqlite_cache = True in its configuration, and typecache cannot see "
        "mypy in the command to add --sqlite-cache: ",
        launch.description,
        "); set sqlite_cache = True in [mypy], or run mypy itself: "
        "typecache run -- mypy ...");
  }
  return plan;
}

std::optional<std::string> MypyAdapter::CacheDirFromCommand(const std::vector<std::string>& argv,
                                                            const EnvLookup& env) const {
  CommandPlan plan = Plan(argv, env, AbsolutePath("."));
  if (plan.cache_dir_origin == "default") return std::nullopt;
  return plan.cache_dir;
}

bool MypyAdapter::Bypass(const std::vector<std::string>& argv, std::string* why) const {
  MypyLaunch launch = FindMypyLaunch(argv);
  if (!launch.found) return false;
  std::string reason = BypassByArguments(argv, launch);
  if (reason.empty()) {
    // The last of --sqlite-cache / --no-sqlite-cache wins.
    for (size_t i = launch.mypy_arg_index; i < argv.size() && argv[i] != "--"; ++i) {
      if (argv[i] == "--no-sqlite-cache") reason = "--no-sqlite-cache was given";
      if (argv[i] == "--sqlite-cache") reason.clear();
    }
  }
  if (reason.empty()) return false;
  *why = reason;
  return true;
}

absl::StatusOr<Invocation> MypyAdapter::Redirect(const std::vector<std::string>& argv,
                                                 const std::string& private_dir) const {
  if (argv.empty()) return absl::InvalidArgumentError("no mypy command given");
  Invocation inv;
  inv.argv = argv;
  inv.set_env.emplace_back("MYPY_CACHE_DIR", private_dir);
  MypyLaunch launch = FindMypyLaunch(argv);
  if (!launch.found || launch.is_dmypy) {
    // Never hand mypy's flags to a program that is not mypy.
    inv.notes.emplace_back("MYPY_CACHE_DIR names the private copy (no flag added)");
    return inv;
  }
  size_t first = launch.mypy_arg_index;
  std::string ignored;
  int at = FindCacheDir(inv.argv, first, &ignored);
  // Remove every --cache-dir occurrence (it names the shared cache); ours is inserted once.
  while (at >= 0) {
    bool with_value = false;
    IsCacheDirFlag(inv.argv[static_cast<size_t>(at)], &with_value);
    inv.argv.erase(inv.argv.begin() + at, inv.argv.begin() + at + (with_value ? 1 : 2));
    at = FindCacheDir(inv.argv, first, &ignored);
  }
  std::vector<std::string> added = {absl::StrCat(kCacheDirFlag, "=", private_dir)};
  if (!HasFlag(argv, first, "--sqlite-cache")) added.emplace_back("--sqlite-cache");
  inv.notes.push_back(absl::StrCat(
      "added --cache-dir=<private copy>", added.size() > 1 ? " --sqlite-cache" : "",
      first < argv.size() ? absl::StrCat(" before ", argv[first]) : std::string(" at the end")));
  inv.argv.insert(inv.argv.begin() + static_cast<long>(first), added.begin(), added.end());
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
  // The one pass shared with the normaliser and the namespace facts (json_meta.h), when the
  // meta is in its subset; the SAX parse decides everything else.
  if (const JsonMetaScan* scan = ScanJsonMeta(data)) {
    meta->is_object = true;
    meta->data_mtime = scan->data_mtime;
    meta->version_id = scan->version_id;
    meta->path = scan->path;
    return true;
  }
  JsonMetaReader reader(meta);
  return nlohmann::json::sax_parse(data.begin(), data.end(), &reader,
                                   nlohmann::json::input_format_t::json, /*strict=*/true);
}

// "a/b.meta.json" -> "a/b": the key up to the first dot of its basename.
// The key up to its first dot. mypy's module paths have no dot before the basename's suffix
// ("email/mime/text.meta.json"), so this is the module; for any other key it keeps the group's
// key range [stem".", stem"/") exact and contiguous: a key such as "a.b/c" belongs to "a", the
// range it falls in, never to a group of its own inside another group's range (rows fuzzer).
absl::string_view StemOf(absl::string_view key) {
  size_t dot = key.find('.');
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
  // "mypy 1.0.1 (compiled: yes)" -> "1.0.1", from the mypy on PATH.
  return VersionOf({"mypy"});
}

bool MypyAdapter::RunIsPublishable(int exit_code, bool crash_marker_seen) const {
  return (exit_code == 0 || exit_code == 1) && !crash_marker_seen;
}

}  // namespace typecache
