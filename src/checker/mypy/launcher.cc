#include "src/checker/mypy/launcher.h"

#include <initializer_list>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace typecache {
namespace {

absl::string_view Base(absl::string_view path) {
  size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

bool IsOneOf(absl::string_view s, std::initializer_list<absl::string_view> names) {
  for (absl::string_view n : names) {
    if (s == n) return true;
  }
  return false;
}

bool IsOneOf(absl::string_view s, const std::vector<absl::string_view>& names) {
  for (absl::string_view n : names) {
    if (s == n) return true;
  }
  return false;
}

// python, python3, python3.11, python3.13t, pypy3, pypy3.10 (not python3-config).
bool IsPython(absl::string_view base) {
  absl::string_view rest = base;
  if (!absl::ConsumePrefix(&rest, "python") && !absl::ConsumePrefix(&rest, "pypy")) return false;
  size_t i = 0;
  while (i < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[i]))) ++i;
  if (i < rest.size() && rest[i] == '.' && i > 0) {
    ++i;
    size_t minor = i;
    while (i < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    if (i == minor) return false;
  }
  if (i < rest.size() && IsOneOf(rest.substr(i), {"d", "m", "t", "u"})) ++i;
  return i == rest.size();
}

// A tool runner's application argument without its version: "mypy@1.0.1", "mypy==1.0.1",
// "mypy[reports]>=1" -> "mypy".
absl::string_view ToolName(absl::string_view app) {
  size_t end = app.find_first_of("@=<>![~ ");
  return Base(end == absl::string_view::npos ? app : app.substr(0, end));
}

// The option syntax of one launcher: which options take a value. Any other option is a flag.
struct OptionSyntax {
  std::vector<absl::string_view> long_with_value;
  absl::string_view short_with_value;  // "pC": -p X, -pX, -C X, -CX
};

struct SeenOption {
  std::string name;  // "--directory" or "-C"
  std::string value;
};

struct Scan {
  size_t operand = 0;  // First operand, argv.size() if none.
  bool double_dash = false;
  std::vector<SeenOption> options;
  bool Has(std::initializer_list<absl::string_view> names) const {
    for (const SeenOption& o : options) {
      if (IsOneOf(o.name, names)) return true;
    }
    return false;
  }
};

// Reads options (getopt_long style, stopping at the first operand) from argv[i].
Scan ScanOptions(const std::vector<std::string>& argv, size_t i, const OptionSyntax& syntax) {
  Scan scan;
  while (i < argv.size()) {
    const std::string& a = argv[i];
    if (a == "--") {
      scan.double_dash = true;
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    if (a[1] == '-') {
      size_t eq = a.find('=');
      std::string name = a.substr(0, eq);
      if (eq != std::string::npos) {
        scan.options.push_back({name, a.substr(eq + 1)});
        ++i;
      } else if (IsOneOf(name, syntax.long_with_value) && i + 1 < argv.size()) {
        scan.options.push_back({name, argv[i + 1]});
        i += 2;
      } else {
        scan.options.push_back({name, ""});
        ++i;
      }
      continue;
    }
    size_t next = i + 1;
    for (size_t k = 1; k < a.size(); ++k) {
      std::string name = absl::StrCat("-", absl::string_view(&a[k], 1));
      if (syntax.short_with_value.find(a[k]) != absl::string_view::npos) {
        if (k + 1 < a.size()) {
          scan.options.push_back({name, a.substr(k + 1)});
        } else if (next < argv.size()) {
          scan.options.push_back({name, argv[next]});
          ++next;
        } else {
          scan.options.push_back({name, ""});
        }
        break;
      }
      scan.options.push_back({name, ""});
    }
    i = next;
  }
  scan.operand = i;
  return scan;
}

class Finder {
 public:
  explicit Finder(const std::vector<std::string>& argv) : argv_(argv) {}

  MypyLaunch Find() {
    size_t i = 0;
    while (!done_) {
      if (i >= argv_.size()) return NotFound(chain_.empty() ? "no command" : "no command after it");
      i = Step(i);
    }
    return result_;
  }

 private:
  // Handles the program at argv[i]; returns the index of the next program, or sets done_.
  size_t Step(size_t i) {
    absl::string_view base = Base(argv_[i]);
    if (base == "mypy") return Mypy(i, i + 1, "mypy");
    if (base == "dmypy") return Dmypy(i, i + 1, "dmypy");
    if (IsPython(base)) return Python(i);
    if (base == "uv") return Uv(i);
    if (base == "uvx") return ToolRun(i, ScanOptions(argv_, i + 1, UvSyntax()), "uvx");
    if (IsOneOf(base, {"poetry", "pdm", "rye", "pipenv"})) return RunSubcommand(i, base);
    if (base == "hatch") return Hatch(i);
    if (base == "pipx") return Pipx(i);
    if (base == "pixi") return RunSubcommand(i, base);
    if (IsOneOf(base, {"conda", "mamba", "micromamba"})) return RunSubcommand(i, base);
    if (base == "env") return Env(i);
    if (base == "timeout") return Timeout(i);
    if (base == "nice") return Nice(i);
    if (base == "nohup") return Next(i + 1, "nohup");
    if (base == "time") {
      return Next(ScanOptions(argv_, i + 1, {{"--format", "--output"}, "fo"}).operand, "time");
    }
    if (base == "stdbuf") {
      return Next(ScanOptions(argv_, i + 1, {{"--input", "--output", "--error"}, "ioe"}).operand,
                  "stdbuf");
    }
    if (base == "ionice") return Ionice(i);
    if (base == "taskset") return Taskset(i);
    return NotFoundAt(absl::StrCat(base, " is not a known launcher of mypy"));
  }

  size_t Next(size_t next, absl::string_view what) {
    chain_.emplace_back(what);
    return next;
  }

  MypyLaunch NotFound(absl::string_view why) {
    done_ = true;
    result_ = MypyLaunch();
    result_.description =
        chain_.empty() ? std::string(why) : absl::StrCat(absl::StrJoin(chain_, " → "), ": ", why);
    return result_;
  }

  size_t NotFoundAt(absl::string_view why) {
    NotFound(why);
    return 0;
  }

  void Describe(absl::string_view last) {
    chain_.emplace_back(last);
    result_.description = absl::StrJoin(chain_, " → ");
  }

  size_t Mypy(size_t program, size_t first_arg, absl::string_view what) {
    done_ = true;
    result_.found = true;
    result_.program_index = program;
    result_.mypy_arg_index = first_arg;
    result_.accepts_mypy_flags = true;
    Describe(what);
    return 0;
  }

  // dmypy [--status-file F] COMMAND [command options] [-- mypy flags and files].
  size_t Dmypy(size_t program, size_t first_arg, absl::string_view what) {
    done_ = true;
    result_.found = true;
    result_.is_dmypy = true;
    result_.program_index = program;
    Scan global = ScanOptions(argv_, first_arg, {{"--status-file"}, ""});
    size_t cmd = global.operand;
    if (global.Has({"-h", "--help", "-V", "--version"}) || cmd >= argv_.size()) {
      result_.mypy_arg_index = argv_.size();
      Describe(what);
      return 0;
    }
    result_.dmypy_command = argv_[cmd];
    Describe(absl::StrCat(what, " ", argv_[cmd]));
    if (!IsOneOf(argv_[cmd], {"start", "restart", "run", "daemon"})) {
      result_.mypy_arg_index = argv_.size();
      return 0;
    }
    result_.accepts_mypy_flags = true;
    for (size_t k = cmd + 1; k < argv_.size(); ++k) {
      if (argv_[k] == "--") {
        result_.mypy_arg_index = k + 1;
        return 0;
      }
    }
    // No "--": the first positional (a file) is where "-- <flags>" must go.
    Scan local = ScanOptions(
        argv_, cmd + 1,
        {{"--log-file", "--timeout", "--junit-xml", "--perf-stats-file", "--options-data"}, ""});
    result_.mypy_arg_index = local.operand;
    result_.needs_separator = true;
    return 0;
  }

  // CPython's command line: [options] (-m module | -c cmd | script | -) [args].
  size_t Python(size_t i) {
    absl::string_view interp = Base(argv_[i]);
    size_t j = i + 1;
    while (j < argv_.size()) {
      const std::string& a = argv_[j];
      if (a == "--") {
        ++j;
        break;
      }
      if (a.size() < 2 || a[0] != '-') break;
      if (a[1] == '-') {
        if (a == "--check-hash-based-pycs") {
          j += 2;
        } else if (absl::StartsWith(a, "--check-hash-based-pycs=")) {
          ++j;
        } else {
          return NotFoundAt(absl::StrCat(interp, " ", a, " does not run mypy"));
        }
        continue;
      }
      size_t next = j + 1;
      for (size_t k = 1; k < a.size(); ++k) {
        char c = a[k];
        if (c == 'm' || c == 'c' || c == 'W' || c == 'X') {
          std::string value;
          size_t after;
          if (k + 1 < a.size()) {
            value = a.substr(k + 1);
            after = j + 1;
          } else if (j + 1 < argv_.size()) {
            value = argv_[j + 1];
            after = j + 2;
          } else {
            return NotFoundAt(absl::StrCat(interp, " -", std::string(1, c), " has no value"));
          }
          if (c == 'c') return NotFoundAt(absl::StrCat(interp, " -c runs a program string"));
          if (c == 'm') {
            std::string what = absl::StrCat(interp, " -m ", value);
            if (value == "mypy") return Mypy(i, after, what);
            if (value == "mypy.dmypy") return Dmypy(i, after, what);
            return NotFoundAt(absl::StrCat(what, " is not mypy"));
          }
          next = after;  // -W arg, -X opt
          break;
        }
        if (absl::string_view("bBdEiIOPqRsStuvx").find(c) == absl::string_view::npos) {
          return NotFoundAt(absl::StrCat(interp, " -", std::string(1, c), " does not run mypy"));
        }
      }
      j = next;
    }
    if (j >= argv_.size()) return NotFoundAt(absl::StrCat(interp, " without a program"));
    absl::string_view script = Base(argv_[j]);
    if (script == "mypy") return Mypy(i, j + 1, absl::StrCat(interp, " ", argv_[j]));
    if (script == "dmypy") return Dmypy(i, j + 1, absl::StrCat(interp, " ", argv_[j]));
    return NotFoundAt(absl::StrCat(interp, " runs ", argv_[j], ", not mypy"));
  }

  static const OptionSyntax& UvSyntax() {
    static const OptionSyntax* kSyntax = new OptionSyntax{{"--directory",
                                                           "--project",
                                                           "--cache-dir",
                                                           "--config-file",
                                                           "--color",
                                                           "--python",
                                                           "--with",
                                                           "--with-editable",
                                                           "--with-requirements",
                                                           "--env-file",
                                                           "--extra",
                                                           "--no-extra",
                                                           "--group",
                                                           "--no-group",
                                                           "--only-group",
                                                           "--package",
                                                           "--index",
                                                           "--default-index",
                                                           "--index-url",
                                                           "--extra-index-url",
                                                           "--find-links",
                                                           "--index-strategy",
                                                           "--keyring-provider",
                                                           "--resolution",
                                                           "--prerelease",
                                                           "--fork-strategy",
                                                           "--exclude-newer",
                                                           "--exclude-newer-package",
                                                           "--no-build-isolation-package",
                                                           "--config-setting",
                                                           "--link-mode",
                                                           "--refresh-package",
                                                           "--reinstall-package",
                                                           "--upgrade-package",
                                                           "--no-build-package",
                                                           "--no-binary-package",
                                                           "--allow-insecure-host",
                                                           "--python-platform",
                                                           "--from",
                                                           "--build-constraints",
                                                           "--constraints",
                                                           "--overrides",
                                                           "--max-recursion-depth"},
                                                          "pCifPw"};
    return *kSyntax;
  }

  void RecordChdir(const Scan& scan, const std::vector<absl::string_view>& names) {
    for (const SeenOption& o : scan.options) {
      if (IsOneOf(o.name, names)) result_.chdirs.push_back(o.value);
    }
  }

  // uv [global options] run [options] COMMAND | uv [...] run -m MODULE | uv [...] tool run ...
  size_t Uv(size_t i) {
    Scan global = ScanOptions(argv_, i + 1, UvSyntax());
    RecordChdir(global, {"--directory"});
    size_t sub = global.operand;
    if (sub >= argv_.size()) return NotFoundAt("uv without a subcommand");
    if (argv_[sub] == "tool" && sub + 1 < argv_.size() && argv_[sub + 1] == "run") {
      Scan scan = ScanOptions(argv_, sub + 2, UvSyntax());
      RecordChdir(scan, {"--directory"});
      return ToolRun(i, scan, "uv tool run");
    }
    if (argv_[sub] != "run")
      return NotFoundAt(absl::StrCat("uv ", argv_[sub], " does not run mypy"));
    Scan scan = ScanOptions(argv_, sub + 1, UvSyntax());
    RecordChdir(scan, {"--directory"});
    if (scan.Has({"-m", "--module"})) {
      // The module flag takes no value: the operand is the module.
      size_t m = scan.operand;
      if (m >= argv_.size()) return NotFoundAt("uv run -m without a module");
      chain_.emplace_back("uv run");
      std::string what = absl::StrCat("python -m ", argv_[m]);
      if (argv_[m] == "mypy") return Mypy(m, m + 1, what);
      if (argv_[m] == "mypy.dmypy") return Dmypy(m, m + 1, what);
      return NotFoundAt(absl::StrCat(what, " is not mypy"));
    }
    return Next(scan.operand, "uv run");
  }

  // uvx / uv tool run / pipx run: the operand names a package's executable, maybe versioned.
  size_t ToolRun(size_t i, const Scan& scan, absl::string_view what) {
    size_t app = scan.operand;
    chain_.emplace_back(what);
    if (app >= argv_.size()) return NotFoundAt("no tool named");
    absl::string_view name = ToolName(argv_[app]);
    if (name == "mypy") return Mypy(app, app + 1, argv_[app]);
    if (name == "dmypy") return Dmypy(app, app + 1, argv_[app]);
    return NotFoundAt(absl::StrCat(argv_[app], " is not mypy"));
  }

  size_t Pipx(size_t i) {
    Scan global = ScanOptions(argv_, i + 1, {{}, ""});
    size_t sub = global.operand;
    if (sub >= argv_.size() || argv_[sub] != "run") return NotFoundAt("pipx without run");
    Scan scan = ScanOptions(
        argv_, sub + 1,
        {{"--spec", "--python", "--pip-args", "--index-url", "--backend", "--fetch-python"}, ""});
    return ToolRun(i, scan, "pipx run");
  }

  // poetry/pdm/rye/pipenv/pixi/conda [global options] run [options] COMMAND.
  size_t RunSubcommand(size_t i, absl::string_view tool) {
    OptionSyntax syntax = {{}, ""};
    std::vector<absl::string_view> chdir;
    if (tool == "poetry") {
      syntax = {{"--directory", "--project"}, "CP"};
      chdir = {"--directory", "-C"};
    } else if (tool == "pdm") {
      syntax = {{"--project", "--venv", "--skip", "--config"}, "pc"};
    } else if (tool == "rye") {
      syntax = {{"--pyproject"}, ""};
    } else if (tool == "pipenv") {
      syntax = {{"--python", "--pypi-mirror"}, ""};
    } else if (tool == "pixi") {
      syntax = {{"--manifest-path", "--environment", "--color", "--auth-file",
                 "--pypi-keyring-provider", "--concurrent-solves", "--concurrent-downloads"},
                "e"};
    } else {  // conda, mamba, micromamba
      syntax = {{"--name", "--prefix", "--cwd", "--attach", "--root-prefix", "--rc-file"},
                tool == "micromamba" ? "npar" : "np"};
      chdir = {"--cwd"};
    }
    Scan global = ScanOptions(argv_, i + 1, syntax);
    RecordChdir(global, chdir);
    size_t sub = global.operand;
    if (sub >= argv_.size() || argv_[sub] != "run") {
      return NotFoundAt(
          absl::StrCat(tool, sub < argv_.size() ? " " + argv_[sub] : "", " does not run mypy"));
    }
    Scan scan = ScanOptions(argv_, sub + 1, syntax);
    RecordChdir(scan, chdir);
    if (tool == "rye" && scan.Has({"-l", "--list"})) return NotFoundAt("rye run --list");
    return Next(scan.operand, absl::StrCat(tool, " run"));
  }

  // hatch [global options] run [options] [ENV:]COMMAND.
  size_t Hatch(size_t i) {
    OptionSyntax syntax = {{"--env", "--project", "--data-dir", "--cache-dir", "--config",
                            "--include", "--exclude", "--filter"},
                           "epixf"};
    Scan global = ScanOptions(argv_, i + 1, syntax);
    size_t sub = global.operand;
    if (sub >= argv_.size() || argv_[sub] != "run") return NotFoundAt("hatch without run");
    Scan scan = ScanOptions(argv_, sub + 1, syntax);
    size_t cmd = scan.operand;
    if (cmd < argv_.size()) {
      size_t colon = argv_[cmd].find(':');
      if (colon != std::string::npos) {
        chain_.emplace_back(absl::StrCat("hatch run ", argv_[cmd].substr(0, colon + 1)));
        absl::string_view program = Base(absl::string_view(argv_[cmd]).substr(colon + 1));
        if (program == "mypy") return Mypy(cmd, cmd + 1, "mypy");
        if (program == "dmypy") return Dmypy(cmd, cmd + 1, "dmypy");
        return NotFoundAt(absl::StrCat(program, " is not mypy"));
      }
    }
    return Next(cmd, "hatch run");
  }

  // env [-i] [-u NAME] [-C DIR] [NAME=VALUE]... COMMAND.
  size_t Env(size_t i) {
    Scan scan = ScanOptions(argv_, i + 1, {{"--unset", "--chdir", "--split-string"}, "uCS"});
    for (const SeenOption& o : scan.options) {
      if (IsOneOf(o.name, {"-i", "--ignore-environment"})) {
        result_.env_cleared = true;
        result_.env_set.clear();
        result_.env_unset.clear();
      } else if (IsOneOf(o.name, {"-u", "--unset"})) {
        result_.env_unset.push_back(o.value);
      } else if (IsOneOf(o.name, {"-C", "--chdir"})) {
        result_.chdirs.push_back(o.value);
      } else if (IsOneOf(o.name, {"-S", "--split-string"})) {
        return NotFoundAt("env -S splits a command string");
      } else if (IsOneOf(o.name, {"--help", "--version", "--list-signal-handling"})) {
        return NotFoundAt(absl::StrCat("env ", o.name, " does not run a command"));
      }
    }
    size_t k = scan.operand;
    if (!scan.double_dash && k < argv_.size() && argv_[k] == "-") {  // "env -" is "env -i".
      result_.env_cleared = true;
      ++k;
    }
    for (; k < argv_.size(); ++k) {
      size_t eq = argv_[k].find('=');
      if (eq == std::string::npos) break;
      result_.env_set.emplace_back(argv_[k].substr(0, eq), argv_[k].substr(eq + 1));
    }
    return Next(k, "env");
  }

  // timeout [options] DURATION COMMAND.
  size_t Timeout(size_t i) {
    Scan scan = ScanOptions(argv_, i + 1, {{"--kill-after", "--signal"}, "ks"});
    if (scan.Has({"--help", "--version"})) return NotFoundAt("timeout --help/--version");
    return Next(scan.operand + 1, "timeout");
  }

  // nice [-n N | -N | --adjustment=N] COMMAND.
  size_t Nice(size_t i) {
    size_t k = i + 1;
    if (k < argv_.size() && argv_[k].size() > 1 && argv_[k][0] == '-' &&
        (absl::ascii_isdigit(static_cast<unsigned char>(argv_[k][1])) ||
         (argv_[k].size() > 2 && (argv_[k][1] == '-' || argv_[k][1] == '+') &&
          absl::ascii_isdigit(static_cast<unsigned char>(argv_[k][2]))))) {
      ++k;  // Old style: nice -10 COMMAND, nice --5 COMMAND.
    }
    Scan scan = ScanOptions(argv_, k, {{"--adjustment"}, "n"});
    return Next(scan.operand, "nice");
  }

  // ionice [-c CLASS] [-n LEVEL] [-t] COMMAND (not -p/-P/-u, which act on running processes).
  size_t Ionice(size_t i) {
    Scan scan = ScanOptions(argv_, i + 1,
                            {{"--class", "--classdata", "--pid", "--pgid", "--uid"}, "cnpPu"});
    if (scan.Has({"-p", "-P", "-u", "--pid", "--pgid", "--uid"})) {
      return NotFoundAt("ionice acts on running processes");
    }
    return Next(scan.operand, "ionice");
  }

  // taskset [-a] [-c] MASK|LIST COMMAND (not -p).
  size_t Taskset(size_t i) {
    Scan scan = ScanOptions(argv_, i + 1, {{}, ""});
    if (scan.Has({"-p", "--pid"})) return NotFoundAt("taskset -p acts on a running process");
    return Next(scan.operand + 1, "taskset");
  }

  const std::vector<std::string>& argv_;
  std::vector<std::string> chain_;
  MypyLaunch result_;
  bool done_ = false;
};

}  // namespace

MypyLaunch FindMypyLaunch(const std::vector<std::string>& argv) { return Finder(argv).Find(); }

}  // namespace typecache
