#include "src/store/remote/sync_format.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/store/remote/codec.h"

namespace typecache {
namespace {

RowHooks Identity() {
  RowHooks h;
  h.normalize = [](absl::string_view, absl::string_view d) -> absl::StatusOr<std::string> {
    return std::string(d);
  };
  h.facts = [](absl::string_view,
               absl::string_view) -> absl::StatusOr<std::pair<std::string, std::string>> {
    return std::make_pair("", "");
  };
  h.layout_of = [](absl::string_view) { return std::string("1file"); };
  return h;
}

GroupObject Sample() {
  GroupObject o;
  o.ns = "mypy-1.0.1_py3.11_linux_1file";
  o.group = "files:pkg/a b.json";
  o.file = "cache.db";
  o.created = 1700000000;
  RemoteRow meta{"pkg/a b.meta.json", {}, {}};
  meta.mtime.type = RemoteValue::Type::kReal;
  meta.mtime.real = 1700000000.123456789;
  meta.data.type = RemoteValue::Type::kText;
  meta.data.bytes = "{\"data_mtime\": 1700000000}";
  RemoteRow data{"pkg/a b.data.json", {}, {}};
  data.mtime.type = RemoteValue::Type::kInt;
  data.mtime.integer = 1700000000;
  data.data.type = RemoteValue::Type::kBlob;
  data.data.bytes = std::string("\0\x01\xff", 3);
  o.rows = {data, meta};
  return o;
}

TEST(SyncFormat, GroupObjectRoundTripKeepsStorageClasses) {
  GroupObject o = Sample();
  absl::StatusOr<std::string> bytes = EncodeGroupObject(o);
  ASSERT_TRUE(bytes.ok());
  absl::StatusOr<GroupObject> back = DecodeGroupObject(*bytes, 1 << 20, "x");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ns, o.ns);
  EXPECT_EQ(back->group, o.group);
  EXPECT_EQ(back->file, o.file);
  EXPECT_EQ(back->created, o.created);
  ASSERT_EQ(back->rows.size(), 2u);
  EXPECT_EQ(back->rows[0].mtime.type, RemoteValue::Type::kInt);
  EXPECT_EQ(back->rows[0].data.type, RemoteValue::Type::kBlob);
  EXPECT_EQ(back->rows[0].data.bytes, std::string("\0\x01\xff", 3));
  EXPECT_EQ(back->rows[1].mtime.real, 1700000000.123456789);
  EXPECT_EQ(back->rows[1].data.type, RemoteValue::Type::kText);
}

TEST(SyncFormat, DamagedObjectsAreDataLossNeverPartial) {
  std::string bytes = *EncodeGroupObject(Sample());
  for (size_t cut : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    absl::StatusOr<GroupObject> o = DecodeGroupObject(bytes.substr(0, cut), 1 << 20, "x");
    EXPECT_TRUE(absl::IsDataLoss(o.status())) << cut << " " << o.status();
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodeGroupObject(std::string(500, 'z'), 1 << 20, "x").status()));
  std::string junk = bytes + "x";
  EXPECT_FALSE(DecodeGroupObject(junk, 1 << 20, "x").ok());
  EXPECT_TRUE(absl::IsOutOfRange(DecodeGroupObject(bytes, 10, "x").status()))
      << "the header's size is checked before decompressing";
}

TEST(SyncFormat, DigestIgnoresRowOrderAndMtimesButNotData) {
  GroupObject o = Sample();
  std::string d = *GroupDigest(o.group, o.rows, Identity());
  EXPECT_TRUE(IsDigest(d));
  std::vector<RemoteRow> reordered = {o.rows[1], o.rows[0]};
  reordered[0].mtime.real += 50;
  EXPECT_EQ(*GroupDigest(o.group, reordered, Identity()), d);
  reordered[1].data.bytes += "!";
  EXPECT_NE(*GroupDigest(o.group, reordered, Identity()), d);
  EXPECT_NE(*GroupDigest("files:pkg/other.json", o.rows, Identity()), d);
  o.rows[0].data.type = RemoteValue::Type::kText;  // same bytes, other storage class
  EXPECT_NE(*GroupDigest(o.group, o.rows, Identity()), d);
}

