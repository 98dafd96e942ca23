#include "src/commands/maintenance.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/cachedb/cache_db.h"
#include "src/checker/mypy/mypy_adapter.h"
#include "src/os/fs.h"
#include "src/sqlite/sqlite_db.h"
#include "src/store/local/layout.h"
#include "src/store/local/publish.h"
#include "src/store/local/snapshot.h"
#include "src/testing/fault_fs.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

class MaintenanceTest : public ::testing::Test {
 protected:
  MaintenanceTest() : layout_(tmp_.Sub("cache")) {}

  // Publishes `files` (name -> rows) into <cache>/<dir> the way `typecache run` does.
  void Seed(const std::string& dir, const std::map<std::string, std::vector<Row>>& files,
            int* donated_spares_used = nullptr) {
    TC_ASSERT_OK(layout_.Create(RealFs()));
    std::string id = absl::StrCat("seed", next_id_++);
    std::string root = JoinPath(layout_.runs_dir(), id);
    TC_ASSERT_OK(RealFs().MakeDir(root, false));
    absl::StatusOr<Snapshot> snap = TakeSnapshot(RealFs(), layout_, adapter_, root);
    ASSERT_TRUE(snap.ok()) << snap.status();
    if (donated_spares_used != nullptr) *donated_spares_used = snap->spares_from_donated;
    TC_ASSERT_OK(RealFs().MakeDir(JoinPath(root, dir), true));
    for (const auto& [name, rows] : files) {
      TC_ASSERT_OK(WriteRows(JoinPath(JoinPath(root, dir), name), Schema::kFiles, rows));
    }
    absl::StatusOr<WriteSets> writes = PrepareForPublish(RealFs(), adapter_, *snap);
    ASSERT_TRUE(writes.ok()) << writes.status();
    absl::StatusOr<PublishReport> r =
        Publish(RealFs(), layout_, adapter_, *snap, *writes, id, PublishOptions{});
    ASSERT_TRUE(r.ok()) << r.status();
  }

  std::string Bytes(const std::string& path) {
    absl::StatusOr<std::string> bytes = RealFs().ReadFile(path);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : "";
  }

  uint64_t Inode(const std::string& path) { return RealFs().Stat(path)->inode; }

  // Private copies an edit left beside a database file.
  std::vector<std::string> LeftoverCopies() {
    std::vector<std::string> out;
    for (const std::string& name : SortedNames(tmp_.path())) {
      if (absl::StrContains(name, ".typecache.")) out.push_back(name);
    }
    return out;
  }

  absl::StatusOr<Target> Resolve(const std::string& path, bool create = false) {
    return ResolveTarget(RealFs(), adapter_, path, create);
  }

  TempDir tmp_;
  Layout layout_;
  MypyAdapter adapter_;
  int next_id_ = 0;
  std::string file_ = tmp_.Sub("cache.db");
};

// An editor that writes `rows` into the copy and reports their groups.
DbEditor Writing(std::vector<Row> rows, int* calls = nullptr) {
  return [rows, calls](const DbRef&, const std::string& copy) -> absl::StatusOr<DbChange> {
    if (calls != nullptr) ++*calls;
    absl::Status s = WriteRows(copy, Schema::kFiles, rows);
    if (!s.ok()) return s;
    DbChange change;
    MypyAdapter adapter;
    for (const Row& row : rows) change.groups.insert(adapter.GroupOf("files", row.path));
    return change;
  };
}

// ---- ResolveTarget ----

TEST_F(MaintenanceTest, ResolveCacheDirectoryListsLiveDatabases) {
  Seed("3.11", {{"cache.db", Modules(0, 2, "a", 1)}, {"cache.1.db", Modules(5, 6, "b", 1)}});
  std::string foreign = layout_.live_path("3.12");
  TC_ASSERT_OK(RealFs().MakeDir(foreign, false));
  TC_ASSERT_OK(WriteRows(JoinPath(foreign, "cache.db"), Schema::kFiles, Modules(0, 1, "f", 1)));
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(foreign, "notes.txt"), "x"));
  TC_ASSERT_OK(RealFs().MakeDir(JoinPath(layout_.cache_dir(), "misc"), false));

  absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->kind, Target::Kind::kCacheDir);
  EXPECT_EQ(t->path, layout_.cache_dir());
  ASSERT_EQ(t->dbs.size(), 3u);
  absl::StatusOr<LiveState> live = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->kind, LiveState::Kind::kGeneration);
  EXPECT_EQ(t->dbs[0].dir, "3.11");
  EXPECT_EQ(t->dbs[0].file, "cache.1.db");
  EXPECT_EQ(t->dbs[0].path, JoinPath(live->resolved, "cache.1.db"));
  EXPECT_EQ(t->dbs[0].shown, JoinPath(layout_.live_path("3.11"), "cache.1.db"));
  EXPECT_EQ(t->dbs[1].file, "cache.db");
  EXPECT_EQ(t->dbs[2].dir, "3.12");
  EXPECT_EQ(t->dbs[2].path, JoinPath(foreign, "cache.db"));
  for (const DbRef& ref : t->dbs) EXPECT_TRUE(RealFs().Stat(ref.path)->is_file()) << ref.path;
}

