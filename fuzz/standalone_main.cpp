// The corpus regression driver: runs every file of the given directories (or
// the given files) through LLVMFuzzerTestOneInput once, in name order, so a
// plain g++ build replays what the fuzzers found. A crash or a failed
// property aborts the process, which fails the CTest case.

#include "fuzz/fuzz_check.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

std::vector<std::filesystem::path> inputs(int argc, char** argv) {
  std::vector<std::filesystem::path> out;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg{argv[i]};
    if (std::filesystem::is_directory(arg)) {
      for (auto& entry : std::filesystem::directory_iterator{arg})
        if (entry.is_regular_file())
          out.push_back(entry.path());
    } else {
      out.push_back(arg);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " <corpus dir or file>...\n";
    return 2;
  }
  auto files = inputs(argc, argv);
  if (files.empty()) {
    std::cerr << "no corpus inputs found\n";
    return 1;
  }
  for (auto& path : files) {
    std::ifstream in{path, std::ios::binary};
    if (!in) {
      std::cerr << "cannot read " << path << "\n";
      return 1;
    }
    std::vector<char> bytes{std::istreambuf_iterator<char>{in},
                            std::istreambuf_iterator<char>{}};
    // A copy of exactly the input's size, so that ASan builds see any read
    // past it, as under libFuzzer.
    auto copy
      = std::make_unique<uint8_t[]>(bytes.size() + (bytes.empty() ? 1 : 0));
    std::copy(bytes.begin(), bytes.end(), copy.get());
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
  }
  std::cout << "ran " << files.size() << " inputs\n";
  return 0;
}
