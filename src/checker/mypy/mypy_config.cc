#include "src/checker/mypy/mypy_config.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "src/base/status_macros.h"
#include "toml++/toml.h"

namespace typecache {
namespace {

// ---------------------------------------------------------------------------------------------
// Paths, the way Python's posixpath does them.

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

std::string Join(absl::string_view dir, absl::string_view path) {
  if (absl::StartsWith(path, "/")) return std::string(path);
  if (dir.empty() || absl::EndsWith(dir, "/")) return absl::StrCat(dir, path);
  return absl::StrCat(dir, "/", path);
}

// posixpath.normpath.
std::string NormPath(absl::string_view path) {
  if (path.empty()) return ".";
  int initial_slashes = absl::StartsWith(path, "/") ? 1 : 0;
  if (initial_slashes && absl::StartsWith(path, "//") && !absl::StartsWith(path, "///")) {
    initial_slashes = 2;
  }
  std::vector<absl::string_view> out;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part != ".." || (!initial_slashes && out.empty()) || (!out.empty() && out.back() == "..")) {
      out.push_back(part);
    } else if (!out.empty()) {
      out.pop_back();
    }
  }
  std::string result = absl::StrCat(std::string(initial_slashes, '/'), absl::StrJoin(out, "/"));
  return result.empty() ? "." : result;
}

std::string DirName(absl::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return "";
  absl::string_view head = path.substr(0, slash + 1);
  if (head.find_first_not_of('/') != absl::string_view::npos) {
    while (absl::EndsWith(head, "/")) head.remove_suffix(1);
  }
  return std::string(head);
}

absl::string_view BaseName(absl::string_view path) {
  size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

// The path with "." components and repeated slashes removed; ".." is kept (it may cross a
// symbolic link).
std::string CleanPath(absl::string_view path) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (!part.empty() && part != ".") parts.push_back(part);
  }
  std::string joined = absl::StrJoin(parts, "/");
  return absl::StartsWith(path, "/") ? "/" + joined : (joined.empty() ? "." : joined);
}

// ---------------------------------------------------------------------------------------------
// configparser.RawConfigParser (Python 3.11), only what reading mypy's settings needs.

struct IniValue {
  std::string value;
  std::string file;
  int line = 0;
};

// Keys in insertion order, as a Python dict keeps them.
struct IniSection {
  std::vector<std::pair<std::string, IniValue>> items;
  IniValue* Find(absl::string_view key) {
    for (auto& item : items) {
      if (item.first == key) return &item.second;
    }
    return nullptr;
  }
  void Set(const std::string& key, IniValue value) {
    if (IniValue* existing = Find(key)) {
      *existing = std::move(value);
    } else {
      items.emplace_back(key, std::move(value));
    }
  }
};

struct IniData {
  std::map<std::string, IniSection> sections;
  IniSection defaults;
};

bool IsPyWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
         (c >= 0x1c && c <= 0x1f);
}

