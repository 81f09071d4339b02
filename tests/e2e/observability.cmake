# Observability (issue 16 items 3-5) against a running ispflowd with the
# NetBox, GenieACS and AWX simulators: promtool check metrics on a real
# scrape, the dashboard's and alert rules' metrics against it, W3C trace
# context on every HTTP call and on the lifecycle event, trace and saga ids
# in the log. Needs promtool (Debian package prometheus).
add_test(NAME integration.observability
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/observability.sh ${CMAKE_BINARY_DIR})
set_tests_properties(integration.observability PROPERTIES
  LABELS integration TIMEOUT 300 RESOURCE_LOCK e2e-stack)
