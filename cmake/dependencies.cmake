# Every third-party library, imported once as a target. Libraries that Debian
# ships without a CMake package come through pkg-config or FindCAF.cmake.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CAF REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(RapidJSON REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka++ rdkafka)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# Metrics: only the core library (registry, families, text format); the admin
# API serves /metrics on its own sockets, so prometheus-cpp-pull is unused.
find_package(prometheus-cpp CONFIG REQUIRED)
# jemalloc as the allocator of ispflowd and the saga benchmark: the saga
# engine allocates many small strings on several threads, and glibc's
# malloc cost ~15% of its throughput (docs/benchmarks.md).
pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)

# RapidJSON's package sets only include directories.
if(NOT TARGET ispflow::rapidjson)
  add_library(ispflow_rapidjson INTERFACE)
  target_include_directories(ispflow_rapidjson SYSTEM INTERFACE
                             ${RAPIDJSON_INCLUDE_DIRS})
  # std::string overloads in the DOM and schema API.
  target_compile_definitions(ispflow_rapidjson INTERFACE RAPIDJSON_HAS_STDSTRING=1)
  add_library(ispflow::rapidjson ALIAS ispflow_rapidjson)
endif()

if(ISPFLOW_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(ISPFLOW_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