absl::string_view PyStrip(absl::string_view s) {
  while (!s.empty() && IsPyWhitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsPyWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

absl::string_view PyRStrip(absl::string_view s) {
  while (!s.empty() && IsPyWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

std::string PyRepr(absl::string_view s) { return absl::StrCat("'", s, "'"); }

std::vector<std::string> SplitLinesKeepEnds(absl::string_view content) {
  // Universal newlines: \n, \r\n and \r all end a line (and read as "\n").
  std::vector<std::string> lines;
  std::string cur;
  for (size_t i = 0; i < content.size(); ++i) {
    char c = content[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
      cur.push_back('\n');
      lines.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) lines.push_back(std::move(cur));
  return lines;
}

// Reads one file into data (RawConfigParser.read: sections already in data are extended).
absl::Status ParseIni(const std::string& label, absl::string_view content, IniData* data) {
  struct Pending {  // An option's value lines until the file ends.
    IniSection* section;
    std::string key;
    std::vector<std::string> lines;
  };
  std::vector<Pending> values;
  std::vector<std::string> added_sections;
  std::vector<std::pair<std::string, std::string>> added_options;
  IniSection* cursect = nullptr;
  std::string sectname;
  constexpr size_t kNoOption = static_cast<size_t>(-1);
  size_t cur_opt = kNoOption;  // Index into values.
  size_t indent_level = 0;
  std::vector<std::string> errors;
  int lineno = 0;
  for (const std::string& line : SplitLinesKeepEnds(content)) {
    ++lineno;
    absl::string_view stripped = PyStrip(line);
    bool comment = absl::StartsWith(stripped, "#") || absl::StartsWith(stripped, ";");
    absl::string_view value = comment ? absl::string_view() : stripped;
    if (value.empty()) {
      // empty_lines_in_values: an empty line (not a comment) belongs to the current value.
      if (!comment && cursect != nullptr && cur_opt != kNoOption)
        values[cur_opt].lines.emplace_back();
      continue;
    }
    size_t cur_indent = 0;
    while (cur_indent < line.size() && IsPyWhitespace(line[cur_indent])) ++cur_indent;
    if (cur_indent == line.size()) cur_indent = 0;
    if (cursect != nullptr && cur_opt != kNoOption && cur_indent > indent_level) {
      values[cur_opt].lines.emplace_back(value);  // Continuation line.
      continue;
    }
    indent_level = cur_indent;
    // SECTCRE: \[(?P<header>.+)\] matched at the start (the last ']' closes it).
    size_t close = value.rfind(']');
    if (absl::StartsWith(value, "[") && close != absl::string_view::npos && close > 1) {
      sectname = std::string(value.substr(1, close - 1));
      bool added =
          std::find(added_sections.begin(), added_sections.end(), sectname) != added_sections.end();
      if (data->sections.count(sectname)) {
        if (added) {
          return absl::InvalidArgumentError(
              absl::StrCat(label, ":", lineno, ": section ", PyRepr(sectname), " already exists"));
        }
        cursect = &data->sections[sectname];
        added_sections.push_back(sectname);
      } else if (sectname == "DEFAULT") {
        cursect = &data->defaults;
      } else {
        cursect = &data->sections[sectname];
        added_sections.push_back(sectname);
      }
      cur_opt = kNoOption;
      continue;
    }
    if (cursect == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ":", lineno, ": File contains no section headers: ", PyRepr(PyRStrip(line))));
    }
    // OPTCRE: (?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$
    size_t delim = value.find_first_of("=:");
    if (delim == absl::string_view::npos || PyRStrip(value.substr(0, delim)).empty()) {
      errors.push_back(absl::StrCat(label, ":", lineno,
                                    ": Source contains parsing errors: ", PyRepr(PyRStrip(line))));
      continue;
    }
    std::string key = absl::AsciiStrToLower(PyRStrip(value.substr(0, delim)));
    std::pair<std::string, std::string> id(sectname, key);
    if (std::find(added_options.begin(), added_options.end(), id) != added_options.end()) {
      return absl::InvalidArgumentError(absl::StrCat(label, ":", lineno, ": option ", PyRepr(key),
                                                     " in section ", PyRepr(sectname),
                                                     " already exists"));
    }
    added_options.push_back(id);
    cursect->Set(key, IniValue{"", label, lineno});
    values.push_back(Pending{cursect, key, {std::string(PyStrip(value.substr(delim + 1)))}});
    cur_opt = values.size() - 1;
  }
  if (!errors.empty()) return absl::InvalidArgumentError(errors.front());
  for (Pending& p : values) {  // _join_multiline_values
    IniValue* v = p.section->Find(p.key);
    if (v != nullptr && v->line > 0 && v->file == label) {
      v->value = std::string(PyRStrip(absl::StrJoin(p.lines, "\n")));
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// The settings of one configuration section, in the section's key order.

struct ConfigEntry {
  std::string key;
  std::string origin;  // "mypy.ini:3 [mypy] cache_dir"
  // INI: the text; TOML: a string, or a bool/integer given as text for convert_to_boolean.
  std::string text;
  bool is_string = true;  // TOML: the value is a string (cache_dir must be one).
  bool is_bool = false;
  bool bool_value = false;
};

// toml++ speaks std::string_view, Debian's Abseil its own string_view.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

uint32_t Line(const toml::source_region& r) { return static_cast<uint32_t>(r.begin.line); }

// A TOML value as TOML text.
std::string NodeText(const toml::node& node) {
  std::ostringstream out;
  node.visit([&out](const auto& n) { out << n; });
  return out.str();
}

std::vector<ConfigEntry> IniEntries(IniData& data, absl::string_view section) {
  std::vector<ConfigEntry> entries;
  IniSection& own = data.sections[std::string(section)];
  auto add = [&](const std::string& key, const IniValue& v, absl::string_view where) {
    entries.push_back(
        {key, absl::StrCat(v.file, ":", v.line, " [", where, "] ", key), v.value, true});
  };
  for (const auto& [key, v] : own.items) {
    add(key, v, section);
  }
  for (const auto& [key, v] : data.defaults.items) {
    if (own.Find(key) == nullptr) add(key, v, "DEFAULT");
  }
  return entries;
}

absl::StatusOr<std::optional<std::vector<ConfigEntry>>> TomlEntries(const std::string& label,
                                                                    const std::string& content) {
  toml::table root;
  try {
    root = toml::parse(content, label);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ":", Line(e.source()), ": ", Sv(e.description())));
  }
  toml::node* tool = root.get("tool");
  if (tool == nullptr) return std::optional<std::vector<ConfigEntry>>();
  if (!tool->is_table()) return absl::InvalidArgumentError(label + ": [tool] is not a table");
  toml::node* mypy = tool->as_table()->get("mypy");
  if (mypy == nullptr) return std::optional<std::vector<ConfigEntry>>();
  if (!mypy->is_table()) {
    return absl::InvalidArgumentError(label + ": [tool.mypy] is not a table");
  }
  // destructure_overrides rejects the whole file for malformed [[tool.mypy.overrides]].
  if (toml::node* overrides = mypy->as_table()->get("overrides")) {
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ":", Line(overrides->source()), ": ", why));
    };
    if (!overrides->is_array()) {
      return fail("tool.mypy.overrides sections must be an array");
    }
    std::map<std::string, std::map<std::string, const toml::node*>> seen;
    for (const toml::node& o : *overrides->as_array()) {
      const toml::table* t = o.as_table();
      const toml::node* module = t ? t->get("module") : nullptr;
      if (module == nullptr) {
        return fail("a [[tool.mypy.overrides]] section has no module to override");
      }
      std::vector<std::string> names;
      if (module->is_string()) {
        names.push_back(**module->as_string());
      } else if (module->is_array()) {
        for (const toml::node& n : *module->as_array()) {
          if (!n.is_string()) return fail("an overrides module is not a string");
          names.push_back(**n.as_string());
        }
      } else {
        return fail("an overrides module is not a string or a list of strings");
      }
      for (const std::string& name : names) {
        for (const auto& [k, v] : *t) {
          if (k.str() == "module") continue;
          const toml::node*& slot = seen[name][std::string(k.str())];
          if (slot != nullptr && NodeText(*slot) != NodeText(v)) {
            return fail(
                absl::StrCat("[[tool.mypy.overrides]] sections with conflicting values: "
                             "module '",
                             name, "' has two different values for '", Sv(k.str()), "'"));
          }
          slot = &v;
        }
      }
    }
  }
  // toml++ keeps keys sorted; mypy reads them in file order.
  std::vector<std::pair<const toml::key*, const toml::node*>> items;
  for (const auto& [k, v] : *mypy->as_table()) items.emplace_back(&k, &v);
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    const toml::source_position& pa = a.first->source().begin;
    const toml::source_position& pb = b.first->source().begin;
    return std::make_pair(pa.line, pa.column) < std::make_pair(pb.line, pb.column);
  });
  std::vector<ConfigEntry> entries;
  for (const auto& [k, v] : items) {
    ConfigEntry e;
    e.key = std::string(k->str());
    e.origin = absl::StrCat(label, ":", Line(k->source()), " [tool.mypy] ", e.key);
    e.is_string = v->is_string();
    if (const auto* s = v->as_string()) {
      e.text = **s;
    } else if (const auto* b = v->as_boolean()) {
      e.is_bool = true;
      e.bool_value = **b;
    } else if (const auto* i = v->as_integer()) {
      e.text = absl::StrCat(**i);  // str(1) == "1": a boolean to convert_to_boolean.
    } else {
      e.text = NodeText(*v);
    }
    entries.push_back(std::move(e));
  }
  return std::optional<std::vector<ConfigEntry>>(std::move(entries));
}

