#include "src/cli/cli.h"

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/cli/context.h"
#include "src/cli/json_out.h"
#include "src/cli/usage.h"
#include "src/cli/version.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

struct Result {
  int code = 0;
  std::string out;
  std::string err;
};

Result Call(std::vector<std::string> args) {
  args.insert(args.begin(), "typecache");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  Result r;
  r.code = Main(static_cast<int>(argv.size()), argv.data(), out, err, RealFs());
  r.out = out.str();
  r.err = err.str();
  return r;
}

// A usage error: exit 2, nothing on stdout, exactly one "typecache: error: " line.
std::string UsageError(const std::vector<std::string>& args) {
  Result r = Call(args);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  std::vector<std::string> lines = absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u) << r.err;
  if (lines.empty()) return "";
  EXPECT_TRUE(absl::StartsWith(lines[0], "typecache: error: ")) << lines[0];
  return lines[0];
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Nothing of the caller's environment decides anything here.
    for (const char* var : {"TYPECACHE_DIR", "MYPY_CACHE_DIR", "TYPECACHE_CONFIG",
                            "TYPECACHE_PUBLISH", "TYPECACHE_LOCK_TIMEOUT", "TYPECACHE_VERBOSE",
                            "TYPECACHE_DISABLE", "TYPECACHE_MAX_SIZE"}) {
      ::unsetenv(var);
    }
    ::setenv("HOME", tmp_.Sub("home").c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", tmp_.Sub("xdg").c_str(), 1);
  }
  TempDir tmp_;
};

TEST_F(CliTest, RunWithoutDoubleDashGetsTheHint) {
  // Only run's options are built for a run (issue 12): another command's name after them is
  // part of the checker command, not that command (which ran "-- true" as a run before).
  EXPECT_EQ(UsageError({"run", "--cache-dir", tmp_.Sub("c"), "stats", "--", "true"}),
            "typecache: error: run: put -- before the checker command: typecache run --cache-dir " +
                tmp_.Sub("c") + " -- stats -- true");
  EXPECT_EQ(UsageError({"run", "mypy", "-p", "x"}),
            "typecache: error: run: put -- before the checker command: typecache run -- mypy -p x");
  EXPECT_EQ(UsageError({"run", "-v", "--publish", "never", "mypy", "a b.py"}),
            "typecache: error: run: put -- before the checker command: typecache run -v "
            "--publish never -- mypy 'a b.py'");
  EXPECT_TRUE(absl::StrContains(UsageError({"run", "--strict", "--", "mypy"}),
                                "run: unknown option --strict"));
  EXPECT_TRUE(absl::StrContains(UsageError({"run"}), "run: no checker command"));
  EXPECT_TRUE(absl::StrContains(UsageError({"run", "--"}), "no checker command after --"));
}

TEST_F(CliTest, UnknownAndMissingCommands) {
  std::string unknown = UsageError({"frobnicate"});
  EXPECT_TRUE(absl::StrContains(unknown, "unknown command 'frobnicate'")) << unknown;
  for (const char* name :
       {"run", "config", "dir", "clean", "stats", "verify", "prune", "merge", "compact"}) {
    EXPECT_TRUE(absl::StrContains(unknown, name)) << name;
  }
  EXPECT_TRUE(absl::StrContains(UsageError({"stat"}), "did you mean stats?"));
  EXPECT_TRUE(absl::StrContains(UsageError({}), "no command given"));
}

TEST_F(CliTest, OptionErrorsAreOneLine) {
  EXPECT_EQ(UsageError({"run", "--publish", "never", "--publish", "always", "--", "mypy"}),
            "typecache: error: run: --publish given more than once");
  EXPECT_EQ(UsageError({"run", "--publish", "sometimes", "--", "mypy"}),
            "typecache: error: run: --publish: 'sometimes' is not one of auto, always, never");
  EXPECT_TRUE(absl::StrContains(UsageError({"run", "--lock-timeout", "x", "--", "mypy"}),
                                "run: --lock-timeout: 'x' is not a duration"));
  EXPECT_EQ(UsageError({"merge", "--prefer", "best", "--into", "d", "a"}),
            "typecache: error: merge: --prefer: 'best' is not one of newest, first, last");
  EXPECT_EQ(UsageError({"merge", "a"}), "typecache: error: merge: --into is required");
  EXPECT_EQ(UsageError({"merge", "--into", "a", "--into", "b", "c"}),
            "typecache: error: merge: --into given more than once");
  EXPECT_EQ(UsageError({"stats", "--bogus"}), "typecache: error: stats: unknown option --bogus");
  EXPECT_EQ(UsageError({"--bogus", "stats"}), "typecache: error: unknown option --bogus");
  EXPECT_TRUE(absl::StrContains(UsageError({"prune"}), "say what to evict"));
  EXPECT_TRUE(absl::StrContains(UsageError({"config", "get", "nope"}), "unknown setting 'nope'"));
}

