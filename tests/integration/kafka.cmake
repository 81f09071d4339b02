# Kafka adapter and ispflow-bus against librdkafka's mock cluster; they need
# no PostgreSQL and no real broker.
ispflow_add_gtest(NAME kafka_adapter_test
                  SOURCES integration/kafka_adapter_test.cpp
                  LIBS ispflow::kafka ispflow::test_support
                  LABELS "integration;kafka")

# Runs the built ispflow-bus binary as a child process.
ispflow_add_gtest(NAME kafka_bus_test
                  SOURCES integration/kafka_bus_test.cpp
                  LIBS ispflow::kafka
                  LABELS "integration;kafka")
target_compile_definitions(kafka_bus_test PRIVATE
                           ISPFLOW_BUS_PATH="$<TARGET_FILE:ispflow-bus>")
add_dependencies(kafka_bus_test ispflow-bus)
