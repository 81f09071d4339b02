# ispflowd's side of systemd (the NOTIFY_SOCKET protocol, readiness and
# watchdog) and the configuration reference that docs/operations.md holds.
ispflow_add_gtest(NAME service_notify_test
                  SOURCES unit/service_notify_test.cpp
                          ${PROJECT_SOURCE_DIR}/apps/ispflowd/service_notify.cpp
                  LIBS ispflow::admin ispflow::common ispflow::events CAF::core
                  LABELS unit)
ispflow_add_gtest(NAME config_reference_test
                  SOURCES unit/config_reference_test.cpp
                  LIBS ispflow::common
                  LABELS unit)
target_compile_definitions(config_reference_test PRIVATE
  ISPFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