TEST_F(CliTest, GlobalFlagsBeforeTheCommand) {
  // -v before run means run -v; before a command it means nothing to, a clear error.
  EXPECT_TRUE(absl::StrContains(UsageError({"-v", "run"}), "run: no checker command"));
  EXPECT_EQ(UsageError({"-v", "stats"}), "typecache: error: -v does not apply to stats");
  EXPECT_EQ(UsageError({"--cache-dir", "x", "merge", "--into", "a", "b"}),
            "typecache: error: --cache-dir does not apply to merge");
  Result dir = Call({"--cache-dir", tmp_.Sub("c"), "dir"});
  EXPECT_EQ(dir.code, 0) << dir.err;
  EXPECT_EQ(dir.out, tmp_.Sub("c") + "\n");
  EXPECT_TRUE(absl::StrContains(dir.err, "--cache-dir")) << dir.err;
}

TEST_F(CliTest, HelpAndVersionStandOnTheirOwn) {
  Result help = Call({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(absl::StrContains(help.out, "man typecache"));
  EXPECT_TRUE(absl::StrContains(help.out, "Exit codes"));
  EXPECT_FALSE(absl::StrContains(help.out, "docs/"));
  for (const char* sub :
       {"run", "config", "dir", "clean", "stats", "verify", "prune", "merge", "compact"}) {
    Result r = Call({sub, "--help"});
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_FALSE(absl::StrContains(r.out, "docs/")) << sub;
    EXPECT_EQ(Call({"help", sub}).out, r.out) << sub;
  }
  Result version = Call({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_TRUE(absl::StartsWith(version.out, "typecache " + TypecacheVersion() + "\n"));
  for (const char* lib : {"SQLite 3.", "Abseil LTS 20", "CLI11 2.", "nlohmann-json 3."}) {
    EXPECT_TRUE(absl::StrContains(version.out, lib)) << version.out;
  }
}

TEST(ShapeOfTest, FindsTheSubcommandAndTheDoubleDash) {
  ArgvShape s =
      ShapeOf({"typecache", "-v", "--cache-dir", "run", "run", "--", "mypy", "--"}, {"run"});
  EXPECT_EQ(s.subcommand, 4);
  EXPECT_EQ(s.name, "run");
  EXPECT_EQ(s.double_dash, 5);
  EXPECT_EQ(ShapeOf({"typecache", "stats", "--", "x"}, {"run"}).double_dash, -1);
  EXPECT_TRUE(ShapeOf({"typecache", "--version"}, {}).version);
  EXPECT_EQ(ShapeOf({"typecache", "--version"}, {}).subcommand, -1);
}

TEST(ShellQuoteTest, QuotesWhatAShellWouldSplit) {
  ExpectEachMapsTo(ShellQuote, {{"mypy", "mypy"},
                                {"--cache-dir=/a/b", "--cache-dir=/a/b"},
                                {"a b", "'a b'"},
                                {"it's", "'it'\\''s'"},
                                {"", "''"}});
}

// JsonText itself: src/base/json_test.cc.
TEST(JsonTextTest, PrintJsonWritesItAsAsciiEscapes) {
  std::ostringstream out;
  PrintJson(nlohmann::ordered_json{{"path", JsonText("/tmp/\xff/x")}}, out);
  EXPECT_EQ(out.str(), "{\n  \"path\": \"/tmp/\\u00ff/x\"\n}\n");
  nlohmann::json parsed = nlohmann::json::parse(out.str());
  EXPECT_EQ(parsed["path"], "/tmp/\xc3\xbf/x");
}

TEST(JsonOutTest, VerifyAndPruneDocumentsInTheirOrder) {
  VerifyReport verified;
  verified.databases = 2;
  verified.groups = 5;
  verified.problems.push_back({"a.db", "pkg/m", "broken", "pkg.m"});
  verified.repaired = {"pkg/m"};
  EXPECT_EQ(DumpJson(VerifyJson("/c", verified)),
            R"({"path":"/c","databases":2,"groups":5,"problems":[{"where":"a.db",)"
            R"("group":"pkg/m","label":"pkg.m","what":"broken"}],"unknown_format":[],)"
            R"("repaired":["pkg/m"]})");
  PruneReport pruned;
  pruned.size_before = 100;
  pruned.size_after = 40;
  pruned.evicted.push_back({"a.db", "pkg/m", "oldest", 60});
  pruned.dropped_tables = {"junk"};
  EXPECT_EQ(DumpJson(PruneJson("/c", pruned)),
            R"({"path":"/c","dry_run":false,"size_before":100,"size_after":40,"budget":null,)"
            R"("bytes_freed":60,"leftovers_reclaimed":0,"evicted":[{"db":"a.db","group":"pkg/m",)"
            R"("reason":"oldest","bytes":60}],"dropped_tables":["junk"]})");
  pruned.budget = 50;
  EXPECT_EQ(PruneJson("/c", pruned)["budget"], 50);
}

}  // namespace
}  // namespace typecache
