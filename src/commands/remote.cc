#include "src/commands/remote.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "src/base/status_macros.h"
#include "src/cachedb/cache_file.h"
#include "src/cachedb/group_rows.h"
#include "src/commands/maintenance.h"
#include "src/os/lock.h"
#include "src/store/local/fresh_publish.h"
#include "src/store/local/layout.h"
#include "src/store/remote/codec.h"

namespace typecache {
namespace {

// Meta rows sampled per table and family to tell which namespace a database's rows belong to.
constexpr int kMetaSample = 32;

// A value or row as the other struct of the same layout (SqlValue and RemoteValue, CacheRow
// and RemoteRow): copied, or from an rvalue with its bytes taken (a pack's rows are megabytes).
template <typename To, typename From>
To ConvertValue(From&& v) {
  To r;
  r.type = static_cast<decltype(r.type)>(static_cast<int>(v.type));
  r.integer = v.integer;
  r.real = v.real;
  r.bytes = std::forward<From>(v).bytes;
  return r;
}
template <typename ToRow, typename FromRow>
ToRow ConvertRow(FromRow&& r) {
  using Value = decltype(ToRow::mtime);
  return ToRow{std::forward<FromRow>(r).key, ConvertValue<Value>(std::forward<FromRow>(r).mtime),
               ConvertValue<Value>(std::forward<FromRow>(r).data)};
}

std::vector<RemoteRow> ToRemoteRows(const std::vector<CacheRow>& rows) {
  std::vector<RemoteRow> out;
  out.reserve(rows.size());
  for (const CacheRow& r : rows) out.push_back(ConvertRow<RemoteRow>(r));
  return out;
}

std::vector<CacheRow> ToCacheRows(std::vector<RemoteRow>&& rows) {
  std::vector<CacheRow> out;
  out.reserve(rows.size());
  for (RemoteRow& r : rows) out.push_back(ConvertRow<CacheRow>(std::move(r)));
  rows.clear();
  return out;
}

int64_t Now(const RemoteOptions& o) {
  return o.now != 0 ? o.now : absl::ToUnixSeconds(absl::Now());
}

std::vector<std::string> ReadOrder(const RemoteOptions& o) {
  std::vector<std::string> order;
  if (o.read_lineages.empty()) {
    order.push_back("main");
    if (SanitizeLineage(o.write_lineage) != "main")
      order.push_back(SanitizeLineage(o.write_lineage));
  } else {
    for (const std::string& l : o.read_lineages) order.push_back(SanitizeLineage(l));
  }
  return order;
}

std::string Writer() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, " pid ", ::getpid());
}

// What a command shares: the cache, the store, and where this machine's state lives.
struct Ctx {
  Fs& fs;
  const CheckerAdapter& adapter;
  const RowHooks& hooks;
  const RemoteOptions& o;
  Layout layout;
  int64_t now;
  std::string state_dir;  // <cache>/.typecache/remote/<store-hash>
};

Ctx MakeCtx(Fs& fs, const CheckerAdapter& adapter, const RowHooks& hooks, const RemoteOptions& o) {
  Layout layout(AbsolutePath(o.cache_dir));
  std::string store_id = absl::StrCat(RedactUrl(o.url), "\n", o.prefix);
  std::string state_dir =
      JoinPath(JoinPath(layout.state_dir(), "remote"), Xxh3Hex(store_id).substr(0, 16));
  return Ctx{fs, adapter, hooks, o, layout, Now(o), state_dir};
}

std::string StatePath(const Ctx& c, const Namespace& ns) {
  return JoinPath(c.state_dir, absl::StrCat(ns.Name(), ".state"));
}

SyncState LoadState(Ctx& c, const Namespace& ns, std::vector<std::string>& warnings) {
  std::string path = StatePath(c, ns);
  absl::StatusOr<FileInfo> info = c.fs.Stat(path);
  if (!info.ok() || !info->exists()) return {};
  absl::StatusOr<std::string> text = c.fs.ReadFile(path);
  if (!text.ok()) {
    warnings.push_back(std::string(text.status().message()));
    return {};
  }
  absl::StatusOr<SyncState> state = ParseSyncState(*text, path);
  if (!state.ok()) {
    warnings.push_back(absl::StrCat(state.status().message(), "; starting from scratch"));
    return {};
  }
  return *std::move(state);
}

absl::Status SaveState(Ctx& c, const Namespace& ns, const SyncState& state) {
  RETURN_IF_ERROR(MakeDirs(c.fs, c.state_dir));
  return WriteFileAtomic(c.fs, StatePath(c, ns), SerializeSyncState(state));
}

absl::StatusOr<FileLock> LockState(Ctx& c, absl::Duration timeout) {
  RETURN_IF_ERROR(MakeDirs(c.fs, c.state_dir));
  return FileLock::Acquire(c.fs, JoinPath(c.state_dir, "lock"), timeout);
}

absl::StatusOr<std::unique_ptr<RemoteSession>> OpenSession(const RemoteOptions& o) {
  if (o.url.empty()) return absl::InvalidArgumentError("no remote store URL given");
  return RemoteSession::Open(o.url, o.session);
}

// ---- The local side ----

// One live database and what it holds.
struct LocalDb {
  DbRef ref;
  // The generation ref.path is in, held while this is alive (it is read later, in OpenLocal).
  std::shared_ptr<HeldGenerations> held;
  std::optional<GroupFile> db;
  // Namespace of rows without a meta row of their own, per table|family: the majority of the
  // sampled metas.
  std::map<std::string, Namespace> majority;
};

