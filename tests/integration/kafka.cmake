# Kafka adapter and ispflow-bus against librdkafka's mock cluster; they need
# no PostgreSQL and no real broker.
ispflow_add_gtest(NAME kafka_adapter_test
                  SOURCES integration/kafka_adapter_test.cpp
                  LIBS ispflow::kafka
                  LABELS integration)

# Runs the built ispflow-bus binary as a child process.
ispflow_add_gtest(NAME kafka_bus_test
                  SOURCES integration/kafka_bus_test.cpp
                  LIBS ispflow::kafka
                  LABELS integration)
target_compile_definitions(kafka_bus_test PRIVATE
                           ISPFLOW_BUS_PATH="$<TARGET_FILE:ispflow-bus>")
add_dependencies(kafka_bus_test ispflow-bus)

# ispflow_add_gtest flattens a label list into separate property arguments
# (cmake_parse_arguments and GoogleTestAddTests drop the escaping), so the
# second label is added at CTest time, after the discovered tests exist.
set(kafka_label_script "${CMAKE_CURRENT_BINARY_DIR}/kafka_labels.cmake")
file(WRITE "${kafka_label_script}" [=[
foreach(t IN ITEMS kafka_adapter_test kafka_bus_test)
  set(f "${CMAKE_CURRENT_LIST_DIR}/${t}[1]_tests.cmake")
  if(EXISTS "${f}")
    file(STRINGS "${f}" lines REGEX "^add_test\\(\\[=\\[")
    foreach(line IN LISTS lines)
      string(REGEX MATCH "^add_test\\(\\[=\\[([^]]+)\\]=\\]" m "${line}")
      if(m)
        set_tests_properties("${CMAKE_MATCH_1}" PROPERTIES
                             LABELS "integration;kafka")
      endif()
    endforeach()
  endif()
endforeach()
]=])
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES
             "${kafka_label_script}")
