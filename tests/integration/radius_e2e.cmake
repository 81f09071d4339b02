# The RADIUS path end to end (issue 4): real PostgreSQL and FreeRADIUS, the
# NAS simulator (FreeRADIUS client and RFC 5176 server), the radius adapter
# actor and the real CoA client. Ports 127.0.0.1:21831-21834.
ispflow_add_gtest(NAME radius_e2e_test
  SOURCES integration/radius_e2e_test.cpp integration/radius_sql_support.cpp
  LIBS ispflow::radius ispflow::sim_nas ispflow::postgres
       ispflow::test_support
  LABELS "integration;postgres;radius" PG)
target_compile_definitions(radius_e2e_test PRIVATE
  ISPFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# Every case runs in its own process and starts FreeRADIUS and the simulator
# on fixed ports: its cases must not run at the same time.
set(script "${CMAKE_CURRENT_BINARY_DIR}/radius_e2e_test_lock.cmake")
file(WRITE "${script}"
     "if(radius_e2e_test_cases)\n  set_tests_properties(\${radius_e2e_test_cases} PROPERTIES RESOURCE_LOCK radius_e2e_test)\nendif()\n")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
