// Replays fuzz inputs through a fuzz target without libFuzzer: every file named on the command
// line (or inside a named directory) is passed to LLVMFuzzerTestOneInput once.
//
// The normal build links each target with this driver and CTest replays the committed seed
// corpus (fuzz/corpus/<target>), so the targets keep compiling and the inputs that once mattered
// keep passing on every CI run; the `fuzz` preset builds the real libFuzzer binaries.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg)) {
        if (!entry.is_regular_file()) continue;
        RunFile(entry.path());
        ++count;
      }
    } else {
      RunFile(arg);
      ++count;
    }
  }
  // An empty input too: targets must cope with it.
  LLVMFuzzerTestOneInput(nullptr, 0);
  std::printf("replayed %zu inputs\n", count);
  return count > 0 ? 0 : 1;
}
