# The subscriber records through the admin API and ispflowctl.
ispflow_add_gtest(NAME admin_subscribers_test
                  SOURCES integration/admin_subscribers_test.cpp
                  LIBS ispflow::admin ispflow::postgres ispflow::test_support
                       PkgConfig::HTTPLIB ispflow::rapidjson
                  LABELS integration PG)
target_compile_definitions(admin_subscribers_test PRIVATE
  ISPFLOWCTL="$<TARGET_FILE:ispflowctl>")
add_dependencies(admin_subscribers_test ispflowctl)
