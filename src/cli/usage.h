// Usage errors as one line each: what CLI11 reports (several lines, its own exit codes 105-114)
// turned into "typecache: error: <subcommand>: <what>" with a hint where one helps, and the
// look at argv that CLI11 cannot do: which subcommand is named, and where "--" starts the
// checker's command.
#ifndef TYPECACHE_SRC_CLI_USAGE_H_
#define TYPECACHE_SRC_CLI_USAGE_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace typecache {

struct ArgvShape {
  int subcommand = -1;   // Index in argv of the subcommand's name; -1 when none is given.
  std::string name;      // That name.
  int double_dash = -1;  // Index of "--" after it that starts the checker command; -1: none.
  bool help = false;     // -h/--help before any subcommand
  bool version = false;  // --version before any subcommand
};

// Finds the subcommand in argv, skipping the global options before it (-v, --verbose,
// --cache-dir DIR, -h, --help, --version). `takes_command` names the subcommands after which
// "--" starts the checker's command.
ArgvShape ShapeOf(const std::vector<std::string>& argv,
                  const std::vector<std::string>& takes_command);

// The one-line message for a CLI11 parse error of `subcommand` ("" for the top level).
std::string UsageMessage(const CLI::ParseError& error, const std::string& subcommand);

// "unknown command 'stat' (did you mean stats?); commands: run, config, ..."
std::string UnknownCommandMessage(const std::string& name,
                                  const std::vector<std::string>& commands);

}  // namespace typecache

#endif  // TYPECACHE_SRC_CLI_USAGE_H_
