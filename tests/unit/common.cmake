# Unit tests of ispflow::common (configuration and logging).
ispflow_add_gtest(NAME common_config_test
                  SOURCES unit/common_config_test.cpp
                  LIBS ispflow::common
                  LABELS unit)
target_compile_definitions(common_config_test PRIVATE
  ISPFLOW_DEPLOY_LOCAL_CONFIG="${PROJECT_SOURCE_DIR}/deploy/local/ispflow.yaml")

ispflow_add_gtest(NAME common_log_test
                  SOURCES unit/common_log_test.cpp
                  LIBS ispflow::common ispflow::rapidjson
                  LABELS unit)

ispflow_add_gtest(NAME common_effect_gate_test
                  SOURCES unit/common_effect_gate_test.cpp
                  LIBS ispflow::common
                  LABELS unit)

ispflow_add_gtest(NAME common_wait_test
                  SOURCES unit/common_wait_test.cpp
                  LIBS ispflow::common
                  LABELS unit)

ispflow_add_gtest(NAME common_seal_test
                  SOURCES unit/common_seal_test.cpp
                  LIBS ispflow::common
                  LABELS unit)

ispflow_add_gtest(NAME common_hex_test
                  SOURCES unit/common_hex_test.cpp
                  LIBS ispflow::common
                  LABELS unit)