// The digest is XXH3-128 of the documented bytes (docs/remote.md "Group objects"), however it
// is computed: "typecache-digest 1\n", the group, then per row sorted by key its key, its data's
// storage class and its normalised data, each string after its varint length. Pinned with the
// value of the release that first wrote it: every machine must compute the same digest.
TEST(SyncFormat, DigestIsXxh3OfTheDocumentedBytes) {
  GroupObject o = Sample();
  std::string bytes = "typecache-digest 1\n";
  auto put = [&](absl::string_view s) {
    bytes.push_back(static_cast<char>(s.size()));  // every length here is below 128
    bytes.append(s.data(), s.size());
  };
  put(o.group);
  put(o.rows[0].key);  // "pkg/a b.data.json" sorts first
  bytes.push_back(static_cast<char>(RemoteValue::Type::kBlob));
  put(o.rows[0].data.bytes);
  put(o.rows[1].key);
  bytes.push_back(static_cast<char>(RemoteValue::Type::kText));
  put(o.rows[1].data.bytes);
  std::string d = *GroupDigest(o.group, o.rows, Identity());
  EXPECT_EQ(d, Xxh3Hex(bytes));
  EXPECT_EQ(d, "8d2aacc2c65e6a6aa5d0282d9d5b3f68");
}

// A log record or snapshot of ns1/main with its seq and time.
template <typename Record>
Record OfMain(int64_t seq, int64_t time) {
  Record r;
  r.ns = "ns1";
  r.lineage = "main";
  r.seq = seq;
  r.time = time;
  return r;
}

TEST(SyncFormat, LogRecordRoundTripAndChecks) {
  LogRecord r = OfMain<LogRecord>(7, 123);
  r.writer = "host pid 9";
  r.entries.push_back({"files:pkg/a b.json", false, {"cache.db", std::string(32, 'c'), 99}});
  r.entries.push_back({"files:pkg/gone.json", true, {}});
  std::string text = SerializeLogRecord(r);
  absl::StatusOr<LogRecord> back = ParseLogRecord(text, "ns1", "main", 7);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->writer, "host pid 9");
  ASSERT_EQ(back->entries.size(), 2u);
  EXPECT_EQ(back->entries[0].group, "files:pkg/a b.json");
  EXPECT_EQ(back->entries[0].entry.bytes, 99);
  EXPECT_TRUE(back->entries[1].deleted);
  View v{{"files:pkg/gone.json", {"cache.db", std::string(32, 'd'), 1}}};
  ApplyRecord(*back, v);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(v.begin()->first, "files:pkg/a b.json");
  // Asked for another seq, lineage or namespace: refused.
  EXPECT_TRUE(absl::IsDataLoss(ParseLogRecord(text, "ns1", "main", 8).status()));
  EXPECT_TRUE(absl::IsDataLoss(ParseLogRecord(text, "ns1", "feat", 7).status()));
  EXPECT_TRUE(absl::IsDataLoss(ParseLogRecord(text, "ns2", "main", 7).status()));
  // Truncated or altered: the check line fails.
  EXPECT_TRUE(
      absl::IsDataLoss(ParseLogRecord(text.substr(0, text.size() - 3), "ns1", "main", 7).status()));
  std::string altered = text;
  altered[altered.find("cccc")] = 'e';
  EXPECT_TRUE(absl::IsDataLoss(ParseLogRecord(altered, "ns1", "main", 7).status()));
}

TEST(SyncFormat, SnapshotLatestAndStateRoundTrip) {
  SnapshotRecord s = OfMain<SnapshotRecord>(100, 5);
  s.view["files:a.json"] = {"cache.db", std::string(32, '1'), 10};
  s.view["files:b.json"] = {"cache.db", std::string(32, '2'), 20};
  absl::StatusOr<SnapshotRecord> back = ParseSnapshot(SerializeSnapshot(s), "ns1", "main", 100);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->view, s.view);
  EXPECT_EQ(*ParseLatest(SerializeLatest(100)), 100);
  EXPECT_FALSE(ParseLatest("typecache-remote-latest 1\nseq 5\n").ok()) << "no check line";

  SyncState st;
  st.marked = true;
  st.lineages["main"].seq = 4;
  st.lineages["main"].checked = 77;
  st.lineages["main"].view = s.view;
  st.lineages["feat-x"].seq = 1;
  st.lineages["feat-x"].view["files:a.json"] = {"cache.db", std::string(32, '3'), 11};
  st.pending = {"files:b.json"};
  absl::StatusOr<SyncState> sb = ParseSyncState(SerializeSyncState(st), "state");
  ASSERT_TRUE(sb.ok()) << sb.status();
  EXPECT_TRUE(sb->marked);
  EXPECT_EQ(sb->lineages["main"].view, s.view);
  EXPECT_EQ(sb->lineages["main"].checked, 77);
  EXPECT_EQ(sb->pending, st.pending);
  View eff = EffectiveView(*sb, {"main", "feat-x"});
  EXPECT_EQ(eff["files:a.json"].digest, std::string(32, '3')) << "the later lineage wins";
  EXPECT_EQ(eff["files:b.json"].digest, std::string(32, '2'));
}

