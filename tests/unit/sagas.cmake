# Unit tests of sagas/: states, retry policy, definitions and registry, the
# transition function, and the five lifecycle sagas. Guarded so that this
# file is harmless while sagas/ is not part of the build.
if(TARGET ispflow::sagas)
  ispflow_add_gtest(NAME sagas_model_test
                    SOURCES unit/sagas_model_test.cpp
                    LIBS ispflow::sagas LABELS unit)
  ispflow_add_gtest(NAME sagas_engine_test
                    SOURCES unit/sagas_engine_test.cpp
                    LIBS ispflow::sagas LABELS unit)
  ispflow_add_gtest(NAME sagas_lifecycle_test
                    SOURCES unit/sagas_lifecycle_test.cpp
                    LIBS ispflow::sagas LABELS unit)
endif()
