# Retention: batch deletes of old rows remove only what they may.
ispflow_add_gtest(NAME retention_test
  SOURCES integration/retention_test.cpp
  LIBS ispflow::actors ispflow::postgres ispflow::test_support
  LABELS integration PG)
