# deploy/monitoring: the alert rules are valid and their promtool unit tests
# pass. (Their metric names are checked against a real scrape by
# integration.observability.)
find_program(PROMTOOL promtool)
if(PROMTOOL)
  add_test(NAME monitoring.alert_rules_valid
           COMMAND ${PROMTOOL} check rules
                   ${PROJECT_SOURCE_DIR}/deploy/monitoring/alerts.yml)
  add_test(NAME monitoring.alert_rules_unit_tests
           COMMAND ${PROMTOOL} test rules alerts_test.yml
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/monitoring/tests)
  set_tests_properties(monitoring.alert_rules_valid
                       monitoring.alert_rules_unit_tests
                       PROPERTIES LABELS unit)
else()
  message(WARNING "promtool not found (Debian package prometheus): the"
                  " deploy/monitoring tests are not registered")
endif()

# The name check can fail: a scrape without the dashboard's metrics.
add_test(NAME monitoring.name_check_rejects_unknown_metrics
         COMMAND python3 ${PROJECT_SOURCE_DIR}/deploy/monitoring/check_metric_names.py
                 ${PROJECT_SOURCE_DIR}/deploy/monitoring/tests/partial-scrape.txt)
set_tests_properties(monitoring.name_check_rejects_unknown_metrics
                     PROPERTIES LABELS unit WILL_FAIL TRUE)