// A command reading a target (verify, stats, a remote push) while runs publish: the generation
// it resolved stays where it is, intact, until the target is let go; then it becomes the spare.
// The "concurrent" publish happens at a fixed point (between resolving and reading), not by
// timing.
TEST_F(MaintenanceTest, TargetHoldsItsGenerationsUntilItIsDestroyed) {
  Seed("3.11", {{"cache.db", Modules(0, 3, "a", 1)}});  // g1
  std::string g1 = layout_.gen_path("3.11", 1);
  std::string spares = layout_.spares_dir("3.11");
  Rows before = RowsOf(JoinPath(g1, "cache.db"));
  {
    absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->dbs.size(), 1u);
    EXPECT_EQ(t->dbs[0].path, JoinPath(g1, "cache.db"));
    Seed("3.11", {{"cache.db", Modules(3, 4, "b", 2)}});  // g2: g1 leaves, but is held.
    Seed("3.11", {{"cache.db", Modules(4, 5, "c", 3)}});  // g3
    EXPECT_TRUE(RealFs().Lstat(g1)->is_dir());
    EXPECT_EQ(RowsOf(t->dbs[0].path), before);  // What the command reads: g1, untouched.
    // g2 was not held: retired when g3 went live; g1 waits for its reader.
    EXPECT_EQ(SortedNames(spares).size(), 1u);
    Target copy = *t;  // Copies share the hold.
    t = absl::NotFoundError("gone");
    EXPECT_TRUE(RealFs().Lstat(g1)->is_dir());
  }
  // Let go: what it held back is collected (g1 removed: the spare kept, g2, is newer).
  EXPECT_FALSE(RealFs().Lstat(g1)->exists());
  EXPECT_EQ(SortedNames(layout_.gens_dir("3.11")), std::vector<std::string>{"g00000003"});
  ASSERT_EQ(SortedNames(spares).size(), 1u);
  EXPECT_EQ(SortedNames(spares)[0].substr(0, 9), "g00000002");
}

// An edit (prune, compact, verify --repair, merge) copies the generation it holds even when a run
// publishes between resolving and copying, records that generation as its base (so the run's
// groups are merged, not lost), and lets go before publishing, so its own collection retires it.
TEST_F(MaintenanceTest, EditCopiesTheGenerationItHoldsAndLetsGoBeforePublishing) {
  Seed("3.11", {{"cache.db", Modules(0, 3, "a", 1)}});  // g1
  std::string g1 = layout_.gen_path("3.11", 1);
  absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
  ASSERT_TRUE(t.ok()) << t.status();
  Seed("3.11", {{"cache.db", Modules(3, 4, "run", 2)}});  // g2, published by a run meanwhile.
  ASSERT_TRUE(RealFs().Lstat(g1)->is_dir());
  Rows g1_rows = RowsOf(JoinPath(g1, "cache.db"));
  std::vector<Row> edit_rows = ModuleRows("pkg/edited", "e", 5);
  DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
    EXPECT_EQ(ref.path, JoinPath(g1, "cache.db"));
    EXPECT_EQ(RowsOf(copy), g1_rows);  // The copy is of the held generation.
    return Writing(edit_rows)(ref, copy);
  };
  absl::StatusOr<EditReport> r = EditTarget(RealFs(), adapter_, *t, editor, EditOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(t->held->empty());
  // g3 = g1 + the edit + the run's g2 groups (base g1: merged from the log of g2).
  Rows live = RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db"));
  EXPECT_EQ(live.count("pkg/m3.meta.json"), 1u);
  EXPECT_EQ(live.count("pkg/edited.meta.json"), 1u);
  EXPECT_EQ(live.count("pkg/m0.meta.json"), 1u);
  // Only the head is left in gens/: g1 and g2 were collected by the edit's own publish.
  EXPECT_EQ(SortedNames(layout_.gens_dir("3.11")), std::vector<std::string>{"g00000003"});
}

