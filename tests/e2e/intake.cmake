# End-to-end: the built programs driven from outside with kcat.
add_test(NAME e2e.intake_crash_exactly_once
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/intake_crash.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e.intake_crash_exactly_once PROPERTIES
  LABELS e2e TIMEOUT 600 RESOURCE_LOCK e2e-stack)
