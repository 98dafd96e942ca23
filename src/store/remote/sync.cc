#include "src/store/remote/sync.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "src/base/status_macros.h"
#include "src/store/remote/codec.h"
#include "src/store/remote/parallel.h"

namespace typecache {
namespace {

// Below this much budget left, a request is not started at all.
constexpr absl::Duration kMinRequest = absl::Milliseconds(20);

}  // namespace

void RemoteCounters::Add(const RemoteCounters& o) {
  for (const auto& [name, field] : Fields()) this->*field += o.*field;
}

const std::vector<std::pair<const char*, int64_t RemoteCounters::*>>& RemoteCounters::Fields() {
  static const std::vector<std::pair<const char*, int64_t RemoteCounters::*>> fields = {
      {"hits", &RemoteCounters::hits},
      {"misses", &RemoteCounters::misses},
      {"bytes_down", &RemoteCounters::bytes_down},
      {"bytes_up", &RemoteCounters::bytes_up},
      {"errors", &RemoteCounters::errors},
      {"timeouts", &RemoteCounters::timeouts},
      {"groups_pushed", &RemoteCounters::groups_pushed},
      {"objects_uploaded", &RemoteCounters::objects_uploaded},
      {"records_read", &RemoteCounters::records_read},
      {"records_written", &RemoteCounters::records_written}};
  return fields;
}

std::string RemoteCounters::Serialize() const {
  std::string out;
  for (const auto& [name, field] : Fields()) absl::StrAppend(&out, name, " ", this->*field, "\n");
  return out;
}

RemoteCounters RemoteCounters::Parse(absl::string_view text) {
  RemoteCounters c;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() != 2) continue;
    int64_t v;
    if (!absl::SimpleAtoi(f[1], &v)) continue;
    for (const auto& [name, field] : Fields()) {
      if (f[0] == name) c.*field = v;
    }
  }
  return c;
}

bool IsTimeout(const absl::Status& status) {
  if (absl::IsDeadlineExceeded(status)) return true;
  std::string m = absl::AsciiStrToLower(status.message());
  return absl::IsUnavailable(status) &&
         (absl::StrContains(m, "timed out") || absl::StrContains(m, "timeout"));
}

StoreOptions RemoteSession::StoreOptionsFor(absl::Duration request_timeout) const {
  StoreOptions o = options_.store;
  o.connect_timeout = std::min(options_.connect_timeout, request_timeout);
  o.request_timeout = request_timeout;
  o.max_object_bytes = options_.max_object_bytes + 16384;  // header room
  return o;
}

absl::StatusOr<std::unique_ptr<RemoteSession>> RemoteSession::Open(const std::string& url,
                                                                   const SessionOptions& options) {
  absl::Duration timeout = std::min(options.request_timeout, options.budget);
  std::unique_ptr<RemoteSession> s(new RemoteSession(url, options, nullptr));
  ASSIGN_OR_RETURN(s->store_, OpenBlobStore(url, s->StoreOptionsFor(timeout)));
  s->current_timeout_ = timeout;
  return s;
}

void RemoteSession::Fail(absl::Status status) {
  if (failed()) return;
  if (IsTimeout(status)) {
    ++counters_.timeouts;
  } else {
    ++counters_.errors;
  }
  failure_ = std::move(status);
}

absl::Status RemoteSession::Begin() {
  if (failed()) return failure_;
  absl::Duration left = remaining();
  if (left < kMinRequest) {
    Fail(absl::DeadlineExceededError(absl::StrCat(store_->description(), ": remote time budget of ",
                                                  absl::FormatDuration(options_.budget),
                                                  " used up")));
    return failure_;
  }
  if (left < current_timeout_) {
    // Reopen with a request timeout that ends with the budget (loses the kept-alive
    // connection; happens at most a few times per session).
    absl::StatusOr<std::unique_ptr<BlobStore>> s = OpenBlobStore(url_, StoreOptionsFor(left));
    if (s.ok()) {
      store_ = std::move(*s);
      current_timeout_ = left;
    }
  }
  return absl::OkStatus();
}

void RemoteSession::End(absl::Time start) { spent_ += absl::Now() - start; }

