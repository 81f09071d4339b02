# The intake pipeline (actors) against PostgreSQL and ispflow-bus.
ispflow_add_gtest(NAME intake_pipeline_test
  SOURCES integration/intake_pipeline_test.cpp
  LIBS ispflow::actors ispflow::postgres ispflow::kafka ispflow::events
       ispflow::test_support PkgConfig::PQXX
  LABELS "integration;postgres;kafka" PG)
add_dependencies(intake_pipeline_test ispflow-bus)
target_compile_definitions(intake_pipeline_test PRIVATE
  ISPFLOW_BUS_PATH="$<TARGET_FILE:ispflow-bus>")

# Hostile input through the same pipeline: spoofed tenants, deep JSON,
# oversized identifiers, an event only PostgreSQL refuses, log escaping.
ispflow_add_gtest(NAME intake_hostile_test
  SOURCES integration/intake_hostile_test.cpp
  LIBS ispflow::actors ispflow::postgres ispflow::kafka ispflow::events
       ispflow::common ispflow::test_support PkgConfig::PQXX
  LABELS "integration;postgres;kafka" PG)
add_dependencies(intake_hostile_test ispflow-bus)
target_compile_definitions(intake_hostile_test PRIVATE
  ISPFLOW_BUS_PATH="$<TARGET_FILE:ispflow-bus>")
