// main() for a fuzz target built without libFuzzer (the default, gcc build): runs
// LLVMFuzzerTestOneInput once on every file named on the command line, or found directly inside
// a directory named there. Flags ("-runs=0", libFuzzer's) are ignored. So the corpus replays as a
// regression test in every build; --config=fuzz links libFuzzer's main instead.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> Inputs(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};
  if (!S_ISDIR(st.st_mode)) return {path};
  std::vector<std::string> out;
  if (DIR* dir = ::opendir(path.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") out.push_back(path + "/" + name);
    }
    ::closedir(dir);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!arg.empty() && arg[0] == '-') continue;
    std::vector<std::string> inputs = Inputs(arg);
    if (inputs.empty()) {
      std::fprintf(stderr, "replay: %s: no input\n", arg.c_str());
      return 2;
    }
    for (const std::string& input : inputs) {
      std::ifstream f(input, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++runs;
    }
  }
  std::printf("replay: %d inputs, no crash\n", runs);
  return 0;
}