namespace {
const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace

template <typename StoreCall>
auto RemoteSession::Call(const StoreCall& call) -> decltype(call()) {
  RETURN_IF_ERROR(Begin());
  absl::Time start = absl::Now();
  decltype(call()) r = call();
  End(start);
  if (!r.ok()) {
    Fail(StatusOf(r));
    return failure_;
  }
  return r;
}

absl::StatusOr<std::optional<std::string>> RemoteSession::Get(const std::string& key) {
  absl::StatusOr<std::optional<std::string>> r = Call([&] { return store_->Get(key); });
  if (r.ok() && r->has_value()) counters_.bytes_down += static_cast<int64_t>((*r)->size());
  return r;
}

std::vector<absl::StatusOr<std::optional<std::string>>> RemoteSession::GetMany(
    const std::vector<std::string>& keys) {
  std::vector<absl::StatusOr<std::optional<std::string>>> out;
  if (keys.size() <= 2 || options_.parallelism <= 1) {
    for (const std::string& k : keys) out.push_back(Get(k));
    return out;
  }
  absl::Status begin = Begin();
  if (!begin.ok())
    return std::vector<absl::StatusOr<std::optional<std::string>>>(keys.size(), begin);
  absl::Time start = absl::Now();
  out = typecache::GetMany(url_, StoreOptionsFor(std::min(current_timeout_, remaining())), keys,
                           options_.parallelism);
  End(start);
  for (auto& r : out) {
    if (!r.ok()) {
      Fail(r.status());
    } else if (r->has_value()) {
      counters_.bytes_down += static_cast<int64_t>((*r)->size());
    }
  }
  return out;
}

absl::Status RemoteSession::Put(const std::string& key, const std::string& bytes) {
  absl::Status s = Call([&] { return store_->Put(key, bytes); });
  if (s.ok()) counters_.bytes_up += static_cast<int64_t>(bytes.size());
  return s;
}

std::vector<absl::Status> RemoteSession::PutMany(
    const std::vector<std::pair<std::string, std::string>>& items) {
  std::vector<absl::Status> out;
  if (items.size() <= 2 || options_.parallelism <= 1) {
    for (const auto& [k, v] : items) out.push_back(Put(k, v));
    return out;
  }
  absl::Status begin = Begin();
  if (!begin.ok()) return std::vector<absl::Status>(items.size(), begin);
  absl::Time start = absl::Now();
  out = typecache::PutMany(url_, StoreOptionsFor(std::min(current_timeout_, remaining())), items,
                           options_.parallelism);
  End(start);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].ok()) {
      Fail(out[i]);
    } else {
      counters_.bytes_up += static_cast<int64_t>(items[i].second.size());
    }
  }
  return out;
}

absl::StatusOr<bool> RemoteSession::PutIfAbsent(const std::string& key, const std::string& bytes) {
  absl::StatusOr<bool> r = Call([&] { return store_->PutIfAbsent(key, bytes); });
  if (r.ok()) counters_.bytes_up += static_cast<int64_t>(bytes.size());
  return r;
}

absl::StatusOr<std::vector<std::string>> RemoteSession::List(const std::string& prefix) {
  return Call([&] { return store_->List(prefix); });
}

absl::Status RemoteSession::Delete(const std::string& key) {
  return Call([&] { return store_->Delete(key); });
}