// configparser's getboolean / mypy's convert_to_boolean.
absl::StatusOr<bool> ToBool(const ConfigEntry& e) {
  if (e.is_bool) return e.bool_value;
  std::string lower = absl::AsciiStrToLower(e.text);
  if (lower == "1" || lower == "yes" || lower == "true" || lower == "on") return true;
  if (lower == "0" || lower == "no" || lower == "false" || lower == "off") return false;
  return absl::InvalidArgumentError(absl::StrCat(e.origin, ": Not a boolean: ", e.text));
}

// ---------------------------------------------------------------------------------------------
// mypy's command line (argparse, Python 3.11, mypy 1.0.1's options).

// Every long option of mypy 1.0.1; "=" marks one that takes a value.
constexpr absl::string_view kLongOptions =
    "--allow-any-generics --allow-empty-bodies --allow-incomplete-defs --allow-redefinition "
    "--allow-subclassing-any --allow-untyped-calls --allow-untyped-decorators "
    "--allow-untyped-defs --allow-untyped-globals --always-false= --always-true= "
    "--any-exprs-report= --bazel --cache-dir= --cache-fine-grained --cache-map= "
    "--check-untyped-defs --cobertura-xml-report= --color-output --command= --config-file= "
    "--custom-typeshed-dir= --custom-typing-module= --debug-cache --debug-serialize "
    "--disable-bytearray-promotion --disable-error-code= --disable-memoryview-promotion "
    "--disable-recursive-aliases --disallow-any-decorated --disallow-any-explicit "
    "--disallow-any-expr --disallow-any-generics --disallow-any-unimported "
    "--disallow-empty-bodies --disallow-incomplete-defs --disallow-redefinition "
    "--disallow-subclassing-any --disallow-untyped-calls --disallow-untyped-decorators "
    "--disallow-untyped-defs --disallow-untyped-globals --dump-build-stats --dump-deps "
    "--dump-graph --enable-error-code= --enable-incomplete-feature= "
    "--enable-incomplete-features --enable-recursive-aliases --error-summary --exclude= "
    "--explicit-package-bases --fast-exit --fast-module-lookup --find-occurrences= "
    "--follow-imports= --help --hide-absolute-path --hide-column-numbers --hide-error-codes "
    "--hide-error-context --hide-error-end --html-report= --ignore-missing-imports "
    "--implicit-optional --implicit-reexport --incremental --inferstats --install-types "
    "--interactive --junit-xml= --line-checking-stats= --linecount-report= "
    "--linecoverage-report= --lineprecision-report= --local-partial-types --logical-deps "
    "--module= --namespace-packages --no-check-untyped-defs --no-color-output "
    "--no-error-summary --no-explicit-package-bases --no-fast-exit --no-fast-module-lookup "
    "--no-implicit-optional --no-implicit-reexport --no-incremental --no-install-types "
    "--no-namespace-packages --no-pretty --no-silence-site-packages --no-site-packages "
    "--no-sqlite-cache --no-strict-concatenate --no-strict-equality --no-strict-optional "
    "--no-warn-incomplete-stub --no-warn-no-return --no-warn-redundant-casts "
    "--no-warn-return-any --no-warn-unreachable --no-warn-unused-configs "
    "--no-warn-unused-ignores --non-interactive --package= --package-root= --pdb --platform= "
    "--pretty --py2 --python-executable= --python-version= --quickstart-file= "
    "--raise-exceptions --scripts-are-modules --semantic-analysis-only --shadow-file= "
    "--show-absolute-path --show-column-numbers --show-error-codes --show-error-context "
    "--show-error-end --show-traceback --skip-cache-mtime-checks --skip-version-check "
    "--soft-error-limit= --sqlite-cache --stats --strict --strict-concatenate "
    "--strict-equality --strict-optional --tb --timing-stats= --txt-report= --verbose "
    "--version --warn-incomplete-stub --warn-no-return --warn-redundant-casts "
    "--warn-return-any --warn-unreachable --warn-unused-configs --warn-unused-ignores "
    "--xml-report= --xslt-html-report= --xslt-txt-report=";
