# End-to-end (issue 12 item 6): ispflowd killed between GenieACS's 200 for a
# factory reset and its own commit; after the restart the CPE shows exactly
# one reset. Uses the built ispflowd, ispflow-sim and ispflow-bus.
add_test(NAME e2e.genieacs_crash_single_factory_reset
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/genieacs_crash.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e.genieacs_crash_single_factory_reset PROPERTIES
  LABELS e2e TIMEOUT 600 RESOURCE_LOCK e2e-stack)
