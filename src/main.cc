// typecache: share one mypy SQLite cache between concurrent runs without losing work.
#include <unistd.h>

#include <iostream>

#include "src/cli/cli.h"
#include "src/os/fs.h"

int main(int argc, char** argv) {
  return typecache::Main(argc, argv, std::cout, std::cerr, typecache::RealFs(), ::isatty(2) != 0);
}