constexpr absl::string_view kShortFlags = "2hiVv";
constexpr absl::string_view kShortWithValue = "cmp";

// Long option name -> takes a value.
const absl::flat_hash_map<std::string, bool>& LongOptions() {
  static const auto* options = [] {
    auto* m = new absl::flat_hash_map<std::string, bool>();
    for (absl::string_view o : absl::StrSplit(kLongOptions, ' ', absl::SkipEmpty())) {
      bool value = absl::EndsWith(o, "=");
      if (value) o.remove_suffix(1);
      (*m)[std::string(o)] = value;
    }
    return m;
  }();
  return *options;
}

// argparse's fromfile_prefix_chars="@": each line of the file is one argument, recursively.
absl::Status ExpandArgFiles(const std::vector<std::string>& args, const std::string& cwd, int depth,
                            std::vector<std::string>* out) {
  if (depth > 20) return absl::InvalidArgumentError("@file arguments nest too deeply");
  for (const std::string& arg : args) {
    if (!absl::StartsWith(arg, "@")) {
      out->push_back(arg);
      continue;
    }
    std::optional<std::string> content = ReadWholeFile(Join(cwd, arg.substr(1)));
    if (!content.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("[Errno 2] No such file or directory: ", PyRepr(arg.substr(1))));
    }
    std::vector<std::string> lines;
    for (std::string& line : SplitLinesKeepEnds(*content)) {
      if (!line.empty() && line.back() == '\n') line.pop_back();
      lines.push_back(std::move(line));
    }
    RETURN_IF_ERROR(ExpandArgFiles(lines, cwd, depth + 1, out));
  }
  return absl::OkStatus();
}