namespace {

void Diff(const View& before, const View& after, std::set<std::string>& changed) {
  for (const auto& [g, e] : after) {
    auto it = before.find(g);
    if (it == before.end() || it->second != e) changed.insert(g);
  }
  for (const auto& [g, e] : before) {
    if (!after.count(g)) changed.insert(g);
  }
}

// Reads the newest snapshot into `state` if it is ahead of it. OK when there is none.
absl::Status LoadSnapshot(RemoteSession& session, const RemoteKeys& keys,
                          const std::string& lineage, LineageState& state, CatchUpResult& result) {
  ASSIGN_OR_RETURN(std::optional<std::string> latest, session.Get(keys.SnapLatest(lineage)));
  if (!latest.has_value()) return absl::OkStatus();
  absl::StatusOr<int64_t> seq = ParseLatest(*latest);
  if (!seq.ok()) {
    session.CountBadData();
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<PackRef>> pack = ParseLatestPack(*latest);
  if (*seq <= state.seq) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<std::string> text, session.Get(keys.Snap(lineage, *seq)));
  if (!text.has_value()) return absl::OkStatus();  // gc removed it meanwhile: replay the log
  absl::StatusOr<SnapshotRecord> snap = ParseSnapshot(*text, keys.ns(), lineage, *seq);
  if (!snap.ok()) {
    session.CountBadData();
    return absl::OkStatus();
  }
  Diff(state.view, snap->view, result.changed);
  state.view = std::move(snap->view);
  state.seq = snap->seq;
  result.from_snapshot = true;
  if (pack.ok()) result.pack = *pack;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CatchUpResult> CatchUp(RemoteSession& session, const RemoteKeys& keys,
                                      const std::string& lineage, LineageState& state, int64_t now,
                                      int64_t fresh_age_seconds, int64_t max_records) {
  CatchUpResult result;
  if (state.seq == 0 || now - state.checked > fresh_age_seconds) {
    RETURN_IF_ERROR(LoadSnapshot(session, keys, lineage, state, result));
  }
  for (int64_t n = 0; n < max_records; ++n) {
    int64_t seq = state.seq + 1;
    ASSIGN_OR_RETURN(std::optional<std::string> text, session.Get(keys.Log(lineage, seq)));
    if (!text.has_value()) {
      result.complete = true;
      state.checked = now;
      break;
    }
    absl::StatusOr<LogRecord> rec = ParseLogRecord(*text, keys.ns(), lineage, seq);
    if (!rec.ok()) {
      session.CountBadData();
      break;
    }
    for (const LogEntry& e : rec->entries) result.changed.insert(e.group);
    ApplyRecord(*rec, state.view);
    state.seq = seq;
    ++result.records;
    ++session.counters().records_read;
  }
  return result;
}

absl::Status WriteSnapshot(RemoteSession& session, const RemoteKeys& keys,
                           const std::string& lineage, int64_t seq, int64_t now, const View& view,
                           const PackRef* pack) {
  SnapshotRecord snap;
  snap.ns = keys.ns();
  snap.lineage = lineage;
  snap.seq = seq;
  snap.time = now;
  snap.view = view;
  RETURN_IF_ERROR(session.Put(keys.Snap(lineage, seq), SerializeSnapshot(snap)));
  // A pointer that goes back (two writers) only costs a longer replay.
  return session.Put(keys.SnapLatest(lineage), SerializeLatest(seq, pack));
}

absl::StatusOr<std::optional<PackObject>> FetchPack(RemoteSession& session, const RemoteKeys& keys,
                                                    const std::string& lineage,
                                                    const PackRef& ref) {
  std::string what =
      absl::StrCat("pack ", ref.digest, " (", keys.ns(), "/", lineage, " #", ref.seq, ")");
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, session.Get(keys.Pack(ref.digest)));
  if (!bytes.has_value()) return std::optional<PackObject>();
  if (static_cast<int64_t>(bytes->size()) != ref.bytes) {
    return absl::DataLossError(
        absl::StrCat(what, ": ", bytes->size(), " bytes, the pointer says ", ref.bytes));
  }
  RETURN_IF_ERROR(CheckXxh3(*bytes, ref.digest, what));
  ASSIGN_OR_RETURN(PackObject pack, DecodePack(*bytes, session.options().max_object_bytes, what));
  if (pack.ns != keys.ns() || pack.lineage != lineage || pack.seq != ref.seq) {
    return absl::DataLossError(
        absl::StrCat(what, ": holds ", pack.ns, "/", pack.lineage, " #", pack.seq));
  }
  return std::optional<PackObject>(std::move(pack));
}

absl::Status CheckCanAppend(RemoteSession& session) {
  if (session.capabilities().put_if_absent) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(session.description(),
                   ": this store cannot create an object only if absent, so two machines "
                   "publishing at once could overwrite each other's log record; not pushing"));
}

