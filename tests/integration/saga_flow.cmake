# The saga engine end to end: billing events through ispflow-bus, intake,
# the PostgreSQL saga store, router and saga actors with recording fake
# adapters; lifecycle, saga and dead-letter records back out; a restart.
ispflow_add_gtest(NAME saga_flow_test
  SOURCES integration/saga_flow_test.cpp
  LIBS ispflow::actors ispflow::postgres ispflow::kafka ispflow::events
       ispflow::test_support ispflow::test_fake_adapter PkgConfig::PQXX
  LABELS "integration;postgres;kafka" PG)
add_dependencies(saga_flow_test ispflow-bus)
target_compile_definitions(saga_flow_test PRIVATE
  ISPFLOW_BUS_PATH="$<TARGET_FILE:ispflow-bus>")