struct Flags {
  std::optional<std::string> config_file;
  std::optional<std::string> cache_dir;
  std::optional<bool> sqlite_cache;
  std::string sqlite_cache_origin;
  std::optional<bool> incremental;
  std::string incremental_origin;
  std::optional<std::string> python_version;
};

// The long option arg names (exactly, or as argparse's unique abbreviation); "" when unknown.
absl::StatusOr<std::string> ResolveLong(absl::string_view name) {
  const auto& options = LongOptions();
  if (options.contains(name)) return std::string(name);
  std::vector<std::string> matches;
  for (const auto& [option, value] : options) {
    if (absl::StartsWith(option, name)) matches.push_back(option);
  }
  if (matches.size() > 1) {
    std::sort(matches.begin(), matches.end());
    return absl::InvalidArgumentError(
        absl::StrCat("ambiguous option: ", name, " could match ", absl::StrJoin(matches, ", ")));
  }
  return matches.empty() ? "" : matches[0];
}

// argparse takes the next argument as a value unless it looks like an option.
bool LooksLikeOption(const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  if (arg[1] == '-') {
    absl::string_view name = absl::string_view(arg).substr(0, arg.find('='));
    absl::StatusOr<std::string> resolved = ResolveLong(name);
    if (!resolved.ok() || !resolved->empty()) return true;
  } else if (kShortFlags.find(arg[1]) != absl::string_view::npos ||
             kShortWithValue.find(arg[1]) != absl::string_view::npos) {
    return true;
  }
  return arg.find(' ') == std::string::npos;
}

absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& raw, const std::string& cwd) {
  std::vector<std::string> args;
  RETURN_IF_ERROR(ExpandArgFiles(raw, cwd, 0, &args));
  Flags flags;
  auto apply = [&flags](const std::string& option, const std::string& value) {
    if (option == "--config-file") {
      flags.config_file = value;
    } else if (option == "--cache-dir") {
      flags.cache_dir = value;
    } else if (option == "--sqlite-cache" || option == "--no-sqlite-cache") {
      flags.sqlite_cache = option == "--sqlite-cache";
      flags.sqlite_cache_origin = option + " flag";
    } else if (option == "--incremental" || option == "-i" || option == "--no-incremental") {
      flags.incremental = option != "--no-incremental";
      flags.incremental_origin = option + " flag";
    } else if (option == "--python-version") {
      flags.python_version = value;
    }
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    if (arg[1] == '-') {
      size_t eq = arg.find('=');
      absl::string_view name = absl::string_view(arg).substr(0, eq);
      ASSIGN_OR_RETURN(std::string option, ResolveLong(name));
      if (option.empty()) continue;  // Unknown to mypy 1.0.1 (maybe a newer option): ignored.
      bool takes_value = LongOptions().at(option);
      std::string value;
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
      } else if (takes_value) {
        if (i + 1 >= args.size() || LooksLikeOption(args[i + 1])) {
          if (option == "--cache-dir" || option == "--config-file") {
            return absl::InvalidArgumentError(
                absl::StrCat("argument ", option, ": expected one argument"));
          }
          continue;
        }
        value = args[++i];
      }
      apply(option, value);
      continue;
    }
    // A cluster of short options: -i, -vi, -pPKG, -p PKG.
    for (size_t k = 1; k < arg.size(); ++k) {
      if (kShortWithValue.find(arg[k]) != absl::string_view::npos) {
        if (k + 1 == arg.size() && i + 1 < args.size() && !LooksLikeOption(args[i + 1])) ++i;
        break;
      }
      if (kShortFlags.find(arg[k]) == absl::string_view::npos) break;
      if (arg[k] == 'i') apply("-i", "");
    }
  }
  return flags;
}

// ---------------------------------------------------------------------------------------------
// Finding the configuration file.

struct Candidate {
  std::string name;  // As mypy names it.
  std::string path;  // Absolute.
};

std::string HomeDir(const EnvLookup& env) {
  std::optional<std::string> home = env("HOME");
  if (home.has_value()) return *home;
  struct passwd* pw = ::getpwuid(::getuid());
  return pw != nullptr && pw->pw_dir != nullptr ? pw->pw_dir : "";
}

std::vector<std::string> UserConfigFiles(const EnvLookup& env) {
  std::vector<std::string> files;
  std::optional<std::string> xdg = env("XDG_CONFIG_HOME");
  if (xdg.has_value() && !xdg->empty()) files.push_back(Join(*xdg, "mypy/config"));
  files.push_back("~/.config/mypy/config");
  files.push_back("~/.mypy.ini");
  for (std::string& f : files) f = PythonExpandUser(f, env);
  return files;
}

std::vector<Candidate> DefaultCandidates(const std::string& cwd, const EnvLookup& env,
                                         const MypyConfigRules& rules) {
  static constexpr absl::string_view kProjectNames[] = {"mypy.ini", ".mypy.ini", "pyproject.toml",
                                                        "setup.cfg"};
  std::vector<Candidate> out;
  std::string dir = NormPath(cwd);
  std::string up;  // "../" per level, as os.path.relpath names the files.
  while (true) {
    for (absl::string_view name : kProjectNames) {
      out.push_back({absl::StrCat(up, name), Join(dir, name)});
    }
    if (!rules.walk_up_parents || Exists(Join(dir, ".git")) || Exists(Join(dir, ".hg"))) break;
    std::string parent = DirName(dir);
    if (parent.empty() || parent == dir) break;
    dir = parent;
    up += "../";
  }
  for (const std::string& f : UserConfigFiles(env)) out.push_back({f, Join(cwd, f)});
  return out;
}

bool IsSharedConfig(const std::string& name, const MypyConfigRules& rules) {
  // mypy 1.0.1 compares the whole name with "setup.cfg"; newer mypy the base name with
  // pyproject.toml and setup.cfg.
  if (!rules.walk_up_parents) return name == "setup.cfg";
  absl::string_view base = BaseName(name);
  return base == "setup.cfg" || base == "pyproject.toml";
}