absl::StatusOr<int64_t> AppendRecord(
    RemoteSession& session, const RemoteKeys& keys, const std::string& lineage, LineageState& state,
    int64_t now, const std::string& writer,
    const std::function<std::vector<LogEntry>(const View&)>& entries_for, int64_t snapshot_every,
    int max_attempts) {
  RETURN_IF_ERROR(CheckCanAppend(session));
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    std::vector<LogEntry> entries = entries_for(state.view);
    if (entries.empty()) return 0;
    LogRecord rec;
    rec.ns = keys.ns();
    rec.lineage = lineage;
    rec.seq = state.seq + 1;
    rec.time = now;
    rec.writer = writer;
    rec.entries = std::move(entries);
    ASSIGN_OR_RETURN(bool created,
                     session.PutIfAbsent(keys.Log(lineage, rec.seq), SerializeLogRecord(rec)));
    if (created) {
      ApplyRecord(rec, state.view);
      state.seq = rec.seq;
      ++session.counters().records_written;
      if (snapshot_every > 0 && rec.seq % snapshot_every == 0) {
        // The pointer keeps naming the lineage's pack (one Get): a snapshot that dropped it
        // would send cold machines back to one Get per group until the next pack.
        std::optional<PackRef> pack;
        absl::StatusOr<std::optional<std::string>> latest = session.Get(keys.SnapLatest(lineage));
        if (latest.ok() && latest->has_value()) {
          absl::StatusOr<std::optional<PackRef>> ref = ParseLatestPack(**latest);
          if (ref.ok() && ref->has_value() && (*ref)->seq <= rec.seq) pack = **ref;
        }
        (void)WriteSnapshot(session, keys, lineage, rec.seq, now, state.view,
                            pack.has_value() ? &*pack : nullptr);
      }
      return rec.seq;
    }
    // Another writer took this seq: read what it published and try the next one.
    ASSIGN_OR_RETURN(CatchUpResult caught,
                     CatchUp(session, keys, lineage, state, now, int64_t{1} << 40));
    if (!caught.complete && caught.records == 0) {
      return absl::DataLossError(absl::StrCat("log of ", keys.ns(), "/", lineage, " #",
                                              state.seq + 1,
                                              " exists but cannot be read; not appending"));
    }
  }
  return absl::AbortedError(absl::StrCat("lost the race for the next log record of ", keys.ns(),
                                         "/", lineage, " ", max_attempts, " times"));
}

absl::Status VerifyGroup(const GroupObject& object, const Namespace& ns, absl::string_view group,
                         const ViewEntry& entry, const CheckerAdapter& adapter,
                         const RowHooks& hooks) {
  std::string what = absl::StrCat("object ", entry.digest, " (", group, ")");
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(what, ": ", why));
  };
  if (object.ns != ns.Name()) return bad(absl::StrCat("belongs to namespace ", object.ns));
  if (object.group != group) return bad(absl::StrCat("holds group ", object.group));
  if (object.file != entry.file) return bad(absl::StrCat("is for file ", object.file));
  if (!adapter.IsDatabaseFile(object.file) || hooks.layout_of(object.file) != ns.layout) {
    return bad(absl::StrCat("file ", object.file, " is not a database of layout ", ns.layout));
  }
  if (object.rows.empty()) return bad("has no rows");
  GroupSelector selector = adapter.Select(group);
  if (selector.table.empty()) return bad("group names no table");
  int metas = 0;
  std::optional<int64_t> recorded;            // the meta's record of int(mtime) of its data row
  std::map<std::string, int64_t> data_times;  // data row key -> int(mtime)
  std::set<std::string> kinds;
  std::vector<std::string> required;
  std::vector<std::string> norms(object.rows.size());
  for (size_t i = 0; i < object.rows.size(); ++i) {
    const RemoteRow& row = object.rows[i];
    if (i > 0 && !(object.rows[i - 1].key < row.key)) return bad("rows not sorted or repeated");
    if (adapter.GroupOf(selector.table, row.key) != group) {
      return bad(absl::StrCat("row ", row.key, " is not of the group"));
    }
    if (row.data.type != RemoteValue::Type::kText && row.data.type != RemoteValue::Type::kBlob) {
      return bad(absl::StrCat("row ", row.key, ": data is not text or blob"));
    }
    if (row.mtime.type != RemoteValue::Type::kInt && row.mtime.type != RemoteValue::Type::kReal) {
      return bad(absl::StrCat("row ", row.key, ": mtime is not a number"));
    }
    RowFacts facts = adapter.DescribeRow(row.key, row.data.bytes);
    if (!facts.problem.empty()) return bad(absl::StrCat("row ", row.key, ": ", facts.problem));
    if (!facts.unknown.empty()) return bad(absl::StrCat("row ", row.key, ": ", facts.unknown));
    kinds.insert(facts.kind);
    double m = row.mtime.type == RemoteValue::Type::kInt ? static_cast<double>(row.mtime.integer)
                                                         : row.mtime.real;
    // Normalise before asking for the namespace facts: the mypy hooks then parse a meta once
    // for both (normalize.h).
    absl::StatusOr<std::string> norm = hooks.normalize(row.key, row.data.bytes);
    if (!norm.ok()) return bad(norm.status().message());
    norms[i] = std::move(*norm);
    if (facts.role == RowFacts::Role::kMeta) {
      ++metas;
      recorded = facts.data_stamp;
      required = facts.required_kinds;
      ASSIGN_OR_RETURN(auto nsf, hooks.facts(row.key, row.data.bytes));
      Namespace written = ns;
      written.version = nsf.first;
      written.platform = nsf.second;
      if (!SameNamespace(written, ns)) {
        return bad(absl::StrCat("row ", row.key, " was written by ", nsf.first, " for ", nsf.second,
                                ", not ", ns.version, " for ", ns.platform));
      }
    } else if (facts.role == RowFacts::Role::kData) {
      data_times[row.key] = static_cast<int64_t>(m);
    }
  }
  if (adapter.NeedsMetaAndData(group)) {
    if (metas != 1 || data_times.size() != 1) return bad("needs one meta and one data row");
    if (recorded.has_value() && *recorded != data_times.begin()->second) {
      return bad("meta row does not match its data row (the data row's mtime)");
    }
    for (const std::string& k : required) {
      if (!kinds.count(k)) return bad(absl::StrCat("lacks its ", k, " row"));
    }
  }
  // The rows are sorted (checked above) and normalised: no second parse for the digest.
  std::string digest = GroupDigestOfNormalized(group, object.rows, norms);
  if (digest != entry.digest) return bad(absl::StrCat("digest is ", digest));
  return absl::OkStatus();
}

