// Finds mypy inside a launcher command line, so that typecache inserts its --cache-dir and
// --sqlite-cache exactly where mypy's own arguments start and never hands mypy's flags to
// another program. Knows direct calls (`mypy`, `/venv/bin/mypy`, `python3 -X dev -m mypy`,
// `python3 /usr/bin/mypy`), the daemon client (`dmypy`, reported separately), environment
// managers (`uv run`, `uv tool run`, `uvx`, `poetry run`, `pdm run`, `hatch run [env:]`,
// `pipx run`, `pipenv run`, `rye run`, `pixi run`, `conda|mamba|micromamba run`) and process
// wrappers (`env`, `timeout`, `nice`, `nohup`, `time`, `stdbuf`, `ionice`, `taskset`), chained
// in any order. Anything else (`make typecheck`, `tox -e mypy`, `bash -c ...`, `pre-commit run`)
// is "not found": the caller then redirects through the environment only (MYPY_CACHE_DIR).
//
// A pure function of argv: no file system, no environment. An option a launcher takes that this
// file does not know is assumed to take no value; when that is wrong the value is taken for the
// command, which is then not mypy, so the answer is "not found" (safe), never a wrong index.
#ifndef TYPECACHE_SRC_CHECKER_MYPY_LAUNCHER_H_
#define TYPECACHE_SRC_CHECKER_MYPY_LAUNCHER_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace typecache {

struct MypyLaunch {
  // mypy (or dmypy) was found and mypy_arg_index is meaningful.
  bool found = false;
  // Where mypy's first own argument is (or would be: argv.size() when there is none). Insert
  // typecache's flags here. For dmypy: the first argument after `--` of start/restart/run/daemon.
  size_t mypy_arg_index = 0;
  // The argv element that starts the mypy process: the mypy/dmypy executable or script, the
  // Python interpreter running `-m mypy`, or hatch's "env:mypy" token.
  size_t program_index = 0;
  // The chain of launchers, e.g. "env → timeout → uv run → python -m mypy". When not found:
  // why, e.g. "make is not a known launcher".
  std::string description;

  // The daemon client (`dmypy`, `python -m mypy.dmypy`): its cache use differs from mypy's.
  bool is_dmypy = false;
  // dmypy's subcommand ("run", "start", "check", ...); empty for mypy.
  std::string dmypy_command;
  // Whether mypy flags can be inserted at mypy_arg_index: true for mypy; for dmypy only for
  // start/restart/run/daemon, whose mypy flags follow `--`.
  bool accepts_mypy_flags = false;
  // dmypy start/restart/run without `--`: typecache must insert "--" before its own flags.
  bool needs_separator = false;

  // What the launchers do to mypy's environment and working directory, in order, so that the
  // caller can tell whether MYPY_CACHE_DIR reaches mypy and where mypy's cwd is.
  bool env_cleared = false;                                  // env -i, env -
  std::vector<std::string> env_unset;                        // env -u NAME
  std::vector<std::pair<std::string, std::string>> env_set;  // env NAME=VALUE
  std::vector<std::string> chdirs;  // env -C DIR, uv --directory DIR, poetry -C DIR, conda --cwd
};

// Finds where mypy's own arguments start in argv (see the file comment).
MypyLaunch FindMypyLaunch(const std::vector<std::string>& argv);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CHECKER_MYPY_LAUNCHER_H_