bool IsToml(absl::string_view name) { return absl::EndsWith(absl::AsciiStrToLower(name), ".toml"); }

}  // namespace

MypyConfigRules MypyConfigRules::ForVersion(int major, int minor) {
  MypyConfigRules rules;
  auto at_least = [&](int ma, int mi) { return major > ma || (major == ma && minor >= mi); };
  rules.walk_up_parents = at_least(1, 15);
  rules.sqlite_cache_default = at_least(1, 20);
  return rules;
}

std::string PythonExpandUser(const std::string& path, const EnvLookup& env) {
  if (!absl::StartsWith(path, "~")) return path;
  size_t i = path.find('/', 1);
  if (i == std::string::npos) i = path.size();
  std::string home;
  if (i == 1) {
    home = HomeDir(env);
  } else {
    std::string name = path.substr(1, i - 1);
    struct passwd* pw = ::getpwnam(name.c_str());
    if (pw == nullptr || pw->pw_dir == nullptr) return path;
    home = pw->pw_dir;
  }
  while (!home.empty() && home.back() == '/') home.pop_back();
  std::string result = home + path.substr(i);
  return result.empty() ? "/" : result;
}

std::string PythonExpandVars(const std::string& path, const EnvLookup& env) {
  // posixpath.expandvars: \$(\w+|\{[^}]*\}), unknown variables left as they are.
  if (path.find('$') == std::string::npos) return path;
  std::string out = path;
  size_t i = 0;
  while (true) {
    size_t start = out.find('$', i);
    if (start == std::string::npos) break;
    size_t end = start + 1;
    std::string name;
    if (end < out.size() && out[end] == '{') {
      size_t close = out.find('}', end + 1);
      if (close == std::string::npos) {
        i = start + 1;
        continue;
      }
      name = out.substr(end + 1, close - end - 1);
      end = close + 1;
    } else {
      while (end < out.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(out[end])) || out[end] == '_')) {
        ++end;
      }
      if (end == start + 1) {
        i = start + 1;
        continue;
      }
      name = out.substr(start + 1, end - start - 1);
    }
    std::optional<std::string> value = name.empty() ? std::nullopt : env(name);
    if (!value.has_value()) {
      i = end;
      continue;
    }
    out = absl::StrCat(out.substr(0, start), *value, out.substr(end));
    i = start + value->size();
  }
  return out;
}

absl::StatusOr<MypyCacheSettings> ReadMypyCacheSettings(
    const std::vector<std::string>& argv_mypy_args, const std::string& cwd, const EnvLookup& env) {
  return ReadMypyCacheSettings(argv_mypy_args, cwd, env, MypyConfigRules::Mypy1_0());
}