TEST(SyncFormat, PacksRoundTripAndRejectDamage) {
  PackObject pack;
  pack.ns = "ns1";
  pack.lineage = "main";
  pack.seq = 7;
  pack.created = 99;
  for (const char* g : {"files:a.json", "files:b.json"}) {
    PackedGroup pg;
    pg.digest = std::string(32, g[6]);
    pg.object.group = g;
    pg.object.file = "cache.db";
    RemoteRow row;
    row.key = std::string(g + 6, 1) + ".meta.json";
    row.mtime.type = RemoteValue::Type::kReal;
    row.mtime.real = 1.5;
    row.data.type = RemoteValue::Type::kText;
    row.data.bytes = std::string(500, 'x');
    pg.object.rows.push_back(row);
    pack.groups.push_back(pg);
  }
  absl::StatusOr<std::string> bytes = EncodePack(pack);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<PackObject> back = DecodePack(*bytes, 1 << 20, "pack");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->seq, 7);
  ASSERT_EQ(back->groups.size(), 2u);
  EXPECT_EQ(back->groups[1].digest, std::string(32, 'b'));
  EXPECT_EQ(back->groups[1].object.rows[0].data.bytes, std::string(500, 'x'));
  EXPECT_EQ(back->groups[1].object.ns, "ns1");
  EXPECT_EQ(*PackCreated(*bytes, "pack"), 99);
  EXPECT_FALSE(DecodePack(bytes->substr(0, bytes->size() - 3), 1 << 20, "pack").ok())
      << "truncated";
  EXPECT_FALSE(DecodePack(*bytes, 100, "pack").ok()) << "over the size limit before decompressing";
  EXPECT_FALSE(DecodePack(std::string(300, '\x17'), 1 << 20, "pack").ok());
  std::swap(pack.groups[0], pack.groups[1]);
  EXPECT_FALSE(DecodePack(*EncodePack(pack), 1 << 20, "pack").ok()) << "not sorted";
  // The pointer: old readers see the seq, new ones the pack too.
  PackRef ref{7, std::string(32, 'c'), static_cast<int64_t>(bytes->size())};
  std::string latest = SerializeLatest(9, &ref);
  EXPECT_EQ(*ParseLatest(latest), 9);
  absl::StatusOr<std::optional<PackRef>> got = ParseLatestPack(latest);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->seq, 7);
  EXPECT_EQ((*got)->digest, ref.digest);
  EXPECT_EQ((*got)->bytes, ref.bytes);
  EXPECT_FALSE(ParseLatestPack(SerializeLatest(9))->has_value());
  // One normalise per row: the digest of already-normalised rows is GroupDigest's.
  RowHooks hooks;
  hooks.normalize = [](absl::string_view, absl::string_view d) -> absl::StatusOr<std::string> {
    return std::string(d.substr(0, 3));
  };
  const std::vector<RemoteRow>& rows = pack.groups[1].object.rows;
  EXPECT_EQ(*GroupDigest("files:a.json", rows, hooks),
            GroupDigestOfNormalized("files:a.json", rows, {"xxx"}));
}