absl::Status OpenLocal(Ctx& c, LocalDb& local) {
  if (local.db.has_value() || local.ref.path.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(GroupFile db, GroupFile::OpenReadOnly(local.ref.path));
  local.db.emplace(std::move(db));
  std::map<std::string, std::map<std::string, int>> votes;
  std::map<std::string, Namespace> by_name;
  for (const std::string& table : c.adapter.tables()) {
    for (const std::string& family : AllFamilies(c.adapter)) {
      std::string slot = absl::StrCat(table, "|", family);
      ASSIGN_OR_RETURN(std::vector<CacheRow> metas,
                       local.db->SampleMetas(table, family, kMetaSample, c.adapter));
      for (const CacheRow& m : metas) {
        absl::StatusOr<std::pair<std::string, std::string>> f = c.hooks.facts(m.key, m.data.bytes);
        if (!f.ok() || f->first.empty()) continue;
        Namespace ns{std::string(c.adapter.name()), f->first, local.ref.dir, f->second,
                     c.hooks.layout_of(local.ref.file)};
        by_name[ns.Name()] = ns;
        ++votes[slot][ns.Name()];
      }
    }
  }
  for (const auto& [slot, v] : votes) {
    auto best = std::max_element(v.begin(), v.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    local.majority[slot] = by_name[best->first];
  }
  return absl::OkStatus();
}

// The namespace of a group's rows: its meta row's, else the database's majority for its table
// and family.
std::optional<Namespace> NamespaceOfGroup(Ctx& c, const LocalDb& local, const std::string& group,
                                          const std::vector<CacheRow>* rows) {
  if (rows != nullptr) {
    for (const CacheRow& r : *rows) {
      if (c.adapter.RoleOf(r.key) != RowFacts::Role::kMeta) continue;
      absl::StatusOr<std::pair<std::string, std::string>> f = c.hooks.facts(r.key, r.data.bytes);
      if (f.ok() && !f->first.empty()) {
        return Namespace{std::string(c.adapter.name()), f->first, local.ref.dir, f->second,
                         c.hooks.layout_of(local.ref.file)};
      }
    }
  }
  GroupSelector s = c.adapter.Select(group);
  auto it = local.majority.find(absl::StrCat(s.table, "|", s.family.value_or("")));
  if (it == local.majority.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<LocalDb>> LiveDbs(Ctx& c) {
  std::vector<LocalDb> out;
  ASSIGN_OR_RETURN(FileInfo info, c.fs.Stat(c.layout.cache_dir()));
  if (!info.exists()) return out;
  ASSIGN_OR_RETURN(Target target, ResolveTarget(c.fs, c.adapter, c.layout.cache_dir()));
  for (const DbRef& ref : target.dbs) {
    if (c.hooks.layout_of(ref.file).empty()) continue;
    LocalDb local;
    local.ref = ref;
    local.held = target.held;
    out.push_back(std::move(local));
  }
  return out;
}

LocalDb* FindDb(std::vector<LocalDb>& dbs, absl::string_view dir, absl::string_view file) {
  for (LocalDb& d : dbs) {
    if (d.ref.dir == dir && d.ref.file == file) return &d;
  }
  return nullptr;
}

bool Matches(const Ctx& c, const Namespace& ns) {
  if (ns.checker != c.adapter.name()) return false;
  if (!c.o.python_version.empty() && ns.python != c.o.python_version) return false;
  if (!c.o.checker_version.empty()) {
    Namespace want = ns;
    want.version = c.o.checker_version;
    if (!SameNamespace(want, ns)) return false;
  }
  if (!c.o.platform.empty() && ns.platform != c.o.platform) return false;
  return true;
}

// The namespaces to work on: the local cache's and the explicit ones; when there are none, the
// store's that match the filters.
absl::StatusOr<std::vector<Namespace>> Namespaces(Ctx& c, RemoteSession& session,
                                                  std::vector<LocalDb>& dbs, bool list_store,
                                                  std::set<std::string>* local_names) {
  std::map<std::string, Namespace> out;
  for (LocalDb& d : dbs) {
    RETURN_IF_ERROR(OpenLocal(c, d));
    for (const auto& [slot, ns] : d.majority) {
      if (local_names) local_names->insert(ns.Name());
      // A pull for Python X.Y (a run's target version) works on X.Y's namespaces only.
      if (!list_store || Matches(c, ns)) out[ns.Name()] = ns;
    }
  }
  for (const Namespace& ns : c.o.namespaces) out[ns.Name()] = ns;
  // Only a cache with nothing of its own lists the store (the filters narrow that list): an
  // up-to-date machine costs one Get per lineage, no List.
  if (list_store && out.empty()) {
    std::string prefix = RemoteKeys::MarkersPrefix(c.o.prefix);
    ASSIGN_OR_RETURN(std::vector<std::string> markers, session.List(prefix));
    for (const std::string& k : markers) {
      absl::StatusOr<Namespace> ns = ParseNamespaceName(k.substr(prefix.size()));
      if (ns.ok() && Matches(c, *ns)) out[ns->Name()] = *ns;
    }
  }
  std::vector<Namespace> v;
  for (auto& [name, ns] : out) v.push_back(ns);
  return v;
}

// Digests of `groups` of one local database (absent groups are absent from the result).
absl::StatusOr<std::map<std::string, std::string>> LocalDigests(
    Ctx& c, LocalDb* local, const std::set<std::string>& groups) {
  std::map<std::string, std::string> out;
  if (local == nullptr || local->ref.path.empty() || groups.empty()) return out;
  RETURN_IF_ERROR(OpenLocal(c, *local));
  ASSIGN_OR_RETURN(GroupRowMap rows, local->db->Read(groups, c.adapter));
  for (const auto& [g, r] : rows) {
    absl::StatusOr<std::string> d = GroupDigest(g, ToRemoteRows(r), c.hooks);
    if (d.ok()) out[g] = *d;  // A malformed local group never equals a remote one.
  }
  return out;
}

void Warn(RemoteReport& report, const std::string& text) { report.warnings.push_back(text); }

void NoteFailure(RemoteSession& session, RemoteReport& report) {
  if (session.failed() && !report.store_failed) {
    report.store_failed = true;
    report.failure = std::string(session.failure().message());
  }
}

// ---- What the local cache holds, remembered ----
//
// Which namespaces the live databases hold is found by sampling their metas; an up-to-date pull
// must not pay that. <state_dir>/local-namespaces remembers the answer for the live databases
// as they were (device, inode, size, mtime of each: a publish makes a new file), so a pull on
// an unchanged cache reads one small file instead.

constexpr char kMemoHeader[] = "typecache local-namespaces 1";

std::string MemoPath(const Ctx& c) { return JoinPath(c.state_dir, "local-namespaces"); }

// One line per live database; "" when one cannot be looked at (then nothing is remembered).
std::string LocalIdentity(Ctx& c, const std::vector<LocalDb>& dbs) {
  std::string out;
  for (const LocalDb& d : dbs) {
    if (d.ref.path.empty()) continue;
    absl::StatusOr<FileInfo> info = c.fs.Stat(d.ref.path);
    if (!info.ok() || !info->is_file()) return "";
    absl::StrAppend(&out, d.ref.dir, " ", d.ref.file, " ", info->device, " ", info->inode, " ",
                    info->size, " ", info->mtime_ns, "\n");
  }
  return out;
}

std::string MemoText(const std::string& identity, const std::set<std::string>& names) {
  std::string text = absl::StrCat(kMemoHeader, "\n", identity, "--\n");
  for (const std::string& n : names) absl::StrAppend(&text, n, "\n");
  return text;
}

// The remembered namespaces of the live databases, if they are still the ones remembered.
std::optional<std::vector<Namespace>> RememberedNamespaces(Ctx& c,
                                                           const std::vector<LocalDb>& dbs) {
  std::string identity = LocalIdentity(c, dbs);
  if (identity.empty()) return std::nullopt;
  absl::StatusOr<FileInfo> info = c.fs.Stat(MemoPath(c));
  if (!info.ok() || !info->exists()) return std::nullopt;
  absl::StatusOr<std::string> text = c.fs.ReadFile(MemoPath(c));
  std::string head = MemoText(identity, {});
  if (!text.ok() || !absl::StartsWith(*text, head)) return std::nullopt;
  std::vector<Namespace> out;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(*text).substr(head.size()), '\n', absl::SkipEmpty())) {
    absl::StatusOr<Namespace> ns = ParseNamespaceName(line);
    if (!ns.ok()) return std::nullopt;
    out.push_back(*ns);
  }
  return out;
}

// Remembers `names` as the namespaces of the live databases as they are now (written only when
// that changes). After a pull they are the ones sampled before it plus the ones it applied
// groups of (sampling again would cost a cold pull more than its fetch).
void RememberNamespaces(Ctx& c, const std::set<std::string>& names) {
  absl::StatusOr<std::vector<LocalDb>> dbs = LiveDbs(c);
  if (!dbs.ok()) return;
  std::string identity = LocalIdentity(c, *dbs);
  if (identity.empty()) return;
  std::string text = MemoText(identity, names);
  absl::StatusOr<FileInfo> info = c.fs.Stat(MemoPath(c));
  if (info.ok() && info->exists()) {
    absl::StatusOr<std::string> old = c.fs.ReadFile(MemoPath(c));
    if (old.ok() && *old == text) return;
  }
  if (MakeDirs(c.fs, c.state_dir).ok()) (void)WriteFileAtomic(c.fs, MemoPath(c), text);
}

// ---- pull ----

struct PullPlan {
  Namespace ns;
  SyncState state;  // advanced
  // (dir, file) -> groups to write (empty rows: delete)
  std::map<std::pair<std::string, std::string>, GroupRowMap> apply;
  std::set<std::string> unapplied;  // became pending
};

absl::Status PlanNamespace(Ctx& c, RemoteSession& session, std::vector<LocalDb>& dbs,
                           PullPlan& plan, RemoteReport& report) {
  const Namespace& ns = plan.ns;
  RemoteKeys keys(c.o.prefix, ns.Name());
  std::vector<std::string> order = ReadOrder(c.o);
  View before = EffectiveView(plan.state, order);
  std::vector<std::pair<std::string, PackRef>> packs;  // lineage, pack its snapshot named
  for (const std::string& l : order) {
    ASSIGN_OR_RETURN(CatchUpResult r, CatchUp(session, keys, l, plan.state.lineages[l], c.now,
                                              c.o.fresh_age_seconds));
    if (r.pack.has_value()) packs.emplace_back(l, *r.pack);
    if (!r.complete)
      Warn(report,
           absl::StrCat(ns.Name(), "/", l, ": log unreadable past #", plan.state.lineages[l].seq));
  }
  View after = EffectiveView(plan.state, order);
  std::set<std::string> candidates = plan.state.pending;
  for (const auto& [g, e] : after) {
    auto it = before.find(g);
    if (it == before.end() || it->second != e) candidates.insert(g);
  }
  for (const auto& [g, e] : before) {
    if (!after.count(g)) candidates.insert(g);
  }
  plan.state.pending.clear();
  report.groups_changed_remotely += static_cast<int64_t>(candidates.size());
  // Per database file: which local groups to compare.
  std::map<std::string, std::set<std::string>> by_file;
  for (const std::string& g : candidates) {
    auto a = after.find(g);
    auto b = before.find(g);
    if (a != after.end()) {
      by_file[a->second.file].insert(g);
    } else if (b != before.end()) {
      by_file[b->second.file].insert(g);
    }
  }
  struct Want {
    std::string group;
    ViewEntry entry;
  };
  std::vector<Want> wants;
  for (const auto& [file, groups] : by_file) {
    if (!c.adapter.IsDatabaseFile(file) || c.hooks.layout_of(file) != ns.layout) {
      Warn(report, absl::StrCat(ns.Name(), ": the log names database ", file,
                                ", not of this layout; ignored"));
      session.CountBadData();
      continue;
    }
    LocalDb* local = FindDb(dbs, ns.python, file);
    ASSIGN_OR_RETURN(auto local_digests, LocalDigests(c, local, groups));
    for (const std::string& g : groups) {
      auto a = after.find(g);
      auto l = local_digests.find(g);
      if (a != after.end()) {
        if (l != local_digests.end() && l->second == a->second.digest) {
          ++report.groups_already_local;
        } else {
          wants.push_back({g, a->second});
        }
      } else if (l != local_digests.end()) {
        // Deleted remotely: delete here only if this machine still has what the remote had.
        auto b = before.find(g);
        if (b != before.end() && l->second == b->second.digest) {
          plan.apply[{ns.python, file}][g];  // no rows: delete
        }
      }
    }
  }
  if (wants.empty()) return absl::OkStatus();
  // Many groups wanted and a pack at hand (a cold machine, or one far behind): one Get of the
  // pack instead of one per group. Each group of it is verified like an object; the groups it
  // lacks, holds in another version, or holds badly are fetched one by one below.
  if (static_cast<int64_t>(wants.size()) >= c.o.pack_min_groups) {
    for (const auto& [lineage, ref] : packs) {
      absl::StatusOr<std::optional<PackObject>> pack = FetchPack(session, keys, lineage, ref);
      if (session.failed()) return absl::OkStatus();  // the store failed: nothing more
      std::string what = absl::StrCat(ns.Name(), "/", lineage, ": pack ", ref.digest);
      if (!pack.ok() || !pack->has_value()) {
        if (pack.ok()) {
          ++session.counters().misses;
          Warn(report, absl::StrCat(what, " is missing; fetching the groups one by one"));
        } else {
          session.CountBadData();
          Warn(report, absl::StrCat(pack.status().message(), "; fetching the groups one by one"));
        }
        continue;
      }
      ++report.packs_used;
      std::map<absl::string_view, PackedGroup*> in_pack;
      for (PackedGroup& g : (*pack)->groups) in_pack[g.object.group] = &g;
      std::vector<Want> rest;
      int64_t bad = 0;
      std::string first_bad;
      // The groups the pack holds in the wanted version, verified in parallel, then taken in
      // the wanted order (the counters, warnings and what is left are as with one thread).
      std::vector<PackedGroup*> held(wants.size(), nullptr);
      std::vector<GroupToVerify> checks;
      for (size_t i = 0; i < wants.size(); ++i) {
        auto it = in_pack.find(wants[i].group);
        if (it == in_pack.end() || it->second->digest != wants[i].entry.digest ||
            it->second->object.file != wants[i].entry.file) {
          continue;  // not in it, or another version: not a lie
        }
        held[i] = it->second;
        checks.push_back({&it->second->object, wants[i].group, &wants[i].entry});
      }
      std::vector<absl::Status> verified =
          VerifyGroups(checks, ns, c.adapter, c.hooks, c.o.verify_threads);
      for (size_t i = 0, k = 0; i < wants.size(); ++i) {
        Want& w = wants[i];
        if (held[i] == nullptr) {
          rest.push_back(std::move(w));
          continue;
        }
        const absl::Status& ok = verified[k++];
        if (!ok.ok()) {
          session.CountBadData();
          if (bad++ == 0) first_bad = std::string(ok.message());
          rest.push_back(std::move(w));
          continue;
        }
        ++report.groups_from_pack;
        plan.apply[{ns.python, w.entry.file}][w.group] =
            ToCacheRows(std::move(held[i]->object.rows));
      }
      if (bad > 0) {
        Warn(report, absl::StrCat(what, ": ", bad, " group(s) failed verification (", first_bad,
                                  "); fetching them one by one"));
      }
      wants = std::move(rest);
      if (wants.empty()) return absl::OkStatus();
    }
  }
  std::vector<std::string> object_keys;
  for (const Want& w : wants) object_keys.push_back(keys.Object(w.entry.digest));
  std::vector<absl::StatusOr<std::optional<std::string>>> got = session.GetMany(object_keys);
  for (size_t i = 0; i < wants.size(); ++i) {
    const Want& w = wants[i];
    if (!got[i].ok()) {
      plan.unapplied.insert(w.group);
      continue;
    }
    // A missing or bad object is retried at the next pull (until it arrives or the group
    // changes): an administrator or another pusher may put it back.
    if (!got[i]->has_value()) {
      ++session.counters().misses;
      plan.unapplied.insert(w.group);
      continue;
    }
    absl::StatusOr<GroupObject> object = VerifyObject(**got[i], ns, w.group, w.entry, c.adapter,
                                                      c.hooks, session.options().max_object_bytes);
    if (!object.ok()) {
      session.CountBadData();
      Warn(report, std::string(object.status().message()));
      plan.unapplied.insert(w.group);
      continue;
    }
    plan.apply[{ns.python, w.entry.file}][w.group] = ToCacheRows(std::move(object->rows));
  }
  return absl::OkStatus();
}

// Publishes the verified groups into the local cache (maintenance frame: private copies, the
// publish protocol; a run that published one of the groups meanwhile keeps its version).
absl::StatusOr<int64_t> ApplyPlans(Ctx& c, std::vector<PullPlan>& plans, RemoteReport& report) {
  std::map<std::pair<std::string, std::string>, GroupRowMap> all;
  for (PullPlan& p : plans) {
    for (auto& [where, groups] : p.apply) {
      for (auto& [g, rows] : groups) all[where][g] = std::move(rows);
    }
  }
  if (all.empty()) return 0;
  // A cold machine (no generation in any directory the pull writes): the groups go straight
  // into a new generation, with the digests of their rows; no private copy, no read back.
  bool fresh = true;
  for (const auto& [where, groups] : all) {
    absl::StatusOr<LiveState> live = ReadLiveState(c.fs, c.layout, where.first);
    fresh = fresh && live.ok() && live->kind == LiveState::Kind::kMissing;
    for (const auto& [g, rows] : groups) fresh = fresh && !rows.empty();  // nothing to delete
  }
  if (fresh && c.o.direct_cold_publish) {
    FreshGeneration gen;
    int64_t written = 0;
    for (auto& [where, groups] : all) {
      written += static_cast<int64_t>(groups.size());
      gen[where.first][where.second] = std::move(groups);
    }
    PublishOptions publish;
    publish.lock_timeout = c.o.lock_timeout;
    publish.notice = c.o.notice;
    ASSIGN_OR_RETURN(PublishReport published,
                     PublishFreshGeneration(c.fs, c.layout, c.adapter, gen, publish));
    ++report.direct_publishes;
    report.groups_kept_local += published.conflicts;
    return written - published.conflicts;
  }
  RETURN_IF_ERROR(c.layout.Create(c.fs));
  ASSIGN_OR_RETURN(Target full, ResolveTarget(c.fs, c.adapter, c.layout.cache_dir(), true));
  std::set<std::string> dirs;
  for (const auto& [where, groups] : all) dirs.insert(where.first);
  Target target = full;
  target.kind = Target::Kind::kCacheDir;
  target.dbs.clear();
  // Every database of a directory the pull changes (a generation holds all of its shards).
  for (const DbRef& ref : full.dbs) {
    if (dirs.count(ref.dir)) target.dbs.push_back(ref);
  }
  EditOptions edit;
  edit.lock_timeout = c.o.lock_timeout;
  edit.notice = c.o.notice;
  for (const auto& [where, groups] : all) {
    bool present = false;
    for (const DbRef& ref : target.dbs) {
      present = present || (ref.dir == where.first && ref.file == where.second);
    }
    if (!present) {
      std::string shown = JoinPath(JoinPath(c.layout.cache_dir(), where.first), where.second);
      edit.extra.push_back({where.first, where.second, "", shown});
    }
  }
  int64_t written = 0;
  DbEditor editor = [&](const DbRef& ref, const std::string& path) -> absl::StatusOr<DbChange> {
    DbChange change;
    auto it = all.find({ref.dir, ref.file});
    if (it == all.end()) return change;
    RETURN_IF_ERROR(WriteGroupsToFile(path, it->second, c.adapter));  // EditTarget fsyncs it
    for (const auto& [g, rows] : it->second) change.groups.insert(g);
    written += static_cast<int64_t>(it->second.size());
    return change;
  };
  ASSIGN_OR_RETURN(EditReport edited, EditTarget(c.fs, c.adapter, target, editor, edit));
  report.groups_kept_local += edited.publish.conflicts;
  report.dbs_from_spares += edited.dbs_from_spares;
  return written - edited.publish.conflicts;
}

// ---- push ----

struct LocalGroup {
  std::string file;
  std::string digest;  // empty: deleted locally
  std::vector<CacheRow> rows;
};

// Writes a pack of `lineage`'s view at its seq from the local groups that hold exactly what
// the view names (the others are left out: a cold pull fetches them one by one), then a
// snapshot at that seq whose pointer names the pack. Order: pack, snapshot, pointer; a crash
// in between leaves an unnamed pack or snapshot (gc removes them), never a pointer to nothing.
absl::Status WritePack(Ctx& c, RemoteSession& session, const RemoteKeys& keys,
                       const std::string& lineage, const LineageState& state,
                       std::map<std::string, LocalGroup>& groups, RemoteReport& report) {
  PackObject pack;
  pack.ns = keys.ns();
  pack.lineage = lineage;
  pack.seq = state.seq;
  pack.created = c.now;
  for (const auto& [g, e] : state.view) {
    auto it = groups.find(g);
    if (it == groups.end() || it->second.digest != e.digest || it->second.file != e.file) continue;
    PackedGroup pg;
    pg.digest = e.digest;
    pg.object.ns = pack.ns;
    pg.object.group = g;
    pg.object.file = e.file;
    pg.object.created = c.now;
    pg.object.rows = ToRemoteRows(it->second.rows);
    std::sort(pg.object.rows.begin(), pg.object.rows.end(),
              [](const RemoteRow& a, const RemoteRow& b) { return a.key < b.key; });
    pack.groups.push_back(std::move(pg));
  }
  if (pack.groups.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string bytes, EncodePack(pack));
  if (bytes.size() > session.options().max_object_bytes) {
    Warn(report, absl::StrCat(keys.ns(), ": pack of ", bytes.size(),
                              " bytes is over the object size limit; not written"));
    return absl::OkStatus();
  }
  PackRef ref;
  ref.seq = state.seq;
  ref.digest = Xxh3Hex(bytes);
  ref.bytes = static_cast<int64_t>(bytes.size());
  // Content-addressed: create-if-absent where the store has it (an existing object under this
  // key holds these bytes); a plain Put of the same bytes otherwise.
  if (session.capabilities().put_if_absent) {
    ASSIGN_OR_RETURN(bool created, session.PutIfAbsent(keys.Pack(ref.digest), bytes));
    (void)created;
  } else {
    RETURN_IF_ERROR(session.Put(keys.Pack(ref.digest), bytes));
  }
  RETURN_IF_ERROR(WriteSnapshot(session, keys, lineage, state.seq, c.now, state.view, &ref));
  ++report.packs_written;
  return absl::OkStatus();
}

// Every local group of a namespace, read only when a pack is due (a run's push holds only its
// write set).
using AllGroups = std::function<absl::StatusOr<std::map<std::string, LocalGroup>*>()>;

// WritePack when the write lineage's pointer names no pack, or one at least pack_every records
// behind its state (one Get of snap/latest). A failure is a warning in the report and returned.
absl::Status MaybeWritePack(Ctx& c, RemoteSession& session, const RemoteKeys& keys,
                            const std::string& write, SyncState& state, const AllGroups& all,
                            RemoteReport& report) {
  if (!c.o.pack_on_push) return absl::OkStatus();
  const LineageState& lineage = state.lineages[write];
  absl::StatusOr<std::optional<std::string>> latest = session.Get(keys.SnapLatest(write));
  if (!latest.ok()) return latest.status();
  if (latest->has_value()) {
    absl::StatusOr<std::optional<PackRef>> ref = ParseLatestPack(**latest);
    if (ref.ok() && ref->has_value() && lineage.seq - (*ref)->seq < c.o.pack_every) {
      return absl::OkStatus();
    }
  }
  absl::StatusOr<std::map<std::string, LocalGroup>*> groups = all();
  absl::Status s =
      groups.ok() ? WritePack(c, session, keys, write, lineage, **groups, report) : groups.status();
  if (!s.ok()) Warn(report, absl::StrCat(keys.ns(), ": pack not written: ", s.message()));
  return s;
}

// `groups`: the candidates (the whole live generation's, or a run's write set); `all` gives
// every local group of the namespace when a pack is due (`groups` itself for a whole push).
absl::Status PushNamespace(Ctx& c, RemoteSession& session, const Namespace& ns,
                           std::map<std::string, LocalGroup>& groups, bool whole,
                           const AllGroups& all, RemoteReport& report) {
  RemoteKeys keys(c.o.prefix, ns.Name());
  SyncState state = LoadState(c, ns, report.warnings);
  std::vector<std::string> order = ReadOrder(c.o);
  std::string write = SanitizeLineage(c.o.write_lineage);
  if (std::find(order.begin(), order.end(), write) == order.end()) order.push_back(write);
  for (const std::string& l : order) {
    ASSIGN_OR_RETURN(CatchUpResult r,
                     CatchUp(session, keys, l, state.lineages[l], c.now, c.o.fresh_age_seconds));
    if (!r.complete) {
      return absl::DataLossError(absl::StrCat(ns.Name(), "/", l, ": log unreadable past #",
                                              state.lineages[l].seq, "; not pushing"));
    }
  }
  View eff = EffectiveView(state, order);
  std::set<std::string> known;  // digests some lineage references: the store holds them
  for (const auto& [l, ls] : state.lineages) {
    for (const auto& [g, e] : ls.view) known.insert(e.digest);
  }
  // The changes this push publishes, decided once (a concurrent publish of a group we did not
  // change is never reverted by a retry).
  std::vector<LogEntry> initial;
  std::vector<std::pair<std::string, std::string>> uploads;
  std::set<std::string> queued;
  for (auto& [g, local] : groups) {
    auto it = eff.find(g);
    if (local.digest.empty()) {
      const View& own = state.lineages[write].view;
      if (own.count(g)) initial.push_back({g, true, {}});
      continue;
    }
    if (it != eff.end() && it->second.digest == local.digest && it->second.file == local.file) {
      continue;
    }
    GroupObject object;
    object.ns = ns.Name();
    object.group = g;
    object.file = local.file;
    object.created = c.now;
    object.rows = ToRemoteRows(local.rows);
    ASSIGN_OR_RETURN(std::string bytes, EncodeGroupObject(object));
    if (bytes.size() > session.options().max_object_bytes) {
      Warn(report, absl::StrCat(g, ": ", bytes.size(), " bytes, over the object size limit"));
      continue;
    }
    LogEntry e{g, false, {local.file, local.digest, static_cast<int64_t>(bytes.size())}};
    initial.push_back(e);
    if (!known.count(local.digest) && queued.insert(local.digest).second) {
      uploads.emplace_back(keys.Object(local.digest), std::move(bytes));
    }
  }
  if (initial.empty()) {
    // Nothing to publish; a store without a pack for the head (written before packs, or its
    // pointer rewritten by a snapshot without one) still gets one from a whole-cache push.
    absl::Status pack_status;
    if (whole && state.lineages[write].seq > 0) {
      pack_status = MaybeWritePack(c, session, keys, write, state, all, report);
    }
    RETURN_IF_ERROR(SaveState(c, ns, state));
    return pack_status;
  }
  // A store that cannot take the record gets none of its objects either.
  RETURN_IF_ERROR(CheckCanAppend(session));
  std::vector<absl::Status> put = session.PutMany(uploads);
  for (const absl::Status& s : put) {
    if (!s.ok()) return s;
  }
  session.counters().objects_uploaded += static_cast<int64_t>(uploads.size());
  auto entries_for = [&](const View& own_view) {
    SyncState probe;
    for (const std::string& l : order) {
      probe.lineages[l].view = l == write ? own_view : state.lineages[l].view;
    }
    View now_eff = EffectiveView(probe, order);
    std::vector<LogEntry> out;
    for (const LogEntry& e : initial) {
      auto it = now_eff.find(e.group);
      if (e.deleted) {
        if (own_view.count(e.group)) out.push_back(e);
      } else if (it == now_eff.end() || it->second != e.entry) {
        out.push_back(e);
      }
    }
    return out;
  };
  ASSIGN_OR_RETURN(int64_t seq, AppendRecord(session, keys, write, state.lineages[write], c.now,
                                             Writer(), entries_for, c.o.snapshot_every));
  absl::Status pack_status;  // the record is published either way
  if (seq > 0) {
    ++report.records_appended;
    // Entries actually published: those still differing when the record was written.
    int64_t n = 0;
    const View& v = state.lineages[write].view;
    for (const LogEntry& e : initial) {
      auto it = v.find(e.group);
      if (e.deleted ? it == v.end() : (it != v.end() && it->second == e.entry)) ++n;
    }
    report.groups_pushed += n;
    session.counters().groups_pushed += n;
    // Packs come from runs' pushes too (a store only runs publish to still gets one for cold
    // machines): the whole live generation is read only when the pack is due.
    pack_status = MaybeWritePack(c, session, keys, write, state, all, report);
  }
  if (!state.marked) {
    absl::StatusOr<bool> marked = session.PutIfAbsent(keys.Marker(), "typecache namespace\n");
    if (marked.ok()) state.marked = true;
  }
  RETURN_IF_ERROR(SaveState(c, ns, state));
  return pack_status;
}

using LocalByNamespace =
    std::map<std::string, std::pair<Namespace, std::map<std::string, LocalGroup>>>;

// Local groups by namespace: every group of the live generation, or the ones in `published`.
absl::StatusOr<LocalByNamespace> CollectLocal(Ctx& c, std::vector<LocalDb>& dbs,
                                              const WriteSets& published, RemoteReport& report) {
  std::map<std::string, std::pair<Namespace, std::map<std::string, LocalGroup>>> out;
  for (LocalDb& d : dbs) {
    RETURN_IF_ERROR(OpenLocal(c, d));
    GroupRowMap rows;
    std::set<std::string> wanted;
    if (published.empty()) {
      ASSIGN_OR_RETURN(rows, d.db->ReadAll(c.adapter));
    } else {
      auto dir = published.find(d.ref.dir);
      if (dir == published.end()) continue;
      auto file = dir->second.find(d.ref.file);
      if (file == dir->second.end()) continue;
      wanted = file->second;
      ASSIGN_OR_RETURN(rows, d.db->Read(wanted, c.adapter));
    }
    for (auto& [g, r] : rows) {
      std::optional<Namespace> ns = NamespaceOfGroup(c, d, g, &r);
      if (!ns.has_value()) continue;
      absl::StatusOr<std::string> digest = GroupDigest(g, ToRemoteRows(r), c.hooks);
      if (!digest.ok()) {
        Warn(report,
             absl::StrCat(d.ref.shown, ": group ", g, " not pushed: ", digest.status().message()));
        continue;
      }
      auto& slot = out[ns->Name()];
      slot.first = *ns;
      slot.second[g] = LocalGroup{d.ref.file, *digest, std::move(r)};
    }
    for (const std::string& g : wanted) {
      if (rows.count(g)) continue;
      std::optional<Namespace> ns = NamespaceOfGroup(c, d, g, nullptr);
      if (!ns.has_value()) continue;
      auto& slot = out[ns->Name()];
      slot.first = *ns;
      slot.second[g] = LocalGroup{d.ref.file, "", {}};
    }
  }
  return out;
}

absl::Duration LockWait(const RemoteSession& session) {
  return std::max(absl::Milliseconds(10), std::min(session.remaining(), absl::Seconds(10)));
}

absl::Status RecordCounters(Ctx& c, const RemoteCounters& counters) {
  if (counters.Serialize() == RemoteCounters().Serialize()) return absl::OkStatus();  // no write
  absl::StatusOr<FileInfo> info = c.fs.Stat(c.layout.state_dir());
  if (!info.ok() || !info->exists()) return absl::OkStatus();
  StatsDelta delta;
  AddRemoteCounters(counters, delta);
  return UpdateStats(c.fs, c.layout, delta);
}

// An up-to-date machine: the cache is the one remembered, every read lineage's state is fresh
// and nothing is pending, and the store has no record after the one this machine applied. That
// costs one Get per read lineage and namespace (one for the default `main`), no lock, no
// sampling, no write. Anything else (including a record found) is left to the full pull.
absl::StatusOr<bool> AlreadyUpToDate(Ctx& c, RemoteSession& session, RemoteReport& report) {
  absl::StatusOr<std::vector<LocalDb>> dbs = LiveDbs(c);
  if (!dbs.ok()) return false;
  std::optional<std::vector<Namespace>> remembered = RememberedNamespaces(c, *dbs);
  if (!remembered.has_value()) return false;
  std::map<std::string, Namespace> namespaces;
  for (const Namespace& ns : *remembered) {
    if (Matches(c, ns)) namespaces[ns.Name()] = ns;
  }
  for (const Namespace& ns : c.o.namespaces) namespaces[ns.Name()] = ns;
  if (namespaces.empty()) return false;
  std::vector<std::string> order = ReadOrder(c.o);
  for (const auto& [name, ns] : namespaces) {
    std::vector<std::string> problems;
    SyncState state = LoadState(c, ns, problems);
    if (!problems.empty() || !state.pending.empty()) return false;
    RemoteKeys keys(c.o.prefix, name);
    for (const std::string& l : order) {
      auto it = state.lineages.find(l);
      if (it == state.lineages.end() || it->second.seq == 0 ||
          c.now - it->second.checked > c.o.fresh_age_seconds) {
        return false;
      }
      ASSIGN_OR_RETURN(std::optional<std::string> next,
                       session.Get(keys.Log(l, it->second.seq + 1)));
      if (next.has_value()) return false;
    }
  }
  for (const auto& [name, ns] : namespaces) report.namespaces.push_back(name);
  return true;
}

absl::StatusOr<RemoteReport> PullWith(Ctx& c, RemoteSession& session) {
  RemoteReport report;
  {
    absl::StatusOr<bool> done = AlreadyUpToDate(c, session, report);
    if (!done.ok()) {
      NoteFailure(session, report);
      report.counters = session.counters();
      return done.status();
    }
    if (*done) {
      report.counters = session.counters();
      return report;
    }
    report.namespaces.clear();
  }
  ASSIGN_OR_RETURN(FileLock lock, LockState(c, LockWait(session)));
  ASSIGN_OR_RETURN(std::vector<LocalDb> dbs, LiveDbs(c));
  std::set<std::string> local_names;
  absl::StatusOr<std::vector<Namespace>> namespaces =
      Namespaces(c, session, dbs, true, &local_names);
  if (!namespaces.ok()) {
    NoteFailure(session, report);
    return namespaces.status();
  }
  std::vector<PullPlan> plans;
  absl::Status first_error;
  for (const Namespace& ns : *namespaces) {
    report.namespaces.push_back(ns.Name());
    PullPlan plan;
    plan.ns = ns;
    plan.state = LoadState(c, ns, report.warnings);
    absl::Status s = PlanNamespace(c, session, dbs, plan, report);
    if (!s.ok()) {
      if (first_error.ok()) first_error = s;
      if (session.failed()) break;
      continue;
    }
    plans.push_back(std::move(plan));
  }
  NoteFailure(session, report);
  for (LocalDb& d : dbs) d.db.reset();  // close before publishing
  int64_t fetched = 0;
  for (const PullPlan& p : plans) {
    for (const auto& [where, groups] : p.apply) {
      for (const auto& [g, rows] : groups) fetched += rows.empty() ? 0 : 1;
    }
  }
  absl::StatusOr<int64_t> applied = ApplyPlans(c, plans, report);
  if (applied.ok()) {
    report.groups_applied = *applied;
    session.counters().hits += fetched;
  } else {
    Warn(report, absl::StrCat("cannot publish the pulled groups into the local cache: ",
                              applied.status().message()));
    if (first_error.ok()) first_error = applied.status();
  }
  for (PullPlan& p : plans) {
    p.state.pending.insert(p.unapplied.begin(), p.unapplied.end());
    if (!applied.ok()) {
      for (const auto& [where, groups] : p.apply) {
        for (const auto& [g, rows] : groups) p.state.pending.insert(g);
      }
    }
    absl::Status saved = SaveState(c, p.ns, p.state);
    if (!saved.ok()) Warn(report, std::string(saved.message()));
  }
  if (applied.ok()) {
    std::set<std::string> names = local_names;
    for (const PullPlan& p : plans) {
      if (!p.apply.empty()) names.insert(p.ns.Name());
    }
    RememberNamespaces(c, names);
  }
  report.counters = session.counters();
  if (!first_error.ok()) return first_error;
  return report;
}

absl::StatusOr<RemoteReport> PushWith(Ctx& c, RemoteSession& session, const WriteSets& published) {
  RemoteReport report;
  if (c.o.read_only) {
    report.warnings.push_back("read-only: not pushing");
    return report;
  }
  ASSIGN_OR_RETURN(FileLock lock, LockState(c, LockWait(session)));
  ASSIGN_OR_RETURN(std::vector<LocalDb> dbs, LiveDbs(c));
  ASSIGN_OR_RETURN(auto local, CollectLocal(c, dbs, published, report));
  absl::Status first_error;
  // A run's push reads the whole live generation only when a pack is due, once.
  std::optional<absl::StatusOr<LocalByNamespace>> whole;
  for (auto& [name, slot] : local) {
    report.namespaces.push_back(name);
    auto* own = &slot.second;
    std::string ns_name = name;
    AllGroups all = [&, own, ns_name]() -> absl::StatusOr<std::map<std::string, LocalGroup>*> {
      if (published.empty()) return own;
      if (!whole.has_value()) whole = CollectLocal(c, dbs, {}, report);
      if (!whole->ok()) return whole->status();
      return &(**whole)[ns_name].second;
    };
    absl::Status s =
        PushNamespace(c, session, slot.first, slot.second, published.empty(), all, report);
    if (!s.ok()) {
      if (first_error.ok()) first_error = s;
      if (session.failed()) break;
    }
  }
  NoteFailure(session, report);
  report.counters = session.counters();
  if (!first_error.ok()) return first_error;
  return report;
}

}  // namespace

void AddRemoteCounters(const RemoteCounters& counters, StatsDelta& delta) {
  const RemoteCounters& k = counters;
  delta.Add("remote_hits", k.hits);
  delta.Add("remote_misses", k.misses);
  delta.Add("remote_bytes_down", k.bytes_down);
  delta.Add("remote_bytes_up", k.bytes_up);
  delta.Add("remote_errors", k.errors);
  delta.Add("remote_timeouts", k.timeouts);
  delta.Add("remote_groups_pushed", k.groups_pushed);
}

absl::StatusOr<RemoteReport> RemotePull(Fs& fs, const CheckerAdapter& adapter,
                                        const RowHooks& hooks, const RemoteOptions& options) {
  Ctx c = MakeCtx(fs, adapter, hooks, options);
  ASSIGN_OR_RETURN(std::unique_ptr<RemoteSession> session, OpenSession(options));
  absl::StatusOr<RemoteReport> r = PullWith(c, *session);
  (void)RecordCounters(c, session->counters());
  return r;
}

absl::StatusOr<RemoteReport> RemotePush(Fs& fs, const CheckerAdapter& adapter,
                                        const RowHooks& hooks, const RemoteOptions& options,
                                        const WriteSets& published) {
  Ctx c = MakeCtx(fs, adapter, hooks, options);
  ASSIGN_OR_RETURN(std::unique_ptr<RemoteSession> session, OpenSession(options));
  absl::StatusOr<RemoteReport> r = PushWith(c, *session, published);
  (void)RecordCounters(c, session->counters());
  return r;
}

absl::StatusOr<RemoteStatusReport> RemoteStatus(Fs& fs, const CheckerAdapter& adapter,
                                                const RowHooks& hooks,
                                                const RemoteOptions& options) {
  Ctx c = MakeCtx(fs, adapter, hooks, options);
  ASSIGN_OR_RETURN(std::unique_ptr<RemoteSession> session, OpenSession(options));
  RemoteStatusReport out;
  out.store = session->description();
  ASSIGN_OR_RETURN(std::vector<LocalDb> dbs, LiveDbs(c));
  std::set<std::string> local_names;
  ASSIGN_OR_RETURN(std::vector<Namespace> namespaces,
                   Namespaces(c, *session, dbs, true, &local_names));
  // Also every namespace the store lists.
  std::string prefix = RemoteKeys::MarkersPrefix(options.prefix);
  ASSIGN_OR_RETURN(std::vector<std::string> markers, session->List(prefix));
  std::map<std::string, Namespace> by_name;
  for (const Namespace& ns : namespaces) by_name[ns.Name()] = ns;
  for (const std::string& k : markers) {
    absl::StatusOr<Namespace> ns = ParseNamespaceName(k.substr(prefix.size()));
    if (ns.ok()) by_name.emplace(ns->Name(), *ns);
  }
  std::vector<std::string> ignored;
  for (const auto& [name, ns] : by_name) {
    RemoteNamespaceStatus st;
    st.ns = name;
    st.local = local_names.count(name) > 0;
    RemoteKeys keys(options.prefix, name);
    SyncState state = LoadState(c, ns, ignored);
    SyncState head = state;
    ASSIGN_OR_RETURN(std::vector<std::string> lineages, ListLineages(*session, keys));
    for (const std::string& l : lineages) {
      RemoteLineageStatus ls;
      ls.lineage = l;
      ls.local_seq = state.lineages.count(l) ? state.lineages[l].seq : 0;
      ASSIGN_OR_RETURN(CatchUpResult r, CatchUp(*session, keys, l, head.lineages[l], c.now,
                                                options.fresh_age_seconds));
      (void)r;
      ls.head = head.lineages[l].seq;
      ls.groups = static_cast<int64_t>(head.lineages[l].view.size());
      ASSIGN_OR_RETURN(std::optional<std::string> latest, session->Get(keys.SnapLatest(l)));
      if (latest.has_value()) {
        absl::StatusOr<int64_t> seq = ParseLatest(*latest);
        if (seq.ok()) ls.snapshot = *seq;
      }
      st.lineages.push_back(ls);
    }
    ASSIGN_OR_RETURN(std::vector<std::string> objects, session->List(keys.ObjectsPrefix()));
    st.objects = static_cast<int64_t>(objects.size());
    if (st.local) {
      View eff = EffectiveView(head, ReadOrder(options));
      for (LocalDb& d : dbs) {
        if (d.ref.dir != ns.python || c.hooks.layout_of(d.ref.file) != ns.layout) continue;
        RETURN_IF_ERROR(OpenLocal(c, d));
        ASSIGN_OR_RETURN(GroupRowMap rows, d.db->ReadAll(c.adapter));
        for (auto& [g, r] : rows) {
          std::optional<Namespace> gns = NamespaceOfGroup(c, d, g, &r);
          if (!gns.has_value() || gns->Name() != name) continue;
          ++st.local_groups;
          absl::StatusOr<std::string> digest = GroupDigest(g, ToRemoteRows(r), c.hooks);
          auto it = eff.find(g);
          if (!digest.ok() || it == eff.end() || it->second.digest != *digest) {
            ++st.groups_differing;
          }
        }
      }
    }
    out.namespaces.push_back(std::move(st));
  }
  out.counters = session->counters();
  absl::StatusOr<std::map<std::string, int64_t>> stats = ReadStats(fs, c.layout);
  if (stats.ok()) {
    std::string text;
    for (const auto& [k, v] : *stats) {
      if (absl::StartsWith(k, "remote_")) absl::StrAppend(&text, k.substr(7), " ", v, "\n");
    }
    out.recorded = RemoteCounters::Parse(text);
  }
  return out;
}

std::string FormatRemoteStatus(const RemoteStatusReport& r) {
  std::string out = absl::StrCat("store: ", r.store, "\n");
  if (r.namespaces.empty()) absl::StrAppend(&out, "  (no namespaces)\n");
  for (const RemoteNamespaceStatus& ns : r.namespaces) {
    absl::StrAppend(&out, "namespace ", ns.ns, ns.local ? " (this cache)" : "", ": ", ns.objects,
                    " objects\n");
    for (const RemoteLineageStatus& l : ns.lineages) {
      absl::StrAppend(
          &out, absl::StrFormat("  lineage %-12s head #%d, %d groups, snapshot #%d; this machine "
                                "at #%d (%d behind)\n",
                                l.lineage, l.head, l.groups, l.snapshot, l.local_seq,
                                std::max<int64_t>(0, l.head - l.local_seq)));
    }
    if (ns.local) {
      absl::StrAppend(&out, "  local: ", ns.local_groups, " groups, ", ns.groups_differing,
                      " differ from the store\n");
    }
  }
  const RemoteCounters& k = r.recorded;
  absl::StrAppend(
      &out, absl::StrFormat("recorded: %d hits, %d misses, %d bytes down, %d bytes up, %d errors, "
                            "%d timeouts, %d groups pushed\n",
                            k.hits, k.misses, k.bytes_down, k.bytes_up, k.errors, k.timeouts,
                            k.groups_pushed));
  return out;
}

absl::StatusOr<RemoteGcReport> RemoteGc(Fs& fs, const RemoteOptions& options, const GcOptions& gc) {
  ASSIGN_OR_RETURN(std::unique_ptr<RemoteSession> session, OpenSession(options));
  RemoteGcReport out;
  std::set<std::string> names;
  for (const Namespace& ns : options.namespaces) names.insert(ns.Name());
  std::string prefix = RemoteKeys::MarkersPrefix(options.prefix);
  ASSIGN_OR_RETURN(std::vector<std::string> markers, session->List(prefix));
  for (const std::string& k : markers) names.insert(k.substr(prefix.size()));
  GcOptions g = gc;
  if (g.now == 0) g.now = Now(options);
  for (const std::string& name : names) {
    RemoteKeys keys(options.prefix, name);
    ASSIGN_OR_RETURN(GcReport r, GcNamespace(*session, keys, g));
    out.namespaces.emplace_back(name, r);
  }
  out.counters = session->counters();
  (void)fs;
  return out;
}

namespace {

// Opens a run's session on its first remote step; false, with the report marked failed, when
// the store cannot be opened at all.
bool OpenRunSession(const RemoteOptions& options, std::shared_ptr<RemoteSession>& session,
                    RemoteReport& report) {
  if (session) return true;
  absl::StatusOr<std::unique_ptr<RemoteSession>> s = OpenSession(options);
  if (!s.ok()) {
    report.store_failed = true;
    report.failure = std::string(s.status().message());
    report.warnings.push_back(absl::StrCat("remote cache disabled: ", report.failure));
    return false;
  }
  session = std::move(*s);
  return true;
}

// After a run's pull or push: a failed store is one warning, first, once per run.
void FinishRunStep(RemoteSession& session, bool& warned, RemoteReport& report) {
  NoteFailure(session, report);
  if (report.store_failed && !warned) {
    warned = true;
    report.warnings.insert(report.warnings.begin(),
                           absl::StrCat("remote cache unavailable for this run (", report.failure,
                                        "); using the local cache only"));
  }
  report.counters = session.counters();
}

}  // namespace

RemoteReport RemotePullBeforeRun(Fs& fs, const CheckerAdapter& adapter, const RowHooks& hooks,
                                 const RemoteOptions& options, RemoteRunState& state) {
  RemoteReport& report = state.report_;
  if (!OpenRunSession(options, state.session_, report)) return report;
  // A run waits for the local publish lock at most 10 s on the pull's behalf.
  RemoteOptions bounded = options;
  bounded.lock_timeout = std::min(options.lock_timeout, absl::Seconds(10));
  Ctx c = MakeCtx(fs, adapter, hooks, bounded);
  absl::StatusOr<RemoteReport> r = PullWith(c, *state.session_);
  if (r.ok()) {
    report.namespaces = r->namespaces;
    report.groups_changed_remotely += r->groups_changed_remotely;
    report.groups_already_local += r->groups_already_local;
    report.groups_applied += r->groups_applied;
    report.groups_kept_local += r->groups_kept_local;
    report.warnings.insert(report.warnings.end(), r->warnings.begin(), r->warnings.end());
  } else if (!state.session_->failed()) {  // a store failure gets its own single warning
    report.warnings.push_back(absl::StrCat("remote pull: ", r.status().message()));
  }
  FinishRunStep(*state.session_, state.warned_, report);
  return report;
}

RemoteReport RemotePushAfterPublish(Fs& fs, const CheckerAdapter& adapter, const RowHooks& hooks,
                                    const RemoteOptions& options, const WriteSets& published,
                                    RemoteRunState& state) {
  RemoteReport& report = state.report_;
  if (options.read_only || published.empty() || report.store_failed) return report;
  if (!OpenRunSession(options, state.session_, report)) return report;
  Ctx c = MakeCtx(fs, adapter, hooks, options);
  absl::StatusOr<RemoteReport> r = PushWith(c, *state.session_, published);
  if (r.ok()) {
    report.groups_pushed += r->groups_pushed;
    report.records_appended += r->records_appended;
    report.packs_written += r->packs_written;
    report.warnings.insert(report.warnings.end(), r->warnings.begin(), r->warnings.end());
  } else if (!state.session_->failed()) {
    report.warnings.push_back(absl::StrCat("remote push: ", r.status().message()));
  }
  FinishRunStep(*state.session_, state.warned_, report);
  return report;
}

}  // namespace typecache
