# The subscriber record: kept with each saga transition, equal to what the
# history says, built by migration 0011; passwords leave stored payloads.
ispflow_add_gtest(NAME subscriber_record_test
  SOURCES integration/subscriber_record_test.cpp
  LIBS ispflow::actors ispflow::postgres ispflow::test_support
  LABELS integration PG)
# The independent SQL check the demo, the chaos checker and the crash test run.
target_compile_definitions(subscriber_record_test PRIVATE
  ISPFLOW_RECORD_CHECK_SQL="${PROJECT_SOURCE_DIR}/deploy/local/record_check.sql")
