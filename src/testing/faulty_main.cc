// The test-only build of typecache: the shipped CLI over a file system that injects the faults
// TYPECACHE_FAULT names and traces calls to TYPECACHE_FAULT_TRACE (src/testing/fault_fs.h).
// The crash harness and the fault tests run this binary; the shipped one has no fault hooks.
#include <iostream>

#include "src/cli/cli.h"
#include "src/testing/fault_fs.h"

int main(int argc, char** argv) {
  absl::StatusOr<typecache::Fs*> fs = typecache::ProcessFs();
  if (!fs.ok()) {
    std::cerr << "typecache: error: " << fs.status().message() << std::endl;
    return 2;
  }
  return typecache::Main(argc, argv, std::cout, std::cerr, **fs);
}