TEST_F(MaintenanceTest, ResolveEmptyDirectoryIsACacheWithoutDatabases) {
  std::string dir = tmp_.Sub("empty");
  TC_ASSERT_OK(RealFs().MakeDir(dir, false));
  absl::StatusOr<Target> t = Resolve(dir);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->kind, Target::Kind::kCacheDir);
  EXPECT_TRUE(t->dbs.empty());
}

TEST_F(MaintenanceTest, ResolveFile) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 1, "a", 1)));
  absl::StatusOr<Target> t = Resolve(file_);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->kind, Target::Kind::kFile);
  EXPECT_EQ(t->path, file_);
  ASSERT_EQ(t->dbs.size(), 1u);
  EXPECT_EQ(t->dbs[0].dir, "");
  EXPECT_EQ(t->dbs[0].file, "cache.db");
  EXPECT_EQ(t->dbs[0].path, file_);
  EXPECT_EQ(t->dbs[0].shown, file_);
}

TEST_F(MaintenanceTest, ResolveRelativePathMakesItAbsolute) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 1, "a", 1)));
  char old_cwd[4096];
  ASSERT_NE(::getcwd(old_cwd, sizeof(old_cwd)), nullptr);
  ASSERT_EQ(::chdir(tmp_.path().c_str()), 0);
  absl::StatusOr<Target> t = Resolve("cache.db");
  ASSERT_EQ(::chdir(old_cwd), 0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->path[0], '/');
  EXPECT_EQ(RealFs().Stat(t->path)->inode, Inode(file_));
  EXPECT_EQ(t->dbs[0].path, t->path);
}

TEST_F(MaintenanceTest, ResolveMissingPathIsNotFoundNamingIt) {
  std::string missing = tmp_.Sub("no-such-cache");
  absl::StatusOr<Target> t = Resolve(missing);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(absl::IsNotFound(t.status())) << t.status();
  EXPECT_NE(t.status().message().find(missing), absl::string_view::npos) << t.status();
}

TEST_F(MaintenanceTest, ResolveMissingPathWithCreate) {
  absl::StatusOr<Target> file = Resolve(tmp_.Sub("merged.db"), /*create=*/true);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->kind, Target::Kind::kFile);
  ASSERT_EQ(file->dbs.size(), 1u);
  EXPECT_EQ(file->dbs[0].file, "merged.db");
  EXPECT_EQ(file->dbs[0].path, "");  // Does not exist yet.
  absl::StatusOr<Target> dir = Resolve(tmp_.Sub("merged-cache"), /*create=*/true);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(dir->kind, Target::Kind::kCacheDir);
  EXPECT_TRUE(dir->dbs.empty());
  EXPECT_FALSE(RealFs().Stat(tmp_.Sub("merged-cache"))->exists());  // Resolving creates nothing.
}

TEST_F(MaintenanceTest, ResolveSomethingElseIsRefused) {
  std::string fifo = tmp_.Sub("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<Target> t = Resolve(fifo);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(t.status())) << t.status();
  EXPECT_NE(t.status().message().find(fifo), absl::string_view::npos);
}

// ---- CheckReadable ----

TEST_F(MaintenanceTest, CheckReadable) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 1, "a", 1)));
  TC_EXPECT_OK(CheckReadable(file_));
  std::string junk = tmp_.Sub("junk.db");
  TC_ASSERT_OK(RealFs().WriteNewFile(junk, std::string(1000, 'j')));
  absl::Status s = CheckReadable(junk);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("junk.db"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("not an SQLite database"), absl::string_view::npos) << s;
  EXPECT_FALSE(CheckReadable(tmp_.Sub("missing.db")).ok());
}

// ---- EditTarget on a single file ----

TEST_F(MaintenanceTest, FileEditIsPublishedByRename) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 3, "a", 1)));
  uint64_t inode = Inode(file_);
  absl::StatusOr<Target> t = Resolve(file_);
  ASSERT_TRUE(t.ok());
  absl::StatusOr<EditReport> r =
      EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/new", "e", 2)), EditOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dbs_changed, 1);
  EXPECT_EQ(r->groups_changed, 1);
  EXPECT_GT(r->bytes_before, 0);
  EXPECT_NE(Inode(file_), inode);  // A new file renamed over the old one.
  Rows rows = RowsOf(file_);
  EXPECT_EQ(rows.size(), 3u * 2 + 2);
  EXPECT_EQ(rows.count("pkg/new.meta.json"), 1u);
  EXPECT_EQ(*IntegrityCheck(file_), "ok");
  EXPECT_TRUE(LeftoverCopies().empty());
}

