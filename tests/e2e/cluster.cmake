# End-to-end (issue 13): three ispflowd instances, one SIGKILLed and one
# SIGSTOPped past the consumer group's session mid-stream; judged from
# PostgreSQL, the simulators and the topics (tests/e2e/cluster_failover.sh).
# Fixed ports 22100-22199. About 2.5 minutes.
add_test(NAME e2e.cluster_failover_exactly_once
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/cluster_failover.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e.cluster_failover_exactly_once PROPERTIES
  LABELS e2e TIMEOUT 600 RESOURCE_LOCK e2e-stack)
# Under the sanitizers (cmake --preset asan) three instances run several
# times slower: the same scenario with 200 activations (650 events).
if(ISPFLOW_SANITIZE)
  set_tests_properties(e2e.cluster_failover_exactly_once PROPERTIES
    TIMEOUT 900
    ENVIRONMENT "CLUSTER_E2E_ACTIVATIONS=200;CLUSTER_E2E_MIN_EVENTS=600;CLUSTER_E2E_TIMEOUT=720")
endif()