std::vector<absl::Status> VerifyGroups(const std::vector<GroupToVerify>& items,
                                       const Namespace& ns, const CheckerAdapter& adapter,
                                       const RowHooks& hooks, int threads) {
  std::vector<absl::Status> out(items.size());
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t i = next++; i < items.size(); i = next++) {
      out[i] = VerifyGroup(*items[i].object, ns, items[i].group, *items[i].entry, adapter, hooks);
    }
  };
  // A thread costs ~50 us to start: not worth it for a handful of groups.
  size_t n = std::min<size_t>(std::max(threads, 1), std::max<size_t>(items.size() / 8, 1));
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < n; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  return out;
}

absl::StatusOr<GroupObject> VerifyObject(absl::string_view bytes, const Namespace& ns,
                                         absl::string_view group, const ViewEntry& entry,
                                         const CheckerAdapter& adapter, const RowHooks& hooks,
                                         size_t max_bytes) {
  std::string what = absl::StrCat("object ", entry.digest, " (", group, ")");
  if (bytes.size() > max_bytes) {
    return absl::DataLossError(absl::StrCat(what, ": larger than the object size limit"));
  }
  ASSIGN_OR_RETURN(GroupObject object, DecodeGroupObject(bytes, max_bytes, what));
  RETURN_IF_ERROR(VerifyGroup(object, ns, group, entry, adapter, hooks));
  return object;
}

absl::StatusOr<std::vector<std::string>> ListLineages(RemoteSession& session,
                                                      const RemoteKeys& keys) {
  std::string prefix = keys.LineagesPrefix();
  ASSIGN_OR_RETURN(std::vector<std::string> all, session.List(prefix));
  std::set<std::string> names;
  for (const std::string& k : all) {
    absl::string_view rest = absl::string_view(k).substr(prefix.size());
    size_t slash = rest.find('/');
    if (slash != absl::string_view::npos) names.insert(std::string(rest.substr(0, slash)));
  }
  return std::vector<std::string>(names.begin(), names.end());
}