// A pack of many groups, of every storage class and file, comes back exactly.
TEST(SyncFormat, LargePacksRoundTripExactly) {
  PackObject pack;
  pack.ns = "ns1";
  pack.lineage = "main";
  pack.seq = 3;
  pack.created = 5;
  for (int g = 0; g < 300; ++g) {
    PackedGroup pg;
    pg.object.group = absl::StrCat("files:m", 1000 + g, ".json");
    pg.object.file = g % 2 ? "cache.db" : "cache.3.db";
    pg.digest = std::string(32, "0123456789abcdef"[g % 16]);
    for (int r = 0; r < g % 4 + 1; ++r) {
      RemoteRow row;
      row.key = absl::StrCat("m", 1000 + g, ".k", r);
      row.mtime.type = r % 2 ? RemoteValue::Type::kInt : RemoteValue::Type::kReal;
      row.mtime.integer = g * 7 + r;
      row.mtime.real = g + 0.25;
      row.data.type = r % 3 ? RemoteValue::Type::kBlob : RemoteValue::Type::kText;
      row.data.bytes = std::string(static_cast<size_t>(g * 13 % 900), static_cast<char>('a' + r));
      pg.object.rows.push_back(row);
    }
    pack.groups.push_back(pg);
  }
  std::string bytes = *EncodePack(pack);
  absl::StatusOr<PackObject> back = DecodePack(bytes, 1 << 24, "pack");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->groups.size(), pack.groups.size());
  for (size_t g = 0; g < pack.groups.size(); ++g) {
    const GroupObject& a = pack.groups[g].object;
    const GroupObject& b = back->groups[g].object;
    EXPECT_EQ(back->groups[g].digest, pack.groups[g].digest);
    EXPECT_EQ(b.group, a.group);
    EXPECT_EQ(b.file, a.file);
    EXPECT_EQ(b.ns, "ns1");
    EXPECT_EQ(b.created, 5);
    ASSERT_EQ(b.rows.size(), a.rows.size()) << g;
    for (size_t r = 0; r < a.rows.size(); ++r) {
      EXPECT_EQ(b.rows[r].key, a.rows[r].key);
      EXPECT_EQ(b.rows[r].mtime.type, a.rows[r].mtime.type);
      EXPECT_EQ(b.rows[r].data.type, a.rows[r].data.type);
      EXPECT_EQ(b.rows[r].data.bytes, a.rows[r].data.bytes);
      if (a.rows[r].mtime.type == RemoteValue::Type::kInt) {
        EXPECT_EQ(b.rows[r].mtime.integer, a.rows[r].mtime.integer);
      } else {
        EXPECT_EQ(b.rows[r].mtime.real, a.rows[r].mtime.real);
      }
    }
  }
  // A group without rows decodes; an unsorted pack is refused.
  PackObject bad = pack;
  bad.groups[150].object.rows.clear();
  std::string text = *EncodePack(bad);
  EXPECT_TRUE(DecodePack(text, 1 << 24, "pack").ok());
  std::swap(bad.groups[10], bad.groups[11]);
  absl::StatusOr<PackObject> unsorted = DecodePack(*EncodePack(bad), 1 << 24, "pack");
  EXPECT_TRUE(absl::IsDataLoss(unsorted.status()));
  EXPECT_NE(unsorted.status().message().find("not sorted"), std::string::npos);
}

TEST(SyncFormat, NamesAndKeys) {
  Namespace ns{"mypy", "1.18.2+dev", "3.11", "linux", "16shards"};
  EXPECT_EQ(ns.Name(), "mypy-1.18.2-dev_py3.11_linux_16shards");
  absl::StatusOr<Namespace> back = ParseNamespaceName(ns.Name());
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(SameNamespace(*back, ns));
  EXPECT_FALSE(ParseNamespaceName("garbage").ok());
  EXPECT_EQ(SanitizeLineage("feat/x y"), "feat-x-y");
  RemoteKeys k("proj", ns.Name());
  EXPECT_EQ(k.Log("main", 42),
            "proj/mypy-1.18.2-dev_py3.11_linux_16shards/lin/main/log/000000000042");
  EXPECT_EQ(RemoteKeys::SeqOfKey(k.Log("main", 42)), 42);
  EXPECT_EQ(RemoteKeys::SeqOfKey(k.SnapLatest("main")), -1);
  EXPECT_EQ(RemoteKeys("", "n").Object("ab"), "n/g/ab");
  EXPECT_EQ(*UnescapeName(EscapeName("a b%c\n")), "a b%c\n");
  EXPECT_FALSE(UnescapeName("a%2").ok());
  EXPECT_FALSE(UnescapeName("a%zz").ok());
}

}  // namespace
}  // namespace typecache
