#include "src/checker/mypy/launcher.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace typecache {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::vector<std::string> Argv(const std::string& line) {
  return absl::StrSplit(line, ' ', absl::SkipEmpty());
}

// Where mypy's first own argument is, as the argument itself ("<end>" past the end), or
// "<not found: ...>".
std::string FirstMypyArg(const std::string& line) {
  std::vector<std::string> argv = Argv(line);
  MypyLaunch m = FindMypyLaunch(argv);
  if (!m.found) return "<not found: " + m.description + ">";
  if (m.mypy_arg_index >= argv.size()) return "<end>";
  return argv[m.mypy_arg_index];
}

// Expects `command` to launch mypy (not dmypy), its first own argument `first_arg`, the program
// argv[program_index] `program`, the launch described as `description`.
void ExpectMypyLaunch(const std::string& command, const std::string& first_arg,
                      const std::string& program, const std::string& description) {
  SCOPED_TRACE(command);
  std::vector<std::string> argv = Argv(command);
  MypyLaunch m = FindMypyLaunch(argv);
  ASSERT_TRUE(m.found) << m.description;
  EXPECT_FALSE(m.is_dmypy);
  EXPECT_TRUE(m.accepts_mypy_flags);
  EXPECT_EQ(FirstMypyArg(command), first_arg);
  ASSERT_LT(m.program_index, argv.size());
  EXPECT_EQ(argv[m.program_index], program);
  EXPECT_EQ(m.description, description);
}

// Launches that find the same program and describe it the same way; mypy's first own argument
// is FIRST in every command.
struct Launches {
  const char* program;  // argv[program_index]
  const char* description;
  std::vector<const char*> commands;
};

