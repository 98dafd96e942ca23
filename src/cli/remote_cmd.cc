// `typecache remote pull|push|status|gc [URL]`: sharing the cache across machines through a
// blob store, as explicit commands (docs/commands/remote.md, docs/remote.md); and the remote
// settings and mypy's row hooks that `typecache run --remote` is given too.
//
// Exit codes: 0 done; 1 the store (or the local cache) failed, one "typecache: error:" line
// naming the store with its credentials redacted; 2 could not run (a usage error, a bad URL, no
// URL, a configuration error).
#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "src/checker/mypy/normalize.h"
#include "src/cli/context.h"
#include "src/cli/json_out.h"
#include "src/cli/remote_json.h"
#include "src/store/remote/blob_store.h"

namespace typecache {

RowHooks CheckerRowHooks() {
  return RowHooks{&NormalizeMypyRow, &MypyNamespaceFacts, &MypyLayoutOf};
}

void SetRemoteBudget(absl::Duration budget, RemoteOptions& options) {
  options.session.budget = budget;
  options.session.request_timeout = std::min(budget * 2 / 5, absl::Seconds(10));
}

RemoteOptions RemoteOptionsOf(const Context& ctx, const Config& config) {
  RemoteOptions o;
  o.url = config.Get("remote").value;
  o.read_only = config.Bool("remote_read_only").value_or(false);
  o.read_lineages = SplitLineages(config.Get("remote_read").value);
  o.write_lineage = std::string(absl::StripAsciiWhitespace(config.Get("remote_write").value));
  if (o.write_lineage.empty()) o.write_lineage = "main";
  o.prefix = config.Get("remote_prefix").value;
  SetRemoteBudget(config.Duration("remote_budget").value_or(absl::Seconds(2)), o);
  for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
    std::optional<std::string> endpoint = ctx.env(name);
    if (endpoint.has_value() && !endpoint->empty()) {
      o.session.store.s3_endpoint = *endpoint;
      break;
    }
  }
  return o;
}

namespace {

// The explicit commands talk to the store for at most this long unless --remote-budget says.
constexpr absl::Duration kCommandBudget = absl::Seconds(60);

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

struct RemoteFlags {
  std::string url;
  std::string cache_dir;
  SettingFlags settings;
  std::string budget;
  std::string python;
  std::string min_age = "7d";
  bool dry_run = false;
  bool json = false;
  bool verbose = false;
};

absl::Status CheckPython(const std::string& value) {
  std::vector<absl::string_view> parts = absl::StrSplit(value, '.');
  bool ok = parts.size() == 2;
  for (absl::string_view part : parts) {
    ok = ok && !part.empty() && part.size() <= 3 &&
         part.find_first_not_of("0123456789") == absl::string_view::npos;
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("'", value, "' is not a Python version X.Y"));
}

absl::Status CheckPositiveDuration(const std::string& value) {
  absl::StatusOr<absl::Duration> d = ParseDurationSetting(value);
  if (!d.ok()) return d.status();
  if (*d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("'", value, "' is not a positive duration"));
  }
  return absl::OkStatus();
}

