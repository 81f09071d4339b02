# RADIUS SQL provisioning and the radius adapter actor against real
# PostgreSQL and FreeRADIUS (started by the tests through
# deploy/local/freeradius.sh on 127.0.0.1:21815-21820).
add_library(ispflow_test_radius_sql STATIC
  ${CMAKE_CURRENT_LIST_DIR}/radius_sql_support.cpp)
ispflow_target(ispflow_test_radius_sql)
target_include_directories(ispflow_test_radius_sql PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
target_compile_definitions(ispflow_test_radius_sql PRIVATE
  ISPFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(ispflow_test_radius_sql PRIVATE GTest::gtest)

ispflow_add_gtest(NAME radius_sql_provisioning_test
  SOURCES integration/radius_sql_provisioning_test.cpp
  LIBS ispflow::radius ispflow::postgres ispflow::test_support
  LABELS "integration;postgres;radius" PG)
ispflow_add_gtest(NAME radius_sql_freeradius_test
  SOURCES integration/radius_sql_freeradius_test.cpp
  LIBS ispflow::radius ispflow::postgres ispflow::test_support
       ispflow_test_radius_sql
  LABELS "integration;postgres;radius" PG)
ispflow_add_gtest(NAME radius_sql_adapter_test
  SOURCES integration/radius_sql_adapter_test.cpp
  LIBS ispflow::radius ispflow::postgres ispflow::test_support
       ispflow_test_radius_sql
  LABELS "integration;postgres;radius" PG)
# Every case runs in its own process and starts its suite's FreeRADIUS on
# fixed ports: cases of one suite must not run at the same time.
foreach(suite radius_sql_freeradius_test radius_sql_adapter_test)
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${suite}_lock.cmake")
  file(WRITE "${script}"
       "if(${suite}_cases)\n  set_tests_properties(\${${suite}_cases} PROPERTIES RESOURCE_LOCK ${suite})\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
endforeach()
