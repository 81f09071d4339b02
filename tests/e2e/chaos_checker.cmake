# The chaos run's checker (deploy/local/chaos/check.sh) on hand-built states:
# it must report a lost input, duplicated effects and a stuck saga. The chaos
# run itself (make chaos) is too long for the test suite.
add_test(NAME e2e.chaos_checker_finds_planted_faults
         COMMAND ${PROJECT_SOURCE_DIR}/deploy/local/chaos/check_selftest.sh ${ISPFLOW_TEST_PG_DSN})
set_tests_properties(e2e.chaos_checker_finds_planted_faults PROPERTIES
  LABELS integration TIMEOUT 120 FIXTURES_REQUIRED pg)