class RemoteSubcommand : public Subcommand {
 public:
  std::string name() const override { return "remote"; }
  bool UsesVerbose() const override { return true; }

  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "remote",
        "Share the cache across machines through a store (Redis, WebDAV, S3), group by group:\n"
        "pull what changed, push this cache's groups, show the store, garbage-collect it.\n"
        "Usage: typecache remote pull|push|status|gc [URL] [options]");
    AddCacheDirFlag(cmd_, flags_.cache_dir);
    AddRemoteLineageFlags(cmd_, flags_.settings, "Never write to the store (push only warns)");
    cmd_->add_option("--remote-budget", flags_.budget,
                     "Most time spent talking to the store [default: 60s; run's remote_budget "
                     "does not apply]")
        ->type_name("DURATION")
        ->check(StatusValidator(CheckPositiveDuration, ""));
    cmd_->add_option("--python", flags_.python,
                     "For a pull into a cache that holds nothing yet: the Python version to "
                     "fetch (mypy's <X.Y> directory) [default: every one the store has]")
        ->type_name("X.Y")
        ->check(StatusValidator(CheckPython, ""));
    AddSettingFlag(cmd_, flags_.settings, "lock_timeout", "--lock-timeout",
                   "How long pull waits for the local publish lock");
    cmd_->add_flag("--json", flags_.json, "One JSON document on stdout");
    cmd_->add_flag("-v,--verbose", flags_.verbose, "Say what is done on stderr");
    cmd_->require_subcommand(0, 1);
    cmd_->footer(
        "URL: redis://[user:password@]host:port[/db][?prefix=P], redis+unix:///socket,\n"
        "http(s)://host/path/ (WebDAV), s3://bucket/prefix (AWS_* variables; AWS_ENDPOINT_URL_S3\n"
        "for MinIO and friends); default: the remote setting (TYPECACHE_REMOTE, remote = URL).\n"
        "Exit status: 0 done, 1 the store (or the local cache) failed, 2 a usage or\n"
        "configuration error.");

    const char* url_help = "The store [default: the remote setting]";
    auto add = [&](const char* name, const char* help) {
      CLI::App* sub = cmd_->add_subcommand(name, help);
      sub->add_option("URL", flags_.url, url_help)
          ->check(
              StatusValidator([](const std::string& v) { return CheckSetting("remote", v); }, ""));
      sub->fallthrough();
      return sub;
    };
    pull_ = add("pull",
                "Fetch the groups the store's lineages changed since this machine's last pull, "
                "verify them and publish them into the cache");
    push_ = add("push",
                "Publish this cache's groups that differ from the store's view (uploads, then "
                "one log record)");
    status_ = add("status",
                  "What the store holds per namespace and lineage, and how far behind this "
                  "cache is");
    gc_ = add("gc",
              "Snapshot every lineage, then delete log records, snapshots and objects no longer "
              "needed and older than --min-age");
    gc_->add_option("--min-age", flags_.min_age,
                    "Never delete anything younger than this [default: 7d]")
        ->type_name("DURATION")
        ->check(StatusValidator(CheckPositiveDuration, ""));
    gc_->add_flag("-n,--dry-run", flags_.dry_run, "Count what would go; delete nothing");
    return cmd_;
  }

  int Run(Context& ctx) override {
    const char* verb = pull_->parsed()     ? "pull"
                       : push_->parsed()   ? "push"
                       : status_->parsed() ? "status"
                       : gc_->parsed()     ? "gc"
                                           : nullptr;
    if (verb == nullptr) {
      return ctx.Fail("remote: say what to do: pull, push, status or gc (typecache remote --help)");
    }
    std::string what = absl::StrCat("remote ", verb);
    CacheDirChoice dir = ChooseCacheDir(ctx, flags_.cache_dir, {});
    int failed = kExitOk;
    std::optional<Config> config = LoadConfigOrFail(ctx, flags_.settings, dir.path, &failed);
    if (!config.has_value()) return failed;
    RemoteOptions o = RemoteOptionsOf(ctx, *config);
    o.cache_dir = dir.path;
    if (!flags_.url.empty()) o.url = flags_.url;
    if (o.url.empty()) {
      return ctx.Fail(absl::StrCat(what, ": no store URL: give one (typecache remote ", verb,
                                   " URL) or set remote (TYPECACHE_REMOTE, typecache config set "
                                   "remote URL)"));
    }
    SetRemoteBudget(flags_.budget.empty() ? kCommandBudget : *ParseDurationSetting(flags_.budget),
                    o);
    o.lock_timeout = config->Duration("lock_timeout").value_or(absl::Seconds(120));
    o.python_version = flags_.python;
    bool verbose = flags_.verbose || ctx.global.verbose;
    if (verbose) o.notice = [&ctx](const std::string& text) { ctx.Note(text); };
    store_ = RedactUrl(o.url);
    if (verbose)
      ctx.Note(absl::StrCat(what, ": ", store_, ", cache ", dir.path, " (", dir.origin, ")"));

    if (pull_->parsed() || push_->parsed()) {
      RowHooks hooks = CheckerRowHooks();
      absl::StatusOr<RemoteReport> r = pull_->parsed() ? RemotePull(ctx.fs, ctx.adapter, hooks, o)
                                                       : RemotePush(ctx.fs, ctx.adapter, hooks, o);
      if (!r.ok()) return StoreFailed(ctx, what, r.status());
      for (const std::string& w : r->warnings) ctx.Warn(w);
      if (flags_.json) {
        PrintJson(ReportJson(verb, *r), ctx.out);
      } else if (pull_->parsed()) {
        PrintPull(*r, ctx.out);
      } else {
        PrintPush(*r, ctx.out);
      }
      return kExitOk;
    }
    if (status_->parsed()) {
      absl::StatusOr<RemoteStatusReport> r =
          RemoteStatus(ctx.fs, ctx.adapter, CheckerRowHooks(), o);
      if (!r.ok()) return StoreFailed(ctx, what, r.status());
      if (flags_.json) {
        PrintJson(StatusJson(*r), ctx.out);
      } else {
        ctx.out << FormatRemoteStatus(*r);
      }
      return kExitOk;
    }
    GcOptions gc;
    gc.min_age_seconds = absl::ToInt64Seconds(*ParseDurationSetting(flags_.min_age));
    gc.dry_run = flags_.dry_run;
    absl::StatusOr<RemoteGcReport> r = RemoteGc(ctx.fs, o, gc);
    if (!r.ok()) return StoreFailed(ctx, what, r.status());
    if (flags_.json) {
      PrintJson(GcJson(*r), ctx.out);
    } else {
      PrintGc(*r, ctx.out);
    }
    return kExitOk;
  }

 private:
  // One error line that names the store once (the library's messages usually do already).
  int StoreFailed(const Context& ctx, const std::string& what, const absl::Status& status) const {
    std::string message(status.message());
    std::string store = store_;
    while (absl::EndsWith(store, "/")) store.pop_back();
    if (!absl::StrContains(message, store)) message = absl::StrCat(store_, ": ", message);
    ctx.err << "typecache: error: " << what << ": " << message << std::endl;
    return kExitRemoteFailed;
  }

  nlohmann::ordered_json ReportJson(const char* verb, const RemoteReport& r) const {
    nlohmann::ordered_json doc;
    doc["command"] = verb;
    doc["store"] = JsonText(store_);
    nlohmann::ordered_json report = RemoteReportJson(r);
    for (auto& [key, value] : report.items()) doc[key] = value;
    return doc;
  }

  void PrintPull(const RemoteReport& r, std::ostream& out) const {
    out << "pulled from " << store_ << ": "
        << Plural(r.groups_applied, "module group", "module groups") << " applied ("
        << r.groups_changed_remotely << " changed in the store, " << r.groups_already_local
        << " already here, " << r.groups_kept_local << " kept local); " << r.counters.hits
        << " hits, " << r.counters.misses << " misses, " << r.counters.errors << " errors, "
        << FormatSize(r.counters.bytes_down) << " down\n";
    if (r.namespaces.empty()) out << "  (the store has no namespace for this cache)\n";
  }

  void PrintPush(const RemoteReport& r, std::ostream& out) const {
    out << "pushed to " << store_ << ": "
        << Plural(r.groups_pushed, "module group", "module groups") << " in "
        << Plural(r.records_appended, "log record", "log records") << "; "
        << Plural(r.counters.objects_uploaded, "object", "objects") << " uploaded, "
        << FormatSize(r.counters.bytes_up) << " up\n";
  }

  nlohmann::ordered_json StatusJson(const RemoteStatusReport& r) const {
    nlohmann::ordered_json doc;
    doc["store"] = JsonText(r.store);
    nlohmann::ordered_json namespaces = nlohmann::ordered_json::array();
    for (const RemoteNamespaceStatus& ns : r.namespaces) {
      nlohmann::ordered_json lineages = nlohmann::ordered_json::array();
      for (const RemoteLineageStatus& l : ns.lineages) {
        lineages.push_back({{"lineage", JsonText(l.lineage)},
                            {"head", l.head},
                            {"local_seq", l.local_seq},
                            {"behind", std::max<int64_t>(0, l.head - l.local_seq)},
                            {"groups", l.groups},
                            {"snapshot", l.snapshot}});
      }
      namespaces.push_back({{"namespace", JsonText(ns.ns)},
                            {"local", ns.local},
                            {"objects", ns.objects},
                            {"local_groups", ns.local_groups},
                            {"groups_differing", ns.groups_differing},
                            {"lineages", lineages}});
    }
    doc["namespaces"] = namespaces;
    doc["counters"] = RemoteCountersJson(r.counters);
    doc["recorded"] = RemoteCountersJson(r.recorded);
    return doc;
  }

  nlohmann::ordered_json GcJson(const RemoteGcReport& r) const {
    nlohmann::ordered_json doc;
    doc["store"] = JsonText(store_);
    doc["dry_run"] = flags_.dry_run;
    nlohmann::ordered_json namespaces = nlohmann::ordered_json::array();
    for (const auto& [ns, g] : r.namespaces) {
      namespaces.push_back(RemoteGcJson(ns, g));
    }
    doc["namespaces"] = namespaces;
    doc["counters"] = RemoteCountersJson(r.counters);
    return doc;
  }

  void PrintGc(const RemoteGcReport& r, std::ostream& out) const {
    const char* deleted = flags_.dry_run ? "would delete" : "deleted";
    out << "gc of " << store_ << (r.namespaces.empty() ? ": no namespaces\n" : "\n");
    for (const auto& [ns, g] : r.namespaces) {
      out << "namespace " << ns << ": "
          << Plural(static_cast<int64_t>(g.lineages.size()), "lineage", "lineages")
          << ", snapshot #" << g.snapshot_seq << "; " << deleted << " "
          << Plural(g.records_deleted, "log record", "log records") << ", "
          << Plural(g.snapshots_deleted, "snapshot", "snapshots") << ", "
          << Plural(g.objects_deleted, "object", "objects") << ", "
          << Plural(g.packs_deleted, "pack", "packs") << " (" << FormatSize(g.pack_bytes_deleted)
          << "); kept " << Plural(g.objects_kept, "object", "objects") << ", "
          << Plural(g.packs_kept, "pack", "packs") << " (" << FormatSize(g.pack_bytes_kept)
          << ")\n";
    }
  }

  CLI::App* cmd_ = nullptr;
  CLI::App* pull_ = nullptr;
  CLI::App* push_ = nullptr;
  CLI::App* status_ = nullptr;
  CLI::App* gc_ = nullptr;
  RemoteFlags flags_;
  std::string store_;
};

}  // namespace

std::unique_ptr<Subcommand> NewRemoteSubcommand() { return std::make_unique<RemoteSubcommand>(); }

}  // namespace typecache