TEST(LauncherTest, FindsMypyInEveryKnownLauncher) {
  ExpectMypyLaunch("mypy", "<end>", "mypy", "mypy");
  const Launches cases[] = {
      {"mypy", "mypy", {"mypy FIRST"}},
      {"/venv/bin/mypy", "mypy", {"/venv/bin/mypy FIRST x.py"}},
      {"python", "python -m mypy", {"python -m mypy FIRST"}},
      {"python3.11", "python3.11 -m mypy", {"python3.11 -m mypy FIRST"}},
      {"/usr/bin/python3", "python3 -m mypy", {"/usr/bin/python3 -m mypy FIRST"}},
      {"pypy3", "pypy3 -m mypy", {"pypy3 -m mypy FIRST"}},
      {"python3",
       "python3 -m mypy",
       {"python3 -m mypy FIRST", "python3 -X dev -u -W error -I -E -m mypy FIRST",
        "python3 -Xdev -Werror -uIE -mmypy FIRST", "python3 -Im mypy FIRST",
        "python3 -OO -B -s -S -m mypy FIRST",
        "python3 --check-hash-based-pycs always -m mypy FIRST"}},
      {"python3", "python3 /usr/bin/mypy", {"python3 /usr/bin/mypy FIRST"}},
      {"mypy",
       "uv run → mypy",
       {"uv run mypy FIRST",
        "uv run --with X --python X -p X --directory X --project X --env-file X mypy FIRST",
        "uv run --with=X --frozen -q --no-sync mypy FIRST",
        "uv -q --directory X run --locked -- mypy FIRST"}},
      {"python", "uv run → python -m mypy", {"uv run python -m mypy FIRST"}},
      {"mypy", "uv run → python -m mypy", {"uv run -m mypy FIRST", "uv run --module mypy FIRST"}},
      {"mypy",
       "uv tool run → mypy",
       {"uv tool run mypy FIRST", "uv tool run --from mypy==1.0.1 --with X mypy FIRST"}},
      {"mypy", "uvx → mypy", {"uvx mypy FIRST"}},
      {"mypy@1.0.1", "uvx → mypy@1.0.1", {"uvx --python 3.11 mypy@1.0.1 FIRST"}},
      {"mypy", "poetry run → mypy", {"poetry run mypy FIRST", "poetry -C X run mypy FIRST"}},
      {"mypy", "pdm run → mypy", {"pdm run mypy FIRST"}},
      {"python", "pdm run → python -m mypy", {"pdm run -p X python -m mypy FIRST"}},
      {"mypy", "hatch run → mypy", {"hatch run mypy FIRST", "hatch -e types run mypy FIRST"}},
      {"types:mypy", "hatch run types: → mypy", {"hatch run types:mypy FIRST"}},
      {"mypy",
       "pipx run → mypy",
       {"pipx run mypy FIRST", "pipx run --spec mypy==1.0.1 mypy FIRST"}},
      {"mypy", "pipenv run → mypy", {"pipenv run mypy FIRST"}},
      {"mypy", "rye run → mypy", {"rye run mypy FIRST"}},
      {"mypy", "pixi run → mypy", {"pixi run -e dev mypy FIRST"}},
      {"mypy", "conda run → mypy", {"conda run -n X mypy FIRST"}},
      {"python",
       "conda run → python -m mypy",
       {"conda run --no-capture-output -p /x python -m mypy FIRST"}},
      {"mypy", "micromamba run → mypy", {"micromamba run -n X mypy FIRST"}},
      {"mypy",
       "env → mypy",
       {"env mypy FIRST", "env -i -u NAME A=1 B=2 mypy FIRST",
        "/usr/bin/env -uNAME -- A=1 mypy FIRST"}},
      {"mypy",
       "timeout → mypy",
       {"timeout 60 mypy FIRST", "timeout -k 5 -s KILL --foreground 60 mypy FIRST",
        "timeout --kill-after=5 -sTERM 1m mypy FIRST"}},
      {"mypy",
       "nice → mypy",
       {"nice mypy FIRST", "nice -n 10 mypy FIRST", "nice -10 mypy FIRST",
        "nice --adjustment=5 mypy FIRST"}},
      {"mypy", "nohup → mypy", {"nohup mypy FIRST"}},
      {"mypy", "time → mypy", {"time -p mypy FIRST", "time -f %e -o out mypy FIRST"}},
      {"mypy", "stdbuf → mypy", {"stdbuf -oL -e L mypy FIRST"}},
      {"mypy", "ionice → mypy", {"ionice -c 3 mypy FIRST", "ionice -c2 -n7 mypy FIRST"}},
      {"mypy", "taskset → mypy", {"taskset -c 0,1 mypy FIRST", "taskset 0x3 mypy FIRST"}},
      {"mypy", "env → timeout → uv run → mypy", {"env A=1 timeout 60 uv run mypy FIRST"}},
      {"python3",
       "nice → nohup → env → poetry run → python3 -m mypy",
       {"nice -n 5 nohup env A=1 poetry run python3 -X dev -m mypy FIRST"}},
      {"mypy", "time → timeout → uvx → mypy", {"time timeout 10m uvx mypy FIRST"}},
  };
  int commands = 0;
  for (const Launches& c : cases) {
    for (const char* command : c.commands) {
      ExpectMypyLaunch(command, "FIRST", c.program, c.description);
      ++commands;
    }
  }
  EXPECT_EQ(commands, 60);
}

TEST(LauncherTest, NotFoundForCommandsThatHideMypy) {
  for (const char* command : {
           "make typecheck",
           "tox -e mypy",
           "nox -s mypy",
           "bash -c mypy",
           "sh -c mypy FIRST",
           "pre-commit run mypy",
           "python3 -c import",
           "python3 -m pytest",
           "python3 -m mypy.stubgen",
           "python3 script.py",
           "python3",
           "python3 --version",
           "python3 -V -m mypy",
           "uv pip install mypy",
           "uv run pytest",
           "uv run",
           "uvx ruff check",
           "poetry install",
           "pipx install mypy",
           "rye run --list",
           "env",
           "env A=1",
           "env -S mypy",
           "timeout 60",
           "ionice -p 123",
           "taskset -p 3 123",
           "sudo mypy",
           "mypyc x.py",
           "stubgen x.py",
           "",
       }) {
    SCOPED_TRACE(command);
    MypyLaunch m = FindMypyLaunch(Argv(command));
    EXPECT_FALSE(m.found);
    EXPECT_FALSE(m.description.empty());
  }
  EXPECT_THAT(FindMypyLaunch(Argv("make typecheck")).description,
              HasSubstr("make is not a known launcher"));
  EXPECT_EQ(FindMypyLaunch(Argv("env A=1 timeout 5 uv run pytest")).description,
            "env → timeout → uv run: pytest is not a known launcher of mypy");
}