TEST_F(MaintenanceTest, FileDryRunLeavesTheFileByteIdentical) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 3, "a", 1)));
  std::string before = Bytes(file_);
  uint64_t inode = Inode(file_);
  absl::StatusOr<Target> t = Resolve(file_);
  ASSERT_TRUE(t.ok());
  EditOptions options;
  options.dry_run = true;
  int calls = 0;
  absl::StatusOr<EditReport> r =
      EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/new", "e", 2), &calls), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(r->groups_changed, 1);  // What would change is still reported.
  EXPECT_EQ(Bytes(file_), before);
  EXPECT_EQ(Inode(file_), inode);
  EXPECT_TRUE(LeftoverCopies().empty());
}

TEST_F(MaintenanceTest, FileEditorErrorLeavesTheInputUnchanged) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 3, "a", 1)));
  std::string before = Bytes(file_);
  absl::StatusOr<Target> t = Resolve(file_);
  ASSERT_TRUE(t.ok());
  DbEditor failing = [](const DbRef&, const std::string& copy) -> absl::StatusOr<DbChange> {
    // Damage the copy first: none of it may reach the input.
    absl::Status s = WriteRows(copy, Schema::kFiles, ModuleRows("pkg/half", "x", 1));
    if (!s.ok()) return s;
    return absl::ResourceExhaustedError("disk full while editing");
  };
  absl::StatusOr<EditReport> r = EditTarget(RealFs(), adapter_, *t, failing, EditOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
  EXPECT_EQ(Bytes(file_), before);
  EXPECT_TRUE(LeftoverCopies().empty());
}

TEST_F(MaintenanceTest, FileWithNonEmptyWalIsRefused) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 3, "a", 1)));
  // A direct writer in WAL mode, still running.
  absl::StatusOr<Db> writer =
      OpenWalWriter(file_, "INSERT INTO files VALUES('pkg/w.meta.json', 1, '{}')");
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_GT(RealFs().Stat(file_ + "-wal")->size, 0);
  absl::StatusOr<Target> t = Resolve(file_);
  ASSERT_TRUE(t.ok());
  int calls = 0;
  absl::StatusOr<EditReport> r = EditTarget(
      RealFs(), adapter_, *t, Writing(ModuleRows("pkg/new", "e", 2), &calls), EditOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("cache.db-wal"), absl::string_view::npos) << r.status();
  EXPECT_EQ(calls, 0);
  TC_ASSERT_OK(writer->Close());
  EXPECT_EQ(RowsOf(file_).count("pkg/new.meta.json"), 0u);
  EXPECT_TRUE(LeftoverCopies().empty());
}

TEST_F(MaintenanceTest, FileWithLeftoverJournalIsRefused) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 1, "a", 1)));
  TC_ASSERT_OK(RealFs().WriteNewFile(file_ + "-journal", std::string(512, '\0')));
  absl::StatusOr<Target> t = Resolve(file_);
  ASSERT_TRUE(t.ok());
  absl::StatusOr<EditReport> r =
      EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/new", "e", 2)), EditOptions{});
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
}

TEST_F(MaintenanceTest, FileEditWithoutChangesPublishesNothing) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 2, "a", 1)));
  uint64_t inode = Inode(file_);
  absl::StatusOr<Target> t = Resolve(file_);
  ASSERT_TRUE(t.ok());
  DbEditor nothing = [](const DbRef&, const std::string&) -> absl::StatusOr<DbChange> {
    return DbChange{};
  };
  absl::StatusOr<EditReport> r = EditTarget(RealFs(), adapter_, *t, nothing, EditOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dbs_changed, 0);
  EXPECT_EQ(Inode(file_), inode);
  // force_publish (compact) renames even so.
  EditOptions force;
  force.force_publish = true;
  r = EditTarget(RealFs(), adapter_, *t, nothing, force);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(Inode(file_), inode);
  EXPECT_EQ(RowsOf(file_).size(), 4u);
  EXPECT_TRUE(LeftoverCopies().empty());
}