absl::StatusOr<GcReport> GcNamespace(RemoteSession& session, const RemoteKeys& keys,
                                     const GcOptions& options) {
  GcReport report;
  ASSIGN_OR_RETURN(report.lineages, ListLineages(session, keys));
  int64_t old = options.now - options.min_age_seconds;
  std::set<std::string> referenced;
  std::map<std::string, int64_t> packs;  // named by a lineage's snap/latest: their bytes
  for (const std::string& lineage : report.lineages) {
    LineageState state;
    ASSIGN_OR_RETURN(CatchUpResult caught,
                     CatchUp(session, keys, lineage, state, options.now, 0, int64_t{1} << 40));
    if (!caught.complete) {
      return absl::DataLossError(absl::StrCat("gc: the log of ", keys.ns(), "/", lineage,
                                              " has an unreadable record after #", state.seq,
                                              "; nothing deleted"));
    }
    for (const auto& [g, e] : state.view) referenced.insert(e.digest);
    if (caught.pack.has_value()) packs[caught.pack->digest] = caught.pack->bytes;
    report.snapshot_seq = state.seq;
    // Snapshot the current view, unless the newest snapshot already is it. The pointer keeps
    // naming the lineage's pack (older than the snapshot: a cold pull verifies each group of
    // it against the snapshot's view and fetches the others one by one).
    if (!caught.from_snapshot || caught.records > 0) {
      if (!options.dry_run && state.seq > 0) {
        RETURN_IF_ERROR(WriteSnapshot(session, keys, lineage, state.seq, options.now, state.view,
                                      caught.pack.has_value() ? &*caught.pack : nullptr));
      }
    }
    // Log records up to the snapshot: delete the old ones; keep the young ones and what they
    // reference (a machine may be part-way through them).
    ASSIGN_OR_RETURN(std::vector<std::string> logs, session.List(keys.LogPrefix(lineage)));
    for (const std::string& k : logs) {
      int64_t seq = RemoteKeys::SeqOfKey(k);
      if (seq <= 0 || seq > state.seq) continue;
      ASSIGN_OR_RETURN(std::optional<std::string> text, session.Get(k));
      if (!text.has_value()) continue;
      absl::StatusOr<LogRecord> rec = ParseLogRecord(*text, keys.ns(), lineage, seq);
      if (rec.ok() && rec->time >= old) {
        for (const LogEntry& e : rec->entries) {
          if (!e.deleted) referenced.insert(e.entry.digest);
        }
        continue;
      }
      if (!options.dry_run) RETURN_IF_ERROR(session.Delete(k));
      ++report.records_deleted;
    }
    ASSIGN_OR_RETURN(std::vector<std::string> snaps, session.List(keys.SnapPrefix(lineage)));
    std::vector<int64_t> seqs;
    for (const std::string& k : snaps) {
      int64_t seq = RemoteKeys::SeqOfKey(k);
      if (seq > 0) seqs.push_back(seq);
    }
    std::sort(seqs.rbegin(), seqs.rend());
    for (size_t i = static_cast<size_t>(options.keep_snapshots); i < seqs.size(); ++i) {
      std::string k = keys.Snap(lineage, seqs[i]);
      ASSIGN_OR_RETURN(std::optional<std::string> text, session.Get(k));
      if (!text.has_value()) continue;
      absl::StatusOr<SnapshotRecord> snap = ParseSnapshot(*text, keys.ns(), lineage, seqs[i]);
      if (snap.ok() && snap->time >= old) continue;
      if (!options.dry_run) RETURN_IF_ERROR(session.Delete(k));
      ++report.snapshots_deleted;
    }
  }
  ASSIGN_OR_RETURN(std::vector<std::string> objects, session.List(keys.ObjectsPrefix()));
  for (const std::string& k : objects) {
    std::string digest = k.substr(keys.ObjectsPrefix().size());
    if (referenced.count(digest)) {
      ++report.objects_kept;
      continue;
    }
    // Unreferenced: maybe a pusher uploaded it and has not appended its record yet. Only old
    // objects go (their header says when they were made).
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, session.Get(k));
    if (!bytes.has_value()) continue;
    absl::StatusOr<GroupObject> object =
        DecodeGroupObject(*bytes, session.options().max_object_bytes, k);
    if (object.ok() && object->created >= old) {
      ++report.objects_kept;
      continue;
    }
    if (!options.dry_run) RETURN_IF_ERROR(session.Delete(k));
    ++report.objects_deleted;
  }
  // Packs no pointer names (replaced by a newer one, or uploaded by a pusher that has not
  // written its pointer yet: those are young) go when older than min_age.
  ASSIGN_OR_RETURN(std::vector<std::string> pack_keys, session.List(keys.PacksPrefix()));
  for (const std::string& k : pack_keys) {
    std::string digest = k.substr(keys.PacksPrefix().size());
    auto named = packs.find(digest);
    if (named != packs.end()) {
      ++report.packs_kept;
      report.pack_bytes_kept += named->second;
      continue;
    }
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, session.Get(k));
    if (!bytes.has_value()) continue;
    absl::StatusOr<int64_t> created = PackCreated(*bytes, k);
    if (created.ok() && *created >= old) {
      ++report.packs_kept;
      report.pack_bytes_kept += static_cast<int64_t>(bytes->size());
      continue;
    }
    if (!options.dry_run) RETURN_IF_ERROR(session.Delete(k));
    ++report.packs_deleted;
    report.pack_bytes_deleted += static_cast<int64_t>(bytes->size());
  }
  return report;
}

}  // namespace typecache