TEST(LauncherTest, AnUnknownOptionWithAValueNeverMisplacesMypysFlags) {
  // "--unknown X" is read as a flag followed by the command "X": not mypy, so not found.
  EXPECT_FALSE(FindMypyLaunch(Argv("uv run --some-new-option X mypy")).found);
  EXPECT_FALSE(FindMypyLaunch(Argv("timeout --new-option X 60 mypy")).found);
}

TEST(LauncherTest, Dmypy) {
  struct DmypyCase {
    const char* command;
    const char* subcommand;
    bool accepts;
    const char* first_arg;
    bool needs_separator;
  };
  const DmypyCase cases[] = {
      {"dmypy run -- FIRST x.py", "run", true, "FIRST", false},
      {"dmypy run --timeout 60 --log-file L -- FIRST", "run", true, "FIRST", false},
      {"dmypy --status-file S start -- FIRST", "start", true, "FIRST", false},
      {"dmypy restart --log-file L -- FIRST", "restart", true, "FIRST", false},
      {"dmypy run --timeout 5 FIRST", "run", true, "FIRST", true},
      {"dmypy run", "run", true, "<end>", true},
      {"dmypy check FIRST", "check", false, "<end>", false},
      {"dmypy status", "status", false, "<end>", false},
      {"dmypy stop", "stop", false, "<end>", false},
      {"python3 -m mypy.dmypy run -- FIRST", "run", true, "FIRST", false},
      {"uv run dmypy run -- FIRST", "run", true, "FIRST", false},
  };
  for (const DmypyCase& c : cases) {
    SCOPED_TRACE(c.command);
    MypyLaunch m = FindMypyLaunch(Argv(c.command));
    ASSERT_TRUE(m.found);
    EXPECT_TRUE(m.is_dmypy);
    EXPECT_EQ(m.dmypy_command, c.subcommand);
    EXPECT_EQ(m.accepts_mypy_flags, c.accepts);
    EXPECT_EQ(m.needs_separator, c.needs_separator);
    EXPECT_EQ(FirstMypyArg(c.command), c.first_arg);
  }
  EXPECT_EQ(FindMypyLaunch(Argv("timeout 9 dmypy run -- x")).description, "timeout → dmypy run");
  MypyLaunch version = FindMypyLaunch(Argv("dmypy --version"));
  EXPECT_TRUE(version.is_dmypy);
  EXPECT_FALSE(version.accepts_mypy_flags);
}

TEST(LauncherTest, RecordsWhatLaunchersDoToEnvironmentAndDirectory) {
  MypyLaunch m = FindMypyLaunch(
      Argv("env -u MYPY_CACHE_DIR -C /a A=1 B=x=y uv --directory b run --directory=c mypy"));
  ASSERT_TRUE(m.found);
  EXPECT_FALSE(m.env_cleared);
  EXPECT_THAT(m.env_unset, ElementsAre("MYPY_CACHE_DIR"));
  EXPECT_THAT(m.env_set, ElementsAre(Pair("A", "1"), Pair("B", "x=y")));
  EXPECT_THAT(m.chdirs, ElementsAre("/a", "b", "c"));

  MypyLaunch cleared = FindMypyLaunch(Argv("env A=0 env -i B=1 mypy"));
  EXPECT_TRUE(cleared.env_cleared);
  EXPECT_THAT(cleared.env_set, ElementsAre(Pair("B", "1")));
  EXPECT_TRUE(FindMypyLaunch(Argv("env - mypy")).env_cleared);

  EXPECT_THAT(FindMypyLaunch(Argv("poetry -C p run mypy")).chdirs, ElementsAre("p"));
  EXPECT_THAT(FindMypyLaunch(Argv("conda run --cwd w -n e mypy")).chdirs, ElementsAre("w"));
  EXPECT_TRUE(FindMypyLaunch(Argv("uv run --project p mypy")).chdirs.empty());
}

}  // namespace
}  // namespace typecache