absl::StatusOr<MypyCacheSettings> ReadMypyCacheSettings(
    const std::vector<std::string>& argv_mypy_args, const std::string& cwd, const EnvLookup& env,
    const MypyConfigRules& rules) {
  if (!absl::StartsWith(cwd, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("working directory '", cwd, "' is not absolute"));
  }
  ASSIGN_OR_RETURN(Flags flags, ParseFlags(argv_mypy_args, cwd));

  MypyCacheSettings s;
  s.cache_dir_value = ".mypy_cache";
  s.cache_dir_origin = "default";
  s.sqlite_cache = rules.sqlite_cache_default;
  s.sqlite_cache_origin = "default";
  s.incremental = true;
  s.incremental_origin = "default";

  // 1. The configuration file.
  std::vector<Candidate> candidates;
  bool explicit_file = flags.config_file.has_value();
  if (explicit_file) {
    if (!flags.config_file->empty()) {
      std::string path = Join(cwd, *flags.config_file);
      if (!Exists(path)) {
        return absl::NotFoundError(
            absl::StrCat("Cannot find config file '", *flags.config_file, "'"));
      }
      candidates.push_back({*flags.config_file, path});
    }
  } else {
    candidates = DefaultCandidates(cwd, env, rules);
  }
  IniData shared;  // mypy 1.0.1 reads every INI file into one RawConfigParser.
  std::optional<std::vector<ConfigEntry>> section;
  const Candidate* chosen = nullptr;
  for (const Candidate& c : candidates) {
    if (!Exists(c.path)) continue;
    if (IsToml(c.name)) {
      std::optional<std::string> content = ReadWholeFile(c.path);
      if (!content.has_value()) return absl::PermissionDeniedError("cannot read " + c.name);
      ASSIGN_OR_RETURN(section, TomlEntries(c.name, *content));
      if (!section.has_value()) continue;  // No [tool.mypy]: not a mypy config file.
    } else {
      IniData fresh;
      IniData& data = rules.walk_up_parents ? fresh : shared;
      // configparser skips a file it cannot open.
      std::string content = ReadWholeFile(c.path).value_or("");
      RETURN_IF_ERROR(ParseIni(c.name, content, &data));
      bool has_mypy = data.sections.count("mypy") > 0;
      if (IsSharedConfig(c.name, rules) && !has_mypy) continue;
      if (has_mypy) {
        section = IniEntries(data, "mypy");
      } else {
        section.reset();
        s.warnings.push_back(c.name + ": No [mypy] section in config file");
      }
    }
    chosen = &c;
    break;
  }
  std::function<std::optional<std::string>(const std::string&)> config_env = env;
  if (chosen != nullptr) {
    s.config_file = chosen->name;
    s.config_file_path = NormPath(chosen->path);
    std::string config_dir = DirName(s.config_file_path);
    config_env = [env, config_dir](const std::string& name) -> std::optional<std::string> {
      if (name == "MYPY_CONFIG_FILE_DIR") return config_dir;
      return env(name);
    };
  }
  if (section.has_value()) {
    for (const ConfigEntry& e : *section) {
      if (e.key == "cache_dir") {
        if (!e.is_string) {
          return absl::InvalidArgumentError(e.origin + ": cache_dir is not a string");
        }
        s.cache_dir_value = PythonExpandVars(PythonExpandUser(e.text, config_env), config_env);
        s.cache_dir_origin = e.origin;
      } else if (e.key == "sqlite_cache" || e.key == "no_sqlite_cache") {
        ASSIGN_OR_RETURN(bool v, ToBool(e));
        s.sqlite_cache = e.key == "sqlite_cache" ? v : !v;
        s.sqlite_cache_origin = e.origin;
      } else if (e.key == "incremental" || e.key == "no_incremental") {
        ASSIGN_OR_RETURN(bool v, ToBool(e));
        s.incremental = e.key == "incremental" ? v : !v;
        s.incremental_origin = e.origin;
      } else if (e.key == "python_version") {
        s.python_version = std::string(PyStrip(e.text));
      }
    }
  }

  // 2. MYPY_CACHE_DIR, then ~ expansion.
  std::optional<std::string> env_cache = env("MYPY_CACHE_DIR");
  if (env_cache.has_value() && !PyStrip(*env_cache).empty()) {
    s.cache_dir_value = *env_cache;
    s.cache_dir_origin = "MYPY_CACHE_DIR";
  }
  s.cache_dir_value = PythonExpandUser(s.cache_dir_value, config_env);

  // 3. The command line.
  if (flags.cache_dir.has_value()) {
    s.cache_dir_value = *flags.cache_dir;
    s.cache_dir_origin = "--cache-dir flag";
  }
  if (flags.sqlite_cache.has_value()) {
    s.sqlite_cache = *flags.sqlite_cache;
    s.sqlite_cache_origin = flags.sqlite_cache_origin;
  }
  if (flags.incremental.has_value()) {
    s.incremental = *flags.incremental;
    s.incremental_origin = flags.incremental_origin;
  }

  if (flags.python_version.has_value()) s.python_version = *flags.python_version;
  s.cache_disabled = s.cache_dir_value == "/dev/null";
  s.cache_dir = CleanPath(Join(cwd, s.cache_dir_value));
  return s;
}

}  // namespace typecache
