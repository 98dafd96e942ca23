// libFuzzer target: arbitrary bytes as a generation log. Parsing must not crash, and whatever
// parses must survive a serialize/parse round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "src/store/local/genlog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace typecache;
  std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<GenLog> log = ParseGenLog(text, "fuzz");
  if (!log.ok()) return 0;
  absl::StatusOr<GenLog> again = ParseGenLog(SerializeGenLog(*log), "fuzz");
  if (!again.ok() || again->gen != log->gen || again->parent != log->parent ||
      again->groups != log->groups || again->stamps.size() != log->stamps.size()) {
    abort();
  }
  return 0;
}
