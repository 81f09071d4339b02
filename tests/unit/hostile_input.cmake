# Hostile input: bounded JSON, identifier caps, source/tenant binding, control
# characters in log lines (events/, common/).
ispflow_add_gtest(NAME hostile_input_test
                  SOURCES unit/hostile_input_test.cpp
                  LIBS ispflow::events ispflow::common ispflow::rapidjson
                  LABELS unit)
# Adapter replies nested a million levels deep: a permanent error, no crash.
if(TARGET ispflow::netbox AND TARGET ispflow::genieacs AND TARGET ispflow::awx)
  ispflow_add_gtest(NAME hostile_reply_test
                    SOURCES unit/hostile_reply_test.cpp
                    LIBS ispflow::netbox ispflow::genieacs ispflow::awx
                         ispflow::events
                    LABELS unit)
endif()
# Per-source signatures of billing events (events/source_signature.*).
ispflow_add_gtest(NAME source_signature_test
                  SOURCES unit/source_signature_test.cpp
                  LIBS ispflow::events
                  LABELS unit)
target_compile_definitions(source_signature_test PRIVATE
  ISPFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
