#include "src/cli/usage.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace typecache {
namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string OneLine(absl::string_view text) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::StripAsciiWhitespace(text), '\n', absl::SkipWhitespace());
  return absl::StrJoin(lines, "; ");
}

}  // namespace

ArgvShape ShapeOf(const std::vector<std::string>& argv,
                  const std::vector<std::string>& takes_command) {
  ArgvShape shape;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--cache-dir") {
      ++i;
      continue;
    }
    if (a == "-h" || a == "--help") shape.help = true;
    if (a == "--version") shape.version = true;
    if (a == "--") break;
    if (!a.empty() && a[0] == '-') continue;
    shape.subcommand = static_cast<int>(i);
    shape.name = a;
    break;
  }
  if (shape.subcommand < 0) return shape;
  if (std::find(takes_command.begin(), takes_command.end(), shape.name) == takes_command.end()) {
    return shape;
  }
  for (size_t i = static_cast<size_t>(shape.subcommand) + 1; i < argv.size(); ++i) {
    if (argv[i] == "--") {
      shape.double_dash = static_cast<int>(i);
      break;
    }
  }
  return shape;
}

std::string UnknownCommandMessage(const std::string& name,
                                  const std::vector<std::string>& commands) {
  std::string best;
  size_t best_distance = 3;
  for (const std::string& c : commands) {
    size_t d = EditDistance(name, c);
    if (d < best_distance || (absl::StartsWith(c, name) && name.size() >= 2 && best.empty())) {
      best = c;
      best_distance = std::min(d, best_distance);
    }
  }
  return absl::StrCat("unknown command '", name, "'",
                      best.empty() ? "" : absl::StrCat(" (did you mean ", best, "?)"),
                      "; commands: ", absl::StrJoin(commands, ", "));
}

std::string UsageMessage(const CLI::ParseError& error, const std::string& subcommand) {
  std::string prefix = subcommand.empty() ? "" : subcommand + ": ";
  std::string what = OneLine(error.what());
  if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
    // "The following argument(s) was/were not expected: a b"
    size_t colon = what.find(": ");
    std::string extras = colon == std::string::npos ? what : what.substr(colon + 2);
    bool option = absl::StartsWith(extras, "-");
    return absl::StrCat(prefix, option ? "unknown option " : "unexpected argument ", extras);
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr) {
    // "--into: At Most 1 required but received 2" / "--publish: 1 required TEXT missing"
    std::string option = what.substr(0, what.find(':'));
    if (absl::StrContains(what, "At Most") || absl::StrContains(what, "received")) {
      return absl::StrCat(prefix, option, " given more than once");
    }
    if (absl::StrContains(what, "missing")) return absl::StrCat(prefix, option, " needs a value");
    return prefix + what;
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
    return prefix + absl::StrReplaceAll(what, {{"is required", "is required"}});
  }
  return prefix + what;
}

}  // namespace typecache
