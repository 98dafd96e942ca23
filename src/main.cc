// typecache: share one mypy SQLite cache between concurrent runs without losing work.
#include <iostream>

#include "src/cli.h"

int main(int argc, char** argv) { return typecache::Main(argc, argv, std::cout, std::cerr); }
