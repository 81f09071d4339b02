# The admin API's unit tests: metrics registry and token authentication.
ispflow_add_gtest(NAME admin_metrics_test
                  SOURCES unit/admin_metrics_test.cpp
                  LIBS ispflow::admin
                  LABELS unit)
ispflow_add_gtest(NAME admin_auth_test
                  SOURCES unit/admin_auth_test.cpp
                  LIBS ispflow::admin
                  LABELS unit)
# docs/events.asyncapi.yaml against events/schemas.
ispflow_add_gtest(NAME admin_asyncapi_test
                  SOURCES unit/admin_asyncapi_test.cpp
                  LIBS yaml-cpp
                  LABELS unit)
target_compile_definitions(admin_asyncapi_test PRIVATE
  ISPFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
