# The admin API against a scratch database: every endpoint, 401/403, tenant
# isolation, pagination, audit rows, /metrics.
ispflow_add_gtest(NAME admin_api_test
                  SOURCES integration/admin_api_test.cpp
                  LIBS ispflow::admin ispflow::postgres ispflow::test_support
                       PkgConfig::HTTPLIB ispflow::rapidjson
                  LABELS integration PG)

# ispflowctl driven as a process against the same server.
ispflow_add_gtest(NAME admin_ctl_test
                  SOURCES integration/admin_ctl_test.cpp
                  LIBS ispflow::admin ispflow::postgres ispflow::test_support
                       PkgConfig::HTTPLIB ispflow::rapidjson
                  LABELS integration PG)
target_compile_definitions(admin_ctl_test PRIVATE
  ISPFLOWCTL="$<TARGET_FILE:ispflowctl>")
add_dependencies(admin_ctl_test ispflowctl)

# The admin API under hostile clients (slow clients, huge chunked and
# compressed bodies), /metrics without database waits, TLS.
find_package(ZLIB REQUIRED)
ispflow_add_gtest(NAME admin_hardening_test
                  SOURCES integration/admin_hardening_test.cpp
                  LIBS ispflow::admin ispflow::postgres ispflow::test_support
                       PkgConfig::HTTPLIB PkgConfig::PQXX ispflow::rapidjson
                       ZLIB::ZLIB brotlienc
                  LABELS integration PG)
