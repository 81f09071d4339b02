# The libcurl HTTP client and its actor against a cpp-httplib server (and a
# raw socket that resets) on loopback, in the test process.
ispflow_add_gtest(NAME http_client_test
  SOURCES unit/http_client_test.cpp
  LIBS ispflow::http ispflow::common PkgConfig::HTTPLIB
  LABELS unit)