TEST_F(MaintenanceTest, FileReplacedDuringTheEditIsEditedAgain) {
  TC_ASSERT_OK(WriteRows(file_, Schema::kFiles, Modules(0, 2, "a", 1)));
  absl::StatusOr<Target> t = Resolve(file_);
  ASSERT_TRUE(t.ok());
  int calls = 0;
  std::string other = tmp_.Sub("other.db");
  DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
    ++calls;
    if (calls == 1) {
      // Someone publishes a new version of the file while this edit works on its copy.
      absl::Status s = WriteRows(other, Schema::kFiles, Modules(0, 2, "b", 1));
      if (s.ok()) s = WriteRows(other, Schema::kFiles, ModuleRows("pkg/theirs", "b", 1));
      if (s.ok()) s = RealFs().Rename(other, ref.path);
      if (!s.ok()) return s;
    }
    return Writing(ModuleRows("pkg/mine", "e", 2))(ref, copy);
  };
  absl::StatusOr<EditReport> r = EditTarget(RealFs(), adapter_, *t, editor, EditOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(calls, 2);
  Rows rows = RowsOf(file_);
  EXPECT_EQ(rows.count("pkg/theirs.meta.json"), 1u);  // Their publish is not lost...
  EXPECT_EQ(rows.count("pkg/mine.meta.json"), 1u);    // ...and the edit is applied to it.
  EXPECT_NE(rows.at("pkg/m0.meta.json").find("\"b\""), std::string::npos);
  EXPECT_TRUE(LeftoverCopies().empty());
}

TEST_F(MaintenanceTest, MissingFileTargetIsCreated) {
  std::string path = tmp_.Sub("new.db");
  absl::StatusOr<Target> t = Resolve(path, /*create=*/true);
  ASSERT_TRUE(t.ok());
  std::string seen_path = "unset";
  DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
    seen_path = ref.path;
    EXPECT_FALSE(RealFs().Stat(copy)->exists());
    return Writing(ModuleRows("pkg/x", "n", 1))(ref, copy);
  };
  absl::StatusOr<EditReport> r = EditTarget(RealFs(), adapter_, *t, editor, EditOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(seen_path, "");
  EXPECT_EQ(RowsOf(path).size(), 2u);
}

// ---- EditTarget on a cache directory ----

TEST_F(MaintenanceTest, CacheDirEditPublishesANewGeneration) {
  Seed("3.11", {{"cache.db", Modules(0, 3, "a", 1)}});
  absl::StatusOr<LiveState> before = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->kind, LiveState::Kind::kGeneration);
  std::string old_db = JoinPath(before->resolved, "cache.db");
  std::string old_bytes = Bytes(old_db);
  absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
  ASSERT_TRUE(t.ok());
  absl::StatusOr<EditReport> r =
      EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/new", "e", 2)), EditOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dbs_changed, 1);
  EXPECT_EQ(r->publish.dirs_published, 1);
  absl::StatusOr<LiveState> after = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->kind, LiveState::Kind::kGeneration);
  EXPECT_GT(after->gen, before->gen);
  Rows rows = RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db"));
  EXPECT_EQ(rows.size(), 3u * 2 + 2);
  EXPECT_EQ(rows.count("pkg/new.data.json"), 1u);
  // The old generation was never modified (readers that resolved it still see it whole).
  if (RealFs().Stat(old_db)->exists()) {
    EXPECT_EQ(Bytes(old_db), old_bytes);
  }
  // The edit's private copy is gone.
  for (const std::string& name : SortedNames(layout_.runs_dir())) {
    EXPECT_FALSE(absl::StartsWith(name, "maint-")) << name;
  }
}

// Edits after the first start from the generation the previous one retired, brought up to date
// from the logs (O(changes)), not from a copy of every database; the result is exactly the
// rows a copy would give. A retired generation written in place is not trusted: copied.
TEST_F(MaintenanceTest, CacheDirEditsStartFromTheRetiredGeneration) {
  Seed("3.11", {{"cache.db", Modules(0, 3, "a", 1)}});
  auto edit = [&](const std::string& module) -> absl::StatusOr<EditReport> {
    absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
    if (!t.ok()) return t.status();
    return EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows(module, "e", 2)), EditOptions{});
  };
  absl::StatusOr<EditReport> first = edit("pkg/new1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->dbs_from_spares, 0) << "nothing retired yet: a copy";
  // Another publish in between (a run): the spare is two generations behind.
  Seed("3.11", {{"cache.db", ModuleRows("pkg/run", "r", 3)}});
  absl::StatusOr<EditReport> second = edit("pkg/new2");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->dbs_from_spares, 1) << "the generation the first edit retired";
  Rows rows = RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db"));
  EXPECT_EQ(rows.size(), 3u * 2 + 2 + 2 + 2);
  for (const char* key :
       {"pkg/m0.data.json", "pkg/new1.data.json", "pkg/new2.data.json", "pkg/run.meta.json"}) {
    EXPECT_EQ(rows.count(key), 1u) << key;
  }

  // A retired generation modified in place (outside the protocol) is not used.
  std::string spares = layout_.spares_dir("3.11");
  absl::StatusOr<std::vector<std::string>> entries = RealFs().ListDir(spares);
  ASSERT_TRUE(entries.ok() && !entries->empty()) << "the second edit retired a generation";
  for (const std::string& e : *entries) {
    TC_ASSERT_OK(WriteRows(JoinPath(JoinPath(spares, e), "cache.db"), Schema::kFiles,
                           ModuleRows("pkg/intruder", "x", 9)));
  }
  absl::StatusOr<EditReport> third = edit("pkg/new3");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->dbs_from_spares, 0) << "written in place: copied instead";
  rows = RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db"));
  EXPECT_EQ(rows.count("pkg/intruder.data.json"), 0u);
  EXPECT_EQ(rows.count("pkg/new3.data.json"), 1u);
  EXPECT_EQ(rows.size(), 3u * 2 + 2 * 4);
}

