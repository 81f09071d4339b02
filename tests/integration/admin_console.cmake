# The web console: its static files as the admin server serves them, and the
# console driven in headless Chromium through chromedriver's W3C WebDriver
# API (Debian's chromium and chromium-driver; the browser cases skip when
# they are missing). Screenshots land in <build>/test-artifacts/.
ispflow_add_gtest(NAME admin_console_test
                  SOURCES integration/admin_console_test.cpp
                  LIBS ispflow::admin ispflow::postgres ispflow::test_support
                       PkgConfig::HTTPLIB ispflow::rapidjson
                  LABELS integration PG)
target_compile_definitions(admin_console_test PRIVATE
  ISPFLOW_CONSOLE_DIR="${PROJECT_SOURCE_DIR}/actors/admin/console"
  ISPFLOW_TEST_ARTIFACTS="${CMAKE_BINARY_DIR}/test-artifacts")
