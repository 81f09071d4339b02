#pragma once

// Shared by the fuzz targets: the libFuzzer entry point and an assertion
// that stays on in every build type (a failed property is a finding, like a
// sanitizer report, so it must abort even where NDEBUG is set).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

/// Aborts with the failed condition and its location when `cond` is false.
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__,         \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)
