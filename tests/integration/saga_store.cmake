# PostgreSQL saga store: sagas, saga_steps, timers, startable inbox events.
ispflow_add_gtest(NAME saga_store_test
  SOURCES integration/saga_store_test.cpp
  LIBS ispflow::postgres ispflow::test_support
  LABELS integration PG)