// An edit that publishes nothing (no change, or a dry run) leaves a spare for the next run: a
// claimed one goes back (as this boot's), a dry run claims none. With from_spares off (verify
// --repair) the copy is made from the live files. bytes_before is the live file's size.
TEST_F(MaintenanceTest, EditsThatPublishNothingLeaveTheSpareForTheNextRun) {
  Seed("3.11", {{"cache.db", Modules(0, 3, "a", 1)}});
  auto edit = [&](const DbEditor& editor, EditOptions options) -> absl::StatusOr<EditReport> {
    absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
    if (!t.ok()) return t.status();
    return EditTarget(RealFs(), adapter_, *t, editor, options);
  };
  auto spares = [&]() {
    absl::StatusOr<std::vector<std::string>> e = RealFs().ListDir(layout_.spares_dir("3.11"));
    return e.ok() ? *e : std::vector<std::string>{};
  };
  ASSERT_TRUE(edit(Writing(ModuleRows("pkg/e1", "e", 2)), EditOptions{}).ok());
  std::vector<std::string> retired = spares();
  ASSERT_EQ(retired.size(), 1u) << "the edit retired the seed's generation";
  EditOptions dry;
  dry.dry_run = true;
  absl::StatusOr<EditReport> dried = edit(Writing(ModuleRows("pkg/d", "d", 3)), dry);
  ASSERT_TRUE(dried.ok()) << dried.status();
  EXPECT_EQ(dried->dbs_from_spares, 0) << "a dry run claims no spare";
  EXPECT_EQ(spares(), retired);
  DbEditor nothing = [](const DbRef&, const std::string&) -> absl::StatusOr<DbChange> {
    return DbChange{};
  };
  absl::StatusOr<EditReport> idle = edit(nothing, EditOptions{});
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_EQ(idle->dbs_from_spares, 1);
  EXPECT_EQ(idle->publish.dirs_published, 0);
  std::string live_db = JoinPath(layout_.live_path("3.11"), "cache.db");
  EXPECT_EQ(idle->bytes_before, RealFs().Stat(live_db)->size) << "the live file's size";
  std::vector<std::string> back = spares();
  ASSERT_EQ(back.size(), 1u) << "given back, not deleted";
  EXPECT_FALSE(absl::StrContains(back[0], ".retired.")) << back[0] << ": unsynced now";
  // A run takes the given-back spare and gets exactly the live rows.
  int donated = 0;
  Seed("3.11", {{"cache.db", ModuleRows("pkg/run", "r", 4)}}, &donated);
  EXPECT_EQ(donated, 1) << "the run's snapshot is the spare the edit gave back";
  Rows rows = RowsOf(live_db);
  EXPECT_EQ(rows.size(), 3u * 2 + 2 + 2);
  EXPECT_EQ(rows.count("pkg/e1.meta.json"), 1u);
  EditOptions from_live;
  from_live.from_spares = false;
  absl::StatusOr<EditReport> copied = edit(Writing(ModuleRows("pkg/c", "c", 5)), from_live);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(copied->dbs_from_spares, 0);
  EXPECT_EQ(RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db")).size(), 3u * 2 + 2 * 3);
  // A side file beside a live database (a writer that did not close cleanly): copied, since
  // committed rows may be in it.
  ASSERT_TRUE(edit(Writing(ModuleRows("pkg/s", "s", 6)), EditOptions{}).ok());
  ASSERT_FALSE(spares().empty());
  TC_ASSERT_OK(RealFs().WriteNewFile(JoinPath(layout_.live_path("3.11"), "cache.db-journal"), "",
                                     Durability::kUnsynced));
  absl::StatusOr<EditReport> side = edit(Writing(ModuleRows("pkg/t", "t", 7)), EditOptions{});
  ASSERT_TRUE(side.ok()) << side.status();
  EXPECT_EQ(side->dbs_from_spares, 0) << "a -journal beside the live database";
}

// A kill at any file-system call of an edit that starts from a retired spare leaves the old
// generation or the new one, whole; the next edit (from whatever spare is left) loses nothing.
TEST_F(MaintenanceTest, KillAtEveryStepOfAnEditFromASpareLosesNothing) {
  auto prepare = [&](const std::string& cache) {
    Layout layout(cache);
    layout_ = layout;
    Seed("3.11", {{"cache.db", Modules(0, 3, "a", 1)}});
    absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
    ASSERT_TRUE(t.ok()) << t.status();
    // This edit retires the seed's generation: the spare the victim starts from.
    TC_ASSERT_OK(
        EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/e1", "e", 2)), EditOptions{})
            .status());
  };
  auto victim = [&](Fs& fs) -> absl::StatusOr<EditReport> {
    absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
    if (!t.ok()) return t.status();
    return EditTarget(fs, adapter_, *t, Writing(ModuleRows("pkg/v", "v", 3)), EditOptions{});
  };
  int calls = 0;
  {
    prepare(tmp_.Sub("count"));
    FaultFs counting(RealFs());
    absl::StatusOr<EditReport> r = victim(counting);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->dbs_from_spares, 1);
    calls = counting.calls();
  }
  ASSERT_GT(calls, 10);
  int published = 0;
  int killed = 0;  // Trials the fault really killed: every call up to `calls`, not the last.
  for (int n = 1; n <= calls + 1; ++n) {
    prepare(tmp_.Sub(absl::StrCat("kill", n)));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      FaultFs killing(RealFs());
      killing.KillAt(n);
      _exit(victim(killing).ok() ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++killed;
    std::string db = JoinPath(layout_.live_path("3.11"), "cache.db");
    ASSERT_EQ(*IntegrityCheck(db), "ok") << "kill at " << n;
    Rows rows = RowsOf(db);
    bool has_victim = rows.count("pkg/v.data.json") > 0;
    published += has_victim;
    ASSERT_EQ(rows.size(), 3u * 2 + 2 + (has_victim ? 2 : 0)) << "kill at " << n;
    ASSERT_EQ(rows.count("pkg/e1.data.json"), 1u) << "kill at " << n;
    // The next edit, from what the dead one left (a spare, a claimed copy, a run directory).
    absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
    ASSERT_TRUE(t.ok()) << t.status();
    absl::StatusOr<EditReport> next =
        EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/after", "n", 4)), EditOptions{});
    ASSERT_TRUE(next.ok()) << "kill at " << n << ": " << next.status();
    rows = RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db"));
    EXPECT_EQ(rows.size(), 3u * 2 + 2 + (has_victim ? 2 : 0) + 2) << "kill at " << n;
    EXPECT_EQ(rows.count("pkg/after.data.json"), 1u) << "kill at " << n;
    EXPECT_EQ(rows.count("pkg/v.data.json"), has_victim ? 1u : 0u) << "kill at " << n;
  }
  EXPECT_EQ(killed, calls) << "a kill point the fault did not deliver";
  EXPECT_GT(published, 0) << "the last kill points come after the publish";
}

TEST_F(MaintenanceTest, ForeignCacheDirEditBecomesAGeneration) {
  std::string foreign = layout_.live_path("3.11");
  TC_ASSERT_OK(MakeDirs(RealFs(), foreign));
  TC_ASSERT_OK(WriteRows(JoinPath(foreign, "cache.db"), Schema::kFiles, Modules(0, 2, "f", 1)));
  absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
  ASSERT_TRUE(t.ok());
  absl::StatusOr<EditReport> r =
      EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/new", "e", 2)), EditOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<LiveState> after = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->kind, LiveState::Kind::kGeneration);
  Rows rows = RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db"));
  EXPECT_EQ(rows.size(), 2u * 2 + 2);
}

// A directory mypy wrote, unchanged since the edit copied it, is adopted by its stamps: no
// comparison of every group (which lists every group's name in memory and copies them over
// again); written meanwhile, it is compared group by group, and the edit is not lost.
TEST_F(MaintenanceTest, ForeignCacheDirUnchangedIsAdoptedWithoutComparingGroups) {
  std::string foreign = layout_.live_path("3.11");
  TC_ASSERT_OK(MakeDirs(RealFs(), foreign));
  std::string db = JoinPath(foreign, "cache.db");
  TC_ASSERT_OK(WriteRows(db, Schema::kFiles, Modules(0, 2, "f", 1)));
  absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
  ASSERT_TRUE(t.ok());
  EditOptions options;
  options.adopt_racy_margin = absl::ZeroDuration();
  absl::StatusOr<EditReport> r =
      EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/new", "e", 2)), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->publish.adopted_unchanged, 1);
  EXPECT_EQ(r->publish.full_merges, 0);
  EXPECT_EQ(RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db")).size(), 2u * 2 + 2);

  // Written by mypy while the edit works on its copy: compared, both kept.
  std::string other = layout_.live_path("3.12");
  TC_ASSERT_OK(MakeDirs(RealFs(), other));
  std::string other_db = JoinPath(other, "cache.db");
  TC_ASSERT_OK(WriteRows(other_db, Schema::kFiles, Modules(0, 2, "f", 1)));
  t = Resolve(layout_.cache_dir());
  ASSERT_TRUE(t.ok());
  DbEditor editor = [&](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
    if (ref.dir != "3.12") return DbChange{};
    absl::Status written = WriteRows(other_db, Schema::kFiles, ModuleRows("pkg/mypy", "m", 3));
    if (!written.ok()) return written;
    return Writing(ModuleRows("pkg/new", "e", 2))(ref, copy);
  };
  r = EditTarget(RealFs(), adapter_, *t, editor, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->publish.adopted_unchanged, 0);
  EXPECT_EQ(r->publish.full_merges, 1);
  Rows rows = RowsOf(JoinPath(layout_.live_path("3.12"), "cache.db"));
  EXPECT_EQ(rows.size(), 2u * 2 + 2 + 2);
  EXPECT_EQ(rows.count("pkg/new.data.json"), 1u);
  EXPECT_EQ(rows.count("pkg/mypy.data.json"), 1u);
}

TEST_F(MaintenanceTest, CacheDirDryRunAndErrorsPublishNothing) {
  Seed("3.11", {{"cache.db", Modules(0, 3, "a", 1)}});
  absl::StatusOr<LiveState> before = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_TRUE(before.ok());
  Rows rows_before = RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db"));
  absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
  ASSERT_TRUE(t.ok());
  EditOptions dry;
  dry.dry_run = true;
  absl::StatusOr<EditReport> r =
      EditTarget(RealFs(), adapter_, *t, Writing(ModuleRows("pkg/new", "e", 2)), dry);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->groups_changed, 1);
  EXPECT_EQ(r->publish.dirs_published, 0);
  DbEditor failing = [](const DbRef&, const std::string&) -> absl::StatusOr<DbChange> {
    return absl::InternalError("editor failed");
  };
  r = EditTarget(RealFs(), adapter_, *t, failing, EditOptions{});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("editor failed"), absl::string_view::npos);
  absl::StatusOr<LiveState> after = ReadLiveState(RealFs(), layout_, "3.11");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->gen, before->gen);
  EXPECT_EQ(RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db")), rows_before);
  for (const std::string& name : SortedNames(layout_.runs_dir())) {
    EXPECT_FALSE(absl::StartsWith(name, "maint-")) << name;
  }
}

TEST_F(MaintenanceTest, CacheDirExtraDatabaseIsCreated) {
  Seed("3.11", {{"cache.db", Modules(0, 1, "a", 1)}});
  absl::StatusOr<Target> t = Resolve(layout_.cache_dir());
  ASSERT_TRUE(t.ok());
  EditOptions options;
  options.extra.push_back({"3.12", "cache.db", "", ""});
  DbEditor editor = [](const DbRef& ref, const std::string& copy) -> absl::StatusOr<DbChange> {
    if (ref.dir != "3.12") return DbChange{};
    return Writing(ModuleRows("pkg/py312", "e", 2))(ref, copy);
  };
  absl::StatusOr<EditReport> r = EditTarget(RealFs(), adapter_, *t, editor, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadLiveState(RealFs(), layout_, "3.12")->kind, LiveState::Kind::kGeneration);
  EXPECT_EQ(RowsOf(JoinPath(layout_.live_path("3.12"), "cache.db")).size(), 2u);
  EXPECT_EQ(RowsOf(JoinPath(layout_.live_path("3.11"), "cache.db")).size(), 2u);
}

}  // namespace
}  // namespace typecache
